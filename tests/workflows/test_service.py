"""The workflows facade with its real runner on SQLite (and two runners on PostgreSQL):
executions run durably, stop, resume after their runner died, redrive, and the history
quota holds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from modelyard.storage import Database
from modelyard.storage.executions import (
    Claimed,
    Execution,
    Executions,
    ExecutionStatus,
    StoredEvent,
)
from modelyard.storage.state_machines import StateMachineStatus, StateMachineType
from modelyard.workflows.arns import StatesArns
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import InvalidDefinition, StatesError
from modelyard.workflows.executions import RunnerLimits, TaskRegistry
from modelyard.workflows.journal import (
    HISTORY_LIMIT_CAUSE,
    MAX_HISTORY_EVENTS,
    DurableHistory,
    Journal,
)
from modelyard.workflows.redrive import superseded
from modelyard.workflows.service import WorkflowService
from modelyard.workflows.service_errors import (
    ExecutionAlreadyExists,
    ExecutionNotRedrivable,
    InvalidArn,
    InvalidName,
    StateMachineAlreadyExists,
    StateMachineDoesNotExist,
    StateMachineTypeNotSupported,
)

T = TypeVar("T")

ARNS = StatesArns(region="us-east-1", account_id="000000000000")
ROLE = "arn:aws:iam::000000000000:role/workflows"
#: Fast enough for tests: a dead runner's executions are resumed after half a second.
LIMITS = RunnerLimits(lease_s=0.5, poll_interval_s=0.02, max_concurrent=100)


def task(step: str, **state: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": f"arn:aws:states:::test:{step}", **state}


def chain(*steps: str) -> dict[str, Any]:
    """A machine running the task steps one after the other."""
    states = {
        step: task(step, **({"Next": steps[n + 1]} if n + 1 < len(steps) else {"End": True}))
        for n, step in enumerate(steps)
    }
    return {"StartAt": steps[0], "States": states}


class Steps:
    """Task resources ``arn:aws:states:::test:<step>``: each call is counted (by step, or
    ``step:item`` when the payload has an ``item``); a step may block until cancelled or
    fail. Thread-safe: a runner in another thread's event loop may call it."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.blocking: set[str] = set()
        self.failing: set[str] = set()
        self.blocked = threading.Event()
        self.cancelled: list[str] = []
        self.seen: list[TaskContext] = []
        self._lock = threading.Lock()

    async def run(self, resource: str, payload: Any, context: TaskContext) -> Any:
        step = resource.rsplit(":", 1)[1]
        if isinstance(payload, dict) and "item" in payload:
            step = f"{step}:{payload['item']}"
        with self._lock:
            self.calls[step] += 1
            self.seen.append(context)
        if step in self.blocking:
            self.blocked.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(step)
                raise
        if step in self.failing:
            raise StatesError("Step.Failed", f"{step} failed")
        return {"done": step}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    found = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    found.migrate()
    yield found
    found.close()


@pytest.fixture
def steps() -> Steps:
    return Steps()


def registry(steps: Steps) -> TaskRegistry:
    found = TaskRegistry()
    found.register("arn:aws:states:::test:", steps)
    return found


