"""A SageMaker inference-toolkit script: model_fn, input_fn, predict_fn, output_fn.

The model is the iris classifier trained by examples/prepare.py; answers name the species.
"""

import json
import os

import joblib
import numpy as np

SPECIES = ["setosa", "versicolor", "virginica"]


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(input_data, content_type):
    if content_type.startswith("application/json"):
        rows = json.loads(input_data)
        return np.asarray(rows.get("instances", rows) if isinstance(rows, dict) else rows, float)
    if content_type.startswith("text/csv"):
        text = input_data.decode() if isinstance(input_data, bytes) else input_data
        return np.array([[float(v) for v in line.split(",")] for line in text.splitlines() if line])
    raise ValueError(f"unsupported content type {content_type}")


def predict_fn(data, model):
    return model.predict_proba(np.atleast_2d(data))


def output_fn(prediction, accept):
    rows = [
        {"species": SPECIES[int(np.argmax(p))], "probabilities": [round(float(x), 4) for x in p]}
        for p in prediction
    ]
    return json.dumps({"predictions": rows}), "application/json"
