"""``arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint``: a Task that calls an endpoint.

The task's input is InvokeEndpoint's request as the AWS SDK integration takes it
(``EndpointName``, ``Body``, ``ContentType``, ``Accept``, ``CustomAttributes``,
``TargetModel``, ``TargetVariant``, ``InferenceId``), its result the response
(``Body`` as text, ``ContentType``, ``InvokedProductionVariant``, ``CustomAttributes``).
A ``Body`` that is not a string is sent as its JSON text, as Step Functions serialises it.

Failures are named as the SDK integration names them, ``SageMakerRuntime.<Exception>``
(``ModelErrorException``, ``ValidationErrorException``, ``ModelNotReadyException``,
``ServiceUnavailableException``, ...), so ``Retry`` and ``Catch`` match them as they do
on AWS. The runtime's own error table decides which is which (``error_code``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from modelyard.endpoints import InvocationRequest, InvocationResult
from modelyard.errors import ModelyardError
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import StatesError

__all__ = ["RESOURCE", "EndpointInvoker", "InvokeEndpointTask"]

#: The resource ARN this task answers.
RESOURCE = "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint"

_PREFIX = "SageMakerRuntime."


class EndpointInvoker(Protocol):
    """What the task needs of the endpoints area."""

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        """Invoke an endpoint; raises the domain error of whatever failed."""
        ...


class InvokeEndpointTask:
    """Runs ``sagemakerruntime:invokeEndpoint`` tasks through the endpoints facade."""

    def __init__(
        self,
        endpoints: EndpointInvoker,
        error_code: Callable[[ModelyardError], str],
        *,
        default_content_type: str = "application/json",
    ) -> None:
        self._endpoints = endpoints
        self._error_code = error_code
        self._default_content_type = default_content_type

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """Invoke the endpoint ``payload`` names; its response as the task's result."""
        result = await self.call(self._request(payload))
        answer = result.answer
        output: dict[str, Any] = {
            "Body": _text(answer.body),
            "ContentType": answer.content_type,
            "InvokedProductionVariant": result.variant_name,
        }
        if answer.custom_attributes:
            output["CustomAttributes"] = answer.custom_attributes
        return output

    async def call(self, request: InvocationRequest) -> InvocationResult:
        """Invoke; a failure raised as the ``SageMakerRuntime.*`` error the SDK would name."""
        try:
            return await self._endpoints.invoke(request)
        except ModelyardError as exc:
            code = self._error_code(exc)
            name = code if code.endswith("Exception") else f"{code}Exception"
            raise StatesError(f"{_PREFIX}{name}", exc.message) from exc

    def _request(self, payload: Any) -> InvocationRequest:
        if not isinstance(payload, dict):
            raise _invalid("the task's input must be an object of InvokeEndpoint's fields")
        name = payload.get("EndpointName")
        if not isinstance(name, str) or not name:
            raise _invalid("EndpointName is required and must be a string")
        if "Body" not in payload:
            raise _invalid("Body is required")
        body = payload["Body"]
        data = body.encode() if isinstance(body, str) else orjson.dumps(body)
        fields = {
            field: payload.get(field)
            for field in (
                "ContentType",
                "Accept",
                "CustomAttributes",
                "TargetModel",
                "TargetVariant",
                "InferenceId",
            )
        }
        for field, value in fields.items():
            if value is not None and not isinstance(value, str):
                raise _invalid(f"{field} must be a string")
        return InvocationRequest(
            endpoint_name=name,
            body=data,
            content_type=fields["ContentType"] or self._default_content_type,
            accept=fields["Accept"],
            custom_attributes=fields["CustomAttributes"],
            target_model=fields["TargetModel"],
            target_variant=fields["TargetVariant"],
            inference_id=fields["InferenceId"],
        )


def _invalid(message: str) -> StatesError:
    return StatesError(f"{_PREFIX}ValidationErrorException", message)


def _text(body: bytes) -> str:
    """The response body as text; bytes that are not UTF-8 as base64, as the SDK's blob."""
    try:
        return body.decode()
    except UnicodeDecodeError:
        return base64.b64encode(body).decode()
