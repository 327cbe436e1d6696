"""modelyard's own operator routes: what the cache and the workers are doing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.serving.dataplane import DataPlane
from modelyard.serving.protocols.errors import json_response

__all__ = ["routes"]


def routes(dataplane: DataPlane) -> list[Route]:
    """``GET /stats``: memory budget and use, loads, evictions, worker restarts and RSS."""

    async def stats(request: Request) -> Response:
        return json_response(await dataplane.stats())

    return [Route("/stats", stats, methods=["GET"])]
