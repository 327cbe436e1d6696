"""Resuming after a crash: an execution replays its history, nothing done is done again."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest

from modelyard.workflows.definition import parse_machine
from modelyard.workflows.environment import Environment, ManualClock, MemoryHistory
from modelyard.workflows.errors import StatesError
from modelyard.workflows.interpreter import ExecutionInfo, ExecutionStatus, Interpreter
from tests.workflows.machines import ScriptedTasks

FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


class Crash(BaseException):
    """The process dying: not an error the workflow sees."""


FAN_OUT = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Assign": {"factor": 10}, "Next": "Fan"},
        "Fan": {
            "Type": "Map",
            "MaxConcurrency": 2,
            "ItemProcessor": {
                "StartAt": "Call",
                "States": {
                    "Call": {
                        "Type": "Task",
                        "Resource": FN,
                        "Parameters": {"n.$": "States.MathAdd($, $factor)"},
                        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 5}],
                        "End": True,
                    }
                },
            },
            "Next": "Rest",
        },
        "Rest": {"Type": "Wait", "Seconds": 60, "Next": "Last"},
        "Last": {"Type": "Task", "Resource": FN, "Parameters": {"n": -1}, "End": True},
    },
}


def _execution() -> ExecutionInfo:
    return ExecutionInfo(
        arn="arn:aws:states:us-east-1:000000000000:execution:M:e",
        name="e",
        state_machine_arn="arn:aws:states:us-east-1:000000000000:stateMachine:M",
        state_machine_name="M",
        start_time=1_700_000_000.0,
    )


def execute(history: MemoryHistory, clock: ManualClock, tasks: ScriptedTasks) -> Any:
    interpreter = Interpreter(
        parse_machine(FAN_OUT),
        Environment(tasks=tasks, clock=clock, history=history),
        execution=_execution(),
    )
    return asyncio.run(interpreter.execute(list(range(6))))


def test_a_crashed_execution_resumes_without_repeating_finished_tasks() -> None:
    clock = ManualClock()
    history = MemoryHistory()
    calls: Counter[int] = Counter()
    crash_after = {"calls": 4}
    flaked: set[int] = set()

    def resource(payload: Any) -> Any:
        n = payload["n"]
        calls[n] += 1
        if crash_after["calls"] == 0:
            raise Crash
        crash_after["calls"] -= 1
        if n == 11 and n not in flaked:
            flaked.add(n)
            raise StatesError("Flaky", "once")
        return n * 2

    tasks = ScriptedTasks(resources={FN: resource}, clock=clock)
    with pytest.raises(Crash):
        execute(history, clock, tasks)
    before = list(history.events)
    finished_before = {event.id for event in before if event.type == "LambdaFunctionSucceeded"}
    assert finished_before, "some tasks finished before the crash"

    crash_after["calls"] = 10_000
    calls_before = Counter(calls)
    outcome = execute(history, clock, ScriptedTasks(resources={FN: resource}, clock=clock))

    assert outcome.status is ExecutionStatus.SUCCEEDED
    assert outcome.output == -2
    # The events recorded before the crash are still the first ones, unchanged.
    assert history.events[: len(before)] == before
    # Every item ran to success exactly once; only the ones in flight at the crash ran twice.
    succeeded = [e for e in history.events if e.type == "LambdaFunctionSucceeded"]
    assert len(succeeded) == 7
    repeated = {n for n in calls if calls[n] > (2 if n == 11 else 1)}
    in_flight = {n for n in calls_before if calls_before[n] > 0} - {
        int(_output(e)) // 2 for e in before if e.type == "LambdaFunctionSucceeded"
    }
    assert repeated <= in_flight
    # Nothing recorded twice: one MapIterationSucceeded per item, one ExecutionStarted.
    types = Counter(event.type for event in history.events)
    assert types["MapIterationSucceeded"] == 6
    assert types["ExecutionStarted"] == 1
    assert types["ExecutionSucceeded"] == 1
    ids = [event.id for event in history.events]
    assert ids == list(range(1, len(ids) + 1))


def test_a_wait_cut_short_by_a_crash_sleeps_only_what_is_left() -> None:
    clock = ManualClock()
    history = MemoryHistory()
    tasks = ScriptedTasks(resources={FN: lambda payload: payload["n"]}, clock=clock)

    async def crash_during_the_wait() -> None:
        run = asyncio.ensure_future(
            Interpreter(
                parse_machine(FAN_OUT),
                Environment(tasks=tasks, clock=clock, history=history),
                execution=_execution(),
            ).execute(list(range(6)))
        )
        while "WaitStateEntered" not in history.types():
            await asyncio.sleep(0)
        run.cancel()  # the process dies mid-wait
        await asyncio.gather(run, return_exceptions=True)

    asyncio.run(crash_during_the_wait())
    entered = next(e for e in history.events if e.type == "WaitStateEntered")
    assert "WaitStateExited" not in history.types()

    later = ManualClock(start=entered.timestamp + 20)
    outcome = execute(history, later, ScriptedTasks(resources={FN: lambda p: p["n"]}, clock=later))
    assert outcome.status is ExecutionStatus.SUCCEEDED
    assert later.slept[0] == 40
    exited = next(e for e in history.events if e.type == "WaitStateExited")
    assert exited.timestamp == entered.timestamp + 60


def _output(event: Any) -> Any:
    return orjson.loads(event.details[1]["output"])
