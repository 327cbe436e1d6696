"""Deployed APIs over HTTP: where their stages are served.

::

    ANY /restapis/{api}/{stage}/_user_request_/{path}   (the form LocalStack users know)
    ANY /apis/{api}/{stage}/{path}

Each request is handed whole to :class:`~modelyard.gateway.runtime.GatewayRuntime`; the
body is read up to API Gateway's payload limit (10 MB, else 413).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.errors import PayloadTooLarge
from modelyard.gateway.runtime import GatewayRequest, GatewayRuntime
from modelyard.ids import uuid4_string
from modelyard.serving.protocols.body import read_body

__all__ = ["MAX_PAYLOAD_BYTES", "METHODS", "routes"]

#: API Gateway's payload limit.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
#: The methods a deployed API may define.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]


def routes(runtime: GatewayRuntime) -> list[Route]:
    """The two forms of a deployed API's URL."""

    async def serve(request: Request) -> Response:
        try:
            body = await read_body(request, MAX_PAYLOAD_BYTES)
        except PayloadTooLarge:
            return Response(
                orjson.dumps({"message": "Request Too Long"}),
                status_code=413,
                media_type="application/json",
                headers={"x-amzn-RequestId": uuid4_string()},
            )
        path = "/" + str(request.path_params.get("path", "")).lstrip("/")
        answer = await runtime.handle(
            GatewayRequest(
                api_id=str(request.path_params["api"]),
                stage=str(request.path_params["stage"]),
                path=path,
                http_method=request.method,
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                query=parse_qsl(request.url.query, keep_blank_values=True),
                body=body,
                source_ip=request.client.host if request.client else "127.0.0.1",
                host=request.headers.get("host", ""),
                raw_path=request.scope.get("raw_path", b"/").decode("latin-1"),
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
            )
        )
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    user_request = "/restapis/{api}/{stage}/_user_request_"
    return [
        Route(user_request, serve, methods=METHODS),
        Route(user_request + "/{path:path}", serve, methods=METHODS),
        Route("/apis/{api}/{stage}", serve, methods=METHODS),
        Route("/apis/{api}/{stage}/{path:path}", serve, methods=METHODS),
    ]
