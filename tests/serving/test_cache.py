"""The model cache over real HTTP: single-flight loads, eviction, pinning, idle TTL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.fixtures.models import census_model, memory_hog_model, slow_load_model, sum_model
from tests.servers import model_server


def _loaded(client: httpx.Client) -> list[str]:
    return [m["modelName"] for m in client.get("/models").json()["models"]]


def test_concurrent_first_requests_share_one_load(tmp_path: Path) -> None:
    store = tmp_path / "store"
    record = tmp_path / "loads.txt"
    slow_load_model(store, record, seconds=1.0)

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return await asyncio.gather(
                *(client.post("/models/slow_load/invoke", json=[i]) for i in range(32))
            )

    with model_server(store, tmp_path / "home", workers=2) as url:
        responses = asyncio.run(burst(url))

    assert [r.status_code for r in responses] == [200] * 32
    assert sorted(r.json()[0] for r in responses) == list(range(32))
    assert len(record.read_text().splitlines()) == 1


def test_least_recently_used_is_evicted_past_the_model_count(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for name in ("a", "b", "c"):
        sum_model(store, name)
    with (
        model_server(store, tmp_path / "home", max_loaded_models=2) as url,
        httpx.Client(base_url=url) as client,
    ):
        client.post("/models/a/invoke", json=[1])
        client.post("/models/b/invoke", json=[1])
        client.post("/models/a/invoke", json=[1])  # a is now more recent than b
        assert client.post("/models/c/invoke", json=[1]).json() == [1.0]
        assert _loaded(client) == ["a", "c"]
        assert client.get("/models/b").status_code == 404
        # An evicted model reloads on its next request.
        assert client.post("/models/b/invoke", json=[2]).json() == [2.0]
        assert _loaded(client) == ["b", "c"]


def test_models_are_evicted_by_measured_memory(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for name in ("h1", "h2", "h3"):
        memory_hog_model(store, name, mib=40)
    with (
        model_server(store, tmp_path / "home", memory_budget_mb=100) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        for name in ("h1", "h2"):
            assert client.post(f"/models/{name}/invoke", json=[1]).status_code == 200
        measured = client.get("/models/h1").json()["memoryBytes"]
        assert 38 * 2**20 <= measured <= 60 * 2**20
        assert client.post("/models/h3/invoke", json=[1]).status_code == 200
        assert _loaded(client) == ["h2", "h3"]


def test_a_model_larger_than_the_whole_budget_answers_507(tmp_path: Path) -> None:
    store = tmp_path / "store"
    memory_hog_model(store, "big", mib=80)
    sum_model(store)
    with (
        model_server(store, tmp_path / "home", memory_budget_mb=50) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.post("/models/sum/invoke", json=[1]).status_code == 200
        response = client.post("/models/big/invoke", json=[1])
        assert response.status_code == 507
        assert "more than the whole memory budget of 50.0 MiB" in response.json()["message"]
        state = client.get("/models/big").json()
        assert state["state"] == "failed"
        assert state["errorType"] == "ModelTooLarge"
        # Loading it did not push out the models that fit.
        assert "sum" in _loaded(client)


def test_pinned_models_are_preloaded_and_never_evicted(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for name in ("keep", "x", "y"):
        sum_model(store, name)
    with (
        model_server(store, tmp_path / "home", max_loaded_models=2, pinned=["keep"]) as url,
        httpx.Client(base_url=url) as client,
    ):
        assert _loaded(client) == ["keep"]
        assert client.get("/models/keep").json()["pinned"] is True
        client.post("/models/x/invoke", json=[1])
        client.post("/models/y/invoke", json=[1])
        assert _loaded(client) == ["keep", "y"]


def test_idle_models_are_unloaded_after_the_ttl(tmp_path: Path) -> None:
    store = tmp_path / "store"
    sum_model(store, "idle")
    sum_model(store, "busy")
    with (
        model_server(store, tmp_path / "home", idle_ttl_s=0.6) as url,
        httpx.Client(base_url=url) as client,
    ):
        client.post("/models/idle/invoke", json=[1])
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            client.post("/models/busy/invoke", json=[1])
            time.sleep(0.1)
        assert _loaded(client) == ["busy"]


def test_preloaded_models_are_ready_before_the_first_request(tmp_path: Path) -> None:
    store = tmp_path / "store"
    sum_model(store, "early")
    sum_model(store, "late")
    with (
        model_server(store, tmp_path / "home", preload=["early"]) as url,
        httpx.Client(base_url=url) as client,
    ):
        assert _loaded(client) == ["early"]
        assert client.get("/v2/models/early/ready").status_code == 200
        assert client.get("/v2/models/late/ready").status_code == 400


def test_a_library_import_is_not_charged_to_the_first_model_using_it(tmp_path: Path) -> None:
    from tests.fixtures.models import sklearn_model

    store = tmp_path / "store"
    sklearn_model(store, "first")
    with model_server(store, tmp_path / "home") as url, httpx.Client(base_url=url) as client:
        body = {"inputs": [{"name": "x", "shape": [1, 20], "datatype": "FP64", "data": [0] * 20}]}
        assert client.post("/v2/models/first/infer", json=body).status_code == 200
        # Importing scikit-learn takes tens of MiB; the estimator itself a few KiB.
        assert client.get("/models/first").json()["memoryBytes"] < 4 * 2**20


def test_stats_count_loads_evictions_and_memory(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for name in ("a", "b", "c"):
        sum_model(store, name)
    with (
        model_server(store, tmp_path / "home", max_loaded_models=2) as url,
        httpx.Client(base_url=url) as client,
    ):
        for name in ("a", "b", "c"):
            client.post(f"/models/{name}/invoke", json=[1])
        stats = client.get("/stats").json()
    assert stats["loads"] == 3
    assert stats["evictions"] == 1
    assert stats["loaded"] == 2
    assert stats["used_bytes"] > 0
    assert stats["worker_restarts"] == 0
    [worker] = stats["workers"]
    assert worker["alive"] is True
    assert worker["models"] == ["b", "c"]
    assert worker["rss_bytes"] > 10 * 2**20


def test_the_model_count_holds_in_the_worker_under_churn(tmp_path: Path) -> None:
    store = tmp_path / "store"
    census = tmp_path / "census"
    census.mkdir()
    names = [f"m{i}" for i in range(30)]
    for name in names:
        census_model(store, census, name)

    async def churn(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            statuses = []
            for round_ in range(3):
                batch = await asyncio.gather(
                    *(client.post(f"/models/{n}/invoke", json=[round_]) for n in names * 2)
                )
                statuses += [r.status_code for r in batch]
            return statuses

    with model_server(store, tmp_path / "home", max_loaded_models=5) as url:
        statuses = asyncio.run(churn(url))
    assert statuses == [200] * len(statuses)
    counts = [int(line) for line in (census / "counts").read_text().split()]
    assert len(counts) >= 30  # every model was loaded at least once
    assert max(counts) <= 5
