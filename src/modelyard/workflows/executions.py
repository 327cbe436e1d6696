"""Running standard executions durably: the runner, its task registry, and redrives.

:class:`ExecutionRunner` is the background worker of the workflows area. It claims
RUNNING executions from the database with a lease (those whose lease is free or has
expired: at start, every execution a dead process left behind), runs the interpreter for
each over a :class:`~modelyard.workflows.journal.DurableHistory` (at most
``max_concurrent_executions`` at once), renews its leases while they run, and ends each
execution in the transaction that writes its last event. An execution resumed after a
crash runs again from the start: what it had recorded is answered from the record, so
finished tasks are not run again and nothing is recorded twice.

:class:`TaskRegistry` is the :class:`~modelyard.workflows.environment.TaskRunner` the
platform fills: task resources by ARN prefix (``arn:aws:states:::lambda:invoke``, …).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from modelyard.errors import DatabaseError
from modelyard.storage.executions import (
    Claimed,
    Ending,
    Execution,
    Executions,
    ExecutionStatus,
    Start,
)
from modelyard.storage.objectstore import ObjectStore
from modelyard.workflows import validation
from modelyard.workflows.arns import StatesArns
from modelyard.workflows.definition import StateMachine, parse_machine
from modelyard.workflows.environment import (
    Clock,
    Environment,
    SystemClock,
    TaskContext,
    TaskRunner,
)
from modelyard.workflows.errors import RUNTIME, TASK_FAILED, StatesError
from modelyard.workflows.interpreter import ExecutionInfo, ExecutionOutcome, Interpreter
from modelyard.workflows.interpreter import ExecutionStatus as OutcomeStatus
from modelyard.workflows.journal import DurableHistory, DurableTasks, ExecutionLost, Journal
from modelyard.workflows.map_runs import MapRuns

__all__ = ["ExecutionRunner", "RunnerLimits", "TaskRegistry", "compile_definition"]

logger = logging.getLogger(__name__)

#: Parsed definitions kept per runner, by revision (revisions never change).
_MACHINE_CACHE: Final = 256
#: The statuses an interpreter outcome ends an execution with.
_STATUSES: Final = {
    "SUCCEEDED": ExecutionStatus.SUCCEEDED,
    "FAILED": ExecutionStatus.FAILED,
    "TIMED_OUT": ExecutionStatus.TIMED_OUT,
}


class TaskRegistry:
    """Task resources by ARN prefix; the longest registered prefix of a resource runs it.

    >>> registry = TaskRegistry()
    >>> registry.register("arn:aws:states:::lambda:invoke", FunctionTask(functions))
    >>> registry.register("arn:aws:lambda:", FunctionTask(functions))  # plain function ARNs

    ARNs of other partitions (``arn:aws-cn:…``) find the handlers registered for
    ``arn:aws:…``. A resource no prefix serves fails its task with ``States.Runtime``
    naming it; an exception a handler raises that is not a ``StatesError`` fails it
    with ``States.TaskFailed``.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, TaskRunner] = {}
        self._reading: set[str] = set()
        #: By resource: its runner and whether it reads only (``None``: no runner).
        self._found: dict[str, tuple[TaskRunner, bool] | None] = {}

    def register(self, prefix: str, runner: TaskRunner, *, reads_only: bool = False) -> None:
        """Serve the resources starting with ``prefix`` with ``runner``.

        ``reads_only``: its resources change nothing anywhere (they look things up), so a
        standard execution need not record that it is about to run one before it does.
        """
        self._handlers[prefix] = runner
        if reads_only:
            self._reading.add(prefix)
        else:
            self._reading.discard(prefix)
        self._found.clear()

    def prefixes(self) -> list[str]:
        """The registered prefixes, sorted."""
        return sorted(self._handlers)

    def reads_only(self, resource: str) -> bool:
        """Whether the handler of ``resource`` was registered as changing nothing."""
        found = self._lookup(resource)
        return found is not None and found[1]

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """Run ``resource`` on ``payload`` with the handler registered for it."""
        found = self._lookup(resource)
        if found is None:
            raise StatesError(
                RUNTIME, f"The resource '{resource}' is not supported: no task handler serves it."
            )
        try:
            return await found[0].run(resource, payload, task)
        except StatesError:
            raise
        except Exception as exc:  # a handler's bug fails its task, never the runner
            logger.exception("task handler of %s failed", resource)
            raise StatesError(TASK_FAILED, f"{type(exc).__name__}: {exc}") from exc

    def _lookup(self, resource: str) -> tuple[TaskRunner, bool] | None:
        if resource in self._found:
            return self._found[resource]
        parts = resource.split(":", 2)
        normal = f"arn:aws:{parts[2]}" if len(parts) == 3 and parts[0] == "arn" else resource
        matching = [prefix for prefix in self._handlers if normal.startswith(prefix)]
        longest = max(matching, key=len) if matching else None
        found = None if longest is None else (self._handlers[longest], longest in self._reading)
        self._found[resource] = found
        return found


