"""A model that crashes, hangs or exhausts memory fails only its own requests.

Each test runs the real server on 127.0.0.1 with one worker, so the failing model and the
healthy one share a worker process: the worst case for isolation.
"""

from __future__ import annotations

import textwrap
import threading
import time
from pathlib import Path

import httpx

from tests.fixtures.models import crash_model, hang_model, sum_model
from tests.servers import model_server


def _native_model(parent: Path, name: str, predict_body: str) -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    code = f"""
        import ctypes

        from modelyard.serving.model import Model


        class Custom(Model):
            def predict(self, inputs, parameters):
{textwrap.indent(textwrap.dedent(predict_body), " " * 16)}
    """
    (folder / "model.py").write_text(textwrap.dedent(code))
    return folder


def test_a_crash_fails_its_request_and_the_server_lives_on(tmp_path: Path) -> None:
    store = tmp_path / "store"
    crash_model(store)
    sum_model(store)
    with model_server(store, tmp_path / "home") as url, httpx.Client(base_url=url) as client:
        assert client.post("/models/sum/invoke", json=[1, 2]).json() == [3.0]
        crashed = client.post("/models/crash/invoke", json="crash")
        assert crashed.status_code == 503
        assert crashed.headers["x-amzn-errortype"] == "WorkerCrashed"
        assert "'crash'" in crashed.json()["message"]
        assert "exited with code 1" in crashed.json()["message"]
        # The worker is replaced; both models reload on demand and answer.
        assert client.post("/models/sum/invoke", json=[2, 2]).json() == [4.0]
        assert client.post("/models/crash/invoke", json=["fine"]).json() == ["fine"]
        assert client.get("/models/sum").json()["state"] == "ready"


def test_a_segfault_is_contained(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _native_model(store, "segfault", "ctypes.string_at(0)\nreturn inputs")
    sum_model(store)
    with model_server(store, tmp_path / "home") as url, httpx.Client(base_url=url) as client:
        response = client.post("/models/segfault/invoke", json=[1])
        assert response.status_code == 503
        assert "SIGSEGV" in response.json()["message"]
        assert client.post("/models/sum/invoke", json=[5]).json() == [5.0]


def test_a_hang_times_out_and_requests_queued_behind_it_are_sent_again(tmp_path: Path) -> None:
    store = tmp_path / "store"
    hang_model(store)
    sum_model(store)
    with (
        model_server(store, tmp_path / "home", request_timeout_s=1.5) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.post("/models/sum/invoke", json=[1]).json() == [1.0]
        assert client.post("/models/hang/invoke", json=["ok"]).json() == ["ok"]  # loaded
        results: dict[str, httpx.Response] = {}

        def hang() -> None:
            results["hang"] = client.post("/models/hang/invoke", json="hang")

        thread = threading.Thread(target=hang)
        thread.start()
        time.sleep(0.5)
        # Queued behind the hung request in the same worker, never started: when the hung
        # worker is replaced, it is sent again and answered.
        results["queued"] = client.post("/models/sum/invoke", json=[1])
        thread.join()
        started = time.monotonic()
        after = client.post("/models/sum/invoke", json=[7])
        assert time.monotonic() - started < 10

    assert results["hang"].status_code == 504
    assert results["hang"].headers["x-amzn-errortype"] == "InferenceTimeout"
    assert "did not answer within 1.5 s" in results["hang"].json()["message"]
    assert results["queued"].status_code == 200, results["queued"].text
    assert results["queued"].json() == [1.0]
    assert after.json() == [7.0]


def test_a_memory_blowup_in_predict_fails_that_request_only(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _native_model(store, "greedy", "blob = bytearray(2048 << 20)\nreturn [len(blob)]")
    sum_model(store)
    with (
        model_server(
            store, tmp_path / "home", memory_budget_mb=256, worker_memory_limit_mb=700
        ) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        assert client.post("/models/sum/invoke", json=[1]).json() == [1.0]
        response = client.post("/models/greedy/invoke", json=[1])
        assert response.status_code == 500
        assert "MemoryError" in response.json()["message"]
        assert client.post("/models/sum/invoke", json=[3]).json() == [3.0]


def test_a_model_too_big_for_its_worker_answers_507(tmp_path: Path) -> None:
    from tests.fixtures.models import memory_hog_model

    store = tmp_path / "store"
    memory_hog_model(store, mib=900)
    sum_model(store)
    with (
        model_server(
            store, tmp_path / "home", memory_budget_mb=2048, worker_memory_limit_mb=600
        ) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        response = client.post("/models/memory_hog/invoke", json=[1])
        assert response.status_code == 507
        assert response.headers["x-amzn-errortype"] == "ModelTooLarge"
        assert "memory_hog" in response.json()["message"]
        assert client.post("/models/sum/invoke", json=[3]).json() == [3.0]
