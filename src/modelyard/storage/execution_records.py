"""The records of executions and their events: what the executions repository stores.

They are what it answers and what it is asked to write; see
:mod:`modelyard.storage.executions` for the repository and how leases work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

__all__ = [
    "ENDED",
    "REDRIVABLE",
    "Claimed",
    "Committed",
    "Ending",
    "Execution",
    "ExecutionStatus",
    "NewEvent",
    "Start",
    "StoredEvent",
]


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
    """What :meth:`~modelyard.storage.executions.Executions.commit` did."""

    #: Executions whose lease the runner still held: their events and endings are written.
    owned: frozenset[str]
    #: Of those, the ones whose state machine is being deleted.
    deleting: frozenset[str]
    #: What each start did, in order: ``(execution, True)`` when recorded, ``(the existing
    #: one, False)`` when the name was taken (perhaps by a start before it in the same
    #: batch), ``None`` when its state machine is not ACTIVE.
    started: Sequence[tuple[Execution, bool] | None] = ()
