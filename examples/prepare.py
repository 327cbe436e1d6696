"""Prepare the examples in a modelyard home: the models, and the endpoints seeded over them.

Run by ``make run``. Trains the iris classifiers on scikit-learn's bundled iris data
(nothing is downloaded, so no model binary is committed) and copies the other models into
``<home>/store/models``. Writes the synthetic ratings the ``examples/ratings`` pipeline
trains on into the store (``make run`` then runs the two example pipelines, ``ratings``
and ``factchecks``, whose models the seeded ``rating`` and ``factchecks`` endpoints
serve). Copies ``endpoints.json`` to ``<home>/seed/endpoints.json``: at
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
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelyard.endpoints.seed import SEED_FILE, read_seed
from modelyard.gateway.seed import SEED_FOLDER

EXAMPLES = Path(__file__).parent / "models"
#: The example endpoints: name, model artifact, categories.
ENDPOINTS = Path(__file__).parent / "endpoints.json"
#: The example APIs: OpenAPI documents with API Gateway's extensions.
APIS = Path(__file__).parent / "apis"
#: The example training pipelines, run by ``make run`` after this script.
PIPELINES = [
    Path(__file__).parent / "factchecks" / "models_to_be_trained.json",
    Path(__file__).parent / "ratings" / "models_to_be_trained.json",
]
#: Where the ratings pipeline's channels are, in the store (``examples/ratings``).
RATINGS = {
    "train": "data/ratings/train/ratings.csv",
    "validation": "data/ratings/validation/ratings.csv",
}


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


def synthetic_ratings(
    users: int = 300, items: int = 400, per_user: int = 40, seed: int = 7
) -> list[tuple[str, str, int]]:
    """Ratings as people with tastes would give them: ``(u<N>, movie-<N>, 1..5)``.

    Each user and item has a bias and four hidden tastes; a rating is the rounded sum of
    the mean, both biases, the tastes' agreement and noise, kept within 1 to 5. A latent
    factor model can learn them; a global mean cannot.
    """
    rng = np.random.default_rng(seed)
    user_taste = rng.normal(0.0, 0.6, (users, 4))
    item_taste = rng.normal(0.0, 0.6, (items, 4))
    user_bias = rng.normal(0.0, 0.4, users)
    item_bias = rng.normal(0.0, 0.5, items)
    rows = []
    for user in range(users):
        for item in rng.choice(items, size=per_user, replace=False):
            score = 3.4 + user_bias[user] + item_bias[item] + user_taste[user] @ item_taste[item]
            rating = int(np.clip(np.rint(score + rng.normal(0.0, 0.4)), 1, 5))
            rows.append((f"u{user + 1}", f"movie-{item + 1}", rating))
    return rows


def write_ratings(home: Path) -> int:
    """Put the synthetic ratings into the store, nine tenths to train on and a tenth held
    out for validation (``examples/ratings``); returns how many there are."""
    store = home / "store"
    rows = synthetic_ratings()
    held_out = set(np.random.default_rng(8).permutation(len(rows))[: len(rows) // 10].tolist())
    parts: dict[str, list[str]] = {"train": [], "validation": []}
    for index, (user, item, rating) in enumerate(rows):
        parts["validation" if index in held_out else "train"].append(f"{user},{item},{rating}")
    for channel, key in RATINGS.items():
        target = store / key
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("user,item,rating\n" + "\n".join(parts[channel]) + "\n")
    return len(rows)


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
    ratings = write_ratings(args.home)
    print(f"synthetic ratings for the ratings pipeline: {ratings} in {args.home / 'store'}")
    endpoints = seed_endpoints(args.home)
    print(f"example endpoints, created at start: {', '.join(endpoints)}")
    apis = seed_apis(args.home)
    print(f"example APIs, deployed at start to the stage prod: {', '.join(apis)}")


if __name__ == "__main__":
    main()
