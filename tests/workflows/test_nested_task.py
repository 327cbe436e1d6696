"""Nested workflows, ``arn:aws:states:::states:startExecution`` (``.sync``, ``.sync:2``),
against "Start a new AWS Step Functions state machine from a running execution": through
the workflows facade with its real runner on SQLite, and once through ``modelyard up``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from modelyard.storage import Database
from modelyard.storage.executions import Execution, ExecutionStatus
from modelyard.storage.state_machines import StateMachineType
from modelyard.workflows import control
from modelyard.workflows.arns import StatesArns
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import StatesError
from modelyard.workflows.executions import RunnerLimits, TaskRegistry
from modelyard.workflows.nested_task import (
    RESOURCE,
    RESOURCES,
    STARTED_BY,
    StartExecutionTask,
    child_name,
)
from modelyard.workflows.service import WorkflowService
from tests.workflows.test_map_run_api import Server

T = TypeVar("T")

ARNS = StatesArns(region="us-east-1", account_id="000000000000")
ROLE = "arn:aws:iam::000000000000:role/workflows"
#: A dead runner's executions are resumed after half a second.
LIMITS = RunnerLimits(lease_s=0.5, poll_interval_s=0.02, max_concurrent=100)
CHILD = ARNS.state_machine("Child")
ECHO = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
#: A child that runs the blocking test step ``Block`` and then echoes its input.
BLOCKING = {
    "StartAt": "Block",
    "States": {
        "Block": {
            "Type": "Task",
            "Resource": "arn:aws:states:::test:Block",
            "ResultPath": None,
            "End": True,
        }
    },
}
FAILING = {
    "StartAt": "Broke",
    "States": {"Broke": {"Type": "Fail", "Error": "Child.Broke", "Cause": "on purpose"}},
}


class Steps:
    """Task resources ``arn:aws:states:::test:<step>``, counted; a step in ``blocking``
    waits until cancelled. Thread-safe: a runner in another thread may call it."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.blocking: set[str] = set()
        self.blocked = threading.Event()
        self._lock = threading.Lock()

    async def run(self, resource: str, payload: Any, context: TaskContext) -> Any:
        step = resource.rsplit(":", 1)[1]
        with self._lock:
            self.calls[step] += 1
        if step in self.blocking:
            self.blocked.set()
            await asyncio.Event().wait()
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


def build(database: Database, steps: Steps) -> tuple[WorkflowService, StartExecutionTask]:
    """A workflows facade whose tasks include states:startExecution, as platform.py builds it."""
    registry = TaskRegistry()
    registry.register("arn:aws:states:::test:", steps)
    service = WorkflowService(database=database, arns=ARNS, tasks=registry, limits=LIMITS)
    nested = StartExecutionTask(service, control.ERRORS.code_for)
    for resource in RESOURCES:
        registry.register(resource, nested)
    return service, nested


