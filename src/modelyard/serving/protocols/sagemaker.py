"""The SageMaker multi-model container contract and Multi Model Server's inference API.

Routes, in the order of the public contract ("Custom Containers Contract for Multi-Model
Endpoints"): load, list, get, unload, invoke; then ``/ping`` and ``/invocations`` of the
hosting contract, and MMS's ``/predictions/{model}``.
"""

from __future__ import annotations

import base64
import binascii
import time

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.errors import InvalidRequest, ModelyardError, PayloadMalformed
from modelyard.serving.dataplane import DataPlane
from modelyard.serving.protocols.auth import Guard, management_guard
from modelyard.serving.protocols.body import read_body
from modelyard.serving.protocols.errors import json_response, render_errors, status_for

__all__ = ["TARGET_MODEL_HEADER", "routes"]

TARGET_MODEL_HEADER = "x-amzn-sagemaker-target-model"
DEFAULT_PAGE_SIZE = 100
ARCHIVE_SUFFIX = ".tar.gz"


class LoadModelRequest(BaseModel):
    """Body of ``POST /models``."""

    model_config = ConfigDict(extra="ignore")

    model_name: str = Field(min_length=1)
    url: str = Field(min_length=1)


def render_error(exc: ModelyardError, status: int) -> Response:
    """SageMaker/MMS error shape: ``{"code", "type", "message"}`` and ``x-amzn-errortype``."""
    kind = type(exc).__name__
    response = json_response({"code": status, "type": kind, "message": exc.message}, status)
    response.headers["x-amzn-errortype"] = kind
    return response


def _model_name_from_target(target: str) -> str:
    # TargetModel is the artifact's path relative to the endpoint's prefix, e.g.
    # "model-a.tar.gz": the model is served under the name without the archive suffix.
    name = target.strip().lstrip("/")
    return name[: -len(ARCHIVE_SUFFIX)] if name.endswith(ARCHIVE_SUFFIX) else name


def _page_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _after_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest(f"invalid next_page_token {token!r}") from None


def routes(dataplane: DataPlane, guard: Guard | None = None) -> list[Route]:
    """The SageMaker container and MMS routes, bound to ``dataplane``."""
    limit = dataplane.settings.max_payload_bytes
    errors = render_errors(render_error)
    authorize = guard or management_guard(dataplane.settings.management_token)
    metrics = dataplane.metrics

    async def invoke(request: Request, name: str) -> Response:
        body = await read_body(request, limit)
        content_type = request.headers.get("content-type") or "application/json"
        accept = request.headers.get("accept")
        started = time.perf_counter()
        try:
            answer = await dataplane.invoke(dataplane.served(name), body, content_type, accept)
        except ModelyardError as exc:
            metrics.invoked("", "", name, status_for(exc), None, time.perf_counter() - started)
            raise
        metrics.invoked("", "", name, 200, answer.model_seconds, time.perf_counter() - started)
        return Response(answer.body, media_type=answer.content_type)

    @errors
    async def load_model(request: Request) -> Response:
        await authorize(request)
        raw = await read_body(request, limit)
        try:
            spec = LoadModelRequest.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise PayloadMalformed(f"invalid load request: {problems}") from None
        entry = await dataplane.register(spec.model_name, spec.url)
        return json_response(entry.describe())

    @errors
    async def list_models(request: Request) -> Response:
        params = request.query_params
        raw_max = params.get("max_results")
        try:
            page_size = int(raw_max) if raw_max is not None else DEFAULT_PAGE_SIZE
        except ValueError:
            raise InvalidRequest(f"max_results must be an integer, got {raw_max!r}") from None
        if page_size < 1:
            raise InvalidRequest(f"max_results must be at least 1, got {page_size}")
        entries = dataplane.loaded()
        token = params.get("next_page_token")
        if token:
            after = _after_token(token)
            entries = [e for e in entries if e.name > after]
        page = entries[:page_size]
        answer: dict[str, object] = {
            "models": [{"modelName": e.name, "modelUrl": e.url} for e in page]
        }
        if len(entries) > page_size:
            answer["nextPageToken"] = _page_token(page[-1].name)
        return json_response(answer)

    @errors
    async def get_model(request: Request) -> Response:
        return json_response(dataplane.describe(request.path_params["name"]))

    @errors
    async def unload_model(request: Request) -> Response:
        await authorize(request)
        name = request.path_params["name"]
        await dataplane.remove(name)
        return json_response({"status": f"model {name!r} unloaded"})

    @errors
    async def invoke_model(request: Request) -> Response:
        return await invoke(request, request.path_params["name"])

    async def ping(request: Request) -> Response:
        return json_response({"status": "Healthy"})

    @errors
    async def invocations(request: Request) -> Response:
        target = request.headers.get(TARGET_MODEL_HEADER)
        if target:
            return await invoke(request, _model_name_from_target(target))
        names = await dataplane.names()
        if len(names) == 1:  # single-model container: the one model answers
            return await invoke(request, names[0])
        raise InvalidRequest(
            f"missing header X-Amzn-SageMaker-Target-Model: this server hosts {len(names)} models"
        )

    @errors
    async def predictions(request: Request) -> Response:
        return await invoke(request, request.path_params["name"])

    return [
        Route("/models", load_model, methods=["POST"]),
        Route("/models", list_models, methods=["GET"]),
        Route("/models/{name}", get_model, methods=["GET"]),
        Route("/models/{name}", unload_model, methods=["DELETE"]),
        Route("/models/{name}/invoke", invoke_model, methods=["POST"]),
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/predictions/{name}", predictions, methods=["POST"]),
        Route("/predictions/{name}/{version}", predictions, methods=["POST"]),
    ]
