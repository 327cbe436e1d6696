"""Task states that call functions: ``arn:aws:states:::lambda:invoke`` and plain function ARNs.

``lambda:invoke`` takes ``{"FunctionName", "Payload"}`` and gives Step Functions' result
shape, ``{"ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata",
"StatusCode": 200}``; a plain ``arn:aws:lambda:…:function:NAME`` resource gets the state's
input as its event and gives back the function's result as is.

A function that raises fails the task with an error named after the exception's class
(Lambda's ``errorType``: ``ValueError``, ``Sandbox.Timedout`` …) and a cause holding
Lambda's error document, so ``Retry``/``Catch`` can match it by name. The function's
request id is the task's idempotency key, so a function can recognise a call repeated
after a crash.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelyard.errors import InvalidRequest
from modelyard.functions import (
    FunctionFailed,
    FunctionInvoker,
    FunctionNotFound,
    FunctionsUnavailable,
)
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import StatesError

__all__ = ["INVOKE", "FunctionTask", "is_function_resource"]

#: The optimised Lambda integration's resource.
INVOKE = "arn:aws:states:::lambda:invoke"


def is_function_resource(resource: str) -> bool:
    """Whether ``resource`` is a plain function ARN (``arn:aws:lambda:…:function:…``)."""
    parts = resource.split(":")
    return len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function"


class FunctionTask:
    """Runs function tasks through the functions area."""

    def __init__(self, functions: FunctionInvoker) -> None:
        self._functions = functions

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """Call the function ``resource`` (or ``payload``'s ``FunctionName``) names."""
        if resource.split(".")[0] == INVOKE:
            if not isinstance(payload, dict) or not isinstance(payload.get("FunctionName"), str):
                raise StatesError(
                    "Lambda.InvalidParameterValueException",
                    "lambda:invoke needs an object with a FunctionName string.",
                )
            # No Payload is an empty event, as Lambda gives a function invoked without one.
            result = await self._call(payload["FunctionName"], payload.get("Payload", {}), task)
            return {
                "ExecutedVersion": "$LATEST",
                "Payload": result,
                "SdkHttpMetadata": {
                    "HttpHeaders": {"X-Amz-Executed-Version": "$LATEST"},
                    "HttpStatusCode": 200,
                },
                "SdkResponseMetadata": {"RequestId": task.idempotency_key},
                "StatusCode": 200,
            }
        return await self._call(resource, payload, task)

    async def _call(self, name: str, event: Any, task: TaskContext) -> Any:
        try:
            return await self._functions.invoke(name, event, request_id=task.idempotency_key)
        except FunctionFailed as exc:
            document: dict[str, Any] = {"errorMessage": exc.message, "errorType": exc.error_type}
            if exc.stack_trace is not None:
                document["stackTrace"] = list(exc.stack_trace)
            raise StatesError(exc.error_type, orjson.dumps(document).decode()) from exc
        except FunctionNotFound as exc:
            raise StatesError("Lambda.ResourceNotFoundException", exc.message) from exc
        except FunctionsUnavailable as exc:
            raise StatesError("Lambda.ServiceException", exc.message) from exc
        except InvalidRequest as exc:
            raise StatesError("Lambda.InvalidRequestContentException", exc.message) from exc
