"""The workflows area's facade: state machines, executions, their histories and tags.

:class:`WorkflowService` is what every protocol of the area calls (the Step Functions API
in :mod:`modelyard.workflows.control`, and the ``states:startExecution`` task); it knows
nothing of HTTP. Standard executions are durable: StartExecution records the execution
and its ``ExecutionStarted`` event in one transaction and hands it to this process's
:class:`~modelyard.workflows.executions.ExecutionRunner` (or, when that runner is full,
to whichever runner claims it first). Express executions run in memory and are not
kept: StartSyncExecution answers their outcome.

It is an *area*: ``platform.py`` starts it after the areas its tasks call (so its runner
resumes the executions a previous process left) and stops it before them. Database calls
run off the event loop.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import Connection

from modelyard.storage.database import Database
from modelyard.storage.executions import (
    Claimed,
    Execution,
    Executions,
    ExecutionStatus,
    Start,
)
from modelyard.storage.objectstore import ObjectStore
from modelyard.storage.state_machines import StateMachineType
from modelyard.workflows import events, redrive
from modelyard.workflows.arns import EXECUTION, StatesArns, check_name
from modelyard.workflows.environment import Clock, HistoryEvent, SystemClock, TaskRunner
from modelyard.workflows.executions import ExecutionRunner, RunnerLimits
from modelyard.workflows.express import ExpressRunner, SyncExecution
from modelyard.workflows.map_runs import MapRunRecord, MemoryMapRuns
from modelyard.workflows.service_errors import (
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    ExecutionNotRedrivable,
    InvalidExecutionInput,
    ResourceNotFound,
    StateMachineDeleting,
    StateMachineTypeNotSupported,
)
from modelyard.workflows.service_machines import MAX_TAGS, StateMachineOperations, timestamp

__all__ = [
    "MAX_TAGS",
    "ExecutionDescription",
    "HistoryPage",
    "WorkflowService",
]

logger = logging.getLogger(__name__)

#: The resource type of a Map Run's ARN (``mapRun:<machine>/<label>:<id>``).
_MAP_RUN: Final = "mapRun"


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionDescription:
    """DescribeExecution's answer: the execution and whether it may be redriven."""

    #: The execution.
    execution: Execution
    #: ``REDRIVABLE`` or ``NOT_REDRIVABLE``.
    redrive_status: str
    #: Why not, when not.
    redrive_status_reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class HistoryPage:
    """A page of GetExecutionHistory."""

    #: The events, in the order asked for.
    events: list[HistoryEvent]
    #: The id the next page starts after; ``None`` on the last page.
    next: int | None


