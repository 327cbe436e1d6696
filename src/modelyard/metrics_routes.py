"""``GET /metrics``: the platform's :class:`~modelyard.metrics.Metrics` for Prometheus to scrape."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.metrics import Metrics
from modelyard.openapi import OpenApiPart

__all__ = ["METRICS_PATH", "metrics_route", "openapi_part"]

#: Where Prometheus scrapes (its default ``metrics_path``).
METRICS_PATH = "/metrics"


def metrics_route(metrics: Metrics) -> Route:
    """``GET /metrics`` in the Prometheus text exposition format."""

    async def scrape(request: Request) -> Response:
        # Off the event loop: in multiprocess mode this reads every process's files, and
        # with many models rendering takes milliseconds that requests should not wait for.
        body = await run_in_threadpool(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, scrape, methods=["GET"], name="metrics")


def openapi_part() -> OpenApiPart:
    """The route's share of ``GET /openapi.json``."""
    return OpenApiPart(
        paths={
            METRICS_PATH: {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics: invocations, latencies, cache, workers, capture",
                    "tags": ["metrics"],
                    "responses": {
                        "200": {
                            "description": "Every metric family in the Prometheus text format.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            }
        },
        tags=[{"name": "metrics", "description": "Prometheus metrics of the platform."}],
    )
