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
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update

from modelyard.storage.database import Database
from modelyard.storage.execution_records import (
    ENDED,
    REDRIVABLE,
    Claimed,
    Committed,
    Ending,
    Execution,
    ExecutionStatus,
    NewEvent,
    Start,
    StoredEvent,
)
from modelyard.storage.execution_rows import (
    append_last,
    chunks,
    event_columns,
    event_from_row,
    execution_from_row,
    highest_event_id,
    insert_start,
    load_claimed,
    write_ending,
)
from modelyard.storage.schema import execution_events, executions, state_machines
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
            return insert_start(connection, execution, first, lease_owner, lease_expires)

    def get(self, key: str) -> Execution | None:
        """The execution ``key`` names, or ``None``."""
        with self._db.read() as connection:
            row = connection.execute(
                select(executions).where(executions.c.key == key)
            ).one_or_none()
        return None if row is None else execution_from_row(row)

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
        return [execution_from_row(row) for row in rows[:limit]], len(rows) > limit

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
        return [event_from_row(row) for row in rows[:limit]], len(rows) > limit

    def last_event_id(self, key: str) -> int:
        """The id of ``key``'s last event (0 when it has none)."""
        with self._db.read() as connection:
            return highest_event_id(connection, key)

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
            return load_claimed(connection, keys)

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
                insert_start(
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
            written = [event_columns(event) for event in events if event.execution in owned]
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
                    write_ending(connection, ending)
                    if ending.execution in deleting:
                        remove_if_idle(connection, machines[ending.execution])
        return Committed(owned=owned, deleting=deleting, started=started)

    def renew(self, owner: str, keys: Collection[str], *, lease_until: float) -> set[str]:
        """Extend ``owner``'s leases on ``keys``; the keys it still holds (RUNNING)."""
        held: set[str] = set()
        with self._db.begin() as connection:
            for chunk in chunks(sorted(keys)):
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
            for chunk in chunks(sorted(held)):
                connection.execute(
                    update(executions)
                    .where(executions.c.key.in_(chunk))
                    .values(lease_expires=lease_until)
                )
        return held

    def release(self, owner: str, keys: Collection[str]) -> None:
        """Give up ``owner``'s leases on ``keys``: any runner may claim them at once."""
        with self._db.begin() as connection:
            for chunk in chunks(sorted(keys)):
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
                return execution_from_row(row)
            write_ending(
                connection,
                Ending(
                    execution=key,
                    status=ExecutionStatus.ABORTED,
                    stop_date=stop_date,
                    error=error,
                    cause=cause,
                ),
            )
            append_last(connection, replace(event, execution=key, redrive=row.redrive_count))
            remove_if_idle(connection, row.state_machine)
            stopped = connection.execute(select(executions).where(executions.c.key == key)).one()
        return execution_from_row(stopped)

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
            dropped = sorted(superseded([event_from_row(r) for r in replayable]))
            for chunk in chunks(dropped):
                connection.execute(
                    update(execution_events)
                    .where(
                        execution_events.c.execution_key == key,
                        execution_events.c.id.in_(chunk),
                    )
                    .values(replayable=False)
                )
            count = redrive_count + 1
            append_last(connection, replace(event, execution=key, redrive=count))
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
        return execution_from_row(redriven)
