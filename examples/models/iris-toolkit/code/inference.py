"""A SageMaker inference-toolkit script: model_fn, input_fn, predict_fn, output_fn.

The model is the iris classifier trained by examples/prepare.py; answers name the species.
Input the model cannot use is the client's mistake and is answered as one: ``input_fn``
raises modelyard's ``InvalidRequest`` errors (4xx, the message naming the problem), where
anything else a script raises would be a 500.
"""

import json
import os

import joblib
import numpy as np

from modelyard.errors import InvalidRequest, PayloadMalformed, UnsupportedContentType

SPECIES = ["setosa", "versicolor", "virginica"]
#: Sepal length, sepal width, petal length, petal width (cm).
N_FEATURES = 4


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(input_data, content_type):
    if content_type.startswith("application/json"):
        try:
            rows = json.loads(input_data)
        except ValueError as exc:
            raise PayloadMalformed(f"the body is not JSON: {exc}") from exc
        if isinstance(rows, dict):
            rows = rows.get("instances")
    elif content_type.startswith("text/csv"):
        text = input_data.decode() if isinstance(input_data, bytes) else input_data
        rows = [line.split(",") for line in text.splitlines() if line.strip()]
    else:
        raise UnsupportedContentType(
            f"content type {content_type!r} is not supported: send application/json or text/csv"
        )
    try:
        features = np.atleast_2d(np.asarray(rows, dtype=float))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"the rows are not a table of numbers: {exc}") from exc
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] != N_FEATURES:
        raise InvalidRequest(
            f"send rows of {N_FEATURES} numbers (sepal length, sepal width, petal length, "
            f'petal width), as a JSON list of rows, {{"instances": [...]}} or CSV lines; '
            f"got shape {list(features.shape)}"
        )
    if not np.isfinite(features).all():
        raise InvalidRequest("every feature must be a finite number (no NaN, null or infinity)")
    return features


def predict_fn(data, model):
    return model.predict_proba(np.atleast_2d(data))


def output_fn(prediction, accept):
    rows = [
        {"species": SPECIES[int(np.argmax(p))], "probabilities": [round(float(x), 4) for x in p]}
        for p in prediction
    ]
    return json.dumps({"predictions": rows}), "application/json"
