"""Durable histories: an execution's events go to the database, batched, before they count.

:class:`DurableHistory` is the :class:`~modelyard.workflows.environment.HistorySink` of a
standard execution. Its ``add`` is synchronous and cheap: it answers from the events a
previous run recorded (loaded once, when the execution was claimed), or numbers the new
event and hands it to the runner's :class:`Journal`. The journal writes what every
execution added during one turn of the event loop in one transaction, in a thread (so the
loop never waits for the database), one batch at a time; the events of one execution
are therefore committed in order, and what is committed is always a prefix of what was
added, which a resumed run recomputes identically (event keys and ids are deterministic).

New executions (StartExecution) go through the journal too, so that many starts share
one transaction and one commit (a commit costs a few milliseconds on SQLite, whatever it
holds).

Nothing durable may happen before its record: :class:`DurableTasks` waits for the
journal to commit the execution's events (``TaskScheduled``, ``TaskStarted``) before it
calls the task's resource. The execution's last event (``ExecutionSucceeded`` …) is held
back and written with the execution's ending, in one transaction
(:meth:`Journal.end`).

Every batch checks, in its transaction, that this runner still holds each execution's
lease; an execution it lost (to StopExecution, to another runner after its lease expired)
or whose batch failed is given up: its events still waiting are dropped and ``on_lost``
cancels its run, which resumes from the committed prefix wherever it is claimed next.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

from modelyard.errors import ModelyardError
from modelyard.storage.executions import Claimed, Ending, Execution, Executions, NewEvent, Start
from modelyard.workflows.environment import HistoryEvent, TaskContext, TaskRunner
from modelyard.workflows.errors import RUNTIME, StatesError

__all__ = [
    "MAX_HISTORY_EVENTS",
    "TERMINAL_EVENTS",
    "DurableHistory",
    "DurableTasks",
    "ExecutionLost",
    "Journal",
]

logger = logging.getLogger(__name__)

#: Events an execution's history may hold (a hard quota of Step Functions).
MAX_HISTORY_EVENTS: Final = 25_000
#: The events that end an execution: written with its ending, never before.
TERMINAL_EVENTS: Final = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
)
#: The cause of the failure of an execution that reached :data:`MAX_HISTORY_EVENTS`.
HISTORY_LIMIT_CAUSE: Final = (
    f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS})."
)


class ExecutionLost(ModelyardError):
    """This runner no longer holds the execution (stopped, or claimed by another runner)."""


@dataclass(slots=True)
class _Track:
    """What the journal knows of one execution it writes for."""

    #: Events appended so far.
    appended: int = 0
    #: Events committed so far.
    committed: int = 0
    #: ``(count, future)``: woken once ``count`` events are committed.
    waiters: list[tuple[int, asyncio.Future[None]]] = field(default_factory=list)
    #: Why it was given up, once it was.
    lost: BaseException | None = None


class Journal:
    """Writes the events of a runner's executions, batched per turn of the event loop.

    ``on_lost(key)`` is called when an execution must stop running here; ``on_deleting``
    when its state machine is being deleted (its next state transition fails it).
    """

    def __init__(
        self,
        executions: Executions,
        *,
        owner: str,
        lease_s: float,
        on_lost: Callable[[str], None],
        on_deleting: Callable[[str], None],
    ) -> None:
        self._executions = executions
        self._owner = owner
        self._lease_s = lease_s
        self._on_lost = on_lost
        self._on_deleting = on_deleting
        self._tracks: dict[str, _Track] = {}
        self._pending: list[NewEvent] = []
        self._endings: dict[str, tuple[Ending, asyncio.Future[bool]]] = {}
        self._starts: list[tuple[Start, asyncio.Future[tuple[Execution, bool] | None]]] = []
        self._wanted = asyncio.Event()
        self._stopping = False
        #: Batches committed (what tests and metrics look at).
        self.batches = 0

    # -- what executions call -------------------------------------------------------------

    async def start(self, start: Start) -> tuple[Execution, bool] | None:
        """Record a new execution in the next batch (see :meth:`Executions.commit`): many
        StartExecution calls then share one transaction, and one commit."""
        future: asyncio.Future[tuple[Execution, bool] | None]
        future = asyncio.get_running_loop().create_future()
        self._starts.append((start, future))
        self._wanted.set()
        return await future

    def open(self, key: str) -> None:
        """Start writing for the execution ``key``."""
        self._tracks[key] = _Track()

    def close(self, key: str) -> None:
        """Forget ``key`` (it ended, or stopped running here). What it queued is still
        written while this runner holds its lease: a run resumed later redoes less."""
        self._tracks.pop(key, None)

    def append(self, event: NewEvent) -> None:
        """Queue ``event`` for the next batch."""
        self._tracks[event.execution].appended += 1
        self._pending.append(event)
        self._wanted.set()

    async def sync(self, key: str) -> None:
        """Return once every event ``key`` appended so far is committed.

        Raises :class:`ExecutionLost` (or the database's error) when they never will be.
        """
        track = self._tracks[key]
        if track.lost is not None:
            raise track.lost
        if track.committed >= track.appended:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        track.waiters.append((track.appended, future))
        await future

    async def end(self, ending: Ending, final: NewEvent | None) -> bool:
        """Write ``final`` and ``ending`` in one transaction, after the events before them.

        ``False`` when the execution was lost meanwhile (nothing is written then).
        """
        if self._tracks[ending.execution].lost is not None:
            return False
        if final is not None:
            self.append(final)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._endings[ending.execution] = (ending, future)
        self._wanted.set()
        return await future

    # -- the writer -----------------------------------------------------------------------

    async def run(self) -> None:
        """Write batches as events come, until :meth:`stop` (the runner's background task).

        Never cancel it while it writes: a batch is one transaction in a thread, which
        would commit anyway, and the next could then overtake it.
        """
        # A thread of its own: every state transition waits for a batch, which must not
        # queue behind other work handed to the loop's default pool (object store calls).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="workflows-journal") as thread:
            while True:
                await self._wanted.wait()
                # One more turn of the loop: tasks started in this one (a Map's iterations)
                # take their first steps, and their events join this batch rather than wait
                # for it to commit and then for the next.
                await asyncio.sleep(0)
                self._wanted.clear()
                while self._pending or self._endings or self._starts:
                    await self._write_batch(thread)
                if self._stopping:
                    return

    def stop(self) -> None:
        """Make :meth:`run` return once it has written everything queued."""
        self._stopping = True
        self._wanted.set()

    async def _write_batch(self, thread: Executor) -> None:
        events, self._pending = self._pending, []
        endings, self._endings = self._endings, {}
        starts, self._starts = self._starts, []
        counts = Counter(event.execution for event in events)
        try:
            committed = await asyncio.get_running_loop().run_in_executor(
                thread,
                functools.partial(
                    self._executions.commit,
                    self._owner,
                    events,
                    [ending for ending, _ in endings.values()],
                    [start for start, _ in starts],
                    lease_until=time.time() + self._lease_s,
                ),
            )
        except Exception as exc:
            # The batch is lost as a whole: what came after it for these executions must
            # not be written either (their histories would have a gap).
            logger.warning("writing %d history events failed: %s", len(events), exc)
            for key in counts.keys() | endings.keys():
                self._lose(key, exc)
            for _, future in endings.values():
                if not future.done():
                    future.set_result(False)
            for _, started in starts:
                if not started.done():
                    started.set_exception(exc)
            return
        self.batches += 1
        for (_, started), result in zip(starts, committed.started, strict=True):
            if not started.done():
                started.set_result(result)
        for key, count in counts.items():
            track = self._tracks.get(key)
            if track is None or track.lost is not None:
                continue
            if key not in committed.owned:
                self._lose(key, ExecutionLost(f"execution {key!r} is no longer held here"))
                continue
            track.committed += count
            still = []
            for target, waiter in track.waiters:
                if target <= track.committed:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    still.append((target, waiter))
            track.waiters = still
        for key, (_, ended) in endings.items():
            if not ended.done():
                ended.set_result(key in committed.owned)
        for key in committed.deleting:
            if key in self._tracks:
                self._on_deleting(key)

    def _lose(self, key: str, why: BaseException) -> None:
        track = self._tracks.get(key)
        if track is None or track.lost is not None:
            return
        track.lost = why
        self._purge(key)
        for _, waiter in track.waiters:
            if not waiter.done():
                waiter.set_exception(why)
        track.waiters = []
        self._on_lost(key)

    def _purge(self, key: str) -> None:
        if any(event.execution == key for event in self._pending):
            self._pending = [event for event in self._pending if event.execution != key]
        ending = self._endings.pop(key, None)
        if ending is not None and not ending[1].done():
            ending[1].set_result(False)


class DurableHistory:
    """The history of one standard execution: answered from its record, or journaled.

    Events it writes get the ids after the last one recorded. The 25,000th event may
    only end the execution: any other fails it instead with ``States.Runtime``, as
    Step Functions does (see :data:`HISTORY_LIMIT_CAUSE`); :meth:`doom` does the same
    for other reasons (its state machine was deleted).
    """

    def __init__(self, journal: Journal, claimed: Claimed) -> None:
        self._journal = journal
        self.key = claimed.execution.key
        self._redrive = claimed.execution.redrive_count
        self._recorded = {
            event.key: HistoryEvent(
                id=event.id,
                previous_event_id=event.previous_id,
                timestamp=event.timestamp,
                type=event.type,
                details=(
                    (event.details_name, event.details)
                    if event.details_name is not None and event.details is not None
                    else None
                ),
            )
            for event in claimed.events
        }
        self._next_id = claimed.last_event_id + 1
        self._doomed: StatesError | None = None
        #: The event that ended the execution, held back for :meth:`Journal.end`.
        self.final: NewEvent | None = None

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
        recorded = self._recorded.get(key)
        if recorded is not None:
            return recorded
        terminal = type in TERMINAL_EVENTS
        if not terminal:
            if self._doomed is None and self._next_id >= MAX_HISTORY_EVENTS:
                self._doomed = StatesError(RUNTIME, HISTORY_LIMIT_CAUSE)
            if self._doomed is not None:
                raise self._doomed
        event = HistoryEvent(
            id=self._next_id,
            previous_event_id=previous,
            timestamp=timestamp,
            type=type,
            details=details,
        )
        self._next_id += 1
        new = NewEvent(
            execution=self.key,
            id=event.id,
            previous_id=previous,
            timestamp=timestamp,
            type=type,
            details_name=None if details is None else details[0],
            details=None if details is None else details[1],
            key=key,
            redrive=self._redrive,
        )
        if terminal:
            self.final = new
        else:
            self._journal.append(new)
        return event

    def recorded(self, key: str) -> HistoryEvent | None:
        """The event recorded under ``key``, if any."""
        return self._recorded.get(key)

    def doom(self, error: StatesError) -> None:
        """Fail the execution with ``error`` at its next state transition."""
        if self._doomed is None:
            self._doomed = error

    def check(self) -> None:
        """Raise what dooms the execution, if anything does."""
        if self._doomed is not None:
            raise self._doomed

    def crash(self, cause: str, timestamp: float) -> NewEvent:
        """The ``ExecutionFailed`` event of a run that broke down (a bug, not the workflow)."""
        self.final = NewEvent(
            execution=self.key,
            id=self._next_id,
            previous_id=self._next_id - 1,
            timestamp=timestamp,
            type="ExecutionFailed",
            details_name="executionFailedEventDetails",
            details={"error": RUNTIME, "cause": cause},
            key="!ExecutionFailed",
            redrive=self._redrive,
            replayable=False,
        )
        return self.final


class DurableTasks:
    """The task runner of a standard execution: a resource runs only once its
    ``TaskScheduled`` and ``TaskStarted`` events are committed (and never once the
    execution is doomed: its state machine was deleted meanwhile).

    A resource for which ``reads_only`` is true changes nothing, so nothing needs to
    be known of it before it runs: it runs at once (run again, after a crash, it does
    no harm).
    """

    def __init__(
        self,
        tasks: TaskRunner,
        journal: Journal,
        history: DurableHistory,
        reads_only: Callable[[str], bool] | None = None,
    ) -> None:
        self._tasks = tasks
        self._journal = journal
        self._history = history
        self._reads_only = reads_only

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """The resource's result, once the events before it are durable."""
        if self._reads_only is None or not self._reads_only(resource):
            await self._journal.sync(self._history.key)
        self._history.check()
        return await self._tasks.run(resource, payload, task)
