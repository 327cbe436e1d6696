"""The Step Functions API over AWS JSON 1.0: ``X-Amz-Target: AWSStepFunctions.<Operation>``.

Each operation parses its input shape, calls the :class:`WorkflowService`, renders its
output; nothing else. The operations are listed in :func:`service` in the order of the
API reference's groups (state machines, executions, Map Runs, tags), and :data:`ERRORS`
is the one place where the area's domain errors become Step Functions' error codes.
Timestamps are epoch seconds, to the millisecond, as botocore reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Final

import orjson
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelyard.aws.errors import ErrorCode, ErrorTable, InvalidPaginationToken, InvalidParameter
from modelyard.aws.json_protocol import AwsJsonService
from modelyard.aws.pagination import decode_token, encode_token
from modelyard.aws.shapes import Shape, parse
from modelyard.errors import DatabaseError, InvalidRequest
from modelyard.storage.executions import Execution, ExecutionStatus
from modelyard.storage.state_machines import StateMachine, StateMachineType
from modelyard.storage.tags import Tag
from modelyard.workflows import shapes
from modelyard.workflows.environment import HistoryEvent
from modelyard.workflows.errors import InvalidDefinition
from modelyard.workflows.map_runs import MapRunRecord
from modelyard.workflows.service import WorkflowService
from modelyard.workflows.service_errors import (
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    ExecutionLimitExceeded,
    ExecutionNotRedrivable,
    InvalidArn,
    InvalidExecutionInput,
    InvalidName,
    MissingRequiredParameter,
    ResourceNotFound,
    StateMachineAlreadyExists,
    StateMachineDeleting,
    StateMachineDoesNotExist,
    StateMachineTypeNotSupported,
    TooManyTags,
)

__all__ = ["DEFAULT_MAX_RESULTS", "ERRORS", "service"]

#: Page size of the List operations and GetExecutionHistory when maxResults is 0 or not
#: given (Step Functions' default; 1000 at most).
DEFAULT_MAX_RESULTS: Final = 100


def _code(name: str) -> ErrorCode:
    return ErrorCode(code=name, status=400)


#: The area's domain errors as Step Functions answers them (all 400, named as the API
#: names them); any other invalid request is a ValidationException.
ERRORS = ErrorTable(
    {
        InvalidRequest: _code("ValidationException"),
        InvalidDefinition: _code("InvalidDefinition"),
        InvalidArn: _code("InvalidArn"),
        InvalidName: _code("InvalidName"),
        InvalidExecutionInput: _code("InvalidExecutionInput"),
        MissingRequiredParameter: _code("MissingRequiredParameter"),
        InvalidPaginationToken: _code("InvalidToken"),
        StateMachineDoesNotExist: _code("StateMachineDoesNotExist"),
        StateMachineAlreadyExists: _code("StateMachineAlreadyExists"),
        StateMachineDeleting: _code("StateMachineDeleting"),
        StateMachineTypeNotSupported: _code("StateMachineTypeNotSupported"),
        ExecutionDoesNotExist: _code("ExecutionDoesNotExist"),
        ExecutionAlreadyExists: _code("ExecutionAlreadyExists"),
        ExecutionNotRedrivable: _code("ExecutionNotRedrivable"),
        ExecutionLimitExceeded: _code("ExecutionLimitExceeded"),
        ResourceNotFound: _code("ResourceNotFound"),
        TooManyTags: _code("TooManyTags"),
        DatabaseError: ErrorCode(code="ServiceUnavailable", status=503),
    }
)

_LOGGING_OFF: Final = {"level": "OFF", "includeExecutionData": False}
_TRACING_OFF: Final = {"enabled": False}


def service(workflows: WorkflowService) -> AwsJsonService:
    """The Step Functions operations of the workflows area, bound to ``workflows``."""
    arns = workflows.arns

    def machine_arn(machine: StateMachine) -> str:
        return arns.state_machine(machine.name)

    def execution_item(execution: Execution) -> dict[str, Any]:
        item: dict[str, Any] = {
            "executionArn": arns.execution(execution.key),
            "stateMachineArn": arns.state_machine(execution.state_machine),
            "name": execution.name,
            "status": execution.status.value,
            "startDate": _epoch(execution.start_date),
            "redriveCount": execution.redrive_count,
        }
        if execution.stop_date is not None:
            item["stopDate"] = _epoch(execution.stop_date)
        if execution.redrive_date is not None:
            item["redriveDate"] = _epoch(execution.redrive_date)
        return item

    # -- state machines --

    async def create_state_machine(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateStateMachineInput, body)
        if request.publish or request.version_description is not None:
            raise InvalidParameter("State machine versions are not supported: leave publish out")
        machine = await workflows.create_state_machine(
            name=request.name,
            definition=request.definition,
            role_arn=request.role_arn,
            type=StateMachineType(request.type.value),
            logging_configuration=request.logging_configuration,
            tracing_configuration=request.tracing_configuration,
            encryption_configuration=request.encryption_configuration,
            tags=_tags(request.tags),
        )
        return {"stateMachineArn": machine_arn(machine), "creationDate": _epoch(machine.created_at)}

    async def describe_state_machine(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.StateMachineArnInput, body)
        machine = await workflows.describe_state_machine(request.state_machine_arn)
        answer: dict[str, Any] = {
            "stateMachineArn": machine_arn(machine),
            "name": machine.name,
            "status": machine.status.value,
            "definition": machine.definition,
            "roleArn": machine.role_arn,
            "type": machine.type.value,
            "creationDate": _epoch(machine.created_at),
            "loggingConfiguration": machine.logging_configuration or _LOGGING_OFF,
            "tracingConfiguration": machine.tracing_configuration or _TRACING_OFF,
            "revisionId": machine.revision_id,
        }
        if machine.encryption_configuration is not None:
            answer["encryptionConfiguration"] = machine.encryption_configuration
        return answer

    async def update_state_machine(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.UpdateStateMachineInput, body)
        if request.publish or request.version_description is not None:
            raise InvalidParameter("State machine versions are not supported: leave publish out")
        machine = await workflows.update_state_machine(
            request.state_machine_arn,
            definition=request.definition,
            role_arn=request.role_arn,
            logging_configuration=request.logging_configuration,
            tracing_configuration=request.tracing_configuration,
        )
        return {"updateDate": _epoch(machine.updated_at), "revisionId": machine.revision_id}

    async def list_state_machines(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListStateMachinesInput, body)
        scope = "ListStateMachines"
        after = _position(request.next_token, scope, (str,))
        machines, more = await workflows.list_state_machines(
            after=after[0] if after else None, limit=request.max_results or DEFAULT_MAX_RESULTS
        )
        answer: dict[str, Any] = {
            "stateMachines": [
                {
                    "stateMachineArn": machine_arn(machine),
                    "name": machine.name,
                    "type": machine.type.value,
                    "creationDate": _epoch(machine.created_at),
                }
                for machine in machines
            ]
        }
        if more and machines:
            answer["nextToken"] = encode_token((machines[-1].name,), scope)
        return answer

    async def delete_state_machine(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.StateMachineArnInput, body)
        await workflows.delete_state_machine(request.state_machine_arn)
        return {}

    async def validate_state_machine_definition(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ValidateDefinitionInput, body)
        return workflows.validate_definition(
            request.definition, severity=request.severity.value, max_results=request.max_results
        )

    # -- executions --

    async def start_execution(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.StartExecutionInput, body)
        arn, start = await workflows.start_execution(
            request.state_machine_arn,
            name=request.name,
            input=request.input,
            trace_header=request.trace_header,
        )
        return {"executionArn": arn, "startDate": _epoch(start)}

    async def start_sync_execution(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.StartSyncExecutionInput, body)
        ended = await workflows.start_sync_execution(
            request.state_machine_arn, name=request.name, input=request.input
        )
        outcome = ended.outcome
        answer: dict[str, Any] = {
            "executionArn": ended.arn,
            "stateMachineArn": arns.state_machine(ended.state_machine),
            "name": ended.name,
            "startDate": _epoch(ended.start_date),
            "stopDate": _epoch(ended.stop_date),
            "status": outcome.status.value,
            "billingDetails": {
                "billedMemoryUsedInMB": 64,
                "billedDurationInMilliseconds": max(
                    100, round((ended.stop_date - ended.start_date).total_seconds() * 1000)
                ),
            },
        }
        if request.trace_header is not None:
            answer["traceHeader"] = request.trace_header
        with_data = request.included_data is not shapes.IncludedData.METADATA_ONLY
        if with_data:
            answer |= {"input": ended.input, "inputDetails": {"included": True}}
        if outcome.status.value == "SUCCEEDED":
            if with_data:
                answer |= {
                    "output": _json_text(outcome.output),
                    "outputDetails": {"included": True},
                }
        else:
            answer |= _error_members(outcome.error, outcome.cause)
        return answer

    async def describe_execution(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ExecutionArnInput, body)
        described = await workflows.describe_execution(request.execution_arn)
        execution = described.execution
        answer = execution_item(execution)
        with_data = request.included_data is not shapes.IncludedData.METADATA_ONLY
        if with_data:
            answer |= {"input": execution.input, "inputDetails": {"included": True}}
            if execution.output is not None:
                answer |= {"output": execution.output, "outputDetails": {"included": True}}
        answer |= _error_members(execution.error, execution.cause)
        if execution.trace_header is not None:
            answer["traceHeader"] = execution.trace_header
        answer["redriveStatus"] = described.redrive_status
        if described.redrive_status_reason is not None:
            answer["redriveStatusReason"] = described.redrive_status_reason
        return answer

    async def stop_execution(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.StopExecutionInput, body)
        stopped = await workflows.stop_execution(
            request.execution_arn, error=request.error, cause=request.cause
        )
        return {"stopDate": _epoch(stopped)}

    async def list_executions(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListExecutionsInput, body)
        if request.map_run_arn is not None:
            raise ResourceNotFound(f"Resource not found: '{request.map_run_arn}'")
        if request.state_machine_arn is None:
            raise InvalidParameter(
                "1 validation error detected: Must provide a StateMachine ARN or MapRun ARN"
            )
        status = request.status_filter
        redrive = request.redrive_filter
        scope = f"ListExecutions|{request.state_machine_arn}|{status}|{redrive}"
        after = _position(request.next_token, scope, (datetime, str))
        executions, more = await workflows.list_executions(
            request.state_machine_arn,
            status=None if status is None else ExecutionStatus(status.value),
            redriven=None if redrive is None else redrive is shapes.RedriveFilter.REDRIVEN,
            after=(after[0], after[1]) if after else None,
            limit=request.max_results or DEFAULT_MAX_RESULTS,
        )
        answer: dict[str, Any] = {"executions": [execution_item(e) for e in executions]}
        if more and executions:
            last = executions[-1]
            answer["nextToken"] = encode_token((last.start_date, last.key), scope)
        return answer

    async def get_execution_history(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.GetExecutionHistoryInput, body)
        scope = f"GetExecutionHistory|{request.execution_arn}|{request.reverse_order}"
        after = _position(request.next_token, scope, (int,))
        page = await workflows.get_execution_history(
            request.execution_arn,
            after=after[0] if after else None,
            reverse=request.reverse_order,
            limit=request.max_results or DEFAULT_MAX_RESULTS,
            include_data=request.include_execution_data,
        )
        answer: dict[str, Any] = {"events": [_event(event) for event in page.events]}
        if page.next is not None:
            answer["nextToken"] = encode_token((page.next,), scope)
        return answer

    async def redrive_execution(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.RedriveExecutionInput, body)
        return {"redriveDate": _epoch(await workflows.redrive_execution(request.execution_arn))}

    # -- Map Runs (those this process ran: WorkflowService.map_runs keeps them in memory) --

    async def describe_map_run(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.DescribeMapRunInput, body)
        answer = workflows.describe_map_run(request.map_run_arn).to_json()
        for field in ("startDate", "stopDate"):
            if field in answer:
                answer[field] = round(answer[field], 3)
        return answer

    async def list_map_runs(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListMapRunsInput, body)
        scope = f"ListMapRuns|{request.execution_arn}"
        after = _position(request.next_token, scope, (float, str))
        runs, more = await workflows.list_map_runs(
            request.execution_arn,
            after=(after[0], after[1]) if after else None,
            limit=request.max_results or DEFAULT_MAX_RESULTS,
        )
        answer: dict[str, Any] = {"mapRuns": [_map_run_item(run) for run in runs]}
        if more and runs:
            answer["nextToken"] = encode_token((runs[-1].start_date, runs[-1].map_run_arn), scope)
        return answer

    async def update_map_run(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(_UpdateMapRunInput, body)
        run = workflows.describe_map_run(request.map_run_arn)
        # A Map Run keeps the settings its Map state started it with (the distributed
        # Map reads them once per attempt): an update may only restate them.
        asked = {
            "maxConcurrency": (request.max_concurrency, run.max_concurrency),
            "toleratedFailureCount": (request.tolerated_failure_count, run.tolerated_failure_count),
            "toleratedFailurePercentage": (
                request.tolerated_failure_percentage,
                run.tolerated_failure_percentage,
            ),
        }
        changed = [name for name, (new, old) in asked.items() if new is not None and new != old]
        if changed:
            raise InvalidParameter(
                f"The {', '.join(changed)} of Map Run '{request.map_run_arn}' cannot be "
                "changed: a Map Run keeps the settings its Map state started it with"
            )
        return {}

    # -- tags --

    async def tag_resource(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.TagResourceInput, body)
        await workflows.tag_resource(request.resource_arn, _tags(request.tags))
        return {}

    async def untag_resource(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.UntagResourceInput, body)
        await workflows.untag_resource(request.resource_arn, request.tag_keys)
        return {}

    async def list_tags_for_resource(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ResourceArnInput, body)
        found = await workflows.list_tags(request.resource_arn)
        return {"tags": [{"key": tag.key, "value": tag.value} for tag in found]}

    return AwsJsonService(
        target_prefix="AWSStepFunctions",
        operations={
            "CreateStateMachine": create_state_machine,
            "DescribeStateMachine": describe_state_machine,
            "UpdateStateMachine": update_state_machine,
            "ListStateMachines": list_state_machines,
            "DeleteStateMachine": delete_state_machine,
            "ValidateStateMachineDefinition": validate_state_machine_definition,
            "StartExecution": start_execution,
            "StartSyncExecution": start_sync_execution,
            "DescribeExecution": describe_execution,
            "StopExecution": stop_execution,
            "ListExecutions": list_executions,
            "GetExecutionHistory": get_execution_history,
            "RedriveExecution": redrive_execution,
            "DescribeMapRun": describe_map_run,
            "ListMapRuns": list_map_runs,
            "UpdateMapRun": update_map_run,
            "TagResource": tag_resource,
            "UntagResource": untag_resource,
            "ListTagsForResource": list_tags_for_resource,
        },
        errors=ERRORS,
        json_version="1.0",
    )


class _UpdateMapRunInput(Shape):
    """UpdateMapRun (camelCase members, as the other Step Functions shapes)."""

    model_config = ConfigDict(alias_generator=to_camel)

    map_run_arn: Annotated[str, Field(min_length=1, max_length=2000)]
    max_concurrency: Annotated[int, Field(ge=0)] | None = None
    tolerated_failure_percentage: Annotated[float, Field(ge=0, le=100)] | None = None
    tolerated_failure_count: Annotated[int, Field(ge=0)] | None = None


def _map_run_item(run: MapRunRecord) -> dict[str, Any]:
    """A Map Run as ListMapRuns lists it."""
    item: dict[str, Any] = {
        "executionArn": run.execution_arn,
        "mapRunArn": run.map_run_arn,
        "stateMachineArn": run.state_machine_arn,
        "startDate": round(run.start_date, 3),
    }
    if run.stop_date is not None:
        item["stopDate"] = round(run.stop_date, 3)
    return item


def _epoch(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


def _event(event: HistoryEvent) -> dict[str, Any]:
    answer = event.to_json()
    answer["timestamp"] = round(event.timestamp, 3)
    return answer


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _error_members(error: str | None, cause: str | None) -> dict[str, Any]:
    members: dict[str, Any] = {}
    if error is not None:
        members["error"] = error
    if cause is not None:
        members["cause"] = cause
    return members


def _position(token: str | None, scope: str, types: Sequence[type]) -> tuple[Any, ...] | None:
    """Where a page starts, from its ``nextToken`` (InvalidToken if it is not ours)."""
    if token is None:
        return None
    position = decode_token(token, scope)
    if len(position) != len(types) or not all(
        isinstance(value, kind) and not isinstance(value, bool)
        for value, kind in zip(position, types, strict=True)
    ):
        raise InvalidPaginationToken()
    return position


def _tags(tags: Sequence[shapes.TagShape]) -> list[Tag]:
    return [Tag(key=tag.key, value=tag.value) for tag in tags]
