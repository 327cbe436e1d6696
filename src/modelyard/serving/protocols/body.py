"""Reading request bodies within the configured size limit."""

from __future__ import annotations

import orjson
from starlette.requests import Request

from modelyard.errors import PayloadMalformed, PayloadTooLarge

__all__ = ["parse_json_object", "read_body"]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body; PayloadTooLarge as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise PayloadMalformed(f"invalid Content-Length header {declared!r}") from None
        if size > limit:
            raise PayloadTooLarge(
                f"request body of {size} bytes exceeds the limit of {limit} bytes"
            )
        return await request.body()
    # Chunked upload: stop reading as soon as the limit is passed.
    chunks = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, object]:
    """A JSON object from a request body, or PayloadMalformed naming the problem."""
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PayloadMalformed(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PayloadMalformed("request body must be a JSON object")
    return value
