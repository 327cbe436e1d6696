"""Assembling and running the model server: settings in, a listening server out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import uvicorn
import uvloop
from starlette.applications import Starlette

from modelyard.config import HttpSettings, Settings
from modelyard.serving.app import create_app
from modelyard.serving.artifacts import ArtifactLimits
from modelyard.serving.dataplane import DataPlane
from modelyard.serving.listener import build_config
from modelyard.serving.repository import ModelRepository, Registrations

__all__ = ["build_app", "run"]


def build_app(
    settings: Settings,
    model_store: str | Path,
    registrations: Registrations | None = None,
) -> Starlette:
    """The model server over the models in ``model_store`` (a folder or fsspec URL)."""
    serving = settings.serving
    repository = ModelRepository(
        str(model_store),
        cache_dir=settings.cache_dir,
        registrations=registrations,
        store_options=settings.store_options,
        allowed_urls=serving.allowed_model_urls,
        limits=ArtifactLimits(
            max_bytes=serving.max_artifact_bytes,
            max_files=serving.max_artifact_files,
            timeout_s=serving.artifact_timeout_s,
        ),
    )
    return create_app(DataPlane(settings.serving, repository))


def run(
    app: Starlette,
    host: str,
    port: int,
    on_started: Callable[[], None] | None = None,
    log_level: str = "warning",
    http: HttpSettings | None = None,
) -> None:
    """Serve ``app`` until interrupted, on the shared listener (see ``listener.build_config``).

    ``http`` holds the read timeout, keep-alive and connection cap (default: ``HttpSettings()``).
    """
    config = build_config(app, http or HttpSettings(), host=host, port=port, log_level=log_level)
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and on_started is not None:
            on_started()
        await task

    uvloop.run(serve())
