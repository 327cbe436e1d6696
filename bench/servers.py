"""The two servers under test: starting them, and asking modelyard which models it holds."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from procs import Server, get_json, wait_http

__all__ = ["SERVER_CPU", "loaded_models", "start_modelyard", "start_reference"]

BENCH = Path(__file__).resolve().parent
#: The project's command, from the virtualenv running the benchmark.
MODELYARD = Path(sys.executable).parent / "modelyard"


#: CPU the servers run on when pinned; the load generator gets the other one (``WRK_CPU``).
SERVER_CPU = "0"


def _pinned(command: list[str], pin: bool) -> list[str]:
    # The server's children (template, workers) inherit its CPU affinity.
    return ["taskset", "-c", SERVER_CPU, *command] if pin else command


def start_reference(
    store: Path, workdir: Path, *, pin: bool = False, lru: int | None = None
) -> Server:
    """The bare Starlette app serving ``lr`` in process (not waited for: see wait_http).

    With ``lru``, it serves every model of ``store`` through an in-process LRU of that size.
    """
    model = ["--lru", str(lru), str(store)] if lru else [str(store / "lr" / "model.joblib")]
    server = Server.start(
        lambda port: _pinned(
            [sys.executable, str(BENCH / "reference_app.py"), *model, str(port)], pin
        ),
        workdir=workdir,
        log_name="reference-lru" if lru else "reference",
    )
    return server


def start_modelyard(
    store: Path,
    workdir: Path,
    env: dict[str, str] | None = None,
    workers: int | None = 1,
    *,
    pin: bool = False,
) -> Server:
    """``modelyard serve --workers N`` over ``store`` (None: the default), ready to answer.

    With ``pin``, the server and its workers run on one CPU (``SERVER_CPU``).
    """
    if not MODELYARD.exists():
        raise SystemExit(f"{MODELYARD} not found: install the project into its .venv first")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    server = Server.start(
        lambda port: _pinned(
            [
                str(MODELYARD),
                "serve",
                "--model-store",
                str(store),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *(["--workers", str(workers)] if workers is not None else []),
            ],
            pin,
        ),
        workdir=workdir,
        log_name="modelyard-pinned" if pin else "modelyard",
        env={**clean, "MODELYARD_HOME": str(workdir / "home"), **(env or {})},
    )
    wait_http(server.url + "/ping", server=server)
    wait_http(server.url + "/v2/health/ready", server=server)
    return server


def loaded_models(server: Server) -> dict[str, Any]:
    """What the models resident in ``server`` measured: count, memory, load times."""
    listed = get_json(server.url + "/models?max_results=1000")["models"]
    described = []
    for model in listed:
        # Requests wrk left in flight may still evict models while we look: skip those.
        with contextlib.suppress(RuntimeError):
            described.append(get_json(server.url + f"/models/{model['modelName']}"))
    ready = [d for d in described if d["state"] == "ready"]
    stats = get_json(server.url + "/stats")
    return {
        "loads": stats["loads"],
        "evictions": stats["evictions"],
        "worker_restarts": stats["worker_restarts"],
        "count": len(listed),
        "ready": len(ready),
        "memory_bytes_total": sum(d["memoryBytes"] for d in ready),
        "median_load_ms": round(statistics.median(d["loadSeconds"] for d in ready) * 1000, 3)
        if ready
        else None,
        "median_total_load_ms": round(
            statistics.median(d["totalLoadSeconds"] for d in ready) * 1000, 3
        )
        if ready
        else None,
    }
