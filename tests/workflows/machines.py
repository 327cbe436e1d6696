"""What the interpreter tests run machines with: scripted task resources and a runner."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from modelyard.workflows.definition import parse_machine
from modelyard.workflows.environment import (
    Environment,
    ManualClock,
    MemoryHistory,
    TaskContext,
    TaskRunner,
)
from modelyard.workflows.errors import StatesError
from modelyard.workflows.interpreter import ExecutionInfo, ExecutionOutcome, Interpreter

ARN = "arn:aws:states:us-east-1:000000000000:execution:Machine:run-1"

#: A task resource: a function of its payload (may be async, may raise StatesError).
Resource = Callable[[Any], Any]


@dataclass
class ScriptedTasks:
    """Task resources by ARN, each a Python function of the payload; records every call."""

    resources: Mapping[str, Resource]
    clock: ManualClock
    #: (resource, payload, idempotency key, time) of every call, in order.
    calls: list[tuple[str, Any, str, float]] = field(default_factory=list)

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        self.calls.append((resource, payload, task.idempotency_key, self.clock.now()))
        result = self.resources[resource](payload)
        if asyncio.iscoroutine(result):
            result = await result
        return result


@dataclass
class Run:
    """One finished execution: its outcome, history and task calls."""

    outcome: ExecutionOutcome
    history: MemoryHistory
    tasks: ScriptedTasks
    clock: ManualClock

    @property
    def output(self) -> Any:
        return self.outcome.output

    def types(self) -> list[str]:
        return self.history.types()


def run(
    definition: Mapping[str, Any],
    input: Any = None,
    resources: Mapping[str, Resource] | None = None,
) -> Run:
    """Run ``definition`` on ``input`` to its end, on a manual clock."""
    from modelyard.workflows import validation

    errors = [d for d in validation.validate(dict(definition)) if d.severity.value == "ERROR"]
    assert not errors, errors
    clock = ManualClock()
    tasks = ScriptedTasks(resources=resources or {}, clock=clock)
    history = MemoryHistory()
    interpreter = Interpreter(
        parse_machine(definition),
        Environment(tasks=tasks, clock=clock, history=history),
        execution=ExecutionInfo(
            arn=ARN,
            name="run-1",
            state_machine_arn="arn:aws:states:us-east-1:000000000000:stateMachine:Machine",
            state_machine_name="Machine",
            start_time=clock.now(),
        ),
    )
    outcome = asyncio.run(interpreter.execute({} if input is None else input))
    return Run(outcome=outcome, history=history, tasks=tasks, clock=clock)


async def interpret(
    definition: Mapping[str, Any], tasks: TaskRunner, input: Any
) -> ExecutionOutcome:
    """Run ``definition`` on ``input`` with real task resources ``tasks``, in this loop."""
    interpreter = Interpreter(
        parse_machine(definition),
        Environment(tasks=tasks, clock=ManualClock(), history=MemoryHistory()),
        execution=ExecutionInfo(
            arn=ARN,
            name="run-1",
            state_machine_arn="arn:aws:states:us-east-1:000000000000:stateMachine:Machine",
            state_machine_name="Machine",
            start_time=0.0,
        ),
    )
    return await interpreter.execute(input)


def fails(error: str, cause: str = "") -> Resource:
    """A resource that always fails with ``error``."""

    def resource(payload: Any) -> Any:
        raise StatesError(error, cause)

    return resource


def flaky(times: int, error: str = "Flaky.Error", result: Any = "ok") -> Resource:
    """A resource that fails ``times`` times, then answers ``result``."""
    state = {"left": times}

    def resource(payload: Any) -> Any:
        if state["left"] > 0:
            state["left"] -= 1
            raise StatesError(error, f"{state['left']} failures to go")
        return result

    return resource
