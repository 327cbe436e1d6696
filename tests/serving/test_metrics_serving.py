"""The model server records what happens: invocations, cache, loads, evictions, restarts."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.models import sum_model
from tests.serving.conftest import StartServer


def _samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_move_with_invocations_loads_evictions_and_restarts(
    tmp_path: Path, start_server: StartServer
) -> None:
    store = tmp_path / "store"
    for name in ("a", "b"):
        sum_model(store, name)
    url = start_server(store, max_loaded_models=1)
    triple = {"endpoint": "", "variant": "", "model": "a"}
    with httpx.Client(base_url=url) as client:
        for _ in range(3):
            assert client.post("/models/a/invoke", json=[1]).status_code == 200
        assert client.post("/models/a/invoke", content=b"not json").status_code == 400
        samples = _samples(client)
        assert _value(samples, "modelyard_invocations_total", **triple) == 4
        errors = {**triple, "status_class": "4xx"}
        assert _value(samples, "modelyard_invocation_errors_total", **errors) == 1
        assert _value(samples, "modelyard_cache_misses_total", model="a") == 1
        assert _value(samples, "modelyard_cache_hits_total", model="a") == 3
        assert _value(samples, "modelyard_model_load_seconds_count", model="a") == 1
        assert _value(samples, "modelyard_model_latency_seconds_count", **triple) == 3
        assert _value(samples, "modelyard_resident_models") == 1
        assert _value(samples, "modelyard_model_memory_bytes", model="a") > 0
        # b evicts a (one model at a time).
        assert client.post("/models/b/invoke", json=[1]).status_code == 200
        samples = _samples(client)
        assert _value(samples, "modelyard_cache_evictions_total", model="a") == 1
        assert _value(samples, "modelyard_model_memory_bytes", model="a") == 0
        assert _value(samples, "modelyard_resident_models") == 1
        pid = client.get("/stats").json()["workers"][0]["pid"]
        os.kill(pid, signal.SIGKILL)
        assert client.post("/models/b/invoke", json=[1]).status_code == 200
        samples = _samples(client)
        assert _value(samples, "modelyard_worker_restarts_total") == 1
