"""A scikit-learn estimator trained on tabular CSV, as SageMaker's built-in algorithms take it.

``AlgorithmName: sklearn:sklearn.ensemble.RandomForestClassifier`` with the estimator's
parameters as hyperparameters (``n_estimators: "200"``). The ``train`` channel holds CSV
files without a header, the label in the first column (SageMaker's built-in convention);
an optional ``validation`` channel is scored after fitting (``validation:score=…`` in the
log, for MetricDefinitions). The fitted estimator is saved as ``model.joblib``, which the
model server's scikit-learn handler serves (``text/csv`` rows in, predictions out).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import joblib  # type: ignore[import-untyped]  # no type information shipped
import numpy as np
from sklearn.base import BaseEstimator  # type: ignore[import-untyped]

from modelyard.training.context import TrainingContext

__all__ = ["estimator_class", "read_table", "train"]


def estimator_class(path: str) -> type[BaseEstimator]:
    """The estimator class at ``path`` (``sklearn.linear_model.Ridge``); ValueError for a
    path outside scikit-learn or naming no estimator."""
    module_name, _, name = path.rpartition(".")
    if not module_name.startswith("sklearn.") or not name:
        raise ValueError(
            f"{path!r}: name a scikit-learn estimator, e.g. sklearn.linear_model.Ridge"
        )
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise ValueError(f"{path!r}: no such scikit-learn estimator") from None
    if not (isinstance(found, type) and issubclass(found, BaseEstimator)):
        raise ValueError(f"{path!r} is not a scikit-learn estimator")
    return found


def read_table(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Labels and features of every ``*.csv`` under ``folder`` (label first, no header)."""
    files = sorted(folder.rglob("*.csv"))
    if not files:
        raise ValueError(f"no .csv file in the channel ({folder.name})")
    parts = [np.atleast_2d(np.loadtxt(path, delimiter=",", dtype=np.float64)) for path in files]
    table = np.vstack(parts)
    if table.shape[1] < 2:
        raise ValueError("each row needs a label and at least one feature")
    return table[:, 0], table[:, 1:]


def train(context: TrainingContext) -> None:
    """Fit the estimator named by the algorithm on the ``train`` channel (see the module)."""
    if len(context.arguments) != 1:
        raise ValueError("the algorithm name must be sklearn:<estimator import path>")
    cls = estimator_class(context.arguments[0])
    labels, features = read_table(context.channel("train"))
    estimator = cls(**dict(context.hyperparameters))
    estimator.fit(features, labels)
    print(f"train:score={estimator.score(features, labels):.6f}", flush=True)
    if "validation" in context.channels:
        valid_labels, valid_features = read_table(context.channel("validation"))
        print(f"validation:score={estimator.score(valid_features, valid_labels):.6f}", flush=True)
    joblib.dump(estimator, context.model_dir / "model.joblib")
