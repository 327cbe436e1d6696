"""Which handler serves a folder: detection order, explicit settings, clear failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modelyard.errors import ModelLoadFailed
from modelyard.serving.handlers import (
    Handler,
    InferenceToolkitHandler,
    MMSHandler,
    NativeHandler,
    SKLearnHandler,
    detect_handler,
    load_handler,
)
from modelyard.serving.model_settings import ModelSettings
from tests.fixtures.models import (
    inference_toolkit_model,
    mms_class_model,
    mms_model,
    sklearn_model,
    sum_model,
)


@pytest.mark.parametrize(
    ("factory", "handler_class"),
    [
        (sum_model, NativeHandler),
        (sklearn_model, SKLearnHandler),
        (mms_model, MMSHandler),
        (mms_class_model, MMSHandler),
        (inference_toolkit_model, InferenceToolkitHandler),
    ],
)
def test_each_fixture_is_recognised(
    tmp_path: Path, factory: Callable[[Path], Path], handler_class: type[Handler]
) -> None:
    folder = factory(tmp_path)
    handler = load_handler(folder.name, folder)
    assert type(handler) is handler_class
    assert handler.name == folder.name


def test_toolkit_script_wins_over_everything_else(tmp_path: Path) -> None:
    folder = inference_toolkit_model(tmp_path)
    sklearn_model(tmp_path, name=folder.name)  # adds model.joblib to the same folder
    (folder / "model_handler.py").write_text("def handle(data, context):\n    return data\n")
    detection = detect_handler("toolkit", folder, ModelSettings())
    assert (detection.kind, detection.entrypoint) == ("inference_toolkit", "code/inference.py")


def test_mms_wins_over_a_bare_joblib(tmp_path: Path) -> None:
    folder = sklearn_model(tmp_path)
    (folder / "handler.py").write_text(
        "class Service:\n"
        "    def initialize(self, context):\n        pass\n"
        "    def handle(self, data, context):\n        return [b'x' for _ in data]\n"
    )
    detection = detect_handler("m", folder, ModelSettings())
    assert (detection.kind, detection.entrypoint) == ("mms", "handler.py")


def test_manifest_names_the_mms_handler(tmp_path: Path) -> None:
    folder = tmp_path / "archived"
    (folder / "MAR-INF").mkdir(parents=True)
    (folder / "MAR-INF" / "MANIFEST.json").write_text(
        json.dumps({"model": {"modelName": "archived", "handler": "service:handle"}})
    )
    (folder / "service.py").write_text("def handle(data, context):\n    return data and [b'ok']\n")
    detection = detect_handler("archived", folder, ModelSettings())
    assert (detection.kind, detection.entrypoint) == ("mms", "service:handle")
    handler = load_handler("archived", folder)
    assert handler.invoke(b"{}", "application/json", None) == (b"ok", "application/json")


def test_python_file_without_handle_is_not_mms(tmp_path: Path) -> None:
    folder = sklearn_model(tmp_path)
    (folder / "notes.py").write_text("def helper():\n    return 1\n")
    assert detect_handler("m", folder, ModelSettings()).kind == "sklearn"


def test_model_py_without_model_subclass_is_not_native(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.py").write_text("class Model:\n    pass\n\nclass Other:\n    pass\n")
    with pytest.raises(ModelLoadFailed, match="no handler recognised"):
        detect_handler("m", folder, ModelSettings())


def test_other_joblib_file_is_sklearn(tmp_path: Path) -> None:
    folder = sklearn_model(tmp_path)
    (folder / "model.joblib").rename(folder / "classifier.joblib")
    detection = detect_handler("m", folder, ModelSettings())
    assert (detection.kind, detection.entrypoint) == ("sklearn", "classifier.joblib")


def test_nothing_recognised_lists_what_was_looked_for(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "README.txt").write_text("nothing to serve")
    with pytest.raises(ModelLoadFailed) as caught:
        load_handler("empty", folder)
    message = str(caught.value)
    assert message.startswith("model 'empty': no handler recognised")
    for looked_for in (
        "code/inference.py",
        "MAR-INF/MANIFEST.json",
        "model_handler.py",
        "model.py",
        "model.joblib",
    ):
        assert looked_for in message


def test_unparsable_python_is_named_when_nothing_matches(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "handler.py").write_text("def handle(data, context)\n    return data\n")
    with pytest.raises(ModelLoadFailed, match=r"could not parse handler\.py"):
        load_handler("broken", folder)


def test_missing_folder_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadFailed, match=r"model 'gone': the model folder does not exist"):
        load_handler("gone", tmp_path / "gone")


def test_settings_handler_skips_detection(tmp_path: Path) -> None:
    folder = sklearn_model(tmp_path)
    (folder / "model_handler.py").write_text("def handle(data, context):\n    return data\n")
    (folder / "model-settings.json").write_text(json.dumps({"handler": "sklearn"}))
    assert type(load_handler("m", folder)) is SKLearnHandler


def test_settings_entrypoint_names_the_native_class(tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "models.py").write_text(
        "from modelyard.serving.model import Model\n\n"
        "class One(Model):\n    def predict(self, inputs, parameters):\n        return 1\n\n"
        "class Two(Model):\n    def predict(self, inputs, parameters):\n        return 2\n"
    )
    (folder / "model-settings.json").write_text(
        json.dumps({"handler": "native", "entrypoint": "models.py:Two"})
    )
    handler = load_handler("two", folder)
    assert handler.invoke(b"null", "application/json", None) == (b"2", "application/json")


def test_two_model_classes_without_entrypoint_fail_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / "model.py").write_text(
        "from modelyard.serving.model import Model\n\n"
        "class One(Model):\n    pass\n\nclass Two(Model):\n    pass\n"
    )
    with pytest.raises(ModelLoadFailed, match=r"exactly one subclass .* \(found: One, Two\)"):
        load_handler("two", folder)


def test_entrypoint_outside_the_folder_is_refused(tmp_path: Path) -> None:
    folder = sum_model(tmp_path)
    (tmp_path / "evil.py").write_text("def handle(data, context):\n    return data\n")
    (folder / "model-settings.json").write_text(
        json.dumps({"handler": "mms", "entrypoint": "../evil.py"})
    )
    with pytest.raises(ModelLoadFailed, match="outside the model folder"):
        load_handler("sum", folder)
