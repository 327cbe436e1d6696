"""State machines (CreateStateMachine), their revisions and their tags, kept in the database.

A state machine's definition and role live in *revisions*: UpdateStateMachine that changes
either adds a revision and points the machine at it, and an execution keeps the revision
it started with (its redrive too). Deleting a machine whose executions still run only
marks it DELETING; :meth:`StateMachines.remove_if_idle` removes it, its revisions and its
tags once the last of them has ended (in the transaction that ends it).

Tags share the ``tags`` table of the endpoints area, under the resource type
``stateMachine`` and the machine's name (case-sensitive, as Step Functions names are).
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.storage.database import Database
from modelyard.storage.listing import utc
from modelyard.storage.schema import executions, state_machine_revisions, state_machines, tags
from modelyard.storage.tags import Tag

__all__ = [
    "STATE_MACHINE_TAGS",
    "StateMachine",
    "StateMachineStatus",
    "StateMachineType",
    "StateMachines",
    "new_revision_id",
    "remove_if_idle",
]

#: The ``resource_type`` of state machines' rows in the ``tags`` table.
STATE_MACHINE_TAGS = "stateMachine"


class StateMachineType(StrEnum):
    """How a state machine's executions run."""

    #: Durable, exactly-once steps, history kept (up to a year in AWS).
    STANDARD = "STANDARD"
    #: In memory, at-least-once, no history kept; StartSyncExecution answers its output.
    EXPRESS = "EXPRESS"


class StateMachineStatus(StrEnum):
    """Where a state machine is in its life."""

    #: Usable.
    ACTIVE = "ACTIVE"
    #: DeleteStateMachine answered; gone once its running executions have ended.
    DELETING = "DELETING"


@dataclass(frozen=True, kw_only=True, slots=True)
class StateMachine:
    """A state machine as the database knows it, with its current revision."""

    #: The name (case-sensitive).
    name: str
    #: STANDARD or EXPRESS.
    type: StateMachineType
    #: The definition (Amazon States Language, JSON text as given).
    definition: str
    #: The IAM role it runs as (recorded).
    role_arn: str
    #: ACTIVE or DELETING.
    status: StateMachineStatus
    #: The current revision: what new executions run.
    revision_id: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When it was last updated, timezone-aware UTC.
    updated_at: datetime
    #: ``loggingConfiguration`` as given (recorded).
    logging_configuration: Mapping[str, Any] | None = None
    #: ``tracingConfiguration`` as given (recorded).
    tracing_configuration: Mapping[str, Any] | None = None
    #: ``encryptionConfiguration`` as given (recorded).
    encryption_configuration: Mapping[str, Any] | None = None


class StateMachines:
    """The repository of :class:`StateMachine`: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, machine: StateMachine, tags_: Sequence[Tag] = ()) -> StateMachine | None:
        """Record ``machine`` (its revision and tags); ``None`` if the name is taken."""
        with self._db.begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(insert(state_machines).values(**_columns(machine)))
            except IntegrityError:
                return None
            _add_revision(connection, machine)
            _set_tags(connection, machine.name, tags_)
        return machine

    def get(self, name: str) -> StateMachine | None:
        """The state machine called ``name``, or ``None``."""
        with self._db.read() as connection:
            return _get(connection, name)

    def revision(self, revision_id: str) -> tuple[str, str] | None:
        """``(definition, role_arn)`` of a revision, or ``None`` if it is gone."""
        with self._db.read() as connection:
            row = connection.execute(
                select(
                    state_machine_revisions.c.definition, state_machine_revisions.c.role_arn
                ).where(state_machine_revisions.c.revision_id == revision_id)
            ).one_or_none()
        return None if row is None else (row.definition, row.role_arn)

    def list(self, *, after: str | None, limit: int) -> tuple[builtins.list[StateMachine], bool]:
        """State machines by name, after ``after``; and whether more follow."""
        with self._db.read() as connection:
            statement = _joined().order_by(state_machines.c.name).limit(limit + 1)
            if after is not None:
                statement = statement.where(state_machines.c.name > after)
            rows = connection.execute(statement).all()
        return [_machine(row) for row in rows[:limit]], len(rows) > limit

    def update(
        self,
        name: str,
        *,
        now: datetime,
        definition: str | None = None,
        role_arn: str | None = None,
        logging_configuration: Mapping[str, Any] | None = None,
        tracing_configuration: Mapping[str, Any] | None = None,
    ) -> StateMachine | None:
        """Change what is given; a new definition or role makes a new revision.

        ``None`` when there is no ACTIVE state machine of that name.
        """
        with self._db.begin() as connection:
            current = _get(connection, name, lock=True)
            if current is None or current.status is not StateMachineStatus.ACTIVE:
                return None
            changed = replace(
                current,
                updated_at=now,
                definition=current.definition if definition is None else definition,
                role_arn=current.role_arn if role_arn is None else role_arn,
                logging_configuration=(
                    current.logging_configuration
                    if logging_configuration is None
                    else logging_configuration
                ),
                tracing_configuration=(
                    current.tracing_configuration
                    if tracing_configuration is None
                    else tracing_configuration
                ),
            )
            if (changed.definition, changed.role_arn) != (current.definition, current.role_arn):
                changed = replace(changed, revision_id=new_revision_id())
                _add_revision(connection, changed)
            connection.execute(
                update(state_machines)
                .where(state_machines.c.name == name)
                .values(**_columns(changed))
            )
        return changed

    def begin_delete(self, name: str) -> bool:
        """Mark the machine DELETING, and remove it now if none of its executions runs.

        ``False`` when there is no such state machine.
        """
        with self._db.begin() as connection:
            result = connection.execute(
                update(state_machines)
                .where(state_machines.c.name == name)
                .values(status=StateMachineStatus.DELETING.value)
            )
            if result.rowcount == 0:
                return False
            remove_if_idle(connection, name)
        return True

    def add_tags(self, name: str, new: Sequence[Tag], *, max_tags: int) -> int | None:
        """Set ``new`` on the machine; how many tags it has then (``None``: no machine).

        Past ``max_tags`` nothing is written and the count it would have been is returned.
        """
        with self._db.begin() as connection:
            if not _exists(connection, name):
                return None
            current = {tag.key: tag.value for tag in _tags(connection, name)}
            merged = current | {tag.key: tag.value for tag in new}
            if len(merged) > max_tags:
                return len(merged)
            _set_tags(connection, name, [Tag(key=k, value=v) for k, v in merged.items()])
        return len(merged)

    def list_tags(self, name: str) -> builtins.list[Tag] | None:
        """The machine's tags by key, or ``None`` when there is no such machine."""
        with self._db.read() as connection:
            if not _exists(connection, name):
                return None
            return _tags(connection, name)

    def remove_tags(self, name: str, keys: Sequence[str]) -> bool:
        """Delete the tags of ``keys`` (missing ones are ignored); ``False`` if no machine."""
        with self._db.begin() as connection:
            if not _exists(connection, name):
                return False
            connection.execute(
                delete(tags).where(
                    tags.c.resource_type == STATE_MACHINE_TAGS,
                    tags.c.resource_key == name,
                    tags.c.key.in_(set(keys)),
                )
            )
        return True


