"""The Lambda REST API, the subset boto3's ``lambda`` client sends to call and see functions.

Routes, in the order of the Lambda API reference::

    DELETE /2015-03-31/functions/{FunctionName}                 DeleteFunction (204)
    GET    /2015-03-31/functions/{FunctionName}                 GetFunction
    POST   /2015-03-31/functions/{FunctionName}/invocations     Invoke
    GET    /2015-03-31/functions/                               ListFunctions (Marker, MaxItems)

``FunctionName`` is a name, an ARN or a partial ARN; the only version is ``$LATEST``.
Invoke answers a function's failure with 200, ``X-Amz-Function-Error: Unhandled`` and
``{"errorMessage", "errorType", "requestId", "stackTrace"}`` as its payload, as Lambda
does; ``X-Amz-Invocation-Type: Event`` answers 202 and runs it in the background,
``DryRun`` 204. Errors of the API itself come as Lambda sends them (``x-amzn-ErrorType``
and ``{"Type", "message"}``); :data:`ERRORS` is the one place where domain errors become
its codes. With a verifier (a management token is set), every route requires a valid
Signature Version 4, as boto3 sends it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import math
import platform
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard import errors
from modelyard.aws.errors import ErrorCode, ErrorTable, InvalidPaginationToken, InvalidParameter
from modelyard.aws.json_protocol import verify_request
from modelyard.aws.pagination import decode_token, encode_token
from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.functions.arns import LATEST
from modelyard.functions.errors import (
    EventTooLarge,
    FunctionFailed,
    FunctionNotFound,
    FunctionsUnavailable,
    InvalidEvent,
    InvalidFunction,
    InvalidFunctionName,
)
from modelyard.functions.service import FunctionService
from modelyard.ids import uuid4_string
from modelyard.storage.functions import FunctionRegistration

__all__ = ["API_PREFIX", "ERRORS", "MAX_ITEMS", "routes"]

logger = logging.getLogger(__name__)

#: Every path of the API starts with its version.
API_PREFIX = "/2015-03-31/functions"

#: Functions per ListFunctions page at most, whatever MaxItems asks (Lambda's 50).
MAX_ITEMS = 50

_VALIDATION = ErrorCode(code="ValidationException", status=400)
_INVALID_PARAMETER = ErrorCode(code="InvalidParameterValueException", status=400)
_SERVICE = ErrorCode(code="ServiceException", status=500)

#: Domain errors → Lambda's error codes (looked up along the class hierarchy).
ERRORS = ErrorTable(
    {
        InvalidFunctionName: _VALIDATION,
        InvalidParameter: _VALIDATION,
        InvalidPaginationToken: _INVALID_PARAMETER,
        InvalidFunction: _INVALID_PARAMETER,
        errors.InvalidRequest: _INVALID_PARAMETER,
        InvalidEvent: ErrorCode(code="InvalidRequestContentException", status=400),
        EventTooLarge: ErrorCode(code="RequestTooLargeException", status=413),
        FunctionNotFound: ErrorCode(code="ResourceNotFoundException", status=404),
        FunctionsUnavailable: _SERVICE,
        errors.DatabaseError: _SERVICE,
    },
    default=_SERVICE,
    json_protocol=False,
)

_INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")

Handler = Callable[[Request, str], Awaitable[Response]]


def routes(functions: FunctionService, verifier: SigV4Verifier | None = None) -> list[Route]:
    """The four operations, bound to ``functions``."""
    limit = functions.settings.max_payload_bytes

    def lambda_errors(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Run ``handler`` with a request id; domain errors rendered as Lambda renders them."""

        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            request_id = uuid4_string()
            try:
                return await handler(request, request_id)
            except ClientDisconnect:
                raise
            except errors.ModelyardError as exc:
                code = ERRORS.code_for(exc)
                if code.status >= 500:
                    logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
                return _error(code, exc.message, request_id)
            except Exception:  # a bug of ours: the caller still gets Lambda's shape
                logger.exception("%s %s failed", request.method, request.url.path)
                return _error(_SERVICE, "An internal error occurred.", request_id)

        return wrapped

    async def authorized(request: Request, body: bytes = b"") -> None:
        if verifier is not None:
            verify_request(verifier, request, body)

    @lambda_errors
    async def delete_function(request: Request, request_id: str) -> Response:
        await authorized(request)
        name = _reference(request, functions)
        if request.query_params.get("Qualifier") == LATEST:
            raise InvalidFunction(
                "$LATEST version cannot be deleted without deleting the function."
            )
        await functions.delete(name)
        return Response(status_code=204, headers={"x-amzn-RequestId": request_id})

    @lambda_errors
    async def get_function(request: Request, request_id: str) -> Response:
        await authorized(request)
        function = await functions.get(_reference(request, functions))
        return _json({"Configuration": _configuration(function, functions)}, request_id)

    @lambda_errors
    async def invoke(request: Request, request_id: str) -> Response:
        body = await _read(request, limit)
        await authorized(request, body)
        name = _reference(request, functions)
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type not in _INVOCATION_TYPES:
            raise InvalidParameter(
                f"1 validation error detected: Value '{invocation_type}' at 'invocationType' "
                "failed to satisfy constraint: Member must satisfy enum value set: "
                "[Event, RequestResponse, DryRun]"
            )
        headers = {"x-amzn-RequestId": request_id}
        if invocation_type == "DryRun":
            await functions.get(name)
            return Response(status_code=204, headers=headers)
        if invocation_type == "Event":
            await functions.submit(name, body, request_id=request_id)
            return Response(status_code=202, headers=headers)
        headers["X-Amz-Executed-Version"] = LATEST
        try:
            result = await functions.invoke_payload(name, body, request_id=request_id)
        except FunctionFailed as exc:
            headers["X-Amz-Function-Error"] = "Unhandled"
            return Response(_function_error(exc, request_id), 200, headers, "application/json")
        return Response(result, 200, headers, "application/json")

    @lambda_errors
    async def list_functions(request: Request, request_id: str) -> Response:
        await authorized(request)
        params = request.query_params
        page_size = min(_max_items(params.get("MaxItems")), MAX_ITEMS)
        marker = params.get("Marker")
        after = None if not marker else str(decode_token(marker, scope="ListFunctions")[0])
        found, next_after = await functions.list(after=after, limit=page_size)
        answer: dict[str, Any] = {"Functions": [_configuration(f, functions) for f in found]}
        if next_after is not None:
            answer["NextMarker"] = encode_token((next_after,), scope="ListFunctions")
        return _json(answer, request_id)

    return [
        Route(f"{API_PREFIX}/{{name}}", delete_function, methods=["DELETE"]),
        Route(f"{API_PREFIX}/{{name}}", get_function, methods=["GET"]),
        Route(f"{API_PREFIX}/{{name}}/invocations", invoke, methods=["POST"]),
        # Older botocore releases ask with the trailing slash, newer ones without.
        Route(f"{API_PREFIX}/", list_functions, methods=["GET"]),
        Route(API_PREFIX, list_functions, methods=["GET"]),
    ]