@asynccontextmanager
async def serving(database: Database, steps: Steps) -> AsyncIterator[WorkflowService]:
    service, _ = build(database, steps)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def run(work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(work())  # type: ignore[arg-type]


async def create(
    service: WorkflowService,
    definition: dict[str, Any],
    name: str,
    type: StateMachineType = StateMachineType.STANDARD,
) -> str:
    machine = await service.create_state_machine(
        name=name, definition=orjson.dumps(definition).decode(), role_arn=ROLE, type=type
    )
    return ARNS.state_machine(machine.name)


def parent(suffix: str = "", **state: Any) -> dict[str, Any]:
    """A machine of one Task state ``Nest`` starting the ``Child`` machine."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": RESOURCE + suffix,
        "Parameters": {"StateMachineArn": CHILD, "Input": {"n.$": "$.n"}},
        "End": True,
    }
    return {"StartAt": "Nest", "States": {"Nest": task | state}}


def caught(definition: dict[str, Any], error: str) -> dict[str, Any]:
    """``definition`` whose ``Nest`` state catches ``error`` into ``$.failure`` and succeeds."""
    nest = definition["States"]["Nest"]
    del nest["End"]
    nest["Next"] = "Done"
    nest["Catch"] = [{"ErrorEquals": [error], "ResultPath": "$.failure", "Next": "Done"}]
    definition["States"]["Done"] = {"Type": "Succeed"}
    return definition


async def ended(service: WorkflowService, arn: str, timeout: float = 15.0) -> Execution:
    """The execution once it is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        execution = (await service.describe_execution(arn)).execution
        if execution.status is not ExecutionStatus.RUNNING:
            return execution
        assert time.monotonic() < deadline, f"{arn} still running"
        await asyncio.sleep(0.01)


async def children(service: WorkflowService) -> list[Execution]:
    found, _ = await service.list_executions(CHILD)
    return found


async def run_parent(
    service: WorkflowService, definition: dict[str, Any], child: dict[str, Any], input: Any
) -> tuple[Execution, list[Execution]]:
    """Run ``definition`` over a ``Child`` machine of ``child``: the parent, the children."""
    await create(service, child, "Child")
    machine = await create(service, definition, "Parent")
    arn, _ = await service.start_execution(machine, name="p", input=orjson.dumps(input).decode())
    return await ended(service, arn), await children(service)


def output(execution: Execution) -> Any:
    assert execution.output is not None, (execution.error, execution.cause)
    return orjson.loads(execution.output)


def context(key: str, entered: str = "2020-01-01T00:00:00.000Z") -> TaskContext:
    """The context of a task attempt whose idempotency key is ``key``."""
    return TaskContext(
        idempotency_key=key,
        execution_arn=ARNS.execution("Parent:p"),
        state_name="Nest",
        timeout_seconds=None,
        context={"State": {"EnteredTime": entered, "Name": "Nest", "RetryCount": 0}},
    )


def millis(moment: datetime | None) -> int:
    assert moment is not None
    return round(moment.timestamp() * 1000)


# -- the three patterns --------------------------------------------------------------------


def test_request_response_answers_once_the_child_started(database: Database, steps: Steps) -> None:
    steps.blocking.add("Block")
    definition = parent()
    definition["States"]["Nest"]["Parameters"]["Input"] = {
        "n.$": "$.n",
        f"{STARTED_BY}.$": "$$.Execution.Id",
    }

    async def scenario() -> tuple[Execution, list[Execution]]:
        async with serving(database, steps) as service:
            return await run_parent(service, definition, BLOCKING, {"n": 1})

    execution, [child] = run(scenario)

    assert execution.status is ExecutionStatus.SUCCEEDED
    # The parent did not wait: the child still runs.
    assert child.status is ExecutionStatus.RUNNING
    answer = output(execution)
    assert answer["ExecutionArn"] == ARNS.execution(child.key)
    assert answer["StartDate"] == millis(child.start_date)
    assert answer["SdkHttpMetadata"]["HttpStatusCode"] == 200
    request_id = answer["SdkResponseMetadata"]["RequestId"]
    assert answer["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-RequestId"] == request_id
    # The documented association: the child's input names the parent's execution.
    assert orjson.loads(child.input) == {"n": 1, STARTED_BY: ARNS.execution("Parent:p")}


@pytest.mark.parametrize("suffix", [".sync", ".sync:2"])
def test_sync_waits_for_the_child_and_gives_its_description(
    database: Database, steps: Steps, suffix: str
) -> None:
    async def scenario() -> tuple[Execution, list[Execution]]:
        async with serving(database, steps) as service:
            return await run_parent(service, parent(suffix), ECHO, {"n": 7})

    execution, [child] = run(scenario)

    assert execution.status is ExecutionStatus.SUCCEEDED
    assert child.status is ExecutionStatus.SUCCEEDED
    answer = output(execution)
    # DescribeExecution's answer, PascalCase, members sorted, dates in milliseconds.
    assert list(answer) == sorted(answer)
    assert {key: answer[key] for key in answer if key not in ("Input", "Output")} == {
        "ExecutionArn": ARNS.execution(child.key),
        "InputDetails": {"Included": True},
        "Name": child.name,
        "OutputDetails": {"Included": True},
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "RedriveStatusReason": "Execution is SUCCEEDED and cannot be redriven.",
        "StartDate": millis(child.start_date),
        "StateMachineArn": CHILD,
        "Status": "SUCCEEDED",
        "StopDate": millis(child.stop_date),
    }
    if suffix == ".sync":  # the child's input and output as JSON text
        assert orjson.loads(answer["Input"]) == {"n": 7}
        assert orjson.loads(answer["Output"]) == {"n": 7}
    else:  # .sync:2: as JSON
        assert answer["Input"] == {"n": 7}
        assert answer["Output"] == {"n": 7}


def test_sync_2_of_an_express_child_runs_it_to_its_end(database: Database, steps: Steps) -> None:
    async def scenario() -> Execution:
        async with serving(database, steps) as service:
            await create(service, ECHO, "Child", StateMachineType.EXPRESS)
            machine = await create(service, parent(".sync:2"), "Parent")
            arn, _ = await service.start_execution(machine, input='{"n": 3}')
            return await ended(service, arn)

    answer = output(run(scenario))

    assert answer["Status"] == "SUCCEEDED"
    assert answer["Output"] == {"n": 3}
    assert answer["ExecutionArn"].startswith(f"{ARNS.prefix}express:Child:")
    assert answer["StopDate"] >= answer["StartDate"]


def test_input_may_be_json_text_and_the_name_may_be_given(database: Database, steps: Steps) -> None:
    definition = parent(".sync:2")
    definition["States"]["Nest"]["Parameters"] = {
        "StateMachineArn": CHILD,
        "Input.$": "States.JsonToString($.payload)",
        "Name.$": "$.name",
    }

    async def scenario() -> tuple[Execution, list[Execution]]:
        async with serving(database, steps) as service:
            return await run_parent(
                service, definition, ECHO, {"payload": {"a": [1, 2]}, "name": "given"}
            )

    execution, [child] = run(scenario)

    assert child.name == "given"
    assert output(execution)["Output"] == {"a": [1, 2]}


# -- a child that does not succeed ---------------------------------------------------------


@pytest.mark.parametrize("suffix", [".sync", ".sync:2"])
def test_a_failed_child_fails_the_task_with_its_description_as_the_cause(
    database: Database, steps: Steps, suffix: str
) -> None:
    async def scenario() -> tuple[Execution, list[Execution]]:
        async with serving(database, steps) as service:
            return await run_parent(service, parent(suffix), FAILING, {"n": 1})

    execution, [child] = run(scenario)

    assert execution.status is ExecutionStatus.FAILED
    assert execution.error == "States.TaskFailed"
    cause = orjson.loads(execution.cause or "")
    assert cause["ExecutionArn"] == ARNS.execution(child.key)
    assert (cause["Status"], cause["Error"], cause["Cause"]) == (
        "FAILED",
        "Child.Broke",
        "on purpose",
    )
    assert "Output" not in cause
    assert cause["Input"] == ('{"n":1}' if suffix == ".sync" else {"n": 1})


def test_a_failed_child_can_be_caught(database: Database, steps: Steps) -> None:
    definition = caught(parent(".sync"), "States.TaskFailed")

    async def scenario() -> tuple[Execution, list[Execution]]:
        async with serving(database, steps) as service:
            return await run_parent(service, definition, FAILING, {"n": 1})

    execution, _ = run(scenario)

    assert execution.status is ExecutionStatus.SUCCEEDED
    failure = output(execution)["failure"]
    assert failure["Error"] == "States.TaskFailed"
    assert orjson.loads(failure["Cause"])["Error"] == "Child.Broke"


def test_a_timed_out_child_fails_the_task(database: Database, steps: Steps) -> None:
    slow = {
        "TimeoutSeconds": 1,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}},
    }

    async def scenario() -> tuple[Execution, list[Execution]]:
        async with serving(database, steps) as service:
            return await run_parent(service, parent(".sync:2"), slow, {"n": 1})

    execution, [child] = run(scenario)

    assert child.status is ExecutionStatus.TIMED_OUT
    assert execution.error == "States.TaskFailed"
    cause = orjson.loads(execution.cause or "")
    assert (cause["Status"], cause["Error"]) == ("TIMED_OUT", "States.Timeout")


