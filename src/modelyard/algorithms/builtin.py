"""The built-in algorithms as training jobs: TopicalPageRank, DocSim and RatingPrediction.

Each function here is the training function of one built-in algorithm (see
``modelyard.training.programs.BUILT_IN``): its params are the job's hyperparameters,
written as a params file writes them::

    {"model_name": "TopicalPageRank", "grammar": "NP: {<ADJ>*<NOUN|PROPN>}",
     "language": "de", "normalization": "None", "n_topics": "100", "window": "10",
     "max_count": "10", "train_df": "factchecks_de.csv"}

and its data the ``train`` channel, where ``train_df`` names the file (it may be left out
when the channel holds one file). A ``name`` hyperparameter names the model
(``TopicalPageRank-de``; default: the ``model_name``); it is no parameter of the algorithm.
The model is saved in the layout of :mod:`modelyard.algorithms.builtin_layout`, which the
model server serves through :mod:`modelyard.algorithms.model_handler`. What each prints
(``validation:rmse=0.93``) is there for the job's MetricDefinitions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Final

import numpy as np

from modelyard.algorithms.builtin_layout import (
    HANDLER_SHIM,
    BuiltInAlgorithm,
    ModelFolder,
    check_model_label,
)
from modelyard.algorithms.docsim import DocSim, DocSimParams, read_corpus
from modelyard.algorithms.keyphrases import KeyphraseParams, TopicalPageRank, read_training_texts
from modelyard.algorithms.rating import (
    RatingModel,
    Ratings,
    parse_rating_params,
    read_ratings,
    train_rating_model,
)
from modelyard.errors import InvalidRequest
from modelyard.training.context import TrainingContext

__all__ = [
    "InvalidTrainingInput",
    "params_of",
    "train_docsim",
    "train_rating",
    "train_topical_pagerank",
]

#: The hyperparameter naming the model; not passed to the algorithm.
NAME_KEY: Final = "name"
#: Params of the pipeline, not of the rating algorithm: they are kept out of its params.
_RATING_PIPELINE_KEYS: Final = frozenset({"model_name", "train_df", "validation_fraction"})
#: Share of the ratings held out to measure RMSE when there is no ``validation`` channel.
DEFAULT_VALIDATION_FRACTION: Final = 0.1
#: Fewer ratings than this are not split: a held-out set of none measures nothing.
_MIN_RATINGS_TO_SPLIT: Final = 10


class InvalidTrainingInput(InvalidRequest):
    """The job's hyperparameters or channels cannot be used by the built-in algorithm."""


def params_of(
    hyperparameters: Mapping[str, Any], algorithm: BuiltInAlgorithm
) -> tuple[str, dict[str, str]]:
    """The model's name and params from a job's hyperparameters: every value a string again.

    The training environment decodes values that are JSON (``"100"`` → 100); the params
    file keeps them as written, so they are turned back into text. ``model_name``
    defaults to ``algorithm`` and must be it when given.
    """
    params = {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in hyperparameters.items()
    }
    label = params.pop(NAME_KEY, None)
    model_name = params.setdefault("model_name", algorithm.value)
    if model_name != algorithm.value:
        raise InvalidTrainingInput(
            f"model_name is {model_name!r}, but the job trains {algorithm.value!r}"
        )
    try:
        return check_model_label(label or algorithm.value), params
    except ValueError as exc:
        raise InvalidTrainingInput(str(exc)) from None


def train_topical_pagerank(context: TrainingContext) -> None:
    """Train TopicalPageRank's topic model on the training CSV's documents."""
    label, raw = params_of(context.hyperparameters, BuiltInAlgorithm.TOPICAL_PAGERANK)
    params = KeyphraseParams.parse(raw)
    documents = read_training_texts(_train_file(context, params.train_df))
    started = time.perf_counter()
    model = TopicalPageRank.fit(params, documents)
    seconds = time.perf_counter() - started
    folder = _save_layout(context, label, raw)
    model.save(folder.model_dir)
    _print_metrics(
        documents=len(documents),
        vocabulary=len(model.topics.vocabulary),
        seconds=seconds,
        documents_per_second=len(documents) / max(seconds, 1e-9),
    )


