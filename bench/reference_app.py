"""Bare reference server for the serving benchmark: one model, in process, no framework.

It answers ``POST /v2/models/{name}/infer`` (KServe V2 JSON) by calling ``predict_proba``
in the request's own event loop. It is the ceiling modelyard is compared with: the same
parsing library (orjson), the same server (uvicorn with uvloop and httptools, one process,
no access log) and the same model, with no worker processes, cache or protocol layers.

Run: ``python bench/reference_app.py MODEL.joblib PORT`` (one model, whatever the name), or
``python bench/reference_app.py --lru N STORE PORT``: the model named in the path, loaded
from ``STORE/<name>/model.joblib`` on a miss into an in-process LRU of ``N`` models (the
churn case's reference: what a bare server with its own model cache does).
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["create_app", "main"]


class LruModels:
    """At most ``capacity`` models, loaded from ``store`` on a miss, least recently used out."""

    def __init__(self, store: Path, capacity: int) -> None:
        self._store = store
        self._capacity = capacity
        self._models: OrderedDict[str, Any] = OrderedDict()

    def __call__(self, name: str) -> Any:
        model = self._models.get(name)
        if model is not None:
            self._models.move_to_end(name)
            return model
        model = joblib.load(self._store / name / "model.joblib")
        self._models[name] = model
        if len(self._models) > self._capacity:
            self._models.popitem(last=False)
        return model


def create_app(models: Callable[[str], Any]) -> Starlette:
    """An app whose one route runs ``predict_proba`` of ``models(name)`` on the V2 request."""

    async def infer(request: Request) -> Response:
        model = models(request.path_params["name"])
        body = orjson.loads(await request.body())
        tensor = body["inputs"][0]
        rows = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
        proba = model.predict_proba(rows)
        payload = {
            "model_name": request.path_params["name"],
            "outputs": [
                {
                    "name": "predict_proba",
                    "shape": list(proba.shape),
                    "datatype": "FP64",
                    "data": proba.ravel().tolist(),
                }
            ],
        }
        return Response(orjson.dumps(payload), media_type="application/json")

    async def ping(request: Request) -> Response:
        return Response(b"{}", media_type="application/json")

    return Starlette(
        routes=[
            Route("/v2/models/{name}/infer", infer, methods=["POST"]),
            Route("/ping", ping, methods=["GET"]),
        ]
    )


def main(argv: list[str]) -> None:
    """Serve one model (``MODEL PORT``) or an LRU of models (``--lru N STORE PORT``)."""
    if argv[0] == "--lru":
        capacity, store, port = int(argv[1]), Path(argv[2]), int(argv[3])
        app = create_app(LruModels(store, capacity))
    else:
        model = joblib.load(argv[0])
        port = int(argv[1])
        app = create_app(lambda name: model)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        workers=1,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
