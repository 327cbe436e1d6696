"""Prepare the example models in a modelyard home: train the iris classifiers, copy the rest.

Run by ``make run``. Trains on scikit-learn's bundled iris data (nothing is downloaded), so
no model binary is committed. Idempotent: models already in place are left alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

EXAMPLES = Path(__file__).parent / "models"


def train_iris(target: Path) -> None:
    """A scikit-learn classifier on iris, served by the built-in sklearn runtime."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(features, labels)
    target.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, target / "model.joblib")


def prepare(home: Path) -> list[str]:
    """Put every example model into ``<home>/store/models``; returns their names."""
    store = home / "store" / "models"
    store.mkdir(parents=True, exist_ok=True)
    iris = store / "iris"
    if not (iris / "model.joblib").exists():
        train_iris(iris)
        (iris / "model-settings.json").write_text(
            json.dumps({"handler": "sklearn", "method": "predict"})
        )
    for folder in sorted(EXAMPLES.iterdir()):
        target = store / folder.name
        if folder.is_dir() and not target.exists():
            shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"))
    toolkit = store / "iris-toolkit"
    if not (toolkit / "model.joblib").exists():
        train_iris(toolkit)
    return sorted(p.name for p in store.iterdir() if not p.name.startswith("."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path(".modelyard"))
    args = parser.parse_args()
    names = prepare(args.home)
    print(f"example models ready in {args.home / 'store' / 'models'}: {', '.join(names)}")


if __name__ == "__main__":
    main()
