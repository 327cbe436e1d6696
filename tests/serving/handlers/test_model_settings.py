"""``model-settings.json``: read with the model, typos rejected with the known keys listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard.errors import ModelLoadFailed
from modelyard.serving.handlers import load_handler
from modelyard.serving.model_settings import ModelSettings, TensorSpec, read_model_settings
from tests.fixtures.models import sum_model


def test_absent_file_gives_defaults(tmp_path: Path) -> None:
    assert read_model_settings("m", tmp_path) == ModelSettings()


def test_every_key_is_read(tmp_path: Path) -> None:
    (tmp_path / "model-settings.json").write_text(
        json.dumps(
            {
                "handler": "sklearn",
                "entrypoint": "clf.joblib",
                "method": "predict_proba",
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
                "outputs": [{"name": "p", "datatype": "FP64", "shape": [-1, 2]}],
                "parameters": {"threshold": 0.5},
            }
        )
    )
    settings = read_model_settings("m", tmp_path)
    assert settings.handler == "sklearn"
    assert settings.entrypoint == "clf.joblib"
    assert settings.method == "predict_proba"
    assert settings.inputs == [TensorSpec(name="x", datatype="FP32", shape=[-1, 4])]
    assert settings.outputs[0].name == "p"
    assert settings.parameters == {"threshold": 0.5}


def test_unknown_key_is_rejected_with_the_known_ones(tmp_path: Path) -> None:
    folder = sum_model(tmp_path)
    (folder / "model-settings.json").write_text(json.dumps({"methods": "predict"}))
    with pytest.raises(ModelLoadFailed) as caught:
        load_handler("sum", folder)
    known = ", ".join(sorted(ModelSettings.model_fields))
    assert str(caught.value) == (
        f"model 'sum': model-settings.json: unknown key 'methods' (known keys: {known})"
    )
    assert "method," in known  # the key meant is among those listed


def test_unknown_key_inside_a_tensor_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "model-settings.json").write_text(
        json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "dims": [1]}]})
    )
    with pytest.raises(ModelLoadFailed, match=r"unknown key 'inputs\.0\.dims'"):
        read_model_settings("m", tmp_path)


def test_unknown_handler_kind_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "model-settings.json").write_text(json.dumps({"handler": "tensorflow"}))
    with pytest.raises(
        ModelLoadFailed, match=r"model 'm': model-settings.json: handler: Input should be"
    ):
        read_model_settings("m", tmp_path)


def test_invalid_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "model-settings.json").write_text('{"handler": ')
    with pytest.raises(ModelLoadFailed, match="model-settings.json is not valid JSON"):
        read_model_settings("m", tmp_path)


def test_non_object_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "model-settings.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadFailed, match="must hold a JSON object, not list"):
        read_model_settings("m", tmp_path)
