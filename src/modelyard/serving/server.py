"""Assembling and running the model server: settings in, a listening server out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import uvicorn
import uvloop
from starlette.applications import Starlette

from modelyard.config import Settings
from modelyard.serving.app import create_app
from modelyard.serving.dataplane import DataPlane
from modelyard.serving.repository import ModelRepository, Registrations

__all__ = ["build_app", "run"]


def build_app(
    settings: Settings,
    model_store: str | Path,
    registrations: Registrations | None = None,
) -> Starlette:
    """The model server over the models in ``model_store`` (a folder or fsspec URL)."""
    repository = ModelRepository(
        str(model_store),
        cache_dir=settings.cache_dir,
        registrations=registrations,
        store_options=settings.store_options,
    )
    return create_app(DataPlane(settings.serving, repository))


def run(
    app: Starlette,
    host: str,
    port: int,
    on_started: Callable[[], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``app`` until interrupted (uvloop and httptools: the fast paths)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and on_started is not None:
            on_started()
        await task

    uvloop.run(serve())
