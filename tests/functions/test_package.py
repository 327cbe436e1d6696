"""The public API of modelyard.functions: ``__all__`` is what it exports, and the worker
process's code needs nothing of the server's packages."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import ModuleType

import modelyard.functions
from modelyard.functions import worker


def test_all_is_sorted_and_every_name_is_exported() -> None:
    package = modelyard.functions
    names = package.__all__

    assert names == sorted(names)
    assert all(hasattr(package, name) for name in names)
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", "").startswith("modelyard.")
    }
    assert public == set(names)


def test_the_worker_imports_only_the_standard_library_and_orjson() -> None:
    # It runs by path in a fresh interpreter, without the package (see worker.BOOTSTRAP).
    tree = ast.parse(Path(worker.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])

    assert imported - set(sys.stdlib_module_names) == {"orjson"}