@asynccontextmanager
async def serving(
    database: Database, steps: Steps, limits: RunnerLimits = LIMITS
) -> AsyncIterator[WorkflowService]:
    service = WorkflowService(database=database, arns=ARNS, tasks=registry(steps), limits=limits)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def run(work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(work())  # type: ignore[arg-type]


async def create(service: WorkflowService, definition: dict[str, Any], name: str = "M") -> str:
    machine = await service.create_state_machine(
        name=name, definition=orjson.dumps(definition).decode(), role_arn=ROLE
    )
    return ARNS.state_machine(machine.name)


async def ended(service: WorkflowService, arn: str, timeout: float = 15.0) -> Execution:
    """The execution once it is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        execution = (await service.describe_execution(arn)).execution
        if execution.status is not ExecutionStatus.RUNNING:
            return execution
        assert time.monotonic() < deadline, f"{arn} still running"
        await asyncio.sleep(0.01)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Return once ``condition`` holds (looked at every 10 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def history(service: WorkflowService, arn: str) -> list[dict[str, Any]]:
    page = await service.get_execution_history(arn, limit=1000)
    events = [event.to_json() for event in page.events]
    while page.next is not None:
        page = await service.get_execution_history(arn, after=page.next, limit=1000)
        events += [event.to_json() for event in page.events]
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def assert_well_formed(events: list[dict[str, Any]]) -> None:
    """Ids run 1..n, and every event follows one before it."""
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    assert all(0 <= event["previousEventId"] < event["id"] for event in events)


# -- running ---------------------------------------------------------------------------------


def test_an_execution_runs_its_states_and_records_its_history(
    database: Database, steps: Steps
) -> None:
    async def scenario() -> tuple[Execution, list[dict[str, Any]]]:
        async with serving(database, steps) as service:
            machine = await create(service, chain("A", "B"))
            arn, _ = await service.start_execution(machine, name="first", input='{"n": 1}')
            return await ended(service, arn), await history(service, arn)

    execution, events = run(scenario)

    assert execution.status is ExecutionStatus.SUCCEEDED
    assert orjson.loads(execution.output or "") == {"done": "B"}
    assert execution.input == '{"n": 1}' and execution.stop_date is not None
    assert types(events) == [
        "ExecutionStarted",
        *["TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited"]
        * 2,
        "ExecutionSucceeded",
    ]
    assert events[0]["executionStartedEventDetails"] == {
        "input": '{"n": 1}',
        "inputDetails": {"truncated": False},
        "roleArn": ROLE,
    }
    assert_well_formed(events)
    assert steps.calls == Counter({"A": 1, "B": 1})


def test_a_task_runs_only_once_its_scheduled_and_started_events_are_committed(
    database: Database, steps: Steps
) -> None:
    recorded: list[list[str]] = []

    class Checking(Steps):
        async def run(self, resource: str, payload: Any, context: TaskContext) -> Any:
            key = context.execution_arn.split(":execution:")[1]
            events, _ = Executions(database).history(key, limit=100)
            recorded.append([event.type for event in events])
            return await super().run(resource, payload, context)

    async def scenario() -> None:
        async with serving(database, Checking()) as service:
            arn, _ = await service.start_execution(await create(service, chain("A", "B")))
            await ended(service, arn)

    run(scenario)

    assert [events[-2:] for events in recorded] == [["TaskScheduled", "TaskStarted"]] * 2


def test_a_task_that_only_reads_runs_without_waiting_for_its_events_to_commit(
    database: Database,
) -> None:
    """The barrier is for side effects: a resource registered as reading only runs at
    once, in the turn its events were added, before any of them is committed."""
    recorded: dict[str, list[str]] = {}

    class Checking(Steps):
        async def run(self, resource: str, payload: Any, context: TaskContext) -> Any:
            key = context.execution_arn.split(":execution:")[1]
            events, _ = Executions(database).history(key, limit=100)
            recorded[context.state_name] = [event.type for event in events]
            return await super().run(resource, payload, context)

    checking = Checking()
    tasks = TaskRegistry()
    tasks.register("arn:aws:states:::test:", checking)
    tasks.register("arn:aws:states:::look:", checking, reads_only=True)
    definition = {
        "StartAt": "Look",
        "States": {
            "Look": {"Type": "Task", "Resource": "arn:aws:states:::look:up", "Next": "Write"},
            "Write": task("Write", End=True),
        },
    }

    async def scenario() -> Execution:
        service = WorkflowService(database=database, arns=ARNS, tasks=tasks, limits=LIMITS)
        await service.start()
        try:
            arn, _ = await service.start_execution(await create(service, definition))
            return await ended(service, arn)
        finally:
            await service.stop()

    assert run(scenario).status is ExecutionStatus.SUCCEEDED
    assert tasks.reads_only("arn:aws:states:::look:up")
    assert not tasks.reads_only("arn:aws:states:::test:Write")
    assert recorded["Look"] == ["ExecutionStarted"]
    assert recorded["Write"][-2:] == ["TaskScheduled", "TaskStarted"]


def test_an_update_or_a_delete_applies_to_the_next_start_at_once(
    database: Database, steps: Steps
) -> None:
    """Machines read for starts are kept a moment, but this process's own changes are
    never hidden by that."""

    async def scenario() -> tuple[Execution, type[Exception]]:
        async with serving(database, steps) as service:
            machine = await create(service, chain("A"))
            await ended(service, (await service.start_execution(machine))[0])
            await service.update_state_machine(
                machine, definition=orjson.dumps(chain("C")).decode()
            )
            after_update = await ended(service, (await service.start_execution(machine))[0])
            await service.delete_state_machine(machine)
            with pytest.raises(StateMachineDoesNotExist) as raised:
                await service.start_execution(machine)
            return after_update, raised.type

    execution, refused = run(scenario)

    assert orjson.loads(execution.output or "") == {"done": "C"}
    assert steps.calls == Counter({"A": 1, "C": 1})
    assert refused is StateMachineDoesNotExist


def test_a_start_is_idempotent_for_the_same_name_and_input_while_it_runs(
    database: Database, steps: Steps
) -> None:
    steps.blocking.add("A")

    async def scenario() -> None:
        async with serving(database, steps) as service:
            machine = await create(service, chain("A"))
            arn, start = await service.start_execution(machine, name="once", input='{"x": 1}')
            again = await service.start_execution(machine, name="once", input='{"x": 1}')
            assert again == (arn, start)
            with pytest.raises(ExecutionAlreadyExists, match="Execution Already Exists"):
                await service.start_execution(machine, name="once", input='{"x": 2}')
            await service.stop_execution(arn)
            with pytest.raises(ExecutionAlreadyExists):
                await service.start_execution(machine, name="once", input='{"x": 1}')
            with pytest.raises(InvalidName, match="Invalid Name: 'two words'"):
                await service.start_execution(machine, name="two words")

    run(scenario)
    assert steps.calls["A"] == 1


def test_a_stop_aborts_the_execution_and_cancels_its_task(database: Database, steps: Steps) -> None:
    steps.blocking.add("A")

    async def scenario() -> tuple[Execution, list[dict[str, Any]]]:
        async with serving(database, steps) as service:
            arn, _ = await service.start_execution(await create(service, chain("A", "B")))
            await asyncio.to_thread(steps.blocked.wait, 10)
            stop_date = await service.stop_execution(arn, error="Halt", cause="by hand")
            execution = await ended(service, arn)
            assert execution.stop_date == stop_date
            await until(lambda: not service.runner.running)  # the cancelled run unwinds
            return execution, await history(service, arn)

    execution, events = run(scenario)

    assert execution.status is ExecutionStatus.ABORTED
    assert (execution.error, execution.cause) == ("Halt", "by hand")
    assert types(events)[-2:] == ["TaskStarted", "ExecutionAborted"]
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Halt", "cause": "by hand"}
    assert steps.cancelled == ["A"] and steps.calls["B"] == 0
    assert_well_formed(events)


def test_a_runner_that_dies_mid_execution_is_resumed_by_another_without_repeats(
    database: Database, steps: Steps
) -> None:
    steps.blocking.add("B")
    machine_and_arn: list[str] = []

    async def first_process() -> None:
        service = WorkflowService(
            database=database, arns=ARNS, tasks=registry(steps), limits=LIMITS
        )
        await service.start()
        machine = await create(service, chain("A", "B", "C"))
        arn, _ = await service.start_execution(machine, name="durable")
        machine_and_arn.append(arn)
        await asyncio.to_thread(steps.blocked.wait, 10)
        # The process dies here: no stop(), no lease given back; asyncio.run cancels
        # what is left, the way the end of a process ends it.

    dying = threading.Thread(target=lambda: asyncio.run(first_process()))
    dying.start()
    dying.join(30)
    before, _ = Executions(database).history("M:durable", limit=100)
    assert [e.type for e in before][-2:] == ["TaskScheduled", "TaskStarted"]
    steps.blocking.clear()

    async def second_process() -> tuple[Execution, list[dict[str, Any]]]:
        async with serving(database, steps) as service:
            [arn] = machine_and_arn
            return await ended(service, arn), await history(service, arn)

    execution, events = run(second_process)

    assert execution.status is ExecutionStatus.SUCCEEDED
    # A finished before the death and is not run again; B was in flight: it runs again.
    assert steps.calls == Counter({"A": 1, "B": 2, "C": 1})
    assert_well_formed(events)
    assert [(e["id"], e["type"]) for e in events[: len(before)]] == [(e.id, e.type) for e in before]
    assert Counter(types(events)) == Counter(
        {
            "ExecutionStarted": 1,
            "TaskStateEntered": 3,
            # B's TaskScheduled and TaskStarted were recorded before the death: its
            # second run answers them from the record rather than writing them again.
            "TaskScheduled": 3,
            "TaskStarted": 3,
            "TaskSucceeded": 3,
            "TaskStateExited": 3,
            "ExecutionSucceeded": 1,
        }
    )
    # The call repeated after the crash carries the key the first one had.
    keys = [c.idempotency_key for c in steps.seen if c.state_name == "B"]
    assert len(keys) == 2 and keys[0] == keys[1]


# -- the history quota -----------------------------------------------------------------------

COUNTING_LOOP = {
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "Pass",
            "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
            "Next": "More",
        },
        "More": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericLessThan": 1_000_000, "Next": "Count"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def test_an_execution_reaching_25000_events_fails_with_the_last_one(
    database: Database, steps: Steps
) -> None:
    async def scenario() -> tuple[Execution, list[dict[str, Any]]]:
        async with serving(database, steps) as service:
            arn, _ = await service.start_execution(
                await create(service, COUNTING_LOOP), input='{"n": 0}'
            )
            return await ended(service, arn, timeout=60), await history(service, arn)

    execution, events = run(scenario)

    assert execution.status is ExecutionStatus.FAILED
    assert (execution.error, execution.cause) == ("States.Runtime", HISTORY_LIMIT_CAUSE)
    assert len(events) == MAX_HISTORY_EVENTS
    assert events[-1]["type"] == "ExecutionFailed"
    assert events[-1]["executionFailedEventDetails"]["cause"] == HISTORY_LIMIT_CAUSE
    assert_well_formed(events)


def durable_history(last_event_id: int) -> DurableHistory:
    journal = Journal(
        Executions(Database("sqlite://")),
        owner="test",
        lease_s=1.0,
        on_lost=lambda key: None,
        on_deleting=lambda key: None,
    )
    journal.open("M:e")
    return DurableHistory(
        journal,
        Claimed(
            execution=Execution(
                state_machine="M",
                name="e",
                revision_id="r",
                status=ExecutionStatus.RUNNING,
                input="{}",
                start_date=datetime(2026, 1, 1, tzinfo=UTC),
            ),
            definition="{}",
            role_arn=ROLE,
            events=[],
            last_event_id=last_event_id,
        ),
    )


def test_the_25000th_event_may_end_the_execution_and_nothing_else() -> None:
    near = durable_history(MAX_HISTORY_EVENTS - 2)
    assert near.add("#1", "PassStateEntered", None, previous=0, timestamp=1.0).id == 24_999
    with pytest.raises(StatesError) as raised:
        near.add("#2", "PassStateExited", None, previous=0, timestamp=1.0)
    assert (raised.value.error, raised.value.cause) == ("States.Runtime", HISTORY_LIMIT_CAUSE)

    last = durable_history(MAX_HISTORY_EVENTS - 1)
    succeeded = last.add("#9", "ExecutionSucceeded", None, previous=0, timestamp=1.0)
    assert succeeded.id == MAX_HISTORY_EVENTS
    assert last.final is not None and last.final.id == MAX_HISTORY_EVENTS


# -- redrive ---------------------------------------------------------------------------------

FAN = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": task("Prepare", ResultPath=None, Next="Fan"),
        "Fan": {
            "Type": "Map",
            "MaxConcurrency": 1,
            "ItemSelector": {"item.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "Work", "States": {"Work": task("Work", End=True)}},
            "ItemsPath": "$.items",
            "ResultPath": "$.results",
            "Next": "Finish",
        },
        "Finish": task("Finish", End=True),
    },
}


def test_a_redrive_runs_again_only_what_failed(database: Database, steps: Steps) -> None:
    steps.failing.add("Work:2")

    async def scenario() -> tuple[Execution, Execution, list[dict[str, Any]]]:
        async with serving(database, steps) as service:
            machine = await create(service, FAN)
            arn, _ = await service.start_execution(machine, input='{"items": [1, 2, 3]}')
            failed = await ended(service, arn)
            assert (await service.describe_execution(arn)).redrive_status == "REDRIVABLE"
            steps.failing.clear()
            await service.redrive_execution(arn)
            return failed, await ended(service, arn), await history(service, arn)

    failed, redriven, events = run(scenario)

    assert failed.status is ExecutionStatus.FAILED and failed.error == "Step.Failed"
    assert redriven.status is ExecutionStatus.SUCCEEDED
    assert redriven.redrive_count == 1 and redriven.redrive_date is not None
    # Prepare and item 1 succeeded before: not run again; item 2 failed: run again;
    # item 3 never started (one at a time): run once.
    assert steps.calls == Counter(
        {"Prepare": 1, "Work:1": 1, "Work:2": 2, "Work:3": 1, "Finish": 1}
    )
    assert types(events).count("ExecutionFailed") == 1
    redrive = types(events).index("ExecutionRedriven")
    assert events[redrive]["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert types(events)[redrive - 1] == "ExecutionFailed"
    assert types(events)[-1] == "ExecutionSucceeded"
    assert_well_formed(events)


def test_only_failed_timed_out_or_aborted_executions_are_redriven(
    database: Database, steps: Steps
) -> None:
    async def scenario() -> None:
        async with serving(database, steps) as service:
            arn, _ = await service.start_execution(await create(service, chain("A")))
            await ended(service, arn)
            described = await service.describe_execution(arn)
            assert (described.redrive_status, described.redrive_status_reason) == (
                "NOT_REDRIVABLE",
                "Execution is SUCCEEDED and cannot be redriven.",
            )
            with pytest.raises(ExecutionNotRedrivable, match="SUCCEEDED"):
                await service.redrive_execution(arn)

    run(scenario)


@pytest.mark.parametrize(
    ("events", "dropped"),
    [
        # Failed in the second state: its events and ExecutionFailed go.
        (
            [
                ("#0", "ExecutionStarted"),
                ("#1", "PassStateEntered"),
                ("#2", "PassStateExited"),
                ("#3", "TaskStateEntered"),
                ("#4", "TaskScheduled"),
                ("#5", "TaskFailed"),
                ("#6", "ExecutionFailed"),
            ],
            ["#3", "#4", "#5", "#6"],
        ),
        # Failed in the first state: ExecutionStarted stays.
        (
            [("#0", "ExecutionStarted"), ("#1", "FailStateEntered"), ("#2", "ExecutionFailed")],
            ["#1", "#2"],
        ),
        # A Parallel: the branch that succeeded stays whole, the other from what failed.
        (
            [
                ("#0", "ExecutionStarted"),
                ("#1", "ParallelStateEntered"),
                ("#2", "ParallelStateStarted"),
                ("/P[0]#0", "PassStateEntered"),
                ("/P[0]#1", "PassStateExited"),
                ("/P[1]#0", "PassStateEntered"),
                ("/P[1]#1", "PassStateExited"),
                ("/P[1]#2", "TaskStateEntered"),
                ("/P[1]#3", "TaskFailed"),
                ("#3", "ParallelStateFailed"),
                ("#4", "ExecutionFailed"),
            ],
            ["#1", "#2", "/P[1]#2", "/P[1]#3", "#3", "#4"],
        ),
        # A Map iteration that succeeded stays, its MapIterationSucceeded too.
        (
            [
                ("#0", "ExecutionStarted"),
                ("#1", "MapStateEntered"),
                ("/M[0]#0", "MapIterationStarted"),
                ("/M[0]#1", "TaskStateEntered"),
                ("/M[0]#2", "TaskStateExited"),
                ("/M[0]#3", "MapIterationSucceeded"),
                ("/M[1]#0", "MapIterationStarted"),
                ("/M[1]#1", "TaskStateEntered"),
                ("/M[1]#2", "MapIterationFailed"),
                ("#2", "MapStateFailed"),
            ],
            ["#1", "/M[1]#0", "/M[1]#1", "/M[1]#2", "#2"],
        ),
        # Events the service writes itself are never answered from.
        (
            [("#0", "ExecutionStarted"), ("!ExecutionAborted", "ExecutionAborted")],
            ["!ExecutionAborted"],
        ),
    ],
)
def test_a_redrive_drops_each_scope_after_its_last_settled_event(
    events: list[tuple[str, str]], dropped: list[str]
) -> None:
    stored = [
        StoredEvent(
            id=n,
            previous_id=0,
            timestamp=0.0,
            type=kind,
            details_name=None,
            details=None,
            key=key,
            redrive=0,
            replayable=True,
        )
        for n, (key, kind) in enumerate(events, start=1)
    ]
    by_id = {event.id: event.key for event in stored}

    assert sorted(by_id[n] for n in superseded(stored)) == sorted(dropped)


# -- state machines --------------------------------------------------------------------------


def test_creating_a_state_machine_is_idempotent_and_checks_what_it_is_given(
    database: Database, steps: Steps
) -> None:
    async def scenario() -> None:
        async with serving(database, steps) as service:
            definition = orjson.dumps(chain("A")).decode()
            first = await service.create_state_machine(
                name="M", definition=definition, role_arn=ROLE
            )
            again = await service.create_state_machine(
                name="M", definition=definition, role_arn="arn:aws:iam::000000000000:role/other"
            )
            assert again == first
            with pytest.raises(StateMachineAlreadyExists, match="stateMachine:M'"):
                await service.create_state_machine(
                    name="M", definition=orjson.dumps(chain("B")).decode(), role_arn=ROLE
                )
            with pytest.raises(InvalidDefinition):
                await service.create_state_machine(name="N", definition="{}", role_arn=ROLE)
            with pytest.raises(InvalidName):
                await service.create_state_machine(name="a/b", definition=definition, role_arn=ROLE)
            with pytest.raises(InvalidArn):
                await service.create_state_machine(name="N", definition=definition, role_arn="r")
            with pytest.raises(InvalidArn, match="Resource type not valid in this context"):
                await service.describe_state_machine(ARNS.execution("M:e"))
            with pytest.raises(StateMachineDoesNotExist):
                await service.describe_state_machine(
                    "arn:aws:states:eu-west-1:000000000000:stateMachine:M"
                )

    run(scenario)


def test_an_execution_keeps_the_definition_it_started_with(
    database: Database, steps: Steps
) -> None:
    steps.blocking.add("A")

    async def scenario() -> Execution:
        async with serving(database, steps) as service:
            machine = await create(service, chain("A", "B"))
            arn, _ = await service.start_execution(machine)
            await asyncio.to_thread(steps.blocked.wait, 10)
            await service.update_state_machine(
                machine, definition=orjson.dumps(chain("C")).decode()
            )
            await service.stop_execution(arn)  # the blocked run stops; a new one redrives
            steps.blocking.clear()
            await service.redrive_execution(arn)
            return await ended(service, arn)

    assert run(scenario).status is ExecutionStatus.SUCCEEDED
    assert steps.calls == Counter({"A": 2, "B": 1})


def test_a_machine_deleted_while_it_runs_goes_with_its_last_execution(
    database: Database, steps: Steps
) -> None:
    steps.blocking.add("A")

    async def scenario() -> None:
        async with serving(database, steps) as service:
            machine = await create(service, chain("A", "B"))
            arn, _ = await service.start_execution(machine)
            await asyncio.to_thread(steps.blocked.wait, 10)
            await service.delete_state_machine(machine)
            described = await service.describe_state_machine(machine)
            assert described.status is StateMachineStatus.DELETING
            await service.stop_execution(arn)
            with pytest.raises(StateMachineDoesNotExist):
                await service.describe_state_machine(machine)

    run(scenario)


def test_deleting_a_machine_fails_an_execution_at_its_next_transition(
    database: Database,
) -> None:
    gates: dict[str, asyncio.Event] = {}
    gated = Steps()

    class Gated(Steps):
        async def run(self, resource: str, payload: Any, context: TaskContext) -> Any:
            gates["entered"].set()
            await gates["open"].wait()
            return await gated.run(resource, payload, context)

    async def scenario() -> Execution:
        gates.update(entered=asyncio.Event(), open=asyncio.Event())
        async with serving(database, Gated()) as service:
            machine = await create(service, chain("A", "B"))
            arn, _ = await service.start_execution(machine)
            await gates["entered"].wait()
            await service.delete_state_machine(machine)
            gates["open"].set()  # A ends; B is the next transition
            execution = await ended(service, arn)
            with pytest.raises(StateMachineDoesNotExist):
                await service.describe_state_machine(machine)
            return execution

    execution = run(scenario)
    assert (execution.status, execution.error) == (ExecutionStatus.FAILED, "States.Runtime")
    assert execution.cause == "State machine M has been deleted."
    assert gated.calls == Counter({"A": 1})


def test_an_unknown_task_resource_fails_with_states_runtime_naming_it(
    database: Database, steps: Steps
) -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::nothing:here", "End": True}},
    }

    async def scenario() -> Execution:
        async with serving(database, steps) as service:
            arn, _ = await service.start_execution(await create(service, definition))
            return await ended(service, arn)

    execution = run(scenario)
    assert (execution.status, execution.error) == (ExecutionStatus.FAILED, "States.Runtime")
    assert "arn:aws:states:::nothing:here" in (execution.cause or "")


def test_express_machines_run_in_memory(database: Database, steps: Steps) -> None:
    async def scenario() -> None:
        async with serving(database, steps) as service:
            definition = orjson.dumps(chain("A")).decode()
            await service.create_state_machine(
                name="Fast", definition=definition, role_arn=ROLE, type=StateMachineType.EXPRESS
            )
            ended_ = await service.start_sync_execution(
                ARNS.state_machine("Fast"), name="now", input='{"q": 1}'
            )
            assert ended_.outcome.status.value == "SUCCEEDED"
            assert ended_.outcome.output == {"done": "A"}
            assert ended_.arn.startswith(f"{ARNS.prefix}express:Fast:now:")
            standard = await create(service, chain("A"))
            with pytest.raises(StateMachineTypeNotSupported):
                await service.start_sync_execution(standard)
            with pytest.raises(StateMachineTypeNotSupported):
                await service.list_executions(ARNS.state_machine("Fast"))

    run(scenario)


def test_a_history_without_execution_data_shows_no_input_or_output(
    database: Database, steps: Steps
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with serving(database, steps) as service:
            arn, _ = await service.start_execution(await create(service, chain("A")))
            await ended(service, arn)
            page = await service.get_execution_history(arn, include_data=False, reverse=True)
            return [event.to_json() for event in page.events]

    events = run(scenario)
    assert events[0]["type"] == "ExecutionSucceeded"
    assert events[0]["executionSucceededEventDetails"] == {}
    assert events[-1]["executionStartedEventDetails"] == {"roleArn": ROLE}


# -- the task registry -----------------------------------------------------------------------


def test_the_longest_registered_prefix_serves_a_resource() -> None:
    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

        async def run(self, resource: str, payload: Any, context: TaskContext) -> Any:
            if payload == "boom":
                raise KeyError("broken handler")
            return self.name

    found = TaskRegistry()
    found.register("arn:aws:states:::lambda:", Named("any lambda"))
    found.register("arn:aws:states:::lambda:invoke", Named("invoke"))
    context = TaskContext(
        idempotency_key="k", execution_arn="a", state_name="S", timeout_seconds=None, context={}
    )

    async def scenario() -> list[Any]:
        answers = [
            await found.run("arn:aws:states:::lambda:invoke", None, context),
            await found.run("arn:aws:states:::lambda:invoke.waitForTaskToken", None, context),
            await found.run("arn:aws-cn:states:::lambda:other", None, context),
        ]
        with pytest.raises(StatesError) as raised:
            await found.run("arn:aws:states:::lambda:invoke", "boom", context)
        answers.append((raised.value.error, raised.value.cause))
        return answers

    assert run(scenario) == [
        "invoke",
        "invoke",
        "any lambda",
        ("States.TaskFailed", "KeyError: 'broken handler'"),
    ]


# -- two runners on PostgreSQL ---------------------------------------------------------------


@pytest.mark.postgres
def test_two_runners_share_executions_without_running_any_twice(postgres_url: str) -> None:
    database = Database(postgres_url)
    database.migrate()
    ran: list[tuple[str, str]] = []

    class Recording(Steps):
        def __init__(self, runner: str) -> None:
            super().__init__()
            self.runner = runner

        async def run(self, resource: str, payload: Any, context: TaskContext) -> Any:
            ran.append((self.runner, context.idempotency_key))
            await asyncio.sleep(0.01)
            return await super().run(resource, payload, context)

    limits = RunnerLimits(lease_s=5.0, poll_interval_s=0.02, max_concurrent=3)

    async def scenario() -> list[Execution]:
        async with (
            serving(database, Recording("one"), limits) as one,
            serving(database, Recording("two"), limits) as two,
        ):
            machine = await create(one, chain("A", "B"))
            arns = [(await one.start_execution(machine))[0] for _ in range(20)]
            return [await ended(two, arn) for arn in arns]

    try:
        executions = run(scenario)
    finally:
        database.close()

    assert {e.status for e in executions} == {ExecutionStatus.SUCCEEDED}
    keys = [key for _, key in ran]
    assert len(keys) == 40 and len(set(keys)) == 40
    assert {runner for runner, _ in ran} == {"one", "two"}
