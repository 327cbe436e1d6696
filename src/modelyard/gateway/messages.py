"""What passes between the HTTP layer and the gateway runtime: a request and its answer.

The HTTP layer hands :class:`~modelyard.gateway.runtime.GatewayRuntime` a
:class:`GatewayRequest` as it received it and sends back the :class:`GatewayAnswer`;
every step of the runtime answers in that shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["GatewayAnswer", "GatewayRequest", "json_answer"]


@dataclass(frozen=True, kw_only=True)
class GatewayRequest:
    """One request to a deployed API, as the HTTP layer received it."""

    api_id: str
    stage: str
    #: The path under the stage, from ``/``.
    path: str
    http_method: str
    #: Every header, in order (names as sent).
    headers: Sequence[tuple[str, str]]
    #: Every query parameter, in order.
    query: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    #: For SigV4 (AWS_IAM): the request as sent.
    host: str = ""
    raw_path: str = "/"
    query_string: str = ""


@dataclass(frozen=True, kw_only=True)
class GatewayAnswer:
    """The answer to send."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_answer(status: int, body: Mapping[str, Any], request_id: str | None) -> GatewayAnswer:
    """An answer of the gateway's own in JSON (``{"message": ...}``), with
    ``x-amzn-RequestId`` when ``request_id`` is given."""
    headers = {"Content-Type": "application/json"}
    if request_id is not None:
        headers["x-amzn-RequestId"] = request_id
    return GatewayAnswer(status=status, headers=headers, body=orjson.dumps(body))
