"""ARNs and names of Step Functions resources: ``arn:aws:states:<region>:<account>:<type>:…``.

State machines are ``stateMachine:<name>``, executions ``execution:<machine>:<name>``
and express executions ``express:<machine>:<name>:<id>``. Region and account are the
platform's settings; an ARN of another region or account names nothing here. Names are
checked as Step Functions checks them (:func:`check_name`), which is also what keeps
``:`` out of the ``<machine>:<name>`` keys of executions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from modelyard.workflows.service_errors import InvalidArn, InvalidName

__all__ = [
    "ACTIVITY",
    "EXECUTION",
    "EXPRESS",
    "STATE_MACHINE",
    "StatesArns",
    "check_name",
    "check_role_arn",
]

#: The resource type of a state machine's ARN.
STATE_MACHINE: Final = "stateMachine"
#: The resource type of a standard execution's ARN.
EXECUTION: Final = "execution"
#: The resource type of an express execution's ARN.
EXPRESS: Final = "express"
#: The resource type of an activity's ARN (activities are not served yet).
ACTIVITY: Final = "activity"

_ARN = re.compile(r"arn:aws[a-z\-]*:states:([a-z0-9\-]+):([0-9]{12}):([A-Za-z]+):(.+)")
_ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::[0-9]{12}:role/.+")
#: Characters no state machine or execution name may hold (besides whitespace and
#: control characters), as Step Functions lists them.
_FORBIDDEN: Final = frozenset('<>{}[]?*"#%\\^|~`$&,;:/')


def check_name(name: str) -> str:
    """``name`` if Step Functions allows it for a state machine or execution, else
    :class:`InvalidName`: 1 to 80 characters, no whitespace, brackets, wildcards,
    special (``"#%\\^|~`$&,;:/``) or control characters."""
    if not 1 <= len(name) <= 80 or any(
        c in _FORBIDDEN or c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name
    ):
        raise InvalidName(f"Invalid Name: '{name}'")
    return name


def check_role_arn(arn: str) -> str:
    """``arn`` if it is an IAM role's ARN (``arn:aws:iam::<account>:role/<path>``)."""
    if _ROLE_ARN.fullmatch(arn) is None:
        raise InvalidArn(f"Invalid Arn: '{arn}'")
    return arn


@dataclass(frozen=True, kw_only=True)
class StatesArns:
    """Makes and reads the Step Functions ARNs of one region and account.

    >>> arns = StatesArns(region="us-east-1", account_id="000000000000")
    >>> arns.state_machine("Orders")
    'arn:aws:states:us-east-1:000000000000:stateMachine:Orders'
    >>> arns.parse(arns.execution("Orders:run-1"), EXECUTION)
    'Orders:run-1'
    """

    #: The region in every ARN.
    region: str
    #: The 12-digit account in every ARN.
    account_id: str

    @property
    def prefix(self) -> str:
        """What every ARN of this region and account starts with."""
        return f"arn:aws:states:{self.region}:{self.account_id}:"

    def state_machine(self, name: str) -> str:
        """The ARN of the state machine ``name``."""
        return f"{self.prefix}{STATE_MACHINE}:{name}"

    def execution(self, key: str) -> str:
        """The ARN of the standard execution ``<machine>:<name>``."""
        return f"{self.prefix}{EXECUTION}:{key}"

    def express_execution(self, machine: str, name: str, run_id: str) -> str:
        """The ARN of an express execution (its name alone is not unique)."""
        return f"{self.prefix}{EXPRESS}:{machine}:{name}:{run_id}"

    def parse(self, arn: str, *kinds: str) -> str | None:
        """What follows the resource type in ``arn``, which must be one of ``kinds``.

        ``None`` when the ARN belongs to another region or account (it names nothing
        here); :class:`InvalidArn` when it is no Step Functions ARN or of another kind.
        """
        match = _ARN.fullmatch(arn)
        if match is None:
            raise InvalidArn(f"Invalid Arn: '{arn}'")
        region, account, kind, rest = match.groups()
        if kind not in kinds:
            raise InvalidArn(
                f"Invalid Arn: 'Resource type not valid in this context: {kind.lower()}'"
            )
        if (region, account) != (self.region, self.account_id):
            return None
        return rest
