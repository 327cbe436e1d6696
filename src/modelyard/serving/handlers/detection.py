"""Recognising which handler kind serves a model folder, from its files alone.

Detection reads file names and parses (never executes) Python files, so it has no side
effects. Order, first match wins:

1. ``code/inference.py`` -> SageMaker inference toolkit;
2. ``MAR-INF/MANIFEST.json``, ``model_handler.py``, or a top-level ``*.py`` defining a
   ``handle`` function or a class with ``initialize`` and ``handle`` -> MMS;
3. ``model.py`` defining a subclass of ``modelyard.serving.model.Model`` -> native;
4. ``model.joblib``, ``model.pkl`` or another ``*.joblib`` -> scikit-learn.

``model-settings.json`` naming a ``handler`` skips detection.
"""

from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from pathlib import Path

from modelyard.errors import ModelLoadFailed
from modelyard.serving.model_settings import HandlerKind, ModelSettings

__all__ = ["MANIFEST_PATH", "Detection", "detect_handler"]

#: Where a model archive (``.mar``) keeps its manifest.
MANIFEST_PATH = "MAR-INF/MANIFEST.json"

_LOOKED_FOR = (
    "code/inference.py (SageMaker inference toolkit); "
    f"{MANIFEST_PATH}, model_handler.py, or a top-level *.py defining handle() or a class "
    "with initialize() and handle() (MMS); "
    "model.py defining a modelyard.serving.model.Model subclass (native); "
    "model.joblib, model.pkl or *.joblib (scikit-learn)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Detection:
    """Which handler serves a folder, and where its code or artefact is."""

    #: The handler kind.
    kind: HandlerKind
    #: Entry point found (``file.py``, ``module:attr`` or the model file); None: the kind's default.
    entrypoint: str | None


def detect_handler(name: str, model_dir: Path, settings: ModelSettings) -> Detection:
    """The handler for ``model_dir``: as the settings name it, else recognised from files.

    Raises ``ModelLoadFailed`` listing what was looked for when nothing matches.
    """
    try:
        # One listing answers every "is there a file called ..." below: detection runs on
        # every load, and reloads of evicted models are hot.
        with os.scandir(model_dir) as entries:
            files = {entry.name for entry in entries if entry.is_file()}
    except (FileNotFoundError, NotADirectoryError):
        raise ModelLoadFailed(f"model {name!r}: the model folder does not exist") from None
    if settings.handler is not None:
        return Detection(kind=settings.handler, entrypoint=settings.entrypoint)
    if (model_dir / "code" / "inference.py").is_file():
        return Detection(kind="inference_toolkit", entrypoint="code/inference.py")
    unparsable: list[str] = []
    mms_entry = _find_mms_entrypoint(name, model_dir, files, unparsable)
    if mms_entry is not None:
        return Detection(kind="mms", entrypoint=mms_entry or None)
    if "model.py" in files and _defines_model_subclass(model_dir / "model.py", unparsable):
        return Detection(kind="native", entrypoint="model.py")
    artefact = _find_sklearn_artefact(files)
    if artefact is not None:
        return Detection(kind="sklearn", entrypoint=artefact)
    hint = f"; could not parse {', '.join(unparsable)}" if unparsable else ""
    raise ModelLoadFailed(
        f"model {name!r}: no handler recognised in the model folder: looked for {_LOOKED_FOR}, "
        f"or a handler named in model-settings.json{hint}"
    )


def _find_mms_entrypoint(
    name: str, model_dir: Path, files: set[str], unparsable: list[str]
) -> str | None:
    """The MMS entry point; ``""`` for an archive whose manifest names none; None: not MMS."""
    manifest = model_dir / MANIFEST_PATH
    if manifest.is_file():
        try:
            handler = json.loads(manifest.read_bytes()).get("model", {}).get("handler")
        except (ValueError, AttributeError) as exc:
            raise ModelLoadFailed(
                f"model {name!r}: {MANIFEST_PATH} is not a JSON object with a 'model' object: {exc}"
            ) from exc
        if isinstance(handler, str) and handler:
            return handler
        return "model_handler.py" if (model_dir / "model_handler.py").is_file() else ""
    if "model_handler.py" in files:
        return "model_handler.py"
    for filename in sorted(f for f in files if f.endswith(".py")):
        path = model_dir / filename
        tree = _parse(path, unparsable)
        if tree is not None and _defines_mms_handle(tree):
            return path.name
    return None


def _defines_mms_handle(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "handle":
            return True
        if isinstance(node, ast.ClassDef):
            methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
            if {"initialize", "handle"} <= methods:
                return True
    return False


def _defines_model_subclass(path: Path, unparsable: list[str]) -> bool:
    if not path.is_file():
        return False
    tree = _parse(path, unparsable)
    if tree is None:
        return False
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                if (isinstance(base, ast.Name) and base.id == "Model") or (
                    isinstance(base, ast.Attribute) and base.attr == "Model"
                ):
                    return True
    return False


def _find_sklearn_artefact(files: set[str]) -> str | None:
    for candidate in ("model.joblib", "model.pkl"):
        if candidate in files:
            return candidate
    others = sorted(f for f in files if f.endswith(".joblib"))
    return others[0] if others else None


def _parse(path: Path, unparsable: list[str]) -> ast.Module | None:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        unparsable.append(path.name)
        return None
