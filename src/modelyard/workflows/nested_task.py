"""``arn:aws:states:::states:startExecution[.sync|.sync:2]``: a Task that starts a workflow.

The task's input is StartExecution's request as the optimized integration takes it:
``StateMachineArn``, ``Input`` (any JSON value, or JSON text as a string; none is ``{}``)
and ``Name``. The integration pattern is the resource's suffix:

- none (Request Response): the task ends once the execution started, with StartExecution's
  response ``{"ExecutionArn", "StartDate", "SdkHttpMetadata", "SdkResponseMetadata"}``;
- ``.sync`` (Run a Job): the task waits for the execution to end and gives DescribeExecution's
  response in PascalCase (``ExecutionArn``, ``Input``, ``Output``, ``Status``, ...), its
  ``Input`` and ``Output`` as JSON text;
- ``.sync:2``: the same, with ``Input`` and ``Output`` as JSON.

Dates are epoch milliseconds, as Step Functions writes them. A child that does not succeed
(FAILED, TIMED_OUT, ABORTED) fails the task with ``States.TaskFailed``, whose cause is
that same DescribeExecution response as JSON text (so its ``Status``, ``Error`` and
``Cause`` are the child's). A StartExecution the workflows area refuses fails the task
with ``StepFunctions.<Code>Exception`` (``StepFunctions.StateMachineDoesNotExistException``,
``StepFunctions.ExecutionAlreadyExistsException`` ...), the cause worded as the AWS SDK
words it; parameters of the wrong type fail it with ``States.Runtime``.

``"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"`` in ``Input`` is
how AWS associates a child with its parent: it is passed on in the child's input, where
its ``ExecutionStarted`` event and DescribeExecution keep it; nothing else depends on it.

**Replays.** A task in flight when its process died runs again, with the same
idempotency key. The child's default name is derived from that key, so the second run
asks for the same name and input: StartExecution answers the RUNNING child itself
(it is idempotent by name and input while the execution runs), and a child that has
ended meanwhile is attached to rather than refused (ExecutionAlreadyExists). A retry
or a redrive has a new key, hence a new child. With a ``Name`` given, an ended child of
that name is attached to only when its input is the same and it started after the
state was entered (``$$.State.EnteredTime``, recorded, so the same on the replay);
otherwise StartExecution's refusal stands, as on AWS. The one case that differs: a
``Retry`` of the same state visit with a fixed ``Name`` and input whose child already
ended is attached to that child (AWS refuses it with ExecutionAlreadyExists).

**Waiting.** DescribeExecution is asked with back-off (20 ms, growing by half to 1 s);
while the child runs in this process's runner the database is not asked at all. A parent
that ends while it waits (StopExecution) stops the child, as Step Functions stops the
resources of a ``.sync`` task it abandons; a task timeout or a process stopping leaves
it running (the parent resumes and attaches to it again). An EXPRESS child is run with
StartSyncExecution; it is not kept, so a replay runs it again.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

import orjson

from modelyard.errors import DatabaseError, ModelyardError
from modelyard.storage.executions import ExecutionStatus
from modelyard.storage.state_machines import StateMachine, StateMachineType
from modelyard.workflows.arns import EXECUTION, STATE_MACHINE, StatesArns
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import RUNTIME, TASK_FAILED, StatesError
from modelyard.workflows.express import SyncExecution
from modelyard.workflows.service import ExecutionDescription
from modelyard.workflows.service_errors import ExecutionAlreadyExists, ExecutionDoesNotExist

__all__ = [
    "RESOURCE",
    "RESOURCES",
    "STARTED_BY",
    "ErrorCoded",
    "NestedExecutions",
    "Pattern",
    "RunningExecutions",
    "StartExecutionTask",
    "child_name",
]

#: The Request Response resource; ``.sync`` and ``.sync:2`` follow it.
RESOURCE: Final = "arn:aws:states:::states:startExecution"
#: The resource ARNs this task answers.
RESOURCES: Final = (RESOURCE, f"{RESOURCE}.sync", f"{RESOURCE}.sync:2")
#: The input field associating a child with the execution that started it.
STARTED_BY: Final = "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"

logger = logging.getLogger(__name__)

T = TypeVar("T")

_FIELDS: Final = frozenset({"StateMachineArn", "Input", "Name"})
#: Where child names and request ids are drawn from (any fixed UUID would do).
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:modelyard:workflows:startExecution")
_FIRST_POLL_S: Final = 0.02
_MAX_POLL_S: Final = 1.0
_POLL_GROWTH: Final = 1.5


class Pattern(enum.Enum):
    """How the task waits for the execution it starts (the resource's suffix)."""

    #: Request Response: done once the execution started.
    REQUEST_RESPONSE = ""
    #: Run a Job: done once it ended; its input and output as JSON text.
    SYNC = ".sync"
    #: Run a Job: done once it ended; its input and output as JSON.
    SYNC_JSON = ".sync:2"


class RunningExecutions(Protocol):
    """The runner of this process, as far as the task looks at it."""

    @property
    def running(self) -> Collection[str]:
        """The keys (``<machine>:<name>``) of the executions running here."""
        ...


class NestedExecutions(Protocol):
    """What the task needs of the workflows facade (:class:`WorkflowService`)."""

    @property
    def arns(self) -> StatesArns:
        """The area's ARNs."""
        ...

    @property
    def runner(self) -> RunningExecutions:
        """This process's runner."""
        ...

    async def describe_state_machine(self, arn: str) -> StateMachine:
        """DescribeStateMachine."""
        ...

    async def start_execution(
        self, state_machine_arn: str, *, name: str | None = None, input: str | None = None
    ) -> tuple[str, datetime]:
        """StartExecution: the execution's ARN and start date."""
        ...

    async def start_sync_execution(
        self, state_machine_arn: str, *, name: str | None = None, input: str | None = None
    ) -> SyncExecution:
        """StartSyncExecution of an EXPRESS machine."""
        ...

    async def describe_execution(self, arn: str) -> ExecutionDescription:
        """DescribeExecution."""
        ...

    async def stop_execution(
        self, arn: str, *, error: str | None = None, cause: str | None = None
    ) -> datetime:
        """StopExecution."""
        ...


class ErrorCoded(Protocol):
    """A domain error as the Step Functions API names it (its error table's entry)."""

    @property
    def code(self) -> str:
        """The error code, ``ExecutionAlreadyExists``."""
        ...

    @property
    def status(self) -> int:
        """The HTTP status."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class _Request:
    """The task's StartExecution request, checked."""

    #: The child's state machine.
    state_machine_arn: str
    #: Its input, JSON text.
    input: str
    #: Its name, if the task gives one.
    name: str | None


def child_name(idempotency_key: str) -> str:
    """The name of the child a task attempt starts when its input gives none: the same on
    every replay of the attempt, new for every attempt."""
    return str(uuid.uuid5(_NAMESPACE, idempotency_key))


class StartExecutionTask:
    """Runs ``states:startExecution`` tasks through the workflows facade (see the module)."""

    def __init__(
        self,
        workflows: NestedExecutions,
        error_code: Callable[[ModelyardError], ErrorCoded],
    ) -> None:
        self._workflows = workflows
        self._error_code = error_code

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """Start the execution ``payload`` asks for; wait for it as ``resource`` says."""
        pattern = _pattern(resource)
        request = _request(payload, task)
        name = request.name if request.name is not None else child_name(task.idempotency_key)
        if pattern is Pattern.REQUEST_RESPONSE:
            arn, start = await self._start(request, name, task)
            return _started(arn, start, task.idempotency_key)
        machine = await self._call(
            self._workflows.describe_state_machine(request.state_machine_arn), task
        )
        if machine.type is StateMachineType.EXPRESS:
            ended = await self._call(
                self._workflows.start_sync_execution(
                    request.state_machine_arn, name=name, input=request.input
                ),
                task,
            )
            answer = _express_description(ended, self._workflows.arns)
        else:
            arn, _ = await self._start(request, name, task)
            answer = _description(await self._ended(arn, task), self._workflows.arns)
        if pattern is Pattern.SYNC_JSON:
            for field in ("Input", "Output"):
                if field in answer:
                    answer[field] = orjson.loads(answer[field])
        if answer["Status"] != ExecutionStatus.SUCCEEDED.value:
            raise StatesError(TASK_FAILED, orjson.dumps(answer).decode())
        return answer

    async def _start(self, request: _Request, name: str, task: TaskContext) -> tuple[str, datetime]:
        """Start the child, or find the one this attempt started before (see the module)."""
        try:
            return await self._workflows.start_execution(
                request.state_machine_arn, name=name, input=request.input
            )
        except ExecutionAlreadyExists as refused:
            attached = await self._attachable(request, name, task)
            if attached is None:
                raise self._refusal(refused, task) from refused
            return attached
        except ModelyardError as exc:
            raise self._refusal(exc, task) from exc

    async def _attachable(
        self, request: _Request, name: str, task: TaskContext
    ) -> tuple[str, datetime] | None:
        """The ARN and start date of the ended child named ``name``, if it is this task's."""
        arns = self._workflows.arns
        machine = arns.parse(request.state_machine_arn, STATE_MACHINE)
        if machine is None:
            return None
        arn = arns.execution(f"{machine}:{name}")
        try:
            found = (await self._workflows.describe_execution(arn)).execution
        except DatabaseError as exc:
            raise self._refusal(exc, task) from exc
        except ModelyardError:
            return None
        if found.input != request.input:
            return None
        if request.name is not None:
            entered = _entered(task)
            if entered is None or found.start_date < entered:
                return None
        return arn, found.start_date

    async def _ended(self, arn: str, task: TaskContext) -> ExecutionDescription:
        """DescribeExecution of ``arn`` once it is no longer RUNNING."""
        key = self._workflows.arns.parse(arn, EXECUTION)
        delay = _FIRST_POLL_S
        try:
            while True:
                # While the child runs in this process the database has nothing new to
                # say: the runner records its end before it lets it go.
                if key not in self._workflows.runner.running:
                    try:
                        described = await self._workflows.describe_execution(arn)
                    except DatabaseError as exc:  # a blip: look again later
                        logger.warning("describing child execution %s failed: %s", arn, exc)
                    except ModelyardError as exc:
                        raise self._refusal(exc, task) from exc
                    else:
                        if described.execution.status is not ExecutionStatus.RUNNING:
                            return described
                await asyncio.sleep(delay)
                delay = min(delay * _POLL_GROWTH, _MAX_POLL_S)
        except asyncio.CancelledError:
            # Finished before the cancellation goes on: whoever cancelled (StopExecution,
            # the runner stopping) waits for this task, and nothing is left behind.
            await self._stop_if_abandoned(arn, task.execution_arn)
            raise

    async def _stop_if_abandoned(self, child: str, parent: str) -> None:
        """Stop ``child`` when its parent has ended (stopped, failed, timed out)."""
        try:
            described = await self._workflows.describe_execution(parent)
            if described.execution.status is ExecutionStatus.RUNNING:
                return  # a task timeout, or the runner stopping: the parent goes on
            await self._workflows.stop_execution(
                child,
                cause=(
                    f"The Task state in AWS Step Functions execution [{parent}] which was "
                    "managing this resource was aborted"
                ),
            )
        except ExecutionDoesNotExist:
            return  # a parent that is not kept (a distributed Map's child)
        except ModelyardError as exc:
            logger.warning("stopping child execution %s failed: %s", child, exc)

    async def _call(self, work: Awaitable[T], task: TaskContext) -> T:
        """``work``'s result; a refusal of the workflows area fails the task."""
        try:
            return await work
        except ModelyardError as exc:
            raise self._refusal(exc, task) from exc

    def _refusal(self, exc: ModelyardError, task: TaskContext) -> StatesError:
        """``exc`` as the optimized integration names a refused call."""
        coded = self._error_code(exc)
        return StatesError(
            f"StepFunctions.{coded.code}Exception",
            f"{exc.message} (Service: AWSStepFunctions; Status Code: {coded.status}; "
            f"Error Code: {coded.code}; Request ID: {_request_id(task.idempotency_key)}; "
            "Proxy: null)",
        )


def _pattern(resource: str) -> Pattern:
    suffix = resource.partition("states:startExecution")[2]
    try:
        return Pattern(suffix)
    except ValueError:
        raise StatesError(
            RUNTIME, f"The resource '{resource}' is not supported: no task handler serves it."
        ) from None


def _request(payload: Any, task: TaskContext) -> _Request:
    """The StartExecution request ``payload`` makes; ``States.Runtime`` if it makes none."""

    def invalid(problem: str) -> StatesError:
        return StatesError(
            RUNTIME,
            f"An error occurred while executing the state '{task.state_name}'. The Parameters "
            f"'{orjson.dumps(payload).decode()}' could not be used to start the Task: "
            f"[{problem}]",
        )

    if not isinstance(payload, dict):
        raise invalid("The Parameters must be a JSON object")
    for field in payload:
        if field not in _FIELDS:
            raise invalid(f"The field '{field}' is not supported by Step Functions")
    machine = payload.get("StateMachineArn")
    if machine is None:
        raise invalid("The field 'StateMachineArn' is required but was missing")
    name = payload.get("Name")
    for field, value in (("StateMachineArn", machine), ("Name", name)):
        if value is not None and not isinstance(value, str):
            raise invalid(f"The value for the field '{field}' must be a STRING")
    given = payload.get("Input")
    # JSON text is passed as it is (States.JsonToString's result, say); any other value
    # is serialised, as the integration does. No input is "{}", as StartExecution's.
    text = (
        "{}" if given is None else given if isinstance(given, str) else orjson.dumps(given).decode()
    )
    return _Request(state_machine_arn=machine, input=text, name=name)


def _entered(task: TaskContext) -> datetime | None:
    state = task.context.get("State")
    entered = state.get("EnteredTime") if isinstance(state, dict) else None
    if not isinstance(entered, str):
        return None
    try:
        return datetime.fromisoformat(entered)
    except ValueError:
        return None


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _request_id(idempotency_key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{idempotency_key}#request"))


def _started(arn: str, start: datetime, idempotency_key: str) -> dict[str, Any]:
    """StartExecution's response as the Request Response pattern gives it."""
    request_id = _request_id(idempotency_key)
    body = orjson.dumps({"executionArn": arn, "startDate": round(start.timestamp(), 3)})
    headers = {
        "Content-Length": str(len(body)),
        "Content-Type": "application/x-amz-json-1.0",
        "Date": start.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "connection": "keep-alive",
        "x-amzn-RequestId": request_id,
    }
    return {
        "ExecutionArn": arn,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {name: [value] for name, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StartDate": _millis(start),
    }


def _description(described: ExecutionDescription, arns: StatesArns) -> dict[str, Any]:
    """DescribeExecution's response in PascalCase, its members sorted, as ``.sync`` gives it."""
    execution = described.execution
    answer: dict[str, Any] = {
        "ExecutionArn": arns.execution(execution.key),
        "Input": execution.input,
        "InputDetails": {"Included": True},
        "Name": execution.name,
        "RedriveCount": execution.redrive_count,
        "RedriveStatus": described.redrive_status,
        "StartDate": _millis(execution.start_date),
        "StateMachineArn": arns.state_machine(execution.state_machine),
        "Status": execution.status.value,
    }
    optional: dict[str, Any] = {
        "Output": execution.output,
        "OutputDetails": None if execution.output is None else {"Included": True},
        "RedriveStatusReason": described.redrive_status_reason,
        "StopDate": None if execution.stop_date is None else _millis(execution.stop_date),
        "RedriveDate": None if execution.redrive_date is None else _millis(execution.redrive_date),
        "Error": execution.error,
        "Cause": execution.cause,
        "TraceHeader": execution.trace_header,
    }
    answer |= {field: value for field, value in optional.items() if value is not None}
    return dict(sorted(answer.items()))


def _express_description(ended: SyncExecution, arns: StatesArns) -> dict[str, Any]:
    """What ``.sync`` gives for an EXPRESS child (run by StartSyncExecution)."""
    outcome = ended.outcome
    answer: dict[str, Any] = {
        "ExecutionArn": ended.arn,
        "Input": ended.input,
        "InputDetails": {"Included": True},
        "Name": ended.name,
        "StartDate": _millis(ended.start_date),
        "StateMachineArn": arns.state_machine(ended.state_machine),
        "Status": outcome.status.value,
        "StopDate": _millis(ended.stop_date),
    }
    if outcome.status.value == ExecutionStatus.SUCCEEDED.value:
        answer["Output"] = orjson.dumps(outcome.output).decode()
        answer["OutputDetails"] = {"Included": True}
    if outcome.error is not None:
        answer["Error"] = outcome.error
    if outcome.cause is not None:
        answer["Cause"] = outcome.cause
    return dict(sorted(answer.items()))
