"""Adaptive batching in the worker: concurrent V2 requests get their own answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import joblib
import numpy as np

from tests.fixtures.models import sklearn_model, sum_model
from tests.servers import model_server


def test_interleaved_requests_for_several_models_get_their_own_answers(tmp_path: Path) -> None:
    store = tmp_path / "store"
    sklearn_model(store, "lr_a", n_features=4)
    sklearn_model(store, "lr_b", n_features=4)
    sum_model(store, "sum")
    estimator = joblib.load(store / "lr_a" / "model.joblib")
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(96, 4))

    def body(row: np.ndarray, output: str | None) -> dict[str, object]:
        request: dict[str, object] = {
            "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": row.tolist()}]
        }
        if output:
            request["outputs"] = [{"name": output}]
        return request

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            calls = []
            for i, row in enumerate(rows):
                model = ("lr_a", "lr_b", "sum")[i % 3]
                output = "predict_proba" if i % 2 else None
                calls.append(
                    client.post(
                        f"/v2/models/{model}/infer",
                        json=body(row, output if model != "sum" else None),
                    )
                )
            return await asyncio.gather(*calls)

    with model_server(store, tmp_path / "home") as url:
        responses = asyncio.run(burst(url))

    for i, (row, response) in enumerate(zip(rows, responses, strict=True)):
        assert response.status_code == 200, response.text
        output = response.json()["outputs"][0]
        model = ("lr_a", "lr_b", "sum")[i % 3]
        if model == "sum":
            assert output["data"] == [float(np.sum(row))]
        elif i % 2:
            assert output["name"] == "predict_proba"
            np.testing.assert_allclose(output["data"], estimator.predict_proba([row])[0])
        else:
            assert output["name"] == "predict"
            assert output["data"] == [int(estimator.predict([row])[0])]
