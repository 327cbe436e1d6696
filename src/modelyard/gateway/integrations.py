"""The backends a method's integration reaches, each through its area's facade.

``AWS`` integrations name an AWS service in an ``arn:aws:apigateway:{region}:{service}:...``
URI; those modelyard serves are:

- ``runtime.sagemaker:path//endpoints/{name}/invocations`` (also ``path/endpoints/...``):
  InvokeEndpoint through the endpoints facade, the seed's direct integration;
- ``states:action/StartExecution`` (and ``StartSyncExecution``, or ``path//`` forms):
  the Step Functions operation, given the request's JSON, through the workflows facade;
- ``lambda:path/2015-03-31/functions/{function}/invocations``: a function, through the
  functions facade (``AWS`` and ``AWS_PROXY``).

``HTTP`` and ``HTTP_PROXY`` integrations call a URL with httpx, when it matches one of the
allowed patterns in full (``GatewaySettings.allowed_integration_urls``; any URL when there
are none); ``MOCK`` calls nothing.
An answer carries the backend's status, headers and body, or, for a failed AWS call, the
error message integration responses select on (``selectionPattern``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx
import orjson

from modelyard.endpoints import InvocationRequest
from modelyard.endpoints.runtime import InvocationResult
from modelyard.errors import ModelyardError
from modelyard.gateway.errors import BadRequest

__all__ = [
    "AwsTarget",
    "Backends",
    "IntegrationAnswer",
    "IntegrationCall",
    "IntegrationFailed",
    "IntegrationUrlNotAllowed",
    "parse_aws_uri",
]

# The runtime's logger: the steps it is split into log as the runtime, as they always have.
logger = logging.getLogger("modelyard.gateway.runtime")

_AWS_URI: Final = re.compile(
    r"^arn:aws[\w-]*:apigateway:(?P<region>[\w-]+):(?P<service>[\w.-]+):"
    r"(?P<kind>path|action)/(?P<rest>.*)$"
)
_SAGEMAKER: Final = re.compile(r"^/*endpoints/(?P<name>[^/]+)/invocations$")
_LAMBDA: Final = re.compile(r"^/*2015-03-31/functions/(?P<function>.+?)/invocations$")


class IntegrationFailed(ModelyardError):
    """The backend could not be reached, or timed out (API Gateway's 5xx answers)."""

    #: The gateway response it becomes: INTEGRATION_FAILURE or INTEGRATION_TIMEOUT.
    response_type = "INTEGRATION_FAILURE"

    @property
    def public_message(self) -> str:
        """What the caller is told (the backend's details stay in the log)."""
        return "Internal server error"


class IntegrationTimeout(IntegrationFailed):
    """Endpoint request timed out."""

    response_type = "INTEGRATION_TIMEOUT"

    @property
    def public_message(self) -> str:
        """API Gateway's words for it."""
        return "Endpoint request timed out"


class IntegrationUrlNotAllowed(IntegrationFailed):
    """The integration's URL is outside the gateway's allowed integration URLs."""

    #: A configuration error of the API: API Gateway's 500 (502 for a proxy integration).
    response_type = "API_CONFIGURATION_ERROR"


@dataclass(frozen=True, kw_only=True)
class AwsTarget:
    """What an ``arn:aws:apigateway:...`` URI names."""

    #: ``sagemaker``, ``states`` or ``lambda``.
    service: str
    #: The endpoint, the Step Functions action, or the function.
    name: str


@dataclass(frozen=True, kw_only=True)
class IntegrationCall:
    """One call of a backend, after the request mapping."""

    #: HTTP method and URL (HTTP integrations) or URI (AWS).
    method: str
    uri: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = "application/json"
    timeout_s: float = 29.0


@dataclass(frozen=True, kw_only=True)
class IntegrationAnswer:
    """What the backend answered."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The error message of a failed AWS call or function (what ``selectionPattern`` of an
    #: AWS/Lambda integration response matches); None when it succeeded.
    error_message: str | None = None


class EndpointInvoker(Protocol):
    """What the gateway needs of the endpoints area."""

    async def invoke(self, request: InvocationRequest) -> InvocationResult: ...


#: A Step Functions operation of the workflows area's AWS JSON service: request JSON in,
#: answer JSON out (raises the area's domain errors).
StepFunctionsOperation = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]]


class FunctionCaller(Protocol):
    """What the gateway needs of the functions area."""

    async def invoke_payload(
        self, name: str, payload: bytes, *, request_id: str | None = None
    ) -> bytes: ...


def parse_aws_uri(uri: str) -> AwsTarget:
    """The service and target an AWS integration URI names; BadRequest if none we serve."""
    match = _AWS_URI.match(uri)
    if match is None:
        raise BadRequest(f"Invalid AWS integration URI: {uri}")
    service, kind, rest = match["service"], match["kind"], match["rest"]
    if service == "runtime.sagemaker" and kind == "path":
        endpoint = _SAGEMAKER.match(rest)
        if endpoint is not None:
            return AwsTarget(service="sagemaker", name=endpoint["name"])
    if service == "states":
        action = rest.strip("/").split("/")[-1] if kind == "path" else rest.split("&")[0]
        return AwsTarget(service="states", name=action.removeprefix("Action="))
    if service == "lambda" and kind == "path":
        function = _LAMBDA.match(rest)
        if function is not None:
            return AwsTarget(service="lambda", name=function["function"])
    raise BadRequest(f"AWS integration service {service!r} ({kind}) is not supported: {uri}")


class Backends:
    """Calls integrations' backends (see the module).

    ``allowed_urls``: regular expressions an HTTP integration's URL must match in full to
    be called; None for any URL. ValueError for one that does not compile.
    """

    def __init__(
        self,
        *,
        endpoints: EndpointInvoker,
        step_functions: Mapping[str, StepFunctionsOperation],
        functions: FunctionCaller,
        error_code_of: Callable[[ModelyardError], str],
        http: httpx.AsyncClient | None = None,
        allowed_urls: Sequence[str] | None = None,
    ) -> None:
        try:
            self._allowed = (
                None if allowed_urls is None else tuple(re.compile(p) for p in allowed_urls)
            )
        except re.error as exc:
            raise ValueError(f"invalid pattern in allowed_integration_urls: {exc}") from exc
        self._endpoints = endpoints
        self._step_functions = step_functions
        self._functions = functions
        self._error_code_of = error_code_of
        self._http = http

    async def close(self) -> None:
        """Close the HTTP client, if one was opened."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def aws(self, call: IntegrationCall, request_id: str) -> IntegrationAnswer:
        """An AWS integration: the target the URI names, called with the mapped body."""
        target = parse_aws_uri(call.uri)
        try:
            if target.service == "sagemaker":
                result = await self._endpoints.invoke(
                    InvocationRequest(
                        endpoint_name=target.name,
                        body=call.body,
                        content_type=call.content_type,
                        accept=call.headers.get("Accept"),
                        custom_attributes=call.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
                        target_model=call.headers.get("X-Amzn-SageMaker-Target-Model"),
                        target_variant=call.headers.get("X-Amzn-SageMaker-Target-Variant"),
                    )
                )
                return IntegrationAnswer(
                    status=200,
                    headers={
                        "Content-Type": result.answer.content_type,
                        "x-Amzn-Invoked-Production-Variant": result.variant_name,
                    },
                    body=result.answer.body,
                )
            if target.service == "states":
                operation = self._step_functions.get(target.name)
                if operation is None:
                    raise BadRequest(f"Step Functions action {target.name!r} is not supported")
                answer = await operation(_json_object(call.body))
                return IntegrationAnswer(
                    status=200,
                    headers={"Content-Type": "application/x-amz-json-1.0"},
                    body=orjson.dumps(answer),
                )
            body = await self._functions.invoke_payload(
                target.name, call.body, request_id=request_id
            )
            return IntegrationAnswer(
                status=200, headers={"Content-Type": "application/json"}, body=body
            )
        except BadRequest:
            raise
        except ModelyardError as exc:
            # The integration response's selectionPattern sees the error's message, as
            # API Gateway shows it the AWS service's (a function's errorMessage).
            return IntegrationAnswer(
                status=400,
                headers={
                    "Content-Type": "application/json",
                    "x-amzn-ErrorType": self._error_code_of(exc),
                },
                body=orjson.dumps({"message": exc.message}),
                error_message=exc.message,
            )

    async def http(self, call: IntegrationCall) -> IntegrationAnswer:
        """An HTTP integration: the URL called as mapped; IntegrationUrlNotAllowed, before
        anything is sent, for a URL outside the allowed ones."""
        if self._allowed is not None and not any(p.fullmatch(call.uri) for p in self._allowed):
            origin = _origin(call.uri)
            logger.warning(
                "HTTP integration to %s refused: not in allowed_integration_urls", origin
            )
            raise IntegrationUrlNotAllowed(f"The integration URL is not allowed: {origin}")
        if self._http is None:
            self._http = httpx.AsyncClient(follow_redirects=False)
        try:
            answer = await self._http.request(
                call.method,
                call.uri,
                params=dict(call.query),
                headers=dict(call.headers),
                content=call.body if call.body else None,
                timeout=call.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise IntegrationTimeout("Endpoint request timed out") from exc
        except httpx.HTTPError as exc:
            raise IntegrationFailed(f"Network error communicating with endpoint: {exc}") from exc
        return IntegrationAnswer(
            status=answer.status_code, headers=dict(answer.headers), body=answer.content
        )


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what a log may say of it (never its user
    information, path or query, which may hold secrets)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "(an invalid URL)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The integration request is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("The integration request must be a JSON object")
    return value
