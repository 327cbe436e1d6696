"""The states that do their work in the interpreter itself: Pass, Choice, Wait and Fail.

Each function is one attempt of its state: the :class:`Dataflow` of the state in, the
output, the next state and the variables it assigns out (Fail raises its error).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from modelyard.workflows.choice import Rule
from modelyard.workflows.dataflow import Dataflow
from modelyard.workflows.errors import (
    NO_CHOICE_MATCHED,
    QUERY_EVALUATION_ERROR,
    RUNTIME,
    PathMissing,
    StatesError,
)
from modelyard.workflows.timestamps import parse_timestamp

if TYPE_CHECKING:
    from modelyard.workflows.engine import Engine, Frame

__all__ = ["failure", "run_choice", "run_pass", "run_wait"]


def run_pass(flow: Dataflow) -> tuple[Any, str | None, dict[str, Any]]:
    state = flow.state
    if flow.jsonata:
        output = flow.output(flow.raw, has_result=False)
        return output, state.next, flow.assignments(state.get("Assign"), None)
    effective = flow.effective_input()
    result = state.get("Result") if state.has("Result") else flow.task_input(effective)
    assigned = flow.assignments(state.get("Assign"), result)
    return flow.output(result), state.next, assigned


def run_choice(flow: Dataflow) -> tuple[Any, str | None, dict[str, Any]]:
    state = flow.state
    effective = flow.raw if flow.jsonata else flow.effective_input()
    for branch in state.choices:
        if _holds(flow, branch.rule, branch.condition, effective):
            assigned = flow.assignments(branch.assign, effective)
            if flow.jsonata and branch.output is not None:
                output = flow.evaluate(branch.output)
            else:
                output = flow.output(effective, has_result=False)
            return output, branch.next, assigned
    default = state.get("Default")
    if default is None:
        raise StatesError(
            NO_CHOICE_MATCHED,
            f"No Choice Rules of state '{state.name}' matched its input, and it has no Default.",
        )
    assigned = flow.assignments(state.get("Assign"), effective)
    return flow.output(effective, has_result=False), default, assigned


def _holds(flow: Dataflow, rule: Rule | None, condition: Any, effective: Any) -> bool:
    if rule is not None:
        scope = flow.scope(effective)
        try:
            return rule.evaluate(scope.resolve)
        except PathMissing as missing:
            raise StatesError(
                RUNTIME,
                f"Invalid path '{missing.path}': The choice state '{flow.state.name}' "
                "could not find it in its input.",
            ) from None
    value = flow.evaluate(condition)
    if not isinstance(value, bool):
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"The Condition of a Choice Rule of state '{flow.state.name}' evaluated to "
            f"{orjson.dumps(value).decode()}, not a boolean.",
        )
    return value


async def run_wait(
    interpreter: Engine, flow: Dataflow, frame: Frame
) -> tuple[Any, str | None, dict[str, Any]]:
    state = flow.state
    effective = flow.raw if flow.jsonata else flow.effective_input()
    seconds = _wait_seconds(flow, effective)
    if seconds > 0:
        await interpreter.sleep(frame, seconds)
    assigned = flow.assignments(state.get("Assign"), effective)
    return flow.output(effective, has_result=False), state.next, assigned


def _wait_seconds(flow: Dataflow, effective: Any) -> float:
    state = flow.state
    scope = flow.scope(effective)
    if state.has("Seconds"):
        seconds = flow.evaluate(state.get("Seconds")) if flow.jsonata else state.get("Seconds")
        return float(_non_negative_int(seconds, state.name, "Seconds"))
    if state.has("SecondsPath"):
        seconds = _resolved(scope, state.get("SecondsPath"), state.name, "SecondsPath")
        return float(_non_negative_int(seconds, state.name, "SecondsPath"))
    field = "Timestamp" if state.has("Timestamp") else "TimestampPath"
    if field == "Timestamp":
        stamp = flow.evaluate(state.get("Timestamp")) if flow.jsonata else state.get("Timestamp")
    else:
        stamp = _resolved(scope, state.get("TimestampPath"), state.name, field)
    return _epoch(stamp, state.name, field) - flow.entered


def failure(flow: Dataflow) -> StatesError:
    state = flow.state
    if flow.jsonata:
        error = flow.evaluate(state.get("Error"))
        cause = flow.evaluate(state.get("Cause"))
    else:
        scope = flow.scope(flow.raw)
        error = state.get("Error")
        cause = state.get("Cause")
        if state.has("ErrorPath"):
            error = _dynamic_string(scope, state.get("ErrorPath"), flow, "ErrorPath")
        if state.has("CausePath"):
            cause = _dynamic_string(scope, state.get("CausePath"), flow, "CausePath")
    for value, field in ((error, "Error"), (cause, "Cause")):
        if value is not None and not isinstance(value, str):
            raise StatesError(RUNTIME, f"The {field} of Fail state '{state.name}' is not a string.")
    return StatesError(error or "", cause)


def _resolved(scope: Any, path: str, state: str, field: str) -> Any:
    try:
        return scope.resolve(path)
    except PathMissing:
        raise StatesError(
            RUNTIME, f"Invalid path '{path}' for the field {field} of state '{state}'."
        ) from None


def _dynamic_string(scope: Any, path: str, flow: Dataflow, field: str) -> Any:
    from modelyard.workflows import intrinsics

    if intrinsics.is_intrinsic(path):
        return intrinsics.evaluate(path, scope.resolve, rng=flow.rng)
    return _resolved(scope, path, flow.state.name, field)


def _non_negative_int(value: Any, state: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise StatesError(
            RUNTIME,
            f"The {field} of Wait state '{state}' must be a non-negative integer, "
            f"not {orjson.dumps(value).decode()}.",
        )
    if isinstance(value, float) and not value.is_integer():
        raise StatesError(RUNTIME, f"The {field} of Wait state '{state}' must be an integer.")
    return int(value)


def _epoch(stamp: Any, state: str, field: str) -> float:
    if isinstance(stamp, str) and (instant := parse_timestamp(stamp)) is not None:
        return instant.epoch
    raise StatesError(
        RUNTIME,
        f"The {field} of Wait state '{state}' is not an ISO-8601 timestamp: "
        f"{orjson.dumps(stamp).decode()}.",
    )
