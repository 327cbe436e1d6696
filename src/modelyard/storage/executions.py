"""Executions of standard state machines and their history, kept in the database.

An execution is RUNNING until a runner finishes it; a runner holds a *lease* on each
execution it runs (``lease_owner`` until ``lease_expires``) and renews it while it runs.
:meth:`Executions.claim` gives a runner the RUNNING executions whose lease is free or
expired (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so runners sharing a database
never claim the same one); every write a runner makes afterwards
(:meth:`Executions.commit`) checks, in its transaction, that the lease is still its own,
so a runner that lost an execution (to another runner, to StopExecution) writes nothing
more for it.

Events are written with the key the interpreter names them by; a runner that resumes an
execution loads the replayable ones and answers from them rather than writing again.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from modelyard.storage.database import Database
from modelyard.storage.listing import utc
from modelyard.storage.schema import (
    execution_events,
    executions,
    state_machine_revisions,
    state_machines,
)
from modelyard.storage.state_machines import StateMachineStatus, remove_if_idle

__all__ = [
    "ENDED",
    "REDRIVABLE",
    "Claimed",
    "Committed",
    "Ending",
    "Execution",
    "ExecutionStatus",
    "Executions",
    "NewEvent",
    "Start",
    "StoredEvent",
]

#: Ids per ``IN (...)`` list: well under every database's limit of bound parameters.
_CHUNK = 5_000


class ExecutionStatus(StrEnum):
    """Where an execution is (Step Functions' ``ExecutionStatus``)."""

    #: Started (or redriven) and not ended.
    RUNNING = "RUNNING"
    #: Ended with an output.
    SUCCEEDED = "SUCCEEDED"
    #: Ended with an error.
    FAILED = "FAILED"
    #: Ran past its state machine's ``TimeoutSeconds``.
    TIMED_OUT = "TIMED_OUT"
    #: Stopped by StopExecution.
    ABORTED = "ABORTED"
    #: A redrive was asked for and has not started (never stored here: a redrive starts
    #: in the transaction that asks for it).
    PENDING_REDRIVE = "PENDING_REDRIVE"


#: The statuses of an execution that has ended.
ENDED = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.ABORTED,
    }
)
#: The statuses RedriveExecution starts from.
REDRIVABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED})


@dataclass(frozen=True, kw_only=True, slots=True)
class Execution:
    """An execution as the database knows it."""

    #: Its state machine's name.
    state_machine: str
    #: Its name, unique among its state machine's executions.
    name: str
    #: The state machine revision it runs.
    revision_id: str
    #: Where it is.
    status: ExecutionStatus
    #: Its input, JSON text as given.
    input: str
    #: When it started, timezone-aware UTC.
    start_date: datetime
    #: Its output (JSON text) once SUCCEEDED.
    output: str | None = None
    #: The error it FAILED, TIMED_OUT or was ABORTED with.
    error: str | None = None
    #: The cause of that error.
    cause: str | None = None
    #: When it ended.
    stop_date: datetime | None = None
    #: How many times it was redriven.
    redrive_count: int = 0
    #: When it was last redriven.
    redrive_date: datetime | None = None
    #: The X-Ray trace header it was started with (recorded).
    trace_header: str | None = None

    @property
    def key(self) -> str:
        """``<state machine>:<name>``: its primary key, the tail of its ARN."""
        return f"{self.state_machine}:{self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredEvent:
    """One event of a history, as stored."""

    #: 1-based position in the history.
    id: int
    #: The event it follows in its scope.
    previous_id: int
    #: Epoch seconds.
    timestamp: float
    #: e.g. ``TaskStateEntered``.
    type: str
    #: The ``…EventDetails`` member's name, if any.
    details_name: str | None
    #: Its value.
    details: Mapping[str, Any] | None
    #: The interpreter's name for it (or the service's, ``!…``, for its own events).
    key: str
    #: The attempt (0, then one per redrive) that wrote it.
    redrive: int
    #: Whether a later run may answer from it.
    replayable: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class NewEvent:
    """An event to append to an execution's history."""

    #: The execution's key.
    execution: str
    #: Its position.
    id: int
    #: The event it follows in its scope.
    previous_id: int
    #: Epoch seconds.
    timestamp: float
    #: Its type.
    type: str
    #: The ``…EventDetails`` member's name, if any.
    details_name: str | None
    #: Its value.
    details: Mapping[str, Any] | None
    #: Its key.
    key: str
    #: The attempt writing it.
    redrive: int = 0
    #: Whether a later run may answer from it.
    replayable: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Ending:
    """How a runner ends an execution."""

    #: The execution's key.
    execution: str
    #: SUCCEEDED, FAILED or TIMED_OUT.
    status: ExecutionStatus
    #: When it ended.
    stop_date: datetime
    #: Its output (JSON text), if it succeeded.
    output: str | None = None
    #: Its error, if it did not.
    error: str | None = None
    #: The cause of that error.
    cause: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Start:
    """A new execution to record (StartExecution), with its first event."""

    #: The execution, RUNNING.
    execution: Execution
    #: Its ``ExecutionStarted`` event.
    first: NewEvent
    #: Whether the committing runner takes its lease at once (it runs it next).
    leased: bool = False
    #: What else to record in the same transaction, if the start is recorded (the job an
    #: execution runs: neither is ever committed without the other).
    also: Callable[[Connection], None] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Claimed:
    """An execution a runner now holds the lease of, with what it needs to run it."""

    #: The execution.
    execution: Execution
    #: The definition of its revision.
    definition: str
    #: The role of its revision.
    role_arn: str
    #: Its replayable events, in order.
    events: list[StoredEvent]
    #: The id of its last event (replayable or not).
    last_event_id: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Committed:
    """What :meth:`Executions.commit` did."""

    #: Executions whose lease the runner still held: their events and endings are written.
    owned: frozenset[str]
    #: Of those, the ones whose state machine is being deleted.
    deleting: frozenset[str]
    #: What each start did, in order: ``(execution, True)`` when recorded, ``(the existing
    #: one, False)`` when the name was taken (perhaps by a start before it in the same
    #: batch), ``None`` when its state machine is not ACTIVE.
    started: Sequence[tuple[Execution, bool] | None] = ()


