"""modelyard's own routes of the functions area: registering functions.

Lambda's CreateFunction takes a deployment package; a modelyard function is a callable
the server can already import, so registration is modelyard's own::

    POST   /functions          {"name", "handler", "timeout_s", "environment", "description"}
                               201 (new) or 200 (replaced): the function
    GET    /functions          {"functions": [...]}, by name
    DELETE /functions/{name}   the function is forgotten

Like the model server's management routes, they need ``Authorization: Bearer <token>``
when a management token is set. Errors are ``{"code", "type", "message"}`` with
``x-modelyard-error-type``; :data:`ERROR_STATUS` is the one place where domain errors
become statuses. ``modelyard functions register|list|delete`` call these routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard import errors
from modelyard.functions.errors import FunctionNotFound, FunctionsUnavailable
from modelyard.functions.service import FunctionService, FunctionSpec
from modelyard.serving.protocols.auth import Guard
from modelyard.serving.protocols.errors import render_errors
from modelyard.storage.functions import FunctionRegistration

__all__ = ["ERROR_STATUS", "MAX_BODY_BYTES", "RegisterFunction", "routes"]

#: Largest registration body (its environment is at most 4 KiB).
MAX_BODY_BYTES = 64 * 2**10

#: Rows read per query when listing every function.
_PAGE = 500

#: HTTP status of each domain error; subclasses inherit their parent's unless listed.
ERROR_STATUS: dict[type[errors.ModelyardError], int] = {
    errors.InvalidRequest: 400,
    errors.AuthenticationRequired: 401,
    errors.AccessDenied: 403,
    FunctionNotFound: 404,
    FunctionsUnavailable: 503,
    errors.DatabaseError: 503,
}


class RegisterFunction(BaseModel):
    """Body of ``POST /functions``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    handler: str
    timeout_s: float | None = Field(default=None, allow_inf_nan=False)
    environment: dict[str, str] = Field(default_factory=dict)
    description: str = ""


Endpoint = Callable[[Request], Awaitable[Response]]


def routes(functions: FunctionService, authorize: Guard) -> list[Route]:
    """``POST /functions``, ``GET /functions``, ``DELETE /functions/{name}``, bound to
    ``functions``; ``authorize`` checks who calls."""

    @_rendered
    async def register(request: Request) -> Response:
        await authorize(request)
        spec = _spec(await _read(request))
        function, created = await functions.register(spec)
        return _json(_document(function, functions), 201 if created else 200)

    @_rendered
    async def list_functions(request: Request) -> Response:
        await authorize(request)
        found: list[FunctionRegistration] = []
        after: str | None = None
        while True:
            page, after = await functions.list(after=after, limit=_PAGE)
            found += page
            if after is None:
                break
        return _json({"functions": [_document(f, functions) for f in found]})

    @_rendered
    async def delete(request: Request) -> Response:
        await authorize(request)
        name = request.path_params["name"]
        await functions.delete(name)
        return _json({"status": f"function {name!r} deleted"})

    return [
        Route("/functions", register, methods=["POST"]),
        Route("/functions", list_functions, methods=["GET"]),
        Route("/functions/{name}", delete, methods=["DELETE"]),
    ]


def _error_body(exc: errors.ModelyardError, status: int) -> Response:
    """A domain error as ``{"code", "type", "message"}``."""
    return _json({"code": status, "type": type(exc).__name__, "message": exc.message}, status)


#: Domain errors become ``{"code", "type", "message"}`` with their status.
_rendered = render_errors(_error_body, ERROR_STATUS)


def _spec(raw: bytes) -> FunctionSpec:
    try:
        body = RegisterFunction.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise errors.InvalidRequest(f"invalid function registration: {problems}") from None
    return FunctionSpec(
        name=body.name,
        handler=body.handler,
        timeout_s=body.timeout_s,
        environment=body.environment,
        description=body.description,
    )


def _document(function: FunctionRegistration, functions: FunctionService) -> dict[str, Any]:
    return {
        "name": function.name,
        "arn": functions.arns.of(function.name),
        "handler": function.handler,
        "timeout_s": function.timeout_s,
        "environment": dict(function.environment),
        "description": function.description,
        "created_at": function.created_at.isoformat(),
        "updated_at": function.updated_at.isoformat(),
    }


async def _read(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise errors.InvalidRequest(f"request body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")
