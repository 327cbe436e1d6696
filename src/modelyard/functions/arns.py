"""Function names and ARNs: ``arn:aws:lambda:<region>:<account>:function:<name>``.

Wherever Lambda takes a ``FunctionName`` it takes a name, a full ARN or a partial ARN
(``<account>:function:<name>``), each with an optional ``:<qualifier>`` (a version or
alias). Only ``$LATEST`` exists here: functions are not versioned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.functions.errors import FunctionNotFound, InvalidFunctionName

__all__ = ["LATEST", "NAME_PATTERN", "FunctionArns", "FunctionRef"]

#: The one version of every function.
LATEST = "$LATEST"

#: A function's name, as Lambda allows it (1 to 64 characters).
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")

#: A reference: name, partial ARN or ARN, with an optional qualifier.
_REFERENCE = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:(?P<region>[a-z0-9-]+):)?"
    r"(?:(?P<account>\d{12}):function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)

#: Longest reference Lambda accepts (the full ARN with its qualifier).
_MAX_REFERENCE = 256


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionRef:
    """What a ``FunctionName`` names: a function, and the version or alias asked for."""

    #: The function's name.
    name: str
    #: The qualifier given (``:$LATEST``, ``:1``, ``:prod``), if any.
    qualifier: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionArns:
    """Makes and reads the function ARNs of one region and account.

    >>> arns = FunctionArns(region="us-east-1", account_id="000000000000")
    >>> arns.of("resize")
    'arn:aws:lambda:us-east-1:000000000000:function:resize'
    """

    #: The region in every ARN.
    region: str
    #: The 12-digit account in every ARN.
    account_id: str

    def of(self, name: str, qualifier: str | None = None) -> str:
        """The ARN of the function ``name`` (with ``:qualifier`` when given)."""
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return arn if qualifier is None else f"{arn}:{qualifier}"

    def resolve(self, reference: str) -> FunctionRef:
        """The function a name or ARN refers to.

        InvalidFunctionName unless it is a name, partial ARN or ARN Lambda accepts;
        FunctionNotFound if it belongs to another region or account, or asks for a version
        or alias other than ``$LATEST`` (none exists).
        """
        match = _REFERENCE.fullmatch(reference) if len(reference) <= _MAX_REFERENCE else None
        if match is None or len(match["name"]) > 64:
            raise InvalidFunctionName(
                "1 validation error detected: Value '"
                + reference
                + "' at 'functionName' failed to satisfy constraint: Member must satisfy "
                "regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}"
                "(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)"
                "(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
            )
        name, qualifier = match["name"], match["qualifier"]
        region, account = match["region"], match["account"]
        elsewhere = (region is not None and region != self.region) or (
            account is not None and account != self.account_id
        )
        if elsewhere or qualifier not in (None, LATEST):
            raise FunctionNotFound(f"Function not found: {self._as_given(match)}")
        return FunctionRef(name=name, qualifier=qualifier)

    def not_found(self, name: str, qualifier: str | None = None) -> FunctionNotFound:
        """The error for a function that does not exist, in Lambda's words."""
        return FunctionNotFound(f"Function not found: {self.of(name, qualifier)}")

    def _as_given(self, match: re.Match[str]) -> str:
        region = match["region"] or self.region
        account = match["account"] or self.account_id
        arn = f"arn:aws:lambda:{region}:{account}:function:{match['name']}"
        return arn if match["qualifier"] is None else f"{arn}:{match['qualifier']}"
