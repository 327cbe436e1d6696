"""A crash's blast radius: bystanders are sent again, repeat offenders quarantined, and
a replacement worker forked from the template takes over at once."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.models import segfault_model, sklearn_model, slow_load_model, sum_model
from tests.serving.conftest import StartServer, assert_sagemaker_error


def _slow_segfault_model(parent: Path, name: str = "slowsegv", delay: float = 0.5) -> Path:
    """Native echo model that, when the input says "crash", waits ``delay`` s and segfaults.

    The wait lets bystanders queue behind it in the same worker.
    """
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(
        textwrap.dedent(
            f"""
            import ctypes
            import time

            from modelyard.serving.model import Model


            class SlowSegfault(Model):
                def predict(self, inputs, parameters):
                    if "crash" in repr(inputs):
                        time.sleep({delay})
                        ctypes.string_at(0)
                    return inputs
            """
        )
    )
    return folder


def _stats(client: httpx.Client) -> dict[str, object]:
    stats: dict[str, object] = client.get("/stats").json()
    return stats


def test_requests_queued_behind_a_crash_are_answered(
    tmp_path: Path, start_server: StartServer
) -> None:
    store = tmp_path / "store"
    _slow_segfault_model(store)
    sum_model(store)
    url = start_server(store)  # one worker: the crasher and the bystanders share it

    async def crash_among_bystanders() -> tuple[httpx.Response, list[httpx.Response]]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            assert (await client.post("/models/sum/invoke", json=[1])).status_code == 200
            assert (await client.post("/models/slowsegv/invoke", json=["ok"])).status_code == 200
            crash = asyncio.create_task(client.post("/models/slowsegv/invoke", json="crash"))
            await asyncio.sleep(0.2)  # the crasher is running; these queue behind it
            bystanders = await asyncio.gather(
                *(client.post("/models/sum/invoke", json=[i]) for i in range(8))
            )
            return await crash, list(bystanders)

    crashed, bystanders = asyncio.run(crash_among_bystanders())
    assert crashed.status_code == 503
    assert "SIGSEGV" in assert_sagemaker_error(crashed, 503, "WorkerCrashed")
    assert [r.status_code for r in bystanders] == [200] * 8
    assert sorted(r.json()[0] for r in bystanders) == [float(i) for i in range(8)]


def test_a_model_crashing_twice_is_quarantined_with_doubling_backoff(
    tmp_path: Path, start_server: StartServer
) -> None:
    store = tmp_path / "store"
    segfault_model(store)
    sum_model(store)
    url = start_server(store, quarantine_s=1.0, crash_window_s=60.0)
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(2):
            response = client.post("/models/segv/invoke", content=b"crash")
            assert_sagemaker_error(response, 503, "WorkerCrashed")
        refused = client.post("/models/segv/invoke", content=b"fine")
        message = assert_sagemaker_error(refused, 503, "ModelQuarantined")
        assert "'segv'" in message
        assert 1 <= int(refused.headers["retry-after"]) <= 1
        shown = client.get("/models/segv").json()
        assert shown["state"] == "quarantined" and 0 < shown["retryAfterSeconds"] <= 1
        assert [q["modelName"] for q in _stats(client)["quarantined"]] == ["segv"]  # type: ignore[union-attr]
        explicit = client.post("/v2/repository/models/segv/load", json={})
        assert explicit.status_code == 503
        # Bystanders are unaffected.
        assert client.post("/models/sum/invoke", json=[2]).json() == [2.0]
        # After the quarantine the model serves again...
        time.sleep(1.1)
        assert client.post("/models/segv/invoke", content=b"fine").content == b"fine"
        # ...and offending again quarantines it for twice as long.
        assert client.post("/models/segv/invoke", content=b"crash").status_code == 503
        again = client.post("/models/segv/invoke", content=b"fine")
        assert_sagemaker_error(again, 503, "ModelQuarantined")
        assert int(again.headers["retry-after"]) == 2


def test_a_killed_worker_is_replaced_from_the_template(
    tmp_path: Path, start_server: StartServer
) -> None:
    store = tmp_path / "store"
    sklearn_model(store, "lr", n_features=4)
    url = start_server(store, workers=2)
    with httpx.Client(base_url=url, timeout=30) as client:
        assert (
            client.post(
                "/models/lr/invoke", content=b"1,2,3,4", headers={"content-type": "text/csv"}
            ).status_code
            == 200
        )
        workers = _stats(client)["workers"]
        assert isinstance(workers, list)
        hosting = next(w for w in workers if "lr" in w["models"])
        template = int(Path(f"/proc/{hosting['pid']}/stat").read_text().split()[3])
        os.kill(hosting["pid"], signal.SIGKILL)
        response = client.post(
            "/models/lr/invoke", content=b"1,2,3,4", headers={"content-type": "text/csv"}
        )
        assert response.status_code == 200, response.text
        after = _stats(client)
        pids = {w["pid"] for w in after["workers"]}  # type: ignore[union-attr]
        assert hosting["pid"] not in pids
        assert after["worker_restarts"] == 1
        # Every worker is a child of the template, never a fresh interpreter.
        for pid in pids:
            assert int(Path(f"/proc/{pid}/stat").read_text().split()[3]) == template
        # The libraries the first load imported are in the template now: shared by
        # every later worker, so a replacement does not import them again.
        maps = Path(f"/proc/{template}/maps").read_text()
        assert "sklearn" in maps


def test_a_client_going_away_never_leaves_a_model_loading(
    tmp_path: Path, start_server: StartServer
) -> None:
    store = tmp_path / "store"
    slow_load_model(store, tmp_path / "loads.txt", seconds=1.0)
    url = start_server(store)
    with (
        httpx.Client(base_url=url, timeout=0.2) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post("/models/slow_load/invoke", json=[1])
    with httpx.Client(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + 20
        while client.get("/models/slow_load").json()["state"] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.post("/models/slow_load/invoke", json=[3]).json() == [3]
        assert client.delete("/models/slow_load").status_code == 200
    assert len((tmp_path / "loads.txt").read_text().splitlines()) == 1