def test_an_aborted_child_fails_the_task(database: Database, steps: Steps) -> None:
    steps.blocking.add("Block")

    async def scenario() -> Execution:
        async with serving(database, steps) as service:
            await create(service, BLOCKING, "Child")
            machine = await create(service, parent(".sync"), "Parent")
            arn, _ = await service.start_execution(machine, input='{"n": 1}')
            await asyncio.to_thread(steps.blocked.wait, 10)
            [child] = await children(service)
            await service.stop_execution(ARNS.execution(child.key), error="Halt", cause="by hand")
            return await ended(service, arn)

    execution = run(scenario)

    assert execution.error == "States.TaskFailed"
    cause = orjson.loads(execution.cause or "")
    assert (cause["Status"], cause["Error"], cause["Cause"]) == ("ABORTED", "Halt", "by hand")


def test_a_stopped_parent_stops_the_child_it_waits_for(database: Database, steps: Steps) -> None:
    steps.blocking.add("Block")

    async def scenario() -> tuple[str, Execution]:
        async with serving(database, steps) as service:
            await create(service, BLOCKING, "Child")
            machine = await create(service, parent(".sync:2"), "Parent")
            arn, _ = await service.start_execution(machine, input='{"n": 1}')
            await asyncio.to_thread(steps.blocked.wait, 10)
            [child] = await children(service)
            await service.stop_execution(arn)
            return arn, await ended(service, ARNS.execution(child.key))

    arn, child = run(scenario)

    assert child.status is ExecutionStatus.ABORTED
    assert child.cause == (
        f"The Task state in AWS Step Functions execution [{arn}] which was managing this "
        "resource was aborted"
    )


