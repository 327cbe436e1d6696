"""Express executions: run in memory, at most five minutes, and never kept.

StartExecution of an EXPRESS state machine starts one in the background and answers at
once; StartSyncExecution waits for its end and answers its outcome. Their history is a
:class:`~modelyard.workflows.environment.MemoryHistory` dropped with them, and a process
that stops loses those still running, as express workflows are at-most-once here (Step
Functions makes them at-least-once; nothing here retries them).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from modelyard.storage.objectstore import ObjectStore
from modelyard.storage.state_machines import StateMachine
from modelyard.workflows.arns import StatesArns
from modelyard.workflows.environment import Clock, Environment, MemoryHistory, TaskRunner
from modelyard.workflows.errors import RUNTIME, TIMEOUT
from modelyard.workflows.executions import compile_definition
from modelyard.workflows.interpreter import ExecutionInfo, ExecutionOutcome, Interpreter
from modelyard.workflows.interpreter import ExecutionStatus as OutcomeStatus
from modelyard.workflows.map_runs import MapRuns

__all__ = ["EXPRESS_TIMEOUT_S", "ExpressRunner", "SyncExecution"]

logger = logging.getLogger(__name__)

#: The longest an express execution runs.
EXPRESS_TIMEOUT_S: Final = 300.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncExecution:
    """StartSyncExecution's answer: how an express execution ended."""

    #: Its ARN.
    arn: str
    #: Its state machine's name.
    state_machine: str
    #: Its name.
    name: str
    #: When it started.
    start_date: datetime
    #: When it ended.
    stop_date: datetime
    #: Its input, as given.
    input: str
    #: How it ended, and with what.
    outcome: ExecutionOutcome


class ExpressRunner:
    """Runs the express executions of one process."""

    def __init__(
        self,
        *,
        tasks: TaskRunner,
        arns: StatesArns,
        clock: Clock,
        store: ObjectStore | None = None,
        map_runs: MapRuns | None = None,
    ) -> None:
        self._tasks = tasks
        self._store = store
        self._map_runs = map_runs
        self._arns = arns
        self._clock = clock
        self._running: set[asyncio.Task[ExecutionOutcome]] = set()

    def start(self, machine: StateMachine, name: str, value: Any) -> tuple[str, datetime]:
        """Start an execution in the background: its ARN and start date."""
        arn = self._arn(machine, name)
        start = _now()
        task = asyncio.create_task(self._run(machine, arn, name, start, value))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return arn, start

    async def run(self, machine: StateMachine, name: str, text: str, value: Any) -> SyncExecution:
        """Run an execution to its end (StartSyncExecution)."""
        arn = self._arn(machine, name)
        start = _now()
        outcome = await self._run(machine, arn, name, start, value)
        return SyncExecution(
            arn=arn,
            state_machine=machine.name,
            name=name,
            start_date=start,
            stop_date=_now(),
            input=text,
            outcome=outcome,
        )

    async def stop(self) -> None:
        """Cancel the executions started in the background (they are lost)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _arn(self, machine: StateMachine, name: str) -> str:
        # An express execution's name need not be unique: its ARN ends with an id.
        return self._arns.express_execution(machine.name, name, str(uuid.uuid4()))

    async def _run(
        self, machine: StateMachine, arn: str, name: str, start: datetime, value: Any
    ) -> ExecutionOutcome:
        try:
            interpreter = Interpreter(
                compile_definition(machine.definition),
                Environment(
                    tasks=self._tasks,
                    clock=self._clock,
                    history=MemoryHistory(),
                    region=self._arns.region,
                    account=self._arns.account_id,
                    store=self._store,
                    map_runs=self._map_runs,
                ),
                execution=ExecutionInfo(
                    arn=arn,
                    name=name,
                    state_machine_arn=self._arns.state_machine(machine.name),
                    state_machine_name=machine.name,
                    start_time=start.timestamp(),
                    role_arn=machine.role_arn,
                ),
            )
            return await asyncio.wait_for(interpreter.execute(value), EXPRESS_TIMEOUT_S)
        except TimeoutError:
            return ExecutionOutcome(
                status=OutcomeStatus.TIMED_OUT,
                error=TIMEOUT,
                cause="The express execution ran longer than five minutes.",
            )
        except Exception as exc:  # a bug of ours fails the execution, not the caller
            logger.exception("express execution %s broke down", arn)
            return ExecutionOutcome(
                status=OutcomeStatus.FAILED,
                error=RUNTIME,
                cause=f"Internal error: {type(exc).__name__}: {exc}",
            )


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
