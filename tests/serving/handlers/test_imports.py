"""User code isolation: sibling modules, unique module names, sys.path and sys.modules left clean."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from modelyard.errors import InferenceFailed, ModelLoadFailed
from modelyard.serving.handlers import load_handler


def write_native(folder: Path, constant: int, lazy: bool = False) -> Path:
    folder.mkdir(parents=True)
    (folder / "utils.py").write_text(f"CONSTANT = {constant}\n")
    if lazy:
        body = "        import utils\n        return utils.CONSTANT\n"
        head = ""
    else:
        body = "        return utils.CONSTANT\n"
        head = "import utils\n"
    (folder / "model.py").write_text(
        head
        + "from modelyard.serving.model import Model\n\n"
        + "class M(Model):\n    def predict(self, inputs, parameters):\n"
        + body
    )
    return folder


def test_two_models_with_a_same_named_sibling_module_each_get_their_own(tmp_path: Path) -> None:
    first = load_handler("first", write_native(tmp_path / "first", 1))
    second = load_handler("second", write_native(tmp_path / "second", 2))
    assert orjson.loads(first.invoke(b"null", "application/json", None)[0]) == 1
    assert orjson.loads(second.invoke(b"null", "application/json", None)[0]) == 2


def test_loading_leaves_sys_path_and_sys_modules_clean(tmp_path: Path) -> None:
    path_before = list(sys.path)
    folder = write_native(tmp_path / "clean", 3)
    handler = load_handler("clean", folder)
    assert sys.path == path_before
    assert "utils" not in sys.modules or not str(
        getattr(sys.modules["utils"], "__file__", "")
    ).startswith(str(tmp_path))
    entry_modules = [name for name in sys.modules if name.startswith("modelyard_model_clean_")]
    assert len(entry_modules) == 1
    handler.unload()
    assert not [name for name in sys.modules if name.startswith("modelyard_model_clean_")]


def test_failed_load_leaves_sys_path_clean(tmp_path: Path) -> None:
    path_before = list(sys.path)
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.py").write_text(
        "from modelyard.serving.model import Model\n\nclass M(Model):\n    pass\n\nraise ImportError('x')\n"
    )
    with pytest.raises(ModelLoadFailed, match="model.py: ImportError: x"):
        load_handler("broken", folder)
    assert sys.path == path_before
    assert not [name for name in sys.modules if name.startswith("modelyard_model_broken_")]


def test_sibling_import_first_done_at_predict_time_fails_clearly(tmp_path: Path) -> None:
    handler = load_handler("lazy", write_native(tmp_path / "lazy", 4, lazy=True))
    with pytest.raises(InferenceFailed, match="ModuleNotFoundError: No module named 'utils'"):
        handler.invoke(b"null", "application/json", None)
