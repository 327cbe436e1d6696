"""The AWS JSON protocol (1.0 and 1.1): ``POST /`` with ``X-Amz-Target``, for every service.

boto3 calls an AWS JSON operation as::

    POST /
    X-Amz-Target: SageMaker.CreateEndpoint
    Content-Type: application/x-amz-json-1.1
    Authorization: AWS4-HMAC-SHA256 Credential=...    (checked when a verifier is given)

    {"EndpointName": "churn", "EndpointConfigName": "churn-v1"}

Each area offers an :class:`AwsJsonService`: its target prefix (``SageMaker``), its
operations (name → handler of the JSON body) and its :class:`ErrorTable`. One route
serves them all, so stepfunctions or cognito-idp are one more service in the list. Areas
that share one prefix (SageMaker's endpoints and training) are joined by :func:`merged`,
each operation keeping its own area's error table.
Errors are answered in the shape botocore parses: ``{"__type": code, "message": ...}``
and the ``x-amzn-errortype`` header; an unknown target is ``UnknownOperationException``
and a body that is not a JSON object ``SerializationException``, never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.aws.errors import (
    INTERNAL_FAILURE,
    ErrorCode,
    ErrorTable,
    MalformedRequest,
    UnknownOperation,
)
from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.errors import ModelyardError
from modelyard.ids import uuid4_string

__all__ = [
    "MAX_REQUEST_BYTES",
    "AwsJsonService",
    "Handler",
    "error_response",
    "merged",
    "routes",
    "split_target",
    "verify_request",
]

logger = logging.getLogger(__name__)

#: Largest control-plane request body read (AWS APIs take a few hundred KiB at most).
MAX_REQUEST_BYTES = 2 * 2**20

#: An operation: the request's JSON object in, the response's JSON object out.
Handler = Callable[[dict[str, Any]], Awaitable[Mapping[str, Any]]]

#: Table used when the target names no service: only the protocol's own codes.
_NO_SERVICE = ErrorTable({})


@dataclass(frozen=True, kw_only=True)
class AwsJsonService:
    """One AWS JSON service: what ``X-Amz-Target`` prefix it answers, and how."""

    #: The service model's ``targetPrefix``, e.g. ``SageMaker`` or ``AWSStepFunctions``.
    target_prefix: str
    #: Operation name → handler.
    operations: Mapping[str, Handler]
    #: Domain errors → AWS codes, for this service.
    errors: ErrorTable
    #: ``1.0`` or ``1.1``, the service model's ``jsonVersion`` (the response's content type).
    json_version: str = "1.1"
    #: Operations called without a signature (``authtype: none``: Cognito's sign-in).
    unsigned: frozenset[str] = frozenset()
    #: Operation name → its own error table, for operations another area serves under
    #: the same prefix (see :func:`merged`); the others use :attr:`errors`.
    operation_errors: Mapping[str, ErrorTable] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        """Content type of its answers."""
        return f"application/x-amz-json-{self.json_version}"

    def errors_for(self, operation: str | None) -> ErrorTable:
        """The error table of ``operation`` (:attr:`errors` for one it does not serve)."""
        if operation is None:
            return self.errors
        return self.operation_errors.get(operation, self.errors)

    def error_tables(self) -> list[ErrorTable]:
        """Every error table its operations answer with, each once (for the API's document)."""
        return list(dict.fromkeys([self.errors, *self.operation_errors.values()]))


def merged(*services: AwsJsonService) -> AwsJsonService:
    """One service answering every operation of ``services``, which share a target prefix.

    SageMaker's control plane is served by two areas (endpoints, training) under the one
    prefix ``SageMaker``; each operation's domain errors are still mapped by the table of
    the service it came from. Raises ValueError for services of different prefixes or
    JSON versions, or two that serve one operation.
    """
    if not services:
        raise ValueError("merged() needs at least one service")
    first = services[0]
    operations: dict[str, Handler] = {}
    tables: dict[str, ErrorTable] = {}
    for service in services:
        if (service.target_prefix, service.json_version) != (
            first.target_prefix,
            first.json_version,
        ):
            raise ValueError(
                f"cannot merge {service.target_prefix} (JSON {service.json_version}) into "
                f"{first.target_prefix} (JSON {first.json_version})"
            )
        for name, handler in service.operations.items():
            if name in operations:
                raise ValueError(f"{first.target_prefix}.{name} is served by two services")
            operations[name] = handler
            tables[name] = service.errors_for(name)
    return AwsJsonService(
        target_prefix=first.target_prefix,
        operations=operations,
        errors=first.errors,
        json_version=first.json_version,
        unsigned=frozenset[str]().union(*(service.unsigned for service in services)),
        operation_errors=tables,
    )


def split_target(target: str) -> tuple[str, str]:
    """``SageMaker.CreateModel`` → (``SageMaker``, ``CreateModel``); UnknownOperation if not so."""
    prefix, dot, operation = target.strip().rpartition(".")
    if not dot or not prefix or not operation:
        raise UnknownOperation(f"X-Amz-Target {target!r} does not name an operation")
    return prefix, operation


def routes(
    services: Sequence[AwsJsonService], verifier: SigV4Verifier | None = None
) -> list[Route]:
    """``POST /`` serving every service of ``services`` by its target prefix.

    With a ``verifier``, every request must carry a valid Signature Version 4.
    """
    by_prefix = {service.target_prefix: service for service in services}

    async def dispatch(request: Request) -> Response:
        request_id = uuid4_string()
        service: AwsJsonService | None = None
        served: str | None = None  # the operation, once it is one the service serves
        try:
            prefix, operation = split_target(request.headers.get("x-amz-target", ""))
            service = by_prefix.get(prefix)
            handler = service.operations.get(operation) if service is not None else None
            if service is None or handler is None:
                raise UnknownOperation(f"operation {operation!r} of {prefix!r} is not supported")
            served = operation
            raw = await _read(request)
            if verifier is not None and operation not in service.unsigned:
                verify_request(verifier, request, raw)
            answer = await handler(_json_object(raw))
            return Response(
                orjson.dumps(answer),
                media_type=service.content_type,
                headers={"x-amzn-RequestId": request_id},
            )
        except ClientDisconnect:
            raise
        except ModelyardError as exc:
            table = service.errors_for(served) if service is not None else _NO_SERVICE
            code = table.code_for(exc)
            if code.status >= 500:
                logger.warning("%s: %s", request.headers.get("x-amz-target"), exc.message)
            return error_response(code, exc.message, request_id, service)
        except Exception:  # a bug of ours: the client still gets an AWS-shaped answer
            logger.exception("AWS JSON operation %s failed", request.headers.get("x-amz-target"))
            return error_response(
                INTERNAL_FAILURE, "An internal error occurred.", request_id, service
            )

    return [Route("/", dispatch, methods=["POST"])]


def verify_request(verifier: SigV4Verifier, request: Request, body: bytes) -> None:
    """Check ``request``'s Signature Version 4 (raises the domain error if it fails)."""
    verifier.verify(
        method=request.method,
        host=request.headers.get("host", ""),
        raw_path=request.scope.get("raw_path", b"/").decode("latin-1"),
        query_string=request.scope.get("query_string", b"").decode("latin-1"),
        headers=request.headers,
        body=body,
    )


def error_response(
    code: ErrorCode, message: str, request_id: str, service: AwsJsonService | None = None
) -> Response:
    """An error as botocore's JSON parser reads it (``BaseJSONParser._do_error_parse``).

    The body has the code in ``__type`` and the message under both spellings: botocore's
    generic parse reads ``message`` (or ``Message``), a modeled error's ``Message`` member
    is read from ``Message``.
    """
    body = {"__type": code.code, "message": message, "Message": message}
    return Response(
        orjson.dumps(body),
        status_code=code.status,
        media_type=service.content_type if service is not None else "application/x-amz-json-1.1",
        headers={"x-amzn-errortype": code.code, "x-amzn-RequestId": request_id},
    )


async def _read(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise MalformedRequest(f"request body exceeds {MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}  # an operation without input members may send no body at all
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedRequest("request body must be a JSON object")
    return value