# -- refusals ------------------------------------------------------------------------------


def test_a_refused_start_is_named_as_the_integration_names_it(
    database: Database, steps: Steps
) -> None:
    missing = ARNS.state_machine("Nowhere")
    definition = parent()
    definition["States"]["Nest"]["Parameters"]["StateMachineArn"] = missing
    definition = caught(definition, "StepFunctions.StateMachineDoesNotExistException")

    async def scenario() -> Execution:
        async with serving(database, steps) as service:
            machine = await create(service, definition, "Parent")
            arn, _ = await service.start_execution(machine, input='{"n": 1}')
            return await ended(service, arn)

    failure = output(run(scenario))["failure"]

    assert failure["Error"] == "StepFunctions.StateMachineDoesNotExistException"
    assert failure["Cause"].startswith(
        f"State Machine Does Not Exist: '{missing}' (Service: AWSStepFunctions; "
        "Status Code: 400; Error Code: StateMachineDoesNotExist; Request ID: "
    )
    assert failure["Cause"].endswith("; Proxy: null)")


def test_a_name_in_use_with_another_input_is_refused(database: Database, steps: Steps) -> None:
    steps.blocking.add("Block")
    definition = parent()
    definition["States"]["Nest"]["Parameters"]["Name"] = "once"

    async def scenario() -> tuple[Execution, Execution]:
        async with serving(database, steps) as service:
            await create(service, BLOCKING, "Child")
            machine = await create(service, definition, "Parent")
            first, _ = await service.start_execution(machine, name="a", input='{"n": 1}')
            started = await ended(service, first)  # once "once" runs
            second, _ = await service.start_execution(machine, name="b", input='{"n": 2}')
            return started, await ended(service, second)

    first, second = run(scenario)

    assert first.status is ExecutionStatus.SUCCEEDED
    assert second.error == "StepFunctions.ExecutionAlreadyExistsException"
    assert (second.cause or "").startswith(
        f"Execution Already Exists: '{ARNS.execution('Child:once')}' (Service: AWSStepFunctions"
    )


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        ({"Input": {}}, "The field 'StateMachineArn' is required but was missing"),
        ({"StateMachineArn": 7}, "The value for the field 'StateMachineArn' must be a STRING"),
        ({"StateMachineArn": CHILD, "Name": 7}, "The value for the field 'Name' must be a STRING"),
        (
            {"StateMachineArn": CHILD, "TraceHeader": "x"},
            "The field 'TraceHeader' is not supported by Step Functions",
        ),
    ],
)
def test_parameters_that_make_no_request_fail_with_states_runtime(
    database: Database, steps: Steps, parameters: dict[str, Any], problem: str
) -> None:
    _, nested = build(database, steps)

    async def refused() -> StatesError:
        with pytest.raises(StatesError) as raised:
            await nested.run(RESOURCE, parameters, context("k"))
        return raised.value

    error = run(refused)

    assert error.error == "States.Runtime"
    assert error.cause == (
        "An error occurred while executing the state 'Nest'. The Parameters "
        f"'{json.dumps(parameters, separators=(',', ':'))}' could not be used to start the "
        f"Task: [{problem}]"
    )


