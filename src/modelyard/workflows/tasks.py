"""The Task state: schedule its resource with a timeout, record what happened.

What a resource *does* is the :class:`~modelyard.workflows.environment.TaskRunner`'s
business; here is only what every Task shares: its input and output processing, its
``TimeoutSeconds`` (``States.Timeout``), and the history Step Functions writes for it
(``TaskScheduled`` → ``TaskStarted`` → ``TaskSucceeded``/``TaskFailed``/``TaskTimedOut``,
or the ``LambdaFunction…`` events for a plain function ARN).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from modelyard.workflows.dataflow import Dataflow, check_size
from modelyard.workflows.environment import HistoryEvent, TaskContext
from modelyard.workflows.errors import (
    HEARTBEAT_TIMEOUT,
    RUNTIME,
    TIMEOUT,
    PathMissing,
    StatesError,
)

if TYPE_CHECKING:
    from modelyard.workflows.engine import Engine, Frame

__all__ = ["describe_resource", "run_task"]


def describe_resource(resource: str) -> tuple[str, str, bool]:
    """``(resourceType, resource, is_plain_function)`` of a Task's ``Resource`` ARN.

    ``arn:aws:states:::lambda:invoke`` is ``("lambda", "invoke")``,
    ``arn:aws:states:::aws-sdk:s3:getObject`` is ``("aws-sdk:s3", "getObject")``, and a
    plain ``arn:aws:lambda:…:function:NAME`` is ``("lambda", NAME)``.
    """
    parts = resource.split(":")
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return "lambda", parts[6], True
    service = ":".join(parts[5:])
    kind, _, action = service.rpartition(":")
    return (kind or service), (action if kind else ""), False


async def run_task(
    interpreter: Engine, flow: Dataflow, frame: Frame, attempt: int
) -> tuple[Any, str | None, dict[str, Any]]:
    """One attempt of Task state ``flow.state``."""
    state = flow.state
    resource = state.get("Resource")
    effective = flow.raw if flow.jsonata else flow.effective_input()
    payload = flow.task_input(effective)
    timeout = _seconds(flow, effective, "TimeoutSeconds")
    heartbeat = _seconds(flow, effective, "HeartbeatSeconds")
    resource_type, name, plain = describe_resource(resource)
    payload_text = check_size(payload, f"input of task '{state.name}'")
    if plain:
        scheduled: dict[str, Any] = {"resource": resource, "input": payload_text}
        if timeout is not None:
            scheduled["timeoutInSeconds"] = int(timeout)
        interpreter.event(
            frame, "LambdaFunctionScheduled", "lambdaFunctionScheduledEventDetails", scheduled
        )
        interpreter.event(frame, "LambdaFunctionStarted", None, None)
    else:
        scheduled = {
            "resourceType": resource_type,
            "resource": name,
            "region": interpreter.environment.region,
            "parameters": payload_text,
        }
        if timeout is not None:
            scheduled["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            scheduled["heartbeatInSeconds"] = int(heartbeat)
        interpreter.event(frame, "TaskScheduled", "taskScheduledEventDetails", scheduled)
        interpreter.event(
            frame,
            "TaskStarted",
            "taskStartedEventDetails",
            {"resourceType": resource_type, "resource": name},
        )
    task = TaskContext(
        # The attempt's seed names it (execution, scope, state and visit, attempt); a
        # redrive runs failed attempts again, as new ones.
        idempotency_key=flow.seed
        if not (redrives := interpreter.execution.redrive_count)
        else f"{flow.seed}~redrive{redrives}",
        execution_arn=interpreter.execution.arn,
        state_name=state.name,
        timeout_seconds=timeout,
        context=flow.context,
    )
    try:
        done = interpreter.recorded_next(frame)
        if done is not None:
            # A replay: this attempt finished before the crash; its record is its outcome.
            result = _outcome(done)
        else:
            # The task resources here answer once, sending no heartbeats in between: a
            # HeartbeatSeconds shorter than the timeout is what ends a silent task, as it
            # ends an activity that sends none.
            limit, limit_error, cause = (
                timeout,
                TIMEOUT,
                f"Task '{state.name}' timed out after {timeout} seconds.",
            )
            if heartbeat is not None and (timeout is None or heartbeat < timeout):
                limit, limit_error = heartbeat, HEARTBEAT_TIMEOUT
                cause = f"Task '{state.name}' sent no heartbeat for {heartbeat} seconds."
            remaining = (
                None
                if limit is None
                else frame.last_time + limit - interpreter.environment.clock.now()
            )
            result = await interpreter.with_timeout(
                interpreter.environment.tasks.run(resource, payload, task),
                remaining,
                cause,
                error=limit_error,
            )
        result_text = check_size(result, f"result of task '{state.name}'")
    except StatesError as error:
        timed_out = error.error in (TIMEOUT, HEARTBEAT_TIMEOUT)
        details: dict[str, Any] = {"error": error.error, "cause": error.cause or ""}
        if plain:
            kind = "LambdaFunctionTimedOut" if timed_out else "LambdaFunctionFailed"
            member = (
                "lambdaFunctionTimedOutEventDetails"
                if timed_out
                else "lambdaFunctionFailedEventDetails"
            )
        else:
            kind = "TaskTimedOut" if timed_out else "TaskFailed"
            member = "taskTimedOutEventDetails" if timed_out else "taskFailedEventDetails"
            details = {"resourceType": resource_type, "resource": name, **details}
        interpreter.event(frame, kind, member, details)
        raise
    if plain:
        interpreter.event(
            frame,
            "LambdaFunctionSucceeded",
            "lambdaFunctionSucceededEventDetails",
            {"output": result_text, "outputDetails": {"truncated": False}},
        )
    else:
        interpreter.event(
            frame,
            "TaskSucceeded",
            "taskSucceededEventDetails",
            {
                "resourceType": resource_type,
                "resource": name,
                "output": result_text,
                "outputDetails": {"truncated": False},
            },
        )
    if flow.jsonata:
        assigned = flow.assignments(state.get("Assign"), None, result=result)
        return flow.output(result), state.next, assigned
    selected = flow.selected(result)
    assigned = flow.assignments(state.get("Assign"), selected)
    return flow.output(selected), state.next, assigned


def _outcome(event: HistoryEvent) -> Any:
    """The result a recorded completion event says, or the error it raises again."""
    details = event.details[1] if event.details is not None else {}
    if event.type.endswith("Succeeded"):
        return orjson.loads(details.get("output", "null"))
    raise StatesError(details.get("error", ""), details.get("cause"))


def _seconds(flow: Dataflow, effective: Any, field: str) -> float | None:
    """``TimeoutSeconds``/``HeartbeatSeconds`` (or their ``…Path``/JSONata forms)."""
    state = flow.state
    value: Any = None
    if state.has(field):
        value = flow.evaluate(state.get(field)) if flow.jsonata else state.get(field)
    elif state.has(f"{field}Path"):
        path = state.get(f"{field}Path")
        try:
            value = flow.scope(effective).resolve(path)
        except PathMissing:
            raise StatesError(
                RUNTIME, f"Invalid path '{path}' for {field}Path of state '{state.name}'."
            ) from None
    else:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise StatesError(
            RUNTIME,
            f"The {field} of state '{state.name}' must be a positive integer, not "
            f"{orjson.dumps(value).decode()}.",
        )
    return float(value)
