"""The Open Inference Protocol (KServe V2) over REST, with the model repository extension.

Routes in the order of the specification: health, server metadata, model metadata, model
ready, inference; then the repository extension (index, load, unload) as Triton and
tritonclient use it. Versions in paths are accepted and ignored: a model has one version.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard import __version__
from modelyard.errors import ModelNotFound, ModelyardError, PayloadMalformed
from modelyard.serving.dataplane import DataPlane
from modelyard.serving.protocols.auth import Guard, management_guard
from modelyard.serving.protocols.body import parse_json_object, read_body
from modelyard.serving.protocols.errors import json_response, render_errors, status_for

__all__ = ["HEADER_LENGTH", "routes"]

#: Triton's binary tensor data extension: length of the JSON part of the body.
HEADER_LENGTH = "inference-header-content-length"

_TRITON_STATE = {"ready": "READY", "loading": "LOADING", "failed": "UNAVAILABLE"}


def render_error(exc: ModelyardError, status: int) -> Response:
    """V2 error shape: ``{"error": message}``."""
    return json_response({"error": exc.message}, status)


def routes(dataplane: DataPlane, guard: Guard | None = None) -> list[Route]:
    """The V2 routes, bound to ``dataplane``."""
    limit = dataplane.settings.max_payload_bytes
    errors = render_errors(render_error)
    authorize = guard or management_guard(dataplane.settings.management_token)
    metrics = dataplane.metrics

    async def live(request: Request) -> Response:
        return json_response({"live": True})

    async def ready(request: Request) -> Response:
        ready = dataplane.is_live()
        # The spec: 200 means ready, anything else not (probes read only the status).
        return json_response({"ready": ready}, 200 if ready else 503)

    async def server_metadata(request: Request) -> Response:
        return json_response(
            {
                "name": "modelyard",
                "version": __version__,
                "extensions": ["model_repository", "binary_tensor_data"],
            }
        )

    @errors
    async def model_metadata(request: Request) -> Response:
        name = request.path_params["name"]
        found = await dataplane.metadata(dataplane.served(name))
        return json_response(
            {
                "name": name,
                "versions": ["1"],
                "platform": found.get("platform", ""),
                "inputs": found.get("inputs", []),
                "outputs": found.get("outputs", []),
            }
        )

    @errors
    async def model_ready(request: Request) -> Response:
        name = request.path_params["name"]
        if not await dataplane.exists(name):
            raise ModelNotFound(f"model {name!r} was not found")
        is_ready = dataplane.is_ready(name)
        # The spec: 200 means ready, a 4xx status means not ready.
        return json_response({"name": name, "ready": is_ready}, 200 if is_ready else 400)

    @errors
    async def infer(request: Request) -> Response:
        body = await read_body(request, limit)
        raw_length = request.headers.get(HEADER_LENGTH)
        header_length = None
        if raw_length is not None:
            try:
                header_length = int(raw_length)
            except ValueError:
                raise PayloadMalformed(
                    f"invalid Inference-Header-Content-Length {raw_length!r}"
                ) from None
        name = request.path_params["name"]
        started = time.perf_counter()
        try:
            result, headers = await dataplane.infer(dataplane.served(name), body, header_length)
        except ModelyardError as exc:
            metrics.invoked("", "", name, status_for(exc), None, time.perf_counter() - started)
            raise
        metrics.invoked("", "", name, 200, None, time.perf_counter() - started)
        return Response(result, headers=headers)

    @errors
    async def repository_index(request: Request) -> Response:
        options = parse_json_object(await read_body(request, limit))
        rows = []
        for row in await dataplane.index():
            state = _TRITON_STATE.get(row["state"], "UNAVAILABLE")
            if options.get("ready") and state != "READY":
                continue
            reason = row["reason"] or ("unloaded" if row["state"] == "available" else "")
            rows.append({"name": row["name"], "version": "1", "state": state, "reason": reason})
        return json_response(rows)

    @errors
    async def repository_load(request: Request) -> Response:
        await authorize(request)
        parse_json_object(await read_body(request, limit))
        name = request.path_params["name"]
        if not dataplane.is_ready(name):  # loading a loaded model is a no-op, as in Triton
            await dataplane.load(dataplane.served(name))
        return json_response({})

    @errors
    async def repository_unload(request: Request) -> Response:
        await authorize(request)
        parse_json_object(await read_body(request, limit))
        name = request.path_params["name"]
        if not await dataplane.exists(name):
            raise ModelNotFound(f"model {name!r} was not found")
        await dataplane.unload(dataplane.served(name))  # unloading an unloaded model: a no-op
        return json_response({})

    versioned = "/versions/{version}"
    model_routes = []
    for prefix in ("/v2/models/{name}", "/v2/models/{name}" + versioned):
        model_routes += [
            Route(prefix, model_metadata, methods=["GET"]),
            Route(prefix + "/ready", model_ready, methods=["GET"]),
            Route(prefix + "/infer", infer, methods=["POST"]),
        ]
    return [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        *model_routes,
        Route("/v2/repository/index", repository_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", repository_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", repository_unload, methods=["POST"]),
    ]
