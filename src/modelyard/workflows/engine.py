"""What a running execution is made of, as the states see it: its scopes and its engine.

The interpreter (:mod:`modelyard.workflows.interpreter`) implements :class:`Engine`; the
modules of the state types (:mod:`tasks`, :mod:`branching`, :mod:`simple_states`,
:mod:`distributed_map`) are handed one and call only what it declares, so they depend on
this module and never on the interpreter that dispatches to them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from modelyard.workflows.definition import StateMachine
from modelyard.workflows.environment import Environment, HistoryEvent

__all__ = ["Engine", "ExecutionInfo", "ExecutionOutcome", "ExecutionStatus", "Frame"]

T = TypeVar("T")


class ExecutionStatus(enum.Enum):
    """How an execution ended (or that it has not)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionInfo:
    """What the context object says of the execution."""

    #: The execution's ARN.
    arn: str
    #: Its name.
    name: str
    #: The state machine's ARN.
    state_machine_arn: str
    #: The state machine's name.
    state_machine_name: str
    #: When it started, epoch seconds.
    start_time: float
    #: The role it runs as (recorded only).
    role_arn: str = ""
    #: How many times it was redriven.
    redrive_count: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionOutcome:
    """How an execution ended."""

    #: Its final status.
    status: ExecutionStatus
    #: The output when it succeeded.
    output: Any = None
    #: The error when it failed or timed out.
    error: str | None = None
    #: The cause.
    cause: str | None = None


@dataclass(kw_only=True, slots=True)
class Frame:
    """Where a machine runs: the top level, a Parallel branch or a Map iteration."""

    #: The variables of this scope (a branch starts with a copy of its parent's).
    variables: dict[str, Any]
    #: The path from the top level, e.g. ``/Fan/3``: part of idempotency keys and seeds.
    path: str = ""
    #: The last event recorded in this scope (the next event's ``previousEventId``).
    previous_event: int = 0
    #: How many events this scope has recorded: the next event's key is ``path#sequence``.
    sequence: int = 0
    #: When this scope's last event happened: what sleeps are measured from, so that a
    #: replayed Wait or retry back-off ends when it would have.
    last_time: float = 0.0

    def child(self, segment: str) -> Frame:
        """The frame of a branch or iteration inside this one."""
        return Frame(
            variables=dict(self.variables),
            path=f"{self.path}/{segment}",
            previous_event=self.previous_event,
            last_time=self.last_time,
        )

    def next_key(self) -> str:
        """The key of the next event this scope records."""
        return f"{self.path}#{self.sequence}"


class Engine(Protocol):
    """What a state's code may ask of the execution running it."""

    #: The execution's facts (the context object's ``Execution``).
    execution: ExecutionInfo
    #: Its clock, task resources and history.
    environment: Environment

    async def run_machine(self, machine: StateMachine, input: Any, frame: Frame) -> Any:
        """Run a nested machine (a branch, an iteration) in ``frame``; its output."""
        ...

    def event(
        self, frame: Frame, type: str, details_name: str | None, details: Mapping[str, Any] | None
    ) -> HistoryEvent:
        """Record an event in ``frame``'s scope (or find it recorded, on a replay)."""
        ...

    def recorded_next(self, frame: Frame) -> HistoryEvent | None:
        """The event ``frame`` records next, if a run before this one recorded it."""
        ...

    async def sleep(self, frame: Frame, seconds: float) -> None:
        """Sleep until ``seconds`` after ``frame``'s last event."""
        ...

    async def with_timeout(
        self, work: Awaitable[T], seconds: float | None, cause: str, *, error: str = ...
    ) -> T:
        """``work``'s result, or ``error`` after ``seconds`` of the clock."""
        ...

    def spawn(
        self, machine: StateMachine, environment: Environment, execution: ExecutionInfo
    ) -> Execution:
        """A separate execution of ``machine`` (a Distributed Map's child)."""
        ...


class Execution(Protocol):
    """An execution that can be run to its end."""

    async def execute(self, input: Any) -> ExecutionOutcome:
        """Run it; how it ended."""
        ...
