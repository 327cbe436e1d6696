"""Bare reference server for the serving benchmark: one model, in process, no framework.

It answers ``POST /v2/models/{name}/infer`` (KServe V2 JSON) by calling ``predict_proba``
in the request's own event loop. It is the ceiling modelyard is compared with: the same
parsing library (orjson), the same server (uvicorn with uvloop and httptools, one process,
no access log) and the same model, with no worker processes, cache or protocol layers.

Run: ``python bench/reference_app.py MODEL.joblib PORT``.
"""

from __future__ import annotations

import sys
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


def create_app(model: Any) -> Starlette:
    """An app whose one route runs ``model.predict_proba`` on the V2 request's first input."""

    async def infer(request: Request) -> Response:
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
    """Serve the model at ``argv[0]`` on 127.0.0.1 port ``argv[1]``."""
    model_path, port = argv[0], int(argv[1])
    app = create_app(joblib.load(model_path))
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
