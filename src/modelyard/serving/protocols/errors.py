"""Domain errors to HTTP statuses: the one place where that mapping lives.

Each protocol renders the status its own way (SageMaker/MMS JSON with
``x-amzn-errortype``, KServe V2 ``{"error": ...}``); the status is the same for all.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable, Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard import errors

__all__ = ["ERROR_STATUS", "ERROR_TYPE_HEADER", "json_response", "render_errors", "status_for"]

#: Response header naming the domain error's class, whatever the protocol's body shape.
ERROR_TYPE_HEADER = "x-modelyard-error-type"

logger = logging.getLogger(__name__)

#: HTTP status of each domain error; subclasses inherit their parent's unless listed.
ERROR_STATUS: dict[type[errors.ModelyardError], int] = {
    errors.InvalidRequest: 400,
    errors.PayloadMalformed: 400,
    errors.NotAcceptable: 406,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedContentType: 415,
    errors.InvalidModelName: 400,
    errors.InvalidModelArtifact: 400,
    errors.AuthenticationRequired: 401,
    errors.AccessDenied: 403,
    errors.ModelUrlNotAllowed: 403,
    errors.ModelNotFound: 404,
    errors.ModelAlreadyExists: 409,
    errors.ModelAlreadyLoaded: 409,
    errors.RegistrationExists: 409,
    errors.ModelLoadFailed: 500,
    errors.InferenceFailed: 500,
    errors.ModelNotResident: 503,
    errors.RequestNotStarted: 503,
    errors.WorkerCrashed: 503,
    errors.ModelQuarantined: 503,
    errors.InferenceTimeout: 504,
    errors.ModelTooLarge: 507,
    errors.ObjectNotFound: 404,
    errors.InvalidObjectKey: 400,
    # The store and the database are services modelyard depends on: when they fail, the
    # request may succeed later (503), and it was not the caller's fault.
    errors.ObjectStoreError: 503,
    errors.DatabaseError: 503,
}


def status_for(
    exc: errors.ModelyardError,
    statuses: Mapping[type[errors.ModelyardError], int] = ERROR_STATUS,
) -> int:
    """The HTTP status for a domain error, looked up along its class hierarchy in
    ``statuses`` (default: the model server's table)."""
    for cls in type(exc).__mro__:
        status = statuses.get(cls)
        if status is not None:
            return status
    return 500


def json_response(content: object, status_code: int = 200) -> Response:
    """A JSON response encoded with orjson."""
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status_code,
        media_type="application/json",
    )


Endpoint = Callable[[Request], Awaitable[Response]]
Renderer = Callable[[errors.ModelyardError, int], Response]


def render_errors(
    renderer: Renderer,
    statuses: Mapping[type[errors.ModelyardError], int] = ERROR_STATUS,
) -> Callable[[Endpoint], Endpoint]:
    """Decorate an endpoint so domain errors become responses in this protocol's shape,
    with the status ``statuses`` gives them (an area's own table, or the model server's)."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapped(request: Request) -> Response:
            try:
                return await endpoint(request)
            except errors.ModelyardError as exc:
                status = status_for(exc, statuses)
                if status >= 500:
                    logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
                response = renderer(exc, status)
                # The error's class in every protocol (the SageMaker shape also has it in
                # x-amzn-errortype and its body): what went wrong, for clients and logs.
                response.headers.setdefault(ERROR_TYPE_HEADER, type(exc).__name__)
                # Headers every protocol owes its clients for these errors (RFC 9110).
                if isinstance(exc, errors.ModelQuarantined):
                    response.headers["retry-after"] = str(max(1, math.ceil(exc.retry_after_s)))
                elif isinstance(exc, errors.AuthenticationRequired):
                    response.headers["www-authenticate"] = "Bearer"
                return response

        return wrapped

    return decorate
