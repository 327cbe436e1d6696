"""The state machine half of the workflows facade: the state machines and their tags.

:class:`StateMachineOperations` answers CreateStateMachine, DescribeStateMachine,
UpdateStateMachine, ListStateMachines, DeleteStateMachine, ValidateStateMachineDefinition
and the tag operations; :class:`~modelyard.workflows.service.WorkflowService` adds the
executions. Database calls run off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from modelyard.storage.database import Database
from modelyard.storage.state_machines import (
    StateMachine,
    StateMachines,
    StateMachineStatus,
    StateMachineType,
    new_revision_id,
)
from modelyard.storage.tags import Tag
from modelyard.workflows import validation
from modelyard.workflows.arns import ACTIVITY, STATE_MACHINE, StatesArns, check_name, check_role_arn
from modelyard.workflows.service_errors import (
    MissingRequiredParameter,
    ResourceNotFound,
    StateMachineAlreadyExists,
    StateMachineDeleting,
    StateMachineDoesNotExist,
    TooManyTags,
)

__all__ = ["MAX_TAGS", "StateMachineOperations", "timestamp"]

T = TypeVar("T")

#: State machines :meth:`StateMachineOperations.startable` keeps at most.
_MAX_RECENT: Final = 1024

#: Seconds a state machine read for starting executions is used again (see
#: :meth:`StateMachineOperations.startable`).
RECENT_S: Final = 1.0

#: Tags a state machine may have.
MAX_TAGS: Final = 50


class StateMachineOperations:
    """State machines and their tags (see the module)."""

    def __init__(self, *, database: Database, arns: StatesArns) -> None:
        self.arns = arns
        self._machines = StateMachines(database)
        #: Machines read to start executions, with when (monotonic), by ARN.
        self._recent: dict[str, tuple[float, StateMachine]] = {}

    # -- state machines -------------------------------------------------------------------

    async def create_state_machine(
        self,
        *,
        name: str,
        definition: str,
        role_arn: str,
        type: StateMachineType = StateMachineType.STANDARD,
        logging_configuration: Mapping[str, Any] | None = None,
        tracing_configuration: Mapping[str, Any] | None = None,
        encryption_configuration: Mapping[str, Any] | None = None,
        tags: Sequence[Tag] = (),
    ) -> StateMachine:
        """CreateStateMachine. Idempotent: the same name, definition, type and
        configurations answer the machine that exists (its role and tags unchanged)."""
        check_name(name)
        check_role_arn(role_arn)
        validation.check(definition)
        if len({tag.key for tag in tags}) > MAX_TAGS:
            raise TooManyTags(f"Too many tags: a state machine may have {MAX_TAGS} at most")
        now = timestamp()
        machine = StateMachine(
            name=name,
            type=type,
            definition=definition,
            role_arn=role_arn,
            status=StateMachineStatus.ACTIVE,
            revision_id=new_revision_id(),
            created_at=now,
            updated_at=now,
            logging_configuration=logging_configuration,
            tracing_configuration=tracing_configuration,
            encryption_configuration=encryption_configuration,
        )
        if await self._db(self._machines.add, machine, tags) is not None:
            return machine
        existing = await self._db(self._machines.get, name)
        if existing is not None and existing.status is StateMachineStatus.DELETING:
            raise StateMachineDeleting(
                f"State Machine is being deleted: '{self.arns.state_machine(name)}'"
            )
        if existing is not None and (
            existing.definition,
            existing.type,
            existing.logging_configuration,
            existing.tracing_configuration,
            existing.encryption_configuration,
        ) == (
            definition,
            type,
            logging_configuration,
            tracing_configuration,
            encryption_configuration,
        ):
            return existing
        raise StateMachineAlreadyExists(
            f"State Machine Already Exists: '{self.arns.state_machine(name)}'"
        )

    async def describe_state_machine(self, arn: str) -> StateMachine:
        """DescribeStateMachine."""
        name = self._machine_name(arn)
        machine = None if name is None else await self._db(self._machines.get, name)
        if machine is None:
            raise StateMachineDoesNotExist(f"State Machine Does Not Exist: '{arn}'")
        return machine

    async def startable(self, arn: str, *, fresh: bool = False) -> StateMachine:
        """The state machine a new execution of ``arn`` runs; StateMachineDoesNotExist or
        StateMachineDeleting when none may start.

        Unless ``fresh``, a machine read up to :data:`RECENT_S` ago is used again: every
        job starts an execution, and Step Functions itself may start one on the previous
        definition just after UpdateStateMachine. This process's updates and deletes
        apply at once, and a start checks in its own transaction that the machine is
        still active.
        """
        now = time.monotonic()
        recent = None if fresh else self._recent.get(arn)
        if recent is not None and now - recent[0] < RECENT_S:
            machine = recent[1]
        else:
            machine = await self.describe_state_machine(arn)
            if len(self._recent) >= _MAX_RECENT:
                self._recent.clear()
            self._recent[arn] = (now, machine)
        if machine.status is StateMachineStatus.DELETING:
            raise StateMachineDeleting(f"State Machine is being deleted: '{arn}'")
        return machine

    async def update_state_machine(
        self,
        arn: str,
        *,
        definition: str | None = None,
        role_arn: str | None = None,
        logging_configuration: Mapping[str, Any] | None = None,
        tracing_configuration: Mapping[str, Any] | None = None,
    ) -> StateMachine:
        """UpdateStateMachine: running executions keep the revision they started with."""
        if (definition, role_arn, logging_configuration, tracing_configuration) == (None,) * 4:
            raise MissingRequiredParameter(
                "Either the definition, the role ARN, the LoggingConfiguration, or the "
                "TracingConfiguration must be specified"
            )
        current = await self.describe_state_machine(arn)
        if current.status is StateMachineStatus.DELETING:
            raise StateMachineDeleting(f"State Machine is being deleted: '{arn}'")
        if role_arn is not None:
            check_role_arn(role_arn)
        if definition is not None:
            validation.check(definition)
        updated = await self._db(
            self._machines.update,
            current.name,
            now=timestamp(),
            definition=definition,
            role_arn=role_arn,
            logging_configuration=logging_configuration,
            tracing_configuration=tracing_configuration,
        )
        self._recent.clear()
        if updated is None:  # deleted meanwhile
            raise StateMachineDeleting(f"State Machine is being deleted: '{arn}'")
        return updated

    async def list_state_machines(
        self, *, after: str | None, limit: int
    ) -> tuple[list[StateMachine], bool]:
        """ListStateMachines: by name, after the name ``after``; and whether more follow."""
        return await self._db(self._machines.list, after=after, limit=limit)

    async def delete_state_machine(self, arn: str) -> None:
        """DeleteStateMachine: DELETING until its running executions end, which they do
        at their next state transition (``States.Runtime``). A missing one is no error."""
        name = self._machine_name(arn)
        if name is not None:
            await self._db(self._machines.begin_delete, name)
            self._recent.clear()

    def validate_definition(
        self, definition: str, *, severity: str = "ERROR", max_results: int = 0
    ) -> dict[str, Any]:
        """ValidateStateMachineDefinition's answer."""
        return validation.validate_state_machine_definition(
            definition, max_results=max_results, severity=severity
        )

    # -- tags -----------------------------------------------------------------------------

    async def tag_resource(self, arn: str, tags: Sequence[Tag]) -> None:
        """TagResource: set ``tags`` (a key already there takes the new value)."""
        count = await self._db(
            self._machines.add_tags, self._taggable(arn), tags, max_tags=MAX_TAGS
        )
        if count is None:
            raise ResourceNotFound(f"Resource not found: '{arn}'")
        if count > MAX_TAGS:
            raise TooManyTags(
                f"Too many tags: '{arn}' would have {count}; a resource may have {MAX_TAGS}"
            )

    async def untag_resource(self, arn: str, keys: Sequence[str]) -> None:
        """UntagResource: keys the resource does not have are ignored."""
        if not await self._db(self._machines.remove_tags, self._taggable(arn), keys):
            raise ResourceNotFound(f"Resource not found: '{arn}'")

    async def list_tags(self, arn: str) -> list[Tag]:
        """ListTagsForResource."""
        found = await self._db(self._machines.list_tags, self._taggable(arn))
        if found is None:
            raise ResourceNotFound(f"Resource not found: '{arn}'")
        return found

    # -- helpers --------------------------------------------------------------------------

    def _machine_name(self, arn: str) -> str | None:
        return self.arns.parse(arn, STATE_MACHINE)

    def _taggable(self, arn: str) -> str:
        """The name of the state machine ``arn`` names (activities are not kept here)."""
        name = self.arns.parse(arn, STATE_MACHINE, ACTIVITY)
        if name is None or arn.split(":")[5] == ACTIVITY:
            raise ResourceNotFound(f"Resource not found: '{arn}'")
        return name

    async def _db(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(query, *args, **kwargs)


def timestamp() -> datetime:
    """Now, to the millisecond, as AWS keeps timestamps: what Describe answers is what
    List pages compare with."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