class Executions:
    """The repository of :class:`Execution` and their events: one query per intent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def start(
        self,
        execution: Execution,
        first: NewEvent,
        *,
        lease_owner: str | None = None,
        lease_expires: float | None = None,
    ) -> tuple[Execution, bool] | None:
        """Record a new RUNNING execution with its first event (``ExecutionStarted``).

        Answers ``(execution, True)``; ``(the existing one, False)`` when the name is
        taken; ``None`` when the state machine is not ACTIVE (gone or being deleted).
        """
        with self._db.begin() as connection:
            return _start(connection, execution, first, lease_owner, lease_expires)

    def get(self, key: str) -> Execution | None:
        """The execution ``key`` names, or ``None``."""
        with self._db.read() as connection:
            row = connection.execute(
                select(executions).where(executions.c.key == key)
            ).one_or_none()
        return None if row is None else _execution(row)

    def list(
        self,
        state_machine: str,
        *,
        status: ExecutionStatus | None = None,
        redriven: bool | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> tuple[builtins.list[Execution], bool]:
        """A state machine's executions, newest first, after ``after`` (start date and
        key of the last one given); and whether more follow."""
        conditions = [executions.c.state_machine == state_machine]
        if status is not None:
            conditions.append(executions.c.status == status.value)
        if redriven is not None:
            conditions.append(
                executions.c.redrive_count > 0 if redriven else executions.c.redrive_count == 0
            )
        if after is not None:
            date, key = after
            conditions.append(
                or_(
                    executions.c.start_date < date,
                    and_(executions.c.start_date == date, executions.c.key < key),
                )
            )
        with self._db.read() as connection:
            rows = connection.execute(
                select(executions)
                .where(*conditions)
                .order_by(executions.c.start_date.desc(), executions.c.key.desc())
                .limit(limit + 1)
            ).all()
        return [_execution(row) for row in rows[:limit]], len(rows) > limit

    def history(
        self, key: str, *, after: int | None = None, reverse: bool = False, limit: int = 100
    ) -> tuple[builtins.list[StoredEvent], bool]:
        """A page of ``key``'s events by id (descending if ``reverse``), after the event
        ``after``; and whether more follow."""
        column = execution_events.c.id
        statement = select(execution_events).where(execution_events.c.execution_key == key)
        if after is not None:
            statement = statement.where(column < after if reverse else column > after)
        statement = statement.order_by(column.desc() if reverse else column).limit(limit + 1)
        with self._db.read() as connection:
            rows = connection.execute(statement).all()
        return [_event(row) for row in rows[:limit]], len(rows) > limit

    def last_event_id(self, key: str) -> int:
        """The id of ``key``'s last event (0 when it has none)."""
        with self._db.read() as connection:
            return _last_event_id(connection, key)

    def claim(
        self, owner: str, *, now: float, lease_until: float, limit: int
    ) -> builtins.list[Claimed]:
        """Lease to ``owner`` up to ``limit`` RUNNING executions whose lease is free or has
        expired before ``now``, oldest first, with what it needs to run them."""
        if limit <= 0:
            return []
        claimable = (
            executions.c.status == ExecutionStatus.RUNNING.value,
            or_(executions.c.lease_owner.is_(None), executions.c.lease_expires < now),
        )
        # Most looks find nothing: look without the write lock first (SQLite), so a
        # runner's polling never holds up the writes of running executions.
        with self._db.read() as connection:
            if (
                connection.execute(select(executions.c.key).where(*claimable).limit(1)).first()
                is None
            ):
                return []
        with self._db.begin() as connection:
            keys = (
                connection.execute(
                    select(executions.c.key)
                    .where(
                        executions.c.status == ExecutionStatus.RUNNING.value,
                        or_(executions.c.lease_owner.is_(None), executions.c.lease_expires < now),
                    )
                    .order_by(executions.c.start_date)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            if not keys:
                return []
            connection.execute(
                update(executions)
                .where(executions.c.key.in_(keys))
                .values(lease_owner=owner, lease_expires=lease_until)
            )
            return _claimed(connection, keys)

    def commit(
        self,
        owner: str,
        events: Sequence[NewEvent],
        endings: Sequence[Ending] = (),
        starts: Sequence[Start] = (),
        *,
        lease_until: float,
    ) -> Committed:
        """Record ``starts``, then append ``events`` and apply ``endings`` of the executions
        ``owner`` still holds, renewing their leases, in one transaction; the others' are
        dropped. A state machine being deleted is removed with the last of its executions
        to end.
        """
        keys = {event.execution for event in events} | {ending.execution for ending in endings}
        with self._db.begin() as connection:
            started = [
                _start(
                    connection,
                    start.execution,
                    start.first,
                    owner if start.leased else None,
                    lease_until if start.leased else None,
                    start.also,
                )
                for start in starts
            ]
            if not keys:
                return Committed(owned=frozenset(), deleting=frozenset(), started=started)
            rows = connection.execute(
                select(executions.c.key, executions.c.state_machine, state_machines.c.status)
                .select_from(
                    executions.outerjoin(
                        state_machines, state_machines.c.name == executions.c.state_machine
                    )
                )
                .where(
                    executions.c.key.in_(keys),
                    executions.c.lease_owner == owner,
                    executions.c.status == ExecutionStatus.RUNNING.value,
                )
                .with_for_update(of=executions)
            ).all()
            owned = frozenset(row.key for row in rows)
            deleting = frozenset(
                row.key for row in rows if row.status != StateMachineStatus.ACTIVE.value
            )
            machines = {row.key: row.state_machine for row in rows}
            written = [_event_columns(event) for event in events if event.execution in owned]
            if written:
                connection.execute(insert(execution_events), written)
            if owned:
                connection.execute(
                    update(executions)
                    .where(executions.c.key.in_(owned))
                    .values(lease_expires=lease_until)
                )
            for ending in endings:
                if ending.execution in owned:
                    _end(connection, ending)
                    if ending.execution in deleting:
                        remove_if_idle(connection, machines[ending.execution])
        return Committed(owned=owned, deleting=deleting, started=started)

    def renew(self, owner: str, keys: Collection[str], *, lease_until: float) -> set[str]:
        """Extend ``owner``'s leases on ``keys``; the keys it still holds (RUNNING)."""
        held: set[str] = set()
        with self._db.begin() as connection:
            for chunk in _chunks(sorted(keys)):
                held.update(
                    connection.execute(
                        select(executions.c.key)
                        .where(
                            executions.c.key.in_(chunk),
                            executions.c.lease_owner == owner,
                            executions.c.status == ExecutionStatus.RUNNING.value,
                        )
                        .with_for_update()
                    )
                    .scalars()
                    .all()
                )
            for chunk in _chunks(sorted(held)):
                connection.execute(
                    update(executions)
                    .where(executions.c.key.in_(chunk))
                    .values(lease_expires=lease_until)
                )
        return held

    def release(self, owner: str, keys: Collection[str]) -> None:
        """Give up ``owner``'s leases on ``keys``: any runner may claim them at once."""
        with self._db.begin() as connection:
            for chunk in _chunks(sorted(keys)):
                connection.execute(
                    update(executions)
                    .where(executions.c.key.in_(chunk), executions.c.lease_owner == owner)
                    .values(lease_owner=None, lease_expires=None)
                )

    def stop(
        self,
        key: str,
        *,
        stop_date: datetime,
        error: str | None,
        cause: str | None,
        event: NewEvent,
    ) -> Execution | None:
        """RUNNING → ABORTED with ``event`` (``ExecutionAborted``) appended last.

        ``event``'s id, previous id and attempt are filled in here. An execution that
        has already ended is answered unchanged; ``None`` if there is none.
        """
        with self._db.begin() as connection:
            row = connection.execute(
                select(executions).where(executions.c.key == key).with_for_update()
            ).one_or_none()
            if row is None:
                return None
            if row.status != ExecutionStatus.RUNNING.value:
                return _execution(row)
            _end(
                connection,
                Ending(
                    execution=key,
                    status=ExecutionStatus.ABORTED,
                    stop_date=stop_date,
                    error=error,
                    cause=cause,
                ),
            )
            _append_last(connection, replace(event, execution=key, redrive=row.redrive_count))
            remove_if_idle(connection, row.state_machine)
            stopped = connection.execute(select(executions).where(executions.c.key == key)).one()
        return _execution(stopped)

    def redrive(
        self,
        key: str,
        *,
        redrive_count: int,
        now: datetime,
        event: NewEvent,
        superseded: Callable[[Sequence[StoredEvent]], Collection[int]],
    ) -> Execution | None:
        """FAILED, TIMED_OUT or ABORTED → RUNNING again, its ``redrive_count`` (which must
        still be ``redrive_count``) one more; ``None`` if it is not in such a state.

        ``superseded`` picks, from the replayable events, those the next run must not
        answer from (what failed); ``event`` (``ExecutionRedriven``) is appended last.
        """
        with self._db.begin() as connection:
            row = connection.execute(
                select(executions).where(executions.c.key == key).with_for_update()
            ).one_or_none()
            if (
                row is None
                or row.status not in {status.value for status in REDRIVABLE}
                or row.redrive_count != redrive_count
            ):
                return None
            replayable = connection.execute(
                select(execution_events)
                .where(execution_events.c.execution_key == key, execution_events.c.replayable)
                .order_by(execution_events.c.id)
            ).all()
            dropped = sorted(superseded([_event(r) for r in replayable]))
            for chunk in _chunks(dropped):
                connection.execute(
                    update(execution_events)
                    .where(
                        execution_events.c.execution_key == key,
                        execution_events.c.id.in_(chunk),
                    )
                    .values(replayable=False)
                )
            count = redrive_count + 1
            _append_last(connection, replace(event, execution=key, redrive=count))
            connection.execute(
                update(executions)
                .where(executions.c.key == key)
                .values(
                    status=ExecutionStatus.RUNNING.value,
                    redrive_count=count,
                    redrive_date=now,
                    output=None,
                    error=None,
                    cause=None,
                    stop_date=None,
                    lease_owner=None,
                    lease_expires=None,
                )
            )
            redriven = connection.execute(select(executions).where(executions.c.key == key)).one()
        return _execution(redriven)


def _start(
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
                    **_columns(execution), lease_owner=lease_owner, lease_expires=lease_expires
                )
            )
    except IntegrityError:
        row = connection.execute(select(executions).where(executions.c.key == execution.key)).one()
        return _execution(row), False
    connection.execute(insert(execution_events).values(**_event_columns(first)))
    if also is not None:
        also(connection)
    return execution, True


def _claimed(connection: Connection, keys: Sequence[str]) -> builtins.list[Claimed]:
    rows = connection.execute(
        select(executions, state_machine_revisions.c.definition, state_machine_revisions.c.role_arn)
        .join(
            state_machine_revisions,
            state_machine_revisions.c.revision_id == executions.c.revision_id,
        )
        .where(executions.c.key.in_(keys))
    ).all()
    events: dict[str, builtins.list[StoredEvent]] = {key: [] for key in keys}
    for row in connection.execute(
        select(execution_events)
        .where(execution_events.c.execution_key.in_(keys), execution_events.c.replayable)
        .order_by(execution_events.c.execution_key, execution_events.c.id)
    ):
        events[row.execution_key].append(_event(row))
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
            execution=_execution(row),
            definition=row.definition,
            role_arn=row.role_arn,
            events=events[row.key],
            last_event_id=int(last.get(row.key) or 0),
        )
        for row in sorted(rows, key=lambda r: (r.start_date, r.key))
    ]


def _end(connection: Connection, ending: Ending) -> None:
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


def _append_last(connection: Connection, event: NewEvent) -> None:
    last = _last_event_id(connection, event.execution)
    connection.execute(
        insert(execution_events).values(
            **_event_columns(replace(event, id=last + 1, previous_id=last))
        )
    )


def _last_event_id(connection: Connection, key: str) -> int:
    found = connection.execute(
        select(func.max(execution_events.c.id)).where(execution_events.c.execution_key == key)
    ).scalar_one()
    return int(found or 0)


def _chunks(values: Sequence[Any]) -> builtins.list[Sequence[Any]]:
    return [values[start : start + _CHUNK] for start in range(0, len(values), _CHUNK)]


def _columns(execution: Execution) -> dict[str, Any]:
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


def _event_columns(event: NewEvent) -> dict[str, Any]:
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


def _execution(row: Row[Any]) -> Execution:
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


def _event(row: Row[Any]) -> StoredEvent:
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
