"""What an execution runs in: its clock, its task resources, and where its history goes.

The interpreter knows no database, no HTTP and no wall clock: an :class:`Environment`
hands it all three. Standard executions get a durable history and the real clock;
express executions, and the tests, an in-memory history (:class:`MemoryHistory`); the
tests a :class:`ManualClock` whose sleeps advance time at once, so Retry back-off and Wait
states are checked to the second without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelyard.storage.objectstore import ObjectStore
    from modelyard.workflows.map_runs import MapRuns

__all__ = [
    "Clock",
    "Environment",
    "HistoryEvent",
    "HistorySink",
    "ManualClock",
    "MemoryHistory",
    "SystemClock",
    "TaskContext",
    "TaskRunner",
]


class Clock(Protocol):
    """Time as an execution sees it."""

    def now(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (cancellable)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> float:
        """Epoch seconds."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time, never less: uvloop's timers have a millisecond's
        resolution and may fire that much early, and a Wait state must last its time."""
        until = time.time() + seconds
        while (left := until - time.time()) > 0:
            await asyncio.sleep(left)


class ManualClock:
    """A clock for tests: a sleep returns once every other task is blocked, time advanced.

    Sleepers wake in order of their deadlines; time jumps to each deadline in turn, so
    concurrent waits and timeouts interleave as they would in real time.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._waker: asyncio.Task[None] | None = None
        #: Every duration slept, in order: what tests assert back-off on.
        self.slept: list[float] = []

    def now(self) -> float:
        """The manual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward (sleepers are woken by the next idle turn)."""
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Wait until time reaches now + ``seconds``; time jumps there when all are idle."""
        self.slept.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), future))
        if self._waker is None or self._waker.done():
            self._waker = asyncio.get_running_loop().create_task(self._wake())
        await future

    async def _wake(self) -> None:
        while self._sleepers:
            # Let every runnable task run (and perhaps sleep) before time moves.
            for _ in range(20):
                await asyncio.sleep(0)
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskContext:
    """What a task resource is told besides its input."""

    #: Recognises a side effect repeated after a crash: execution, state path, attempt.
    idempotency_key: str
    #: The execution's ARN.
    execution_arn: str
    #: The state's name.
    state_name: str
    #: Seconds the task may run (``None``: no limit).
    timeout_seconds: float | None
    #: The context object ``$$``.
    context: Mapping[str, Any]


class TaskRunner(Protocol):
    """Runs the resource of a Task state (a function, an endpoint, the object store...)."""

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """The resource's result for ``payload``; raises ``StatesError`` when it fails."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class HistoryEvent:
    """One event of an execution's history, as GetExecutionHistory lists it."""

    #: 1-based position in the history.
    id: int
    #: The event this one follows (within its branch or iteration).
    previous_event_id: int
    #: When it happened, epoch seconds.
    timestamp: float
    #: Its type, e.g. ``TaskStateEntered``.
    type: str
    #: The ``…EventDetails`` member's name and value, if it has one.
    details: tuple[str, Mapping[str, Any]] | None

    def to_json(self) -> dict[str, Any]:
        """The event as the Step Functions API answers it (timestamps as epoch seconds)."""
        out: dict[str, Any] = {
            "timestamp": self.timestamp,
            "type": self.type,
            "id": self.id,
            "previousEventId": self.previous_event_id,
        }
        if self.details is not None:
            out[self.details[0]] = dict(self.details[1])
        return out


class HistorySink(Protocol):
    """Where an execution's events go, each under a key that is the same on every replay.

    A key names an event by the scope it happened in and its place there (``/Fan[3]#5``):
    an execution resumed after a crash runs again from the start, and each event it
    would record that is already recorded under its key is answered from the record
    rather than written twice. That is also how a finished task is not run again.
    """

    def add(
        self,
        key: str,
        type: str,
        details: tuple[str, Mapping[str, Any]] | None,
        *,
        previous: int,
        timestamp: float,
    ) -> HistoryEvent:
        """The event recorded under ``key``, recording this one if there is none."""
        ...

    def recorded(self, key: str) -> HistoryEvent | None:
        """The event recorded under ``key``, if any."""
        ...


class MemoryHistory:
    """A history kept in memory (express executions, tests)."""

    def __init__(self) -> None:
        #: The events, in order.
        self.events: list[HistoryEvent] = []
        self._by_key: dict[str, HistoryEvent] = {}

    def add(
        self,
        key: str,
        type: str,
        details: tuple[str, Mapping[str, Any]] | None,
        *,
        previous: int,
        timestamp: float,
    ) -> HistoryEvent:
        """The event recorded under ``key``, recording this one if there is none."""
        if (event := self._by_key.get(key)) is not None:
            return event
        event = HistoryEvent(
            id=len(self.events) + 1,
            previous_event_id=previous,
            timestamp=timestamp,
            type=type,
            details=details,
        )
        self.events.append(event)
        self._by_key[key] = event
        return event

    def recorded(self, key: str) -> HistoryEvent | None:
        """The event recorded under ``key``, if any."""
        return self._by_key.get(key)

    def types(self) -> list[str]:
        """The event types, in order (what tests compare)."""
        return [event.type for event in self.events]


@dataclass(frozen=True, kw_only=True, slots=True)
class Environment:
    """Everything an execution needs from outside the definition."""

    #: Runs Task resources.
    tasks: TaskRunner
    #: Time.
    clock: Clock = field(default_factory=SystemClock)
    #: Where events go.
    history: HistorySink = field(default_factory=MemoryHistory)
    #: Region and account for ARNs (``$partition`` etc.).
    region: str = "us-east-1"
    account: str = "000000000000"
    #: The object store (``s3://BUCKET/KEY`` is its key ``BUCKET/KEY``): where distributed
    #: Maps read items, write results and keep their progress. ``None``: none of these.
    store: ObjectStore | None = None
    #: Where distributed Maps report their Map Runs (``None``: nowhere).
    map_runs: MapRuns | None = None
