"""Prepare the examples in a modelyard home: the models, and the endpoints seeded over them.

Run by ``make run``. Trains the iris classifiers on scikit-learn's bundled iris data
(nothing is downloaded, so no model binary is committed) and copies the other models into
``<home>/store/models``. Copies ``endpoints.json`` to ``<home>/seed/endpoints.json``: at
every start, ``modelyard up`` creates the endpoints it declares that do not exist (see
``modelyard.endpoints.seed``), filed under categories for the jobs API, and the example
APIs to ``<home>/seed/apis`` (deployed at start, ``modelyard.gateway.seed``). Idempotent: models
and a seed file already in place are left alone (edit the home's seed file to change what
is seeded; ``make clean`` starts afresh).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelyard.endpoints.seed import SEED_FILE, read_seed
from modelyard.gateway.seed import SEED_FOLDER

EXAMPLES = Path(__file__).parent / "models"
#: The example endpoints: name, model artifact, categories.
ENDPOINTS = Path(__file__).parent / "endpoints.json"
#: The example APIs: OpenAPI documents with API Gateway's extensions.
APIS = Path(__file__).parent / "apis"


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


def seed_endpoints(home: Path) -> list[str]:
    """Put the example endpoints' seed file into ``home``; returns the endpoints it declares."""
    seed = home / SEED_FILE
    if not seed.exists():
        seed.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ENDPOINTS, seed)
    declared = read_seed(seed)
    return [entry.name for entry in declared.endpoints] if declared else []


def seed_apis(home: Path) -> list[str]:
    """Put the example APIs' OpenAPI documents into ``<home>/seed/apis`` (imported and
    deployed at start, see ``modelyard.gateway.seed``); returns their ids."""
    folder = home / SEED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for document in sorted(APIS.iterdir()):
        target = folder / document.name
        if document.is_file() and not target.exists():
            shutil.copyfile(document, target)
    return sorted(p.name.split(".")[0] for p in folder.iterdir() if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=Path(".modelyard"))
    args = parser.parse_args()
    names = prepare(args.home)
    print(f"example models ready in {args.home / 'store' / 'models'}: {', '.join(names)}")
    endpoints = seed_endpoints(args.home)
    print(f"example endpoints, created at start: {', '.join(endpoints)}")
    apis = seed_apis(args.home)
    print(f"example APIs, deployed at start to the stage prod: {', '.join(apis)}")


if __name__ == "__main__":
    main()