def train_docsim(context: TrainingContext) -> None:
    """Index the fact-checks of the training CSV for similarity search."""
    label, raw = params_of(context.hyperparameters, BuiltInAlgorithm.DOCSIM)
    params = DocSimParams.parse(raw)
    rows = read_corpus(_train_file(context, params.train_df))
    started = time.perf_counter()
    docsim = DocSim.fit(rows, params)
    seconds = time.perf_counter() - started
    folder = _save_layout(context, label, raw)
    docsim.save(folder.model_dir)
    _print_metrics(
        documents=docsim.size,
        seconds=seconds,
        documents_per_second=docsim.size / max(seconds, 1e-9),
    )


def train_rating(context: TrainingContext) -> None:
    """Train a rating model on the training ratings, reporting a held-out RMSE.

    The held-out ratings are the ``validation`` channel's, if the job has one; else a
    seeded share (``validation_fraction``, default 0.1) of the training ratings, in which
    case the model is trained on that split for the RMSE and then on every rating.
    """
    label, raw = params_of(context.hyperparameters, BuiltInAlgorithm.RATING_PREDICTION)
    params = parse_rating_params(
        {key: value for key, value in raw.items() if key not in _RATING_PIPELINE_KEYS}
    )
    ratings = read_ratings(_train_file(context, raw.get("train_df")))
    if "validation" in context.channels:
        held_out = read_ratings(_train_file(context, None, "validation"))
        started = time.perf_counter()
        model = train_rating_model(ratings, params)
        seconds = time.perf_counter() - started
        _print_metrics(validation_rmse=_rmse(model, held_out))
    else:
        count = round(len(ratings) * _fraction(raw.get("validation_fraction")))
        if len(ratings) >= _MIN_RATINGS_TO_SPLIT and count > 0:
            order = np.random.default_rng(params.seed).permutation(len(ratings))
            split = train_rating_model(ratings.take(order[count:]), params)
            _print_metrics(validation_rmse=_rmse(split, ratings.take(order[:count])))
        # Measured on the split; the model kept learns from every rating.
        started = time.perf_counter()
        model = train_rating_model(ratings, params)
        seconds = time.perf_counter() - started
    folder = _save_layout(context, label, raw)
    model.save(folder.model_dir)
    _print_metrics(
        ratings=len(ratings),
        users=len(model.user_ids),
        items=len(model.item_ids),
        rmse=_rmse(model, ratings),
        seconds=seconds,
    )


def _train_file(context: TrainingContext, name: str | None, channel: str = "train") -> Path:
    """The channel's file named ``name``, or its only file when no name is given."""
    folder = context.channel(channel)
    files = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    if name is None:
        if len(files) == 1:
            return folder / files[0]
        raise InvalidTrainingInput(
            f"the {channel} channel holds {len(files)} files ({', '.join(files) or 'none'}): "
            "name the training file with the train_df hyperparameter"
        )
    relative = PurePosixPath(name)
    if not name or relative.is_absolute() or ".." in relative.parts:
        raise InvalidTrainingInput(f"train_df {name!r} must be a file name inside the channel")
    if relative.as_posix() not in files:
        raise InvalidTrainingInput(
            f"train_df {name!r} is not in the {channel} channel (it holds: "
            f"{', '.join(files) or 'nothing'})"
        )
    return folder / relative


def _save_layout(context: TrainingContext, label: str, params: Mapping[str, str]) -> ModelFolder:
    """Write the params file and the handler; the algorithm saves into ``model_dir``."""
    folder = ModelFolder(root=context.model_dir, label=label)
    folder.params_file.write_text(
        json.dumps(dict(params), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    folder.handler_file.write_text(HANDLER_SHIM, encoding="utf-8")
    return folder


def _fraction(text: str | None) -> float:
    if text is None:
        return DEFAULT_VALIDATION_FRACTION
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value < 1.0:
        raise InvalidTrainingInput(f"validation_fraction must be from 0 to below 1, not {text!r}")
    return value


def _rmse(model: RatingModel, ratings: Ratings) -> float:
    """Root mean squared error of ``model``'s predictions of ``ratings``."""
    errors = model.predict(list(ratings.users), list(ratings.items)) - ratings.values
    return float(np.sqrt(np.mean(np.square(errors))))


def _print_metrics(**metrics: float) -> None:
    """One log line ``train:documents=30 train:seconds=0.41 ...`` (``validation_x``:
    ``validation:x``), in the ``name=value`` form MetricDefinitions find."""
    parts = []
    for key, value in metrics.items():
        channel, _, metric = key.partition("_") if key.startswith("validation_") else ("", "", key)
        name = f"{channel or 'train'}:{metric}"
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        parts.append(f"{name}={shown}")
    print(" ".join(parts), flush=True)
