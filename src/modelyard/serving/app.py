"""The ASGI application of the model server: every protocol's routes over one DataPlane."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from modelyard.serving.dataplane import DataPlane
from modelyard.serving.protocols import admin, kserve, sagemaker
from modelyard.serving.protocols.errors import json_response

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Outermost net: a bug of ours answers 500 with its class name, and the server lives on.
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return json_response(
        {"code": 500, "type": "InternalServerError", "message": f"{type(exc).__name__}: {exc}"},
        500,
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client closed the connection (or the listener timed its body out): nobody is
    # left to answer, and it is no error of ours.
    return Response(status_code=499)


def create_app(dataplane: DataPlane) -> Starlette:
    """Build the server: the SageMaker/MMS routes, the KServe V2 routes, then our own."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dataplane.start()
        try:
            yield
        finally:
            await dataplane.stop()

    app = Starlette(
        routes=[*sagemaker.routes(dataplane), *kserve.routes(dataplane), *admin.routes(dataplane)],
        exception_handlers={ClientDisconnect: _client_gone, Exception: _unexpected_error},
        lifespan=lifespan,
    )
    app.state.dataplane = dataplane
    return app
