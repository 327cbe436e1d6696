"""The scikit-learn estimator algorithm: tabular CSV with the label first, the estimator's
parameters as hyperparameters, ``model.joblib`` out; only scikit-learn estimators."""

from __future__ import annotations

import sys
from pathlib import Path

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest

from modelyard.algorithms.sklearn_estimator import estimator_class, train
from modelyard.training.context import TrainingContext
from modelyard.training.programs import SKLEARN, program_for


def context(
    tmp_path: Path, *, arguments: tuple[str, ...], **hyperparameters: object
) -> TrainingContext:
    rng = np.random.default_rng(7)
    channels = {}
    for name, rows in (("train", 200), ("validation", 60)):
        features = rng.normal(size=(rows, 3))
        labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(int)
        folder = tmp_path / name
        folder.mkdir()
        np.savetxt(folder / "part-0.csv", np.column_stack([labels, features]), delimiter=",")
        channels[name] = folder
    (tmp_path / "model").mkdir()
    return TrainingContext(
        model_dir=tmp_path / "model",
        output_data_dir=tmp_path,
        channels=channels,
        hyperparameters=hyperparameters,
        num_cpus=1,
        job_name="j",
        arguments=arguments,
    )


def test_an_estimator_is_fitted_with_its_hyperparameters_and_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = context(
        tmp_path, arguments=("sklearn.linear_model.LogisticRegression",), C=0.5, max_iter=300
    )

    train(given)

    model = joblib.load(tmp_path / "model" / "model.joblib")
    assert (model.C, model.max_iter) == (0.5, 300)
    log = capsys.readouterr().out
    score = float(log.split("validation:score=")[1].split()[0])
    assert score > 0.9  # a linear boundary, learnt


@pytest.mark.parametrize(
    "path",
    [
        "os.system",
        "sklearn.base.clone",
        "sklearn.nothing.Here",
        "numpy.linalg.LinAlgError",
        "Ridge",
    ],
)
def test_only_scikit_learn_estimators_are_taken(path: str) -> None:
    with pytest.raises(ValueError, match="scikit-learn estimator"):
        estimator_class(path)


def test_the_algorithm_name_selects_the_estimator() -> None:
    program = program_for({"AlgorithmName": "sklearn:sklearn.ensemble.RandomForestRegressor"}, {})

    assert program.command == [
        sys.executable,
        "-m",
        "modelyard.training.run_function",
        SKLEARN,
        "sklearn.ensemble.RandomForestRegressor",
    ]