def new_revision_id() -> str:
    """A fresh revision id (what DescribeStateMachine answers as ``revisionId``)."""
    return str(uuid.uuid4())


def remove_if_idle(connection: Connection, name: str) -> bool:
    """Inside the caller's transaction: remove the DELETING machine ``name`` with its
    revisions and tags if none of its executions is RUNNING; whether it was removed."""
    running = exists().where(executions.c.state_machine == name, executions.c.status == "RUNNING")
    result = connection.execute(
        delete(state_machines).where(
            state_machines.c.name == name,
            state_machines.c.status == StateMachineStatus.DELETING.value,
            ~running,
        )
    )
    if result.rowcount == 0:
        return False
    connection.execute(
        delete(state_machine_revisions).where(state_machine_revisions.c.state_machine == name)
    )
    connection.execute(
        delete(tags).where(tags.c.resource_type == STATE_MACHINE_TAGS, tags.c.resource_key == name)
    )
    return True


def _joined() -> Any:
    return select(
        state_machines,
        state_machine_revisions.c.definition,
        state_machine_revisions.c.role_arn,
    ).join(
        state_machine_revisions,
        state_machine_revisions.c.revision_id == state_machines.c.revision_id,
    )


def _get(connection: Connection, name: str, *, lock: bool = False) -> StateMachine | None:
    statement = _joined().where(state_machines.c.name == name)
    if lock:
        statement = statement.with_for_update(of=state_machines)
    row = connection.execute(statement).one_or_none()
    return None if row is None else _machine(row)


def _exists(connection: Connection, name: str) -> bool:
    found = connection.execute(
        select(func.count()).where(state_machines.c.name == name)
    ).scalar_one()
    return bool(found)


def _add_revision(connection: Connection, machine: StateMachine) -> None:
    connection.execute(
        insert(state_machine_revisions).values(
            revision_id=machine.revision_id,
            state_machine=machine.name,
            definition=machine.definition,
            role_arn=machine.role_arn,
            created_at=machine.updated_at,
        )
    )


def _tags(connection: Connection, name: str) -> builtins.list[Tag]:
    rows = connection.execute(
        select(tags.c.key, tags.c.value)
        .where(tags.c.resource_type == STATE_MACHINE_TAGS, tags.c.resource_key == name)
        .order_by(tags.c.key)
    ).all()
    return [Tag(key=row.key, value=row.value) for row in rows]


def _set_tags(connection: Connection, name: str, new: Sequence[Tag]) -> None:
    # A request may repeat a key: the last value wins, as it would one by one.
    latest = {tag.key: tag.value for tag in new}
    if not latest:
        return
    connection.execute(
        delete(tags).where(
            tags.c.resource_type == STATE_MACHINE_TAGS,
            tags.c.resource_key == name,
            tags.c.key.in_(set(latest)),
        )
    )
    connection.execute(
        insert(tags),
        [
            {"resource_type": STATE_MACHINE_TAGS, "resource_key": name, "key": k, "value": v}
            for k, v in latest.items()
        ],
    )


def _columns(machine: StateMachine) -> dict[str, Any]:
    return {
        "name": machine.name,
        "type": machine.type.value,
        "status": machine.status.value,
        "revision_id": machine.revision_id,
        "created_at": machine.created_at,
        "updated_at": machine.updated_at,
        "logging_configuration": _encode(machine.logging_configuration),
        "tracing_configuration": _encode(machine.tracing_configuration),
        "encryption_configuration": _encode(machine.encryption_configuration),
    }


def _encode(document: Mapping[str, Any] | None) -> str | None:
    return None if document is None else json.dumps(document, sort_keys=True)


def _decode(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))


def _machine(row: Row[Any]) -> StateMachine:
    return StateMachine(
        name=row.name,
        type=StateMachineType(row.type),
        definition=row.definition,
        role_arn=row.role_arn,
        status=StateMachineStatus(row.status),
        revision_id=row.revision_id,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        logging_configuration=_decode(row.logging_configuration),
        tracing_configuration=_decode(row.tracing_configuration),
        encryption_configuration=_decode(row.encryption_configuration),
    )
