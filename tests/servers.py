"""Real servers on 127.0.0.1 for integration tests: the model server in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from modelyard.config import EndpointSettings, HttpSettings, ServingSettings, Settings
from modelyard.listener import build_config
from modelyard.platform import build_model_server, build_platform

__all__ = ["model_server", "platform_server", "serve_in_thread", "settings_for"]


def settings_for(
    home: Path, *, store_options: dict[str, Any] | None = None, **serving: object
) -> Settings:
    """Settings for a test: everything under ``home``, serving knobs as given.

    ``store_options`` are the fsspec options of a remote model store (e.g. ``s3_server.options``).
    """
    serving.setdefault("workers", 1)  # one unless a test asks for more: cheaper, deterministic
    return Settings(
        # Tests of everything but access itself call as anyone may with auth off (loopback);
        # tests/identity/test_access.py runs the platform with auth on, its default.
        auth="off",
        home=home,
        store_options=store_options or {},
        serving=ServingSettings(**serving),  # type: ignore[arg-type]
    )


@contextlib.contextmanager
def serve_in_thread(app: Starlette, http: HttpSettings | None = None) -> Iterator[str]:
    """Run ``app`` on a free port of 127.0.0.1 until the block ends; yields its base URL.

    The listener is the one the CLI runs (``build_config``), with ``http``'s limits
    (default: ``HttpSettings()``).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = build_config(
        app, http or HttpSettings(), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextlib.contextmanager
def model_server(
    store: Path | str,
    home: Path,
    *,
    store_options: dict[str, Any] | None = None,
    **serving: object,
) -> Iterator[str]:
    """The model server over ``store`` (a folder or fsspec URL), running; yields its base URL."""
    settings = settings_for(home, store_options=store_options, **serving)
    with serve_in_thread(build_model_server(settings, store).app, settings.http) as url:
        yield url


@contextlib.contextmanager
def platform_server(
    home: Path,
    *,
    store_options: dict[str, Any] | None = None,
    endpoints: EndpointSettings | None = None,
    **serving: object,
) -> Iterator[str]:
    """``modelyard up``'s platform over ``home`` (SQLite file and store folder in it), running.

    Yields its base URL. ``endpoints`` sets the endpoints area's limits.
    """
    settings = settings_for(home, store_options=store_options, **serving)
    if endpoints is not None:
        settings = settings.model_copy(update={"endpoints": endpoints})
    with serve_in_thread(build_platform(settings).app, settings.http) as url:
        yield url
