"""The ASL interpreter: runs a parsed state machine, state by state, recording its history.

::

    machine = parse_machine(validation.check(definition_text))
    interpreter = Interpreter(machine, environment, execution=ExecutionInfo(...))
    outcome = await interpreter.execute(input)      # SUCCEEDED / FAILED / TIMED_OUT

One coroutine walks each machine (the top level, every Parallel branch, every Map
iteration); a state's attempt is the data flow of :mod:`dataflow` around what the state
does; errors are :class:`StatesError` and are retried and caught here, once, for every
state type. Map and Parallel live in :mod:`modelyard.workflows.branching`.

Deterministic by construction, for replay: the randomness a state uses is seeded by the
execution, the state's path and the attempt, and time comes from the environment's clock.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import orjson

from modelyard.workflows.dataflow import Dataflow, check_size
from modelyard.workflows.definition import (
    Catcher,
    JitterStrategy,
    QueryLanguage,
    Retrier,
    State,
    StateMachine,
    StateType,
)
from modelyard.workflows.engine import ExecutionInfo, ExecutionOutcome, ExecutionStatus, Frame
from modelyard.workflows.environment import Environment, HistoryEvent
from modelyard.workflows.errors import (
    ALL,
    DATA_LIMIT_EXCEEDED,
    RUNTIME,
    TASK_FAILED,
    TIMEOUT,
    StatesError,
)
from modelyard.workflows.simple_states import failure, run_choice, run_pass, run_wait
from modelyard.workflows.timestamps import iso8601

__all__ = [
    "ExecutionInfo",
    "ExecutionOutcome",
    "ExecutionStatus",
    "Frame",
    "Interpreter",
    "matches",
]

T = TypeVar("T")


def matches(error_equals: tuple[str, ...], error: str) -> bool:
    """Whether a retrier's or catcher's ``ErrorEquals`` matches ``error``."""
    if error in (RUNTIME, DATA_LIMIT_EXCEEDED):
        return False
    for name in error_equals:
        if name in (error, ALL):
            return True
        if name == TASK_FAILED and error != TIMEOUT:
            return True
    return False


class Interpreter:
    """Runs one execution of a state machine."""

    def __init__(
        self, machine: StateMachine, environment: Environment, *, execution: ExecutionInfo
    ) -> None:
        self.machine = machine
        self.environment = environment
        self.execution = execution
        self._input: Any = None
        self._start_time = iso8601(execution.start_time)

    # -- the execution -------------------------------------------------------------------

    async def execute(self, input: Any) -> ExecutionOutcome:
        """Run the execution to its end, recording ExecutionStarted … ExecutionSucceeded."""
        self._input = input
        frame = Frame(variables={})
        self.event(
            frame,
            "ExecutionStarted",
            "executionStartedEventDetails",
            {
                "input": orjson.dumps(input).decode(),
                "inputDetails": {"truncated": False},
                "roleArn": self.execution.role_arn,
            },
        )
        try:
            timeout = self.machine.timeout_seconds
            output = await self.with_timeout(
                self.run_machine(self.machine, input, frame),
                None
                if timeout is None
                else self.execution.start_time + timeout - self.environment.clock.now(),
                "The execution timed out.",
            )
        except StatesError as error:
            timed_out = error.error == TIMEOUT and error.cause == "The execution timed out."
            self.event(
                frame,
                "ExecutionTimedOut" if timed_out else "ExecutionFailed",
                "executionTimedOutEventDetails" if timed_out else "executionFailedEventDetails",
                _error_details(error),
            )
            return ExecutionOutcome(
                status=ExecutionStatus.TIMED_OUT if timed_out else ExecutionStatus.FAILED,
                error=error.error,
                cause=error.cause,
            )
        self.event(
            frame,
            "ExecutionSucceeded",
            "executionSucceededEventDetails",
            {"output": orjson.dumps(output).decode(), "outputDetails": {"truncated": False}},
        )
        return ExecutionOutcome(status=ExecutionStatus.SUCCEEDED, output=output)

    async def run_machine(self, machine: StateMachine, input: Any, frame: Frame) -> Any:
        """Run ``machine`` from its start state to an end; its output."""
        name: str | None = machine.start_at
        value = input
        while name is not None:
            value, name = await self.run_state(machine.states[name], value, frame)
        return value

    # -- one state -----------------------------------------------------------------------

    async def run_state(self, state: State, raw: Any, frame: Frame) -> tuple[Any, str | None]:
        """Run ``state`` on ``raw`` (retrying and catching); its output and next state."""
        input_text = check_size(raw, f"input of state '{state.name}'")
        kind = state.type.value
        # Which visit of the state this is (a loop visits a state again): the place of its
        # StateEntered event in its scope.
        visit = f"{self.execution.arn}{frame.path}/{state.name}@{frame.sequence}"
        entered = self.event(
            frame,
            f"{kind}StateEntered",
            "stateEnteredEventDetails",
            {"name": state.name, "input": input_text, "inputDetails": {"truncated": False}},
        ).timestamp
        counts = [0] * len(state.retriers)
        retry_count = 0
        while True:
            flow = Dataflow(
                state=state,
                raw=raw,
                context=self.context(state, entered, retry_count),
                variables=frame.variables,
                seed=f"{visit}#{retry_count}",
                entered=entered,
            )
            try:
                output, next_name, assigned = await self._attempt(flow, frame, retry_count)
                break
            except StatesError as error:
                if state.type is StateType.FAIL:
                    raise
                delay = self._retry_delay(state.retriers, counts, error, flow.rng)
                if delay is not None:
                    retry_count += 1
                    await self.sleep(frame, delay)
                    continue
                catcher = next(
                    (c for c in state.catchers if matches(c.error_equals, error.error)), None
                )
                if catcher is None:
                    raise
                output, next_name, assigned = self._caught(flow, catcher, error)
                break
        output_text = check_size(output, f"output of state '{state.name}'")
        frame.variables.update(assigned)
        details: dict[str, Any] = {
            "name": state.name,
            "output": output_text,
            "outputDetails": {"truncated": False},
        }
        if assigned:
            details["assignedVariables"] = {
                key: orjson.dumps(value).decode() for key, value in assigned.items()
            }
            details["assignedVariablesDetails"] = {"truncated": False}
        self.event(frame, f"{kind}StateExited", "stateExitedEventDetails", details)
        return output, next_name

    async def _attempt(
        self, flow: Dataflow, frame: Frame, attempt: int
    ) -> tuple[Any, str | None, dict[str, Any]]:
        state = flow.state
        kind = state.type
        if kind is StateType.TASK:
            from modelyard.workflows.tasks import run_task

            return await run_task(self, flow, frame, attempt)
        if kind in (StateType.MAP, StateType.PARALLEL):
            from modelyard.workflows.branching import run_map, run_parallel

            run = run_map if kind is StateType.MAP else run_parallel
            return await run(self, flow, frame)
        if kind is StateType.PASS:
            return run_pass(flow)
        if kind is StateType.CHOICE:
            return run_choice(flow)
        if kind is StateType.WAIT:
            return await run_wait(self, flow, frame)
        if kind is StateType.SUCCEED:
            effective = flow.raw if flow.jsonata else flow.effective_input()
            return flow.output(effective, has_result=False), None, {}
        raise failure(flow)

    # -- retry and catch -----------------------------------------------------------------

    def _retry_delay(
        self,
        retriers: tuple[Retrier, ...],
        counts: list[int],
        error: StatesError,
        rng: random.Random,
    ) -> float | None:
        """The delay before the next attempt, or ``None`` when no retrier retries."""
        for index, retrier in enumerate(retriers):
            if not matches(retrier.error_equals, error.error):
                continue
            if counts[index] >= retrier.max_attempts:
                return None
            delay = retrier.interval_seconds * retrier.backoff_rate ** counts[index]
            if retrier.max_delay_seconds is not None:
                delay = min(delay, retrier.max_delay_seconds)
            if retrier.jitter is JitterStrategy.FULL:
                delay = rng.uniform(0.0, delay)
            counts[index] += 1
            return delay
        return None

    def _caught(
        self, flow: Dataflow, catcher: Catcher, error: StatesError
    ) -> tuple[Any, str | None, dict[str, Any]]:
        error_output = {"Error": error.error, "Cause": error.cause or ""}
        if flow.jsonata:
            output = (
                error_output
                if catcher.output is None
                else flow.evaluate(catcher.output, errorOutput=error_output)
            )
            assigned = flow.assignments(catcher.assign, None, errorOutput=error_output)
            return output, catcher.next, assigned
        from modelyard.workflows.paths import apply_result_path

        assigned = flow.assignments(catcher.assign, error_output)
        return (
            apply_result_path(flow.raw, error_output, catcher.result_path),
            catcher.next,
            assigned,
        )

    # -- helpers shared with tasks and branching -------------------------------------------

    def event(
        self, frame: Frame, type: str, details_name: str | None, details: Mapping[str, Any] | None
    ) -> HistoryEvent:
        """Record an event in ``frame``'s scope (or find it recorded, on a replay)."""
        event = self.environment.history.add(
            frame.next_key(),
            type,
            (details_name, details) if details_name is not None and details is not None else None,
            previous=frame.previous_event,
            timestamp=self.environment.clock.now(),
        )
        frame.sequence += 1
        frame.previous_event = event.id
        frame.last_time = event.timestamp
        return event

    def recorded_next(self, frame: Frame) -> HistoryEvent | None:
        """The event ``frame`` records next, if a run before this one recorded it."""
        return self.environment.history.recorded(frame.next_key())

    async def sleep(self, frame: Frame, seconds: float) -> None:
        """Sleep until ``seconds`` after ``frame``'s last event (on a replay: what is left)."""
        remaining = frame.last_time + seconds - self.environment.clock.now()
        if remaining > 0:
            await self.environment.clock.sleep(remaining)

    def context(self, state: State, entered: float, retry_count: int) -> dict[str, Any]:
        """The context object ``$$`` for ``state``."""
        execution = self.execution
        return {
            "Execution": {
                "Id": execution.arn,
                "Input": self._input,
                "Name": execution.name,
                "RoleArn": execution.role_arn,
                "StartTime": self._start_time,
                "RedriveCount": execution.redrive_count,
            },
            "State": {
                "EnteredTime": iso8601(entered),
                "Name": state.name,
                "RetryCount": retry_count,
            },
            "StateMachine": {
                "Id": execution.state_machine_arn,
                "Name": execution.state_machine_name,
            },
            "Task": {},
        }

    def spawn(
        self, machine: StateMachine, environment: Environment, execution: ExecutionInfo
    ) -> Interpreter:
        """A separate execution of ``machine`` (a Distributed Map's child)."""
        return Interpreter(machine, environment, execution=execution)

    async def with_timeout(
        self, work: Awaitable[T], seconds: float | None, cause: str, *, error: str = TIMEOUT
    ) -> T:
        """``work``'s result, or ``error`` (``States.Timeout``) after ``seconds`` of the
        clock."""
        if seconds is None:
            return await work
        task = asyncio.ensure_future(work)
        timer = asyncio.ensure_future(self.environment.clock.sleep(seconds))
        try:
            done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            return task.result()
        raise StatesError(error, cause)

    def language(self, state: State) -> QueryLanguage:
        """The query language of ``state``."""
        return state.language


def _error_details(error: StatesError) -> dict[str, Any]:
    details: dict[str, Any] = {"error": error.error}
    if error.cause is not None:
        details["cause"] = error.cause
    return details