# -- replays -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".sync", ".sync:2"])
def test_a_replayed_task_attaches_to_the_child_it_started(
    database: Database, steps: Steps, suffix: str
) -> None:
    async def scenario() -> tuple[Any, Any, list[Execution]]:
        service, nested = build(database, steps)
        await service.start()
        try:
            await create(service, ECHO, "Child")
            payload = {"StateMachineArn": CHILD, "Input": {"n": 1}}
            first = await nested.run(RESOURCE + suffix, payload, context("Parent:p/Nest#1"))
            [child] = await children(service)
            await ended(service, ARNS.execution(child.key))
            # The same attempt run again (its process died before its end was recorded):
            # the child has ended, and is attached to rather than started again.
            again = await nested.run(RESOURCE + suffix, payload, context("Parent:p/Nest#1"))
            return first, again, await children(service)
        finally:
            await service.stop()

    first, again, found = run(scenario)

    assert [child.name for child in found] == [child_name("Parent:p/Nest#1")]
    assert again["ExecutionArn"] == first["ExecutionArn"]
    assert again["StartDate"] == first["StartDate"]


def test_a_given_name_is_attached_to_only_if_started_after_the_state_was_entered(
    database: Database, steps: Steps
) -> None:
    payload = {"StateMachineArn": CHILD, "Input": {"n": 1}, "Name": "fixed"}

    async def scenario() -> tuple[Any, StatesError]:
        service, nested = build(database, steps)
        await service.start()
        try:
            await create(service, ECHO, "Child")
            first = await nested.run(RESOURCE, payload, context("k1"))
            await ended(service, first["ExecutionArn"])
            again = await nested.run(RESOURCE, payload, context("k1"))
            assert again["ExecutionArn"] == first["ExecutionArn"]
            # A later visit of the state (entered after the child started) is refused.
            with pytest.raises(StatesError) as refused:
                await nested.run(RESOURCE, payload, context("k2", "2999-01-01T00:00:00.000Z"))
            return first, refused.value
        finally:
            await service.stop()

    first, refused = run(scenario)

    assert first["ExecutionArn"] == ARNS.execution("Child:fixed")
    assert refused.error == "StepFunctions.ExecutionAlreadyExistsException"


def test_a_parent_resumed_after_its_runner_died_starts_no_second_child(
    database: Database, steps: Steps
) -> None:
    steps.blocking.add("Block")
    parents: list[str] = []

    async def first_process() -> None:
        service, _ = build(database, steps)
        await service.start()
        await create(service, BLOCKING, "Child")
        machine = await create(service, parent(".sync:2"), "Parent")
        arn, _ = await service.start_execution(machine, name="p", input='{"n": 5}')
        parents.append(arn)
        await asyncio.to_thread(steps.blocked.wait, 10)
        # The process dies here, its parent waiting on its child: no stop(), no lease
        # given back; asyncio.run cancels what is left, as the end of a process ends it.

    dying = threading.Thread(target=lambda: asyncio.run(first_process()))
    dying.start()
    dying.join(30)
    steps.blocking.clear()

    async def second_process() -> tuple[Execution, list[Execution]]:
        async with serving(database, steps) as service:
            [arn] = parents
            execution = await ended(service, arn)
            return execution, await children(service)

    execution, found = run(second_process)

    assert execution.status is ExecutionStatus.SUCCEEDED
    [child] = found
    assert child.status is ExecutionStatus.SUCCEEDED
    assert output(execution)["Output"] == {"n": 5}
    assert output(execution)["ExecutionArn"] == ARNS.execution(child.key)
    # The child's step was in flight when the process died: it runs again, in the one child.
    assert steps.calls["Block"] == 2


# -- through modelyard up ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    found = Server(tmp_path_factory.mktemp("nested"))
    found.start()
    try:
        yield found
    finally:
        found.stop()


def test_modelyard_up_serves_nested_workflows(server: Server) -> None:
    sfn = server.client()
    sfn.create_state_machine(name="Child", definition=json.dumps(ECHO), roleArn=ROLE)
    machine = sfn.create_state_machine(
        name="Parent", definition=json.dumps(parent(".sync:2")), roleArn=ROLE
    )["stateMachineArn"]

    arn = sfn.start_execution(stateMachineArn=machine, input='{"n": 2}')["executionArn"]
    described = server.finished(arn)

    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"])["Output"] == {"n": 2}