class WorkflowService(StateMachineOperations):
    """State machines and their executions (see the module); the state machine operations
    are :class:`~modelyard.workflows.service_machines.StateMachineOperations`."""

    def __init__(
        self,
        *,
        database: Database,
        arns: StatesArns,
        tasks: TaskRunner,
        limits: RunnerLimits | None = None,
        clock: Clock | None = None,
        store: ObjectStore | None = None,
        map_runs: MemoryMapRuns | None = None,
    ) -> None:
        super().__init__(database=database, arns=arns)
        #: Distributed Maps' Map Runs, which DescribeMapRun and ListMapRuns answer from:
        #: kept in memory, so a process knows the Map Runs its own runner ran (or resumed)
        #: since it started, and no other process's.
        self.map_runs = map_runs or MemoryMapRuns()
        self._executions = Executions(database)
        self._tasks = tasks
        self._clock = clock or SystemClock()
        #: The runner of this process's standard executions.
        self.runner = ExecutionRunner(
            self._executions,
            tasks=tasks,
            arns=arns,
            limits=limits,
            clock=clock,
            store=store,
            map_runs=self.map_runs,
        )
        self._express = ExpressRunner(
            tasks=tasks, arns=arns, clock=self._clock, store=store, map_runs=self.map_runs
        )

    async def start(self) -> None:
        """Start the runner: it resumes the executions a previous process left running."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop the runner (standard executions resume at the next start) and the express
        executions (which are lost, as express executions may be)."""
        await self._express.stop()
        await self.runner.stop()

    # -- executions -----------------------------------------------------------------------

    async def start_execution(
        self,
        state_machine_arn: str,
        *,
        name: str | None = None,
        input: str | None = None,
        trace_header: str | None = None,
        also: Callable[[Connection], None] | None = None,
    ) -> tuple[str, datetime]:
        """StartExecution: the execution's ARN and start date.

        ``also`` is recorded in the same transaction as the start, when the start is
        recorded (a standard execution of a new name): the jobs area's job row.

        Idempotent for a standard machine: the same name and input as a RUNNING execution
        answer that execution; any other use of a name is ExecutionAlreadyExists.
        """
        machine = await self.startable(state_machine_arn)
        name = check_name(name) if name is not None else str(uuid.uuid4())
        text, value = _input(input)
        if machine.type is StateMachineType.EXPRESS:
            return self._express.start(machine, name, value)
        now = timestamp()
        execution = Execution(
            state_machine=machine.name,
            name=name,
            revision_id=machine.revision_id,
            status=ExecutionStatus.RUNNING,
            input=text,
            start_date=now,
            trace_header=trace_header,
        )
        first = events.execution_started(execution.key, text, machine.role_arn, now)
        # Started here when this runner has room: no claim, no reload.
        reserved = self.runner.reserve()
        try:
            started = await self.runner.record_start(
                Start(execution=execution, first=first, leased=reserved, also=also)
            )
        except BaseException:
            if reserved:
                self.runner.unreserve()
            raise
        if started is None or not started[1]:
            if reserved:
                self.runner.unreserve()
            if started is None:
                await self.startable(state_machine_arn, fresh=True)  # raises why it is not
                raise StateMachineDeleting(f"State Machine is being deleted: '{state_machine_arn}'")
            existing = started[0]
            if existing.status is ExecutionStatus.RUNNING and existing.input == text:
                return self.arns.execution(existing.key), existing.start_date
            raise ExecutionAlreadyExists(
                f"Execution Already Exists: '{self.arns.execution(existing.key)}'"
            )
        if reserved:
            self.runner.launch(
                Claimed(
                    execution=execution,
                    definition=machine.definition,
                    role_arn=machine.role_arn,
                    events=[events.stored(first)],
                    last_event_id=1,
                )
            )
        else:
            self.runner.wake()
        return self.arns.execution(execution.key), now

    async def start_sync_execution(
        self, state_machine_arn: str, *, name: str | None = None, input: str | None = None
    ) -> SyncExecution:
        """StartSyncExecution of an EXPRESS machine: runs it, answers how it ended."""
        machine = await self.startable(state_machine_arn)
        if machine.type is not StateMachineType.EXPRESS:
            raise StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine"
            )
        name = check_name(name) if name is not None else str(uuid.uuid4())
        text, value = _input(input)
        return await self._express.run(machine, name, text, value)

    async def describe_execution(self, arn: str) -> ExecutionDescription:
        """DescribeExecution (standard executions; express ones are not kept)."""
        execution = await self._execution(arn)
        reason = await self._redrive_refusal(execution)
        return ExecutionDescription(
            execution=execution,
            redrive_status="NOT_REDRIVABLE" if reason else "REDRIVABLE",
            redrive_status_reason=reason,
        )

    async def list_executions(
        self,
        state_machine_arn: str,
        *,
        status: ExecutionStatus | None = None,
        redriven: bool | None = None,
        after: tuple[datetime, str] | None = None,
        limit: int = 100,
    ) -> tuple[list[Execution], bool]:
        """ListExecutions: newest first; and whether more follow."""
        machine = await self.describe_state_machine(state_machine_arn)
        if machine.type is StateMachineType.EXPRESS:
            raise StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine"
            )
        return await self._db(
            self._executions.list,
            machine.name,
            status=status,
            redriven=redriven,
            after=after,
            limit=limit,
        )

    async def stop_execution(
        self, arn: str, *, error: str | None = None, cause: str | None = None
    ) -> datetime:
        """StopExecution: ABORTED with an ``ExecutionAborted`` event, its run cancelled.
        One that has already ended is left as it is; its stop date is answered."""
        key = self._execution_key(arn)
        now = timestamp()
        stopped = await self._db(
            self._executions.stop,
            key,
            stop_date=now,
            error=error,
            cause=cause,
            event=events.execution_aborted(key, error, cause, now),
        )
        if stopped is None:
            raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        self.runner.abandon(key)
        return stopped.stop_date or now

    async def get_execution_history(
        self,
        arn: str,
        *,
        after: int | None = None,
        reverse: bool = False,
        limit: int = 100,
        include_data: bool = True,
    ) -> HistoryPage:
        """GetExecutionHistory: a page of events; without ``include_data``, no event shows
        an input or output."""
        key = self._execution_key(arn)
        found, more = await self._db(
            self._executions.history, key, after=after, reverse=reverse, limit=limit
        )
        if not found and await self._db(self._executions.get, key) is None:
            raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        page = [events.answered(event, include_data) for event in found]
        return HistoryPage(events=page, next=page[-1].id if more and page else None)

    async def redrive_execution(self, arn: str) -> datetime:
        """RedriveExecution: the execution runs again from what failed (see
        :func:`~modelyard.workflows.executions.superseded`); its redrive date."""
        execution = await self._execution(arn)
        reason = await self._redrive_refusal(execution)
        if reason is not None:
            raise ExecutionNotRedrivable(reason)
        now = timestamp()
        redriven = await self._db(
            self._executions.redrive,
            execution.key,
            redrive_count=execution.redrive_count,
            now=now,
            event=events.execution_redriven(execution.key, execution.redrive_count + 1, now),
            superseded=redrive.superseded,
        )
        if redriven is None:
            raise ExecutionNotRedrivable(f"Execution is RUNNING and cannot be redriven: '{arn}'")
        self.runner.wake()
        return redriven.redrive_date or now

    # -- Map Runs -------------------------------------------------------------------------

    def describe_map_run(self, arn: str) -> MapRunRecord:
        """DescribeMapRun, from :attr:`map_runs` (this process's memory)."""
        record = None
        if self.arns.parse(arn, _MAP_RUN) is not None:
            record = self.map_runs.records.get(arn)
        if record is None:
            raise ResourceNotFound(f"Resource not found: '{arn}'")
        return record

    async def list_map_runs(
        self, execution_arn: str, *, after: tuple[float, str] | None = None, limit: int = 100
    ) -> tuple[list[MapRunRecord], bool]:
        """ListMapRuns: the Map Runs of a standard execution that :attr:`map_runs` knows,
        newest first, after the ``(start date, ARN)`` ``after``; and whether more follow."""
        execution = await self._execution(execution_arn)
        arn = self.arns.execution(execution.key)
        found = sorted(
            (run for run in self.map_runs.records.values() if run.execution_arn == arn),
            key=_newest_first,
        )
        if after is not None:
            found = [run for run in found if _newest_first(run) > (-after[0], after[1])]
        return found[:limit], len(found) > limit

    # -- helpers --------------------------------------------------------------------------

    def _execution_key(self, arn: str) -> str:
        key = self.arns.parse(arn, EXECUTION)
        if key is None:
            raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return key

    async def _execution(self, arn: str) -> Execution:
        execution = await self._db(self._executions.get, self._execution_key(arn))
        if execution is None:
            raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return execution

    async def _redrive_refusal(self, execution: Execution) -> str | None:
        """Why ``execution`` may not be redriven, or ``None``."""
        if execution.status in (ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED):
            return redrive.refusal(execution, None, 0, timestamp())
        machine = await self._db(self._machines.get, execution.state_machine)
        last = await self._db(self._executions.last_event_id, execution.key)
        return redrive.refusal(execution, machine, last, timestamp())


def _newest_first(run: MapRunRecord) -> tuple[float, str]:
    return -run.start_date, run.map_run_arn


def _input(text: str | None) -> tuple[str, Any]:
    """The execution input as given (``{}`` when none is) and its value."""
    if text is None:
        return "{}", {}
    try:
        return text, orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidExecutionInput(f"Invalid State Machine Execution Input: '{exc}'") from None
