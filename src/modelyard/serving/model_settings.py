"""Per-model settings: the optional ``model-settings.json`` that travels with an artefact.

A model folder may hold a ``model-settings.json`` naming its handler explicitly and
describing its tensors (as MLServer's ``model-settings.json`` does)::

    {
      "handler": "sklearn",
      "method": "predict_proba",
      "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 20]}],
      "parameters": {"threshold": 0.5}
    }

Every key is optional; unknown keys are rejected so that a typo (``"methods"``) fails
the load loudly instead of being ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelyard.errors import ModelLoadFailed

__all__ = [
    "MODEL_SETTINGS_FILE",
    "HandlerKind",
    "ModelSettings",
    "TensorSpec",
    "read_model_settings",
]

#: Name of the settings file inside a model folder.
MODEL_SETTINGS_FILE = "model-settings.json"

#: The handler kinds modelyard knows how to run.
HandlerKind = Literal["mms", "inference_toolkit", "native", "sklearn"]


class TensorSpec(BaseModel):
    """Name, datatype and shape of one input or output, as V2 model metadata lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Tensor name."""

    datatype: str
    """V2 datatype: BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BF16, BYTES."""

    shape: list[int]
    """Shape, ``-1`` for a dimension of any size."""


class ModelSettings(BaseModel):
    """What a model folder may say about itself in ``model-settings.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handler: HandlerKind | None = None
    """Handler kind; ``None`` means recognise it from the folder's contents."""

    entrypoint: str | None = None
    """Where the handler lives, relative to the model folder: ``module:attr`` or
    ``file.py:attr`` for ``mms`` (attr: the ``handle`` function or the service class)
    and ``native`` (attr: the ``Model`` subclass), the script for ``inference_toolkit``
    (default ``code/inference.py``), the model file for ``sklearn`` (default
    ``model.joblib``)."""

    method: str | None = None
    """``sklearn``: estimator method answering requests (default ``predict``)."""

    allow_nan: bool | None = None
    """``sklearn``: whether NaN in a request is a missing value the model handles (a
    pipeline that imputes) rather than a client mistake (400). Default: what the
    estimator's own scikit-learn tags say."""

    max_batch_size: int | None = Field(default=None, ge=1)
    """Most requests answered together in one batch (default: all those queued)."""

    max_wait_ms: float = Field(default=0.0, ge=0.0, le=1000.0)
    """How long the worker may wait for more requests to batch with (default: not at all)."""

    inputs: list[TensorSpec] = Field(default_factory=list)
    """Inputs reported by V2 model metadata."""

    outputs: list[TensorSpec] = Field(default_factory=list)
    """Outputs reported by V2 model metadata; a native model's unnamed result takes the
    first one's name."""

    parameters: dict[str, Any] = Field(default_factory=dict)
    """Free-form parameters for the model's own code."""


#: The settings of a folder without a settings file (frozen: one instance serves all).
_DEFAULT = ModelSettings()


def read_model_settings(name: str, model_dir: Path) -> ModelSettings:
    """Read ``model_dir/model-settings.json``; defaults when the file is absent.

    Raises ``ModelLoadFailed`` naming the model, the file and the offending key.
    """
    path = os.path.join(model_dir, MODEL_SETTINGS_FILE)
    if not os.path.isfile(path):  # os.path, not pathlib: this runs at every (re)load
        return _DEFAULT
    where = f"model {name!r}: {MODEL_SETTINGS_FILE}"
    try:
        with open(path, "rb") as file:
            raw = json.loads(file.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadFailed(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelLoadFailed(f"{where} must hold a JSON object, not {type(raw).__name__}")
    try:
        return ModelSettings.model_validate(raw)
    except ValidationError as exc:
        raise ModelLoadFailed(f"{where}: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    """One readable line per problem, unknown keys listed with the known ones."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            if len(error["loc"]) == 1:
                known = ", ".join(sorted(ModelSettings.model_fields))
                problems.append(f"unknown key {location!r} (known keys: {known})")
            else:
                problems.append(f"unknown key {location!r}")
        else:
            problems.append(f"{location}: {error['msg']}")
    return "; ".join(problems)
