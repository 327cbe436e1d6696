"""Importing user code from a model folder without letting models see each other's modules.

One worker process hosts many models, and two models may both ship a ``utils.py`` or an
``inference.py``. So:

- a model's entry module is imported under a name unique to the model and file
  (``modelyard_model_<name>_<hash>``), never under its own file name;
- the folder holding the entry module is put first on ``sys.path`` only while the model
  loads (module import and the handler's load callbacks), so ``import helpers`` of a
  sibling file works at import time and during ``model_fn`` / ``initialize`` /
  ``Model.load``; it is removed afterwards;
- sibling modules imported from the model folder during the load are then removed from
  ``sys.modules`` under their plain names: the model keeps the module objects it bound,
  and the next model's ``import utils`` finds its own file, not ours.

Consequence for users: import sibling modules at module level or during load. An
``import helpers`` first executed inside a prediction fails with ``ModuleNotFoundError``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from modelyard.errors import ModelLoadFailed

__all__ = [
    "discard_user_module",
    "import_user_module",
    "model_import_scope",
    "resolve_entrypoint",
    "unique_module_name",
]

# sys.path and sys.modules are process-wide: two loads in threads must not interleave.
_IMPORT_LOCK = threading.RLock()


def unique_module_name(model_name: str, path: Path) -> str:
    """The ``sys.modules`` name for the entry module ``path`` of model ``model_name``."""
    digest = hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"modelyard_model_{re.sub(r'[^0-9A-Za-z_]', '_', model_name)}_{digest}"


@contextmanager
def model_import_scope(code_dir: Path) -> Iterator[None]:
    """Make ``code_dir``'s modules importable for the duration of a model load.

    On exit, ``code_dir`` leaves ``sys.path`` (unless it was there before) and the
    modules imported from inside it during the scope leave ``sys.modules``.
    """
    if not _may_hold_python(code_dir):
        # A folder of data files (a pickled estimator, say) has nothing to import: skip
        # the bookkeeping, which costs more than loading a small model.
        yield
        return
    directory = str(code_dir.resolve())
    with _IMPORT_LOCK:
        before = set(sys.modules)
        added = directory not in sys.path
        if added:
            sys.path.insert(0, directory)
        # A previous model's path hooks may have cached a finder for this folder's
        # parent; make the import system look again.
        importlib.invalidate_caches()
        try:
            yield
        finally:
            if added:
                sys.path.remove(directory)
            _forget_modules_under(directory, set(sys.modules) - before)


def _may_hold_python(code_dir: Path) -> bool:
    """Whether anything in ``code_dir`` could be imported: a module, extension or package."""
    try:
        with os.scandir(code_dir) as entries:
            return any(
                entry.is_dir() or entry.name.endswith((".py", ".pyc", ".so", ".pyd"))
                for entry in entries
            )
    except OSError:
        return True  # let the import itself report the problem


def _forget_modules_under(directory: str, names: set[str]) -> None:
    """Remove from ``sys.modules`` the modules among ``names`` whose file is in ``directory``."""
    prefix = os.path.join(directory, "")
    for name in names:
        if name.startswith("modelyard_model_"):
            continue  # entry modules are tracked by their handler and discarded on unload
        module = sys.modules.get(name)
        filename = getattr(module, "__file__", None)
        # Modules found through our sys.path entry have a __file__ starting with it; a
        # plain prefix test keeps this cheap when a load first imports a large library.
        if filename and filename.startswith(prefix):
            del sys.modules[name]


def import_user_module(model_name: str, path: Path) -> ModuleType:
    """Execute the file ``path`` as a fresh module unique to ``model_name``.

    Call it inside ``model_import_scope``. The module is registered in ``sys.modules``
    (dataclasses and pickle look their classes up there) until ``discard_user_module``.
    Exceptions raised by the module body propagate unchanged.
    """
    module_name = unique_module_name(model_name, path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path.name}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    with _IMPORT_LOCK:
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    return module


def discard_user_module(module: ModuleType | None) -> None:
    """Forget an entry module imported by ``import_user_module`` (on unload)."""
    if module is not None:
        with _IMPORT_LOCK:
            if sys.modules.get(module.__name__) is module:
                del sys.modules[module.__name__]


def resolve_entrypoint(model_name: str, model_dir: Path, spec: str) -> tuple[Path, str | None]:
    """``"pkg/handler.py:attr"`` or ``"pkg.handler:attr"`` -> (file inside ``model_dir``, attr).

    Raises ``ModelLoadFailed`` when the file is missing or outside the folder.
    """
    module_part, _, attr = spec.partition(":")
    module_part = module_part.strip()
    relative = module_part if module_part.endswith(".py") else module_part.replace(".", "/") + ".py"
    root = model_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ModelLoadFailed(
            f"model {model_name!r}: entry point {spec!r} is outside the model folder"
        )
    if not path.is_file():
        raise ModelLoadFailed(f"model {model_name!r}: entry point file {relative} not found")
    return path, attr.strip() or None
