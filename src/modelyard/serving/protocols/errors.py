"""Domain errors to HTTP statuses: the one place where that mapping lives.

Each protocol renders the status its own way (SageMaker/MMS JSON with
``x-amzn-errortype``, KServe V2 ``{"error": ...}``); the status is the same for all.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelyard import errors

__all__ = ["ERROR_STATUS", "json_response", "render_errors", "status_for"]

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


def status_for(exc: errors.ModelyardError) -> int:
    """The HTTP status for a domain error, looked up along its class hierarchy."""
    for cls in type(exc).__mro__:
        status = ERROR_STATUS.get(cls)
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


def render_errors(renderer: Renderer) -> Callable[[Endpoint], Endpoint]:
    """Decorate an endpoint so domain errors become responses in this protocol's shape."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def wrapped(request: Request) -> Response:
            try:
                return await endpoint(request)
            except errors.ModelyardError as exc:
                status = status_for(exc)
                if status >= 500:
                    logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
                return renderer(exc, status)

        return wrapped

    return decorate
