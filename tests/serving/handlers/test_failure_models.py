"""The shared toy models behave as their docstrings say (other suites rely on them)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import orjson

from modelyard.serving.handlers import load_handler
from modelyard.serving.types import InferenceRequest, Tensor
from tests.fixtures.models import (
    crash_model,
    hang_model,
    memory_hog_model,
    mms_model,
    slow_load_model,
    sum_model,
    tarball,
)


def test_crash_and_hang_models_serve_ordinary_requests(tmp_path: Path) -> None:
    for factory in (crash_model, hang_model):
        folder = factory(tmp_path)
        handler = load_handler(folder.name, folder)
        assert orjson.loads(handler.invoke(b'{"a": 1}', "application/json", None)[0]) == {"a": 1}
        data = np.array([1.0, 2.0])
        request = InferenceRequest(inputs=[Tensor(name="x", shape=[2], datatype="FP64", data=data)])
        assert handler.infer(request).outputs[0].data.tolist() == [1.0, 2.0]


def test_memory_hog_keeps_its_ballast(tmp_path: Path) -> None:
    folder = memory_hog_model(tmp_path, mib=2)
    handler = load_handler("memory_hog", folder)
    assert handler.invoke(b"1", "application/json", None) == (b"1", "application/json")
    assert '"mib": 2' in (folder / "model-settings.json").read_text()


def test_slow_load_records_each_load(tmp_path: Path) -> None:
    record = tmp_path / "loads.txt"
    folder = slow_load_model(tmp_path, record, seconds=0.01)
    load_handler("slow_load", folder)
    load_handler("slow_load", folder)
    lines = record.read_text().splitlines()
    assert len(lines) == 2
    assert all(line.endswith(" slow_load") for line in lines)


def test_tarball_puts_the_folder_contents_at_the_root(tmp_path: Path) -> None:
    folder = mms_model(tmp_path)
    sum_model(tmp_path, name="mms")  # adds model.py beside model_handler.py
    archive = tarball(folder)
    assert archive == tmp_path / "mms.tar.gz"
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["model.py", "model_handler.py"]