@dataclass(frozen=True, kw_only=True, slots=True)
class RunnerLimits:
    """How a runner leases and paces executions::

    RunnerLimits(lease_s=30.0, poll_interval_s=1.0, max_concurrent=1000)
    """

    #: Seconds a claim lasts unless renewed (a third of it passes between renewals).
    lease_s: float = 30.0
    #: Seconds between looks for executions to claim when nothing wakes the runner.
    poll_interval_s: float = 1.0
    #: Executions run at once, at most.
    max_concurrent: int = 1000


def compile_definition(definition: str) -> StateMachine:
    """The interpreter's form of a (stored, hence valid) definition."""
    return parse_machine(validation.check(definition))


class ExecutionRunner:
    """Claims, runs and ends the standard executions of one process (see the module)."""

    def __init__(
        self,
        executions: Executions,
        *,
        tasks: TaskRunner,
        arns: StatesArns,
        limits: RunnerLimits | None = None,
        clock: Clock | None = None,
        store: ObjectStore | None = None,
        map_runs: MapRuns | None = None,
    ) -> None:
        self.limits = limits or RunnerLimits()
        self._store = store
        self._map_runs = map_runs
        #: Who this runner is in the database's leases.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._executions = executions
        self._tasks = tasks
        self._arns = arns
        self._clock = clock or SystemClock()
        self._journal = Journal(
            executions,
            owner=self.owner,
            lease_s=self.limits.lease_s,
            on_lost=self._lost,
            on_deleting=self._deleting,
        )
        self._running: dict[str, asyncio.Task[None]] = {}
        self._histories: dict[str, DurableHistory] = {}
        self._reserved = 0
        self._machines: OrderedDict[str, StateMachine] = OrderedDict()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start writing, claiming (which resumes what a dead process left) and renewing."""
        self._stopping = False
        self._writer = asyncio.create_task(self._journal.run(), name="workflows-journal")
        self._loops = [
            asyncio.create_task(self._claim_loop(), name="workflows-claims"),
            asyncio.create_task(self._renew_loop(), name="workflows-leases"),
        ]

    async def stop(self) -> None:
        """Stop every run, write what they recorded, and give their leases up at once, so
        the next runner (this process restarted, or another) resumes them without waiting."""
        self._stopping = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        running = dict(self._running)
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        if self._writer is not None:
            # What the stopped runs recorded is a consistent prefix: it is written.
            self._journal.stop()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        if running:
            try:
                await asyncio.to_thread(self._executions.release, self.owner, list(running))
            except DatabaseError as exc:  # they resume once their leases expire
                logger.warning("releasing %d executions failed: %s", len(running), exc)

    # -- what the service calls -----------------------------------------------------------

    def reserve(self) -> bool:
        """Hold a place for an execution about to be started here (``False``: none free)."""
        if len(self._running) + self._reserved >= self.limits.max_concurrent:
            return False
        self._reserved += 1
        return True

    def unreserve(self) -> None:
        """Give back a place :meth:`reserve` held without launching."""
        self._reserved -= 1

    def launch(self, claimed: Claimed) -> None:
        """Run ``claimed`` (leased to :attr:`owner`) in a place :meth:`reserve` held.

        Once the runner is stopping it is left to whichever runner claims it next.
        """
        self._reserved -= 1
        if not self._stopping:
            self._start(claimed)

    async def record_start(self, start: Start) -> tuple[Execution, bool] | None:
        """Record a new execution with this runner's next batch of writes (see
        :meth:`~modelyard.storage.executions.Executions.commit` for the answer)."""
        return await self._journal.start(start)

    def wake(self) -> None:
        """Look for executions to claim now (one was started or redriven elsewhere)."""
        self._wake.set()

    def abandon(self, key: str) -> None:
        """Stop running ``key`` here (StopExecution ended it)."""
        task = self._running.get(key)
        if task is not None:
            task.cancel()

    @property
    def running(self) -> Collection[str]:
        """The keys of the executions running here."""
        return self._running.keys()

    # -- claims and leases ----------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while True:
            room = self.limits.max_concurrent - len(self._running) - self._reserved
            claimed: list[Claimed] = []
            if room > 0:
                now = time.time()
                try:
                    claimed = await asyncio.to_thread(
                        self._executions.claim,
                        self.owner,
                        now=now,
                        lease_until=now + self.limits.lease_s,
                        limit=room,
                    )
                except DatabaseError as exc:
                    logger.warning("claiming executions failed: %s", exc)
                for execution in claimed:
                    if execution.execution.key not in self._running:
                        self._start(execution)
            if claimed and len(claimed) == room:
                continue  # there may be more waiting
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that
            # arrives as the event is set, and the loop would outlive stop().
            waiter = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waiter}, timeout=self.limits.poll_interval_s)
            finally:
                waiter.cancel()
            self._wake.clear()

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.limits.lease_s / 3)
            keys = list(self._running)
            if not keys:
                continue
            try:
                held = await asyncio.to_thread(
                    self._executions.renew,
                    self.owner,
                    keys,
                    lease_until=time.time() + self.limits.lease_s,
                )
            except DatabaseError as exc:
                logger.warning("renewing leases failed: %s", exc)
                continue
            for key in set(keys) - held:
                self._lost(key)

    def _lost(self, key: str) -> None:
        task = self._running.get(key)
        if task is not None:
            task.cancel()

    def _deleting(self, key: str) -> None:
        history = self._histories.get(key)
        if history is not None:
            machine = key.partition(":")[0]
            history.doom(StatesError(RUNTIME, f"State machine {machine} has been deleted."))

    # -- one execution --------------------------------------------------------------------

    def _start(self, claimed: Claimed) -> None:
        key = claimed.execution.key
        task = asyncio.create_task(self._execute(claimed), name=f"execution {key}")
        self._running[key] = task

    async def _execute(self, claimed: Claimed) -> None:
        key = claimed.execution.key
        self._journal.open(key)
        history = DurableHistory(self._journal, claimed)
        self._histories[key] = history
        try:
            ending = await self._interpret(claimed, history)
            await self._journal.end(ending, history.final)
        except asyncio.CancelledError:
            pass  # stopped, lost, or the runner stops: it resumes wherever it is claimed
        except (ExecutionLost, DatabaseError) as exc:
            logger.warning("execution %s stops here: %s", key, exc)
        finally:
            self._journal.close(key)
            self._histories.pop(key, None)
            self._running.pop(key, None)
            self._wake.set()

    async def _interpret(self, claimed: Claimed, history: DurableHistory) -> Ending:
        execution = claimed.execution
        key = execution.key
        info = ExecutionInfo(
            arn=self._arns.execution(key),
            name=execution.name,
            state_machine_arn=self._arns.state_machine(execution.state_machine),
            state_machine_name=execution.state_machine,
            # A redrive restarts the execution's timeout (TimeoutSeconds), as in AWS.
            start_time=(execution.redrive_date or execution.start_date).timestamp(),
            role_arn=claimed.role_arn,
            redrive_count=execution.redrive_count,
        )
        environment = Environment(
            tasks=DurableTasks(
                self._tasks,
                self._journal,
                history,
                self._tasks.reads_only if isinstance(self._tasks, TaskRegistry) else None,
            ),
            clock=self._clock,
            history=history,
            region=self._arns.region,
            account=self._arns.account_id,
            store=self._store,
            map_runs=self._map_runs,
        )
        try:
            machine = self._machine(execution.revision_id, claimed.definition)
            outcome = await Interpreter(machine, environment, execution=info).execute(
                orjson.loads(execution.input)
            )
        except (ExecutionLost, DatabaseError):
            raise
        except Exception as exc:  # a bug of ours: fail it rather than replay it forever
            logger.exception("execution %s broke down", key)
            cause = f"Internal error: {type(exc).__name__}: {exc}"
            history.crash(cause, self._clock.now())
            outcome = ExecutionOutcome(status=OutcomeStatus.FAILED, error=RUNTIME, cause=cause)
        final = history.final
        stop = final.timestamp if final is not None else self._clock.now()
        output = None
        if final is not None and final.type == "ExecutionSucceeded" and final.details:
            output = str(final.details.get("output"))
        return Ending(
            execution=key,
            status=_STATUSES[outcome.status.value],
            stop_date=datetime.fromtimestamp(stop, UTC),
            output=output,
            error=outcome.error,
            cause=outcome.cause,
        )

    def _machine(self, revision_id: str, definition: str) -> StateMachine:
        machine = self._machines.get(revision_id)
        if machine is None:
            machine = compile_definition(definition)
            self._machines[revision_id] = machine
            if len(self._machines) > _MACHINE_CACHE:
                self._machines.popitem(last=False)
        else:
            self._machines.move_to_end(revision_id)
        return machine
