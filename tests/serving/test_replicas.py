"""Replicas: one model on several workers, requests balanced, a lost replica replaced.

These drive the serving facade (``DataPlane`` as a ``ModelInvoker``) in process, with real
worker processes: it is what the endpoints area calls for ``InitialInstanceCount``.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from modelyard.errors import ModelNotFound
from modelyard.serving.dataplane import build_dataplane
from modelyard.serving.facade import ModelRef, Residency
from tests.fixtures.models import sum_model
from tests.servers import settings_for


def _pid_model(parent: Path, name: str = "pid") -> Path:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(
        "import os, time\n"
        "from modelyard.serving.model import Model\n\n"
        "class Pid(Model):\n"
        "    def predict(self, inputs, parameters):\n"
        "        time.sleep(0.005)\n"
        "        return [os.getpid()]\n"
    )
    return folder


async def _invoke_pids(dataplane: object, model: ModelRef, count: int) -> Counter[int]:
    answers = await asyncio.gather(
        *(dataplane.invoke(model, b"[1]", "application/json", None) for _ in range(count))  # type: ignore[attr-defined]
    )
    return Counter(int(a.body.strip(b"[]")) for a in answers)


def test_replicas_share_the_load_and_a_lost_one_comes_back(tmp_path: Path) -> None:
    store = tmp_path / "store"
    _pid_model(store)
    settings = settings_for(tmp_path / "home", workers=2)

    async def scenario() -> None:
        dataplane = build_dataplane(settings, str(store))
        await dataplane.start()
        try:
            model = ModelRef("pid")
            status = await dataplane.load(model, replicas=2)
            assert status.residency is Residency.READY
            for _ in range(100):  # the second replica loads in the background
                if dataplane.status(model).replicas == 2:
                    break
                await asyncio.sleep(0.05)
            assert dataplane.status(model).replicas == 2
            pids = await _invoke_pids(dataplane, model, 64)
            assert len(pids) == 2 and min(pids.values()) >= 8  # both replicas answered
            os.kill(next(iter(pids)), signal.SIGKILL)
            await asyncio.sleep(0.2)
            assert (await _invoke_pids(dataplane, model, 8)).total() == 8  # still served
            for _ in range(100):
                if dataplane.status(model).replicas == 2:
                    break
                await _invoke_pids(dataplane, model, 2)
                await asyncio.sleep(0.05)
            assert dataplane.status(model).replicas == 2
            # Fewer replicas: shed one.
            await dataplane.load(model, replicas=1)
            assert dataplane.status(model).replicas == 1
            assert len(await _invoke_pids(dataplane, model, 16)) == 1
        finally:
            await dataplane.stop()

    asyncio.run(scenario())


def test_an_area_model_loads_from_its_url_and_an_unknown_key_is_not_found(tmp_path: Path) -> None:
    elsewhere = sum_model(tmp_path / "artifacts", "churn")
    settings = settings_for(tmp_path / "home")

    async def scenario() -> None:
        dataplane = build_dataplane(settings, str(tmp_path / "store"))
        await dataplane.start()
        try:
            model = ModelRef("sagemaker/churn", str(elsewhere))
            answer = await dataplane.invoke(model, b"[2, 3]", "application/json", None)
            assert answer.body == b"[5.0]" and answer.model_seconds > 0
            assert dataplane.status(model).residency is Residency.READY
            with pytest.raises(ModelNotFound):
                await dataplane.load(ModelRef("nowhere"))
            await dataplane.unload(model)
            assert dataplane.status(model).residency is Residency.AVAILABLE
        finally:
            await dataplane.stop()

    asyncio.run(scenario())


def test_s3_urls_name_the_object_store(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    dataplane = build_dataplane(
        settings, str(tmp_path / "store" / "models"), store_root=str(tmp_path / "store")
    )
    checked = dataplane.check_url("s3://bucket/models/churn.tar.gz")
    assert checked == f"file://{os.path.realpath(tmp_path)}/store/bucket/models/churn.tar.gz"