def _reference(request: Request, functions: FunctionService) -> str:
    """The ``FunctionName`` of the path, with the ``Qualifier`` of the query if any."""
    name: str = request.path_params["name"]
    qualifier = request.query_params.get("Qualifier")
    if qualifier is None or qualifier == LATEST:
        return name
    ref = functions.arns.resolve(name)  # a bad name is reported before the qualifier
    raise functions.arns.not_found(ref.name, qualifier)


def _max_items(raw: str | None) -> int:
    if raw is None:
        return MAX_ITEMS
    value = int(raw) if raw.strip().lstrip("-").isdigit() else None
    if value is None or not 1 <= value <= 10_000:
        raise InvalidParameter(
            f"1 validation error detected: Value '{raw}' at 'maxItems' failed to satisfy "
            "constraint: Member must be an integer from 1 to 10000"
        )
    return value


def _configuration(function: FunctionRegistration, functions: FunctionService) -> dict[str, Any]:
    """A ``FunctionConfiguration`` as Lambda describes a function."""
    configuration: dict[str, Any] = {
        "FunctionName": function.name,
        "FunctionArn": functions.arns.of(function.name),
        "Runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Handler": function.handler,
        "CodeSize": 0,
        "Description": function.description,
        # Lambda's Timeout is whole seconds; modelyard's own routes give the exact value.
        "Timeout": max(1, math.ceil(function.timeout_s)),
        "MemorySize": functions.settings.memory_limit_mb,
        "LastModified": function.updated_at.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{function.updated_at.microsecond // 1000:03d}+0000",
        "CodeSha256": base64.b64encode(hashlib.sha256(function.handler.encode()).digest()).decode(),
        "Version": LATEST,
        "RevisionId": _revision_id(function),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["arm64" if platform.machine() in ("arm64", "aarch64") else "x86_64"],
    }
    if function.environment:
        configuration["Environment"] = {"Variables": dict(function.environment)}
    return configuration


def _revision_id(function: FunctionRegistration) -> str:
    # Changes whenever the registration does, as Lambda's RevisionId.
    digest = hashlib.sha256(
        orjson.dumps(
            [
                function.handler,
                function.timeout_s,
                dict(function.environment),
                function.description,
                function.updated_at.isoformat(),
            ],
            option=orjson.OPT_SORT_KEYS,
        )
    ).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _function_error(exc: FunctionFailed, request_id: str) -> bytes:
    """The payload of a failed invocation, as the Lambda Python runtime makes it."""
    if exc.stack_trace is None:  # reported by the platform (timeout, crash): no trace
        return orjson.dumps({"errorMessage": exc.message, "errorType": exc.error_type})
    return orjson.dumps(
        {
            "errorMessage": exc.message,
            "errorType": exc.error_type,
            "requestId": request_id,
            "stackTrace": list(exc.stack_trace),
        }
    )


async def _read(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise EventTooLarge(
                f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _json(content: Any, request_id: str, status: int = 200) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json",
        headers={"x-amzn-RequestId": request_id},
    )


def _error(code: ErrorCode, message: str, request_id: str) -> Response:
    """An error as botocore's REST-JSON parser reads it: the code in ``x-amzn-ErrorType``;
    the message under both spellings (Lambda's shapes use ``message`` and ``Message``)."""
    body = {
        "Type": "User" if code.status < 500 else "Service",
        "message": message,
        "Message": message,
    }
    return Response(
        orjson.dumps(body),
        status_code=code.status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": code.code, "x-amzn-RequestId": request_id},
    )
