"""The executions repository's statements, and its records' mapping to and from rows.

Each function takes the open :class:`~sqlalchemy.Connection` of the transaction it is part
of; :mod:`modelyard.storage.executions` decides the transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.storage.execution_records import (
    Claimed,
    Ending,
    Execution,
    ExecutionStatus,
    NewEvent,
    StoredEvent,
)
from modelyard.storage.listing import utc
from modelyard.storage.schema import (
    execution_events,
    executions,
    state_machine_revisions,
    state_machines,
)
from modelyard.storage.state_machines import StateMachineStatus

__all__ = [
    "append_last",
    "chunks",
    "event_columns",
    "event_from_row",
    "execution_columns",
    "execution_from_row",
    "highest_event_id",
    "insert_start",
    "load_claimed",
    "write_ending",
]

#: Ids per ``IN (...)`` list: well under every database's limit of bound parameters.
_CHUNK = 5_000


def insert_start(
    connection: Connection,
    execution: Execution,
    first: NewEvent,
    lease_owner: str | None,
    lease_expires: float | None,
    also: Callable[[Connection], None] | None = None,
) -> tuple[Execution, bool] | None:
    # FOR SHARE: a delete marking the machine DELETING waits for this start, and then
    # sees its execution running.
    status = connection.execute(
        select(state_machines.c.status)
        .where(state_machines.c.name == execution.state_machine)
        .with_for_update(read=True)
    ).scalar_one_or_none()
    if status != StateMachineStatus.ACTIVE.value:
        return None
    try:
        with connection.begin_nested():
            connection.execute(
                insert(executions).values(
                    **execution_columns(execution),
                    lease_owner=lease_owner,
                    lease_expires=lease_expires,
                )
            )
    except IntegrityError:
        row = connection.execute(select(executions).where(executions.c.key == execution.key)).one()
        return execution_from_row(row), False
    connection.execute(insert(execution_events).values(**event_columns(first)))
    if also is not None:
        also(connection)
    return execution, True


def load_claimed(connection: Connection, keys: Sequence[str]) -> list[Claimed]:
    rows = connection.execute(
        select(executions, state_machine_revisions.c.definition, state_machine_revisions.c.role_arn)
        .join(
            state_machine_revisions,
            state_machine_revisions.c.revision_id == executions.c.revision_id,
        )
        .where(executions.c.key.in_(keys))
    ).all()
    events: dict[str, list[StoredEvent]] = {key: [] for key in keys}
    for row in connection.execute(
        select(execution_events)
        .where(execution_events.c.execution_key.in_(keys), execution_events.c.replayable)
        .order_by(execution_events.c.execution_key, execution_events.c.id)
    ):
        events[row.execution_key].append(event_from_row(row))
    last = {
        key: highest
        for key, highest in connection.execute(
            select(execution_events.c.execution_key, func.max(execution_events.c.id))
            .where(execution_events.c.execution_key.in_(keys))
            .group_by(execution_events.c.execution_key)
        )
    }
    return [
        Claimed(
            execution=execution_from_row(row),
            definition=row.definition,
            role_arn=row.role_arn,
            events=events[row.key],
            last_event_id=int(last.get(row.key) or 0),
        )
        for row in sorted(rows, key=lambda r: (r.start_date, r.key))
    ]


def write_ending(connection: Connection, ending: Ending) -> None:
    connection.execute(
        update(executions)
        .where(executions.c.key == ending.execution)
        .values(
            status=ending.status.value,
            stop_date=ending.stop_date,
            output=ending.output,
            error=ending.error,
            cause=ending.cause,
            lease_owner=None,
            lease_expires=None,
        )
    )


def append_last(connection: Connection, event: NewEvent) -> None:
    last = highest_event_id(connection, event.execution)
    connection.execute(
        insert(execution_events).values(
            **event_columns(replace(event, id=last + 1, previous_id=last))
        )
    )


def highest_event_id(connection: Connection, key: str) -> int:
    found = connection.execute(
        select(func.max(execution_events.c.id)).where(execution_events.c.execution_key == key)
    ).scalar_one()
    return int(found or 0)


def chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[start : start + _CHUNK] for start in range(0, len(values), _CHUNK)]


def execution_columns(execution: Execution) -> dict[str, Any]:
    return {
        "key": execution.key,
        "state_machine": execution.state_machine,
        "name": execution.name,
        "revision_id": execution.revision_id,
        "status": execution.status.value,
        "input": execution.input,
        "output": execution.output,
        "error": execution.error,
        "cause": execution.cause,
        "trace_header": execution.trace_header,
        "start_date": execution.start_date,
        "stop_date": execution.stop_date,
        "redrive_count": execution.redrive_count,
        "redrive_date": execution.redrive_date,
    }


def event_columns(event: NewEvent) -> dict[str, Any]:
    return {
        "execution_key": event.execution,
        "id": event.id,
        "redrive": event.redrive,
        "key": event.key,
        "type": event.type,
        "timestamp": event.timestamp,
        "previous_id": event.previous_id,
        "details_name": event.details_name,
        "details": None if event.details is None else orjson.dumps(event.details).decode(),
        "replayable": event.replayable,
    }


def execution_from_row(row: Row[Any]) -> Execution:
    return Execution(
        state_machine=row.state_machine,
        name=row.name,
        revision_id=row.revision_id,
        status=ExecutionStatus(row.status),
        input=row.input,
        start_date=utc(row.start_date),
        output=row.output,
        error=row.error,
        cause=row.cause,
        stop_date=None if row.stop_date is None else utc(row.stop_date),
        redrive_count=row.redrive_count,
        redrive_date=None if row.redrive_date is None else utc(row.redrive_date),
        trace_header=row.trace_header,
    )


def event_from_row(row: Row[Any]) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        previous_id=row.previous_id,
        timestamp=row.timestamp,
        type=row.type,
        details_name=row.details_name,
        details=None if row.details is None else orjson.loads(row.details),
        key=row.key,
        redrive=row.redrive,
        replayable=bool(row.replayable),
    )
