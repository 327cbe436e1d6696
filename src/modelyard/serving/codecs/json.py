"""The ``application/json`` codec: orjson both ways, numpy values written natively.

Decoding gives plain Python objects (dict, list, str, int, float, bool, None). Encoding
accepts those plus numpy arrays and scalars: C-contiguous arrays of the dtypes orjson knows
are written by orjson itself (``OPT_SERIALIZE_NUMPY``, no ``tolist()`` round trip); other
arrays and numpy scalars fall back to ``tolist()`` / ``item()``. Like every JSON writer,
non-finite floats (NaN, ±inf) are written as ``null``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelyard.errors import NotAcceptable, PayloadMalformed

__all__ = ["CONTENT_TYPE", "decode", "encode"]

#: The media type this codec reads and writes.
CONTENT_TYPE = "application/json"

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def _default(value: Any) -> Any:
    """Convert what orjson cannot write natively; called by orjson only for those values."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SV":
            return [_bytes_to_text(v) for v in value.ravel().tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_to_text(bytes(value))
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _bytes_to_text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TypeError(f"bytes value is not UTF-8 text: {exc}") from exc


def decode(body: bytes) -> Any:
    """Parse a JSON body into Python objects; ``PayloadMalformed`` names the position."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadMalformed(f"JSON body is malformed: {exc}") from exc


def encode(value: Any) -> bytes:
    """Write ``value`` as JSON; ``NotAcceptable`` when some part of it has no JSON form."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        pass
    # orjson refuses some arrays outright (non-native byte order) instead of handing them to
    # ``default``; without OPT_SERIALIZE_NUMPY every array goes through ``tolist()``.
    try:
        return orjson.dumps(value, default=_default)
    except orjson.JSONEncodeError as exc:
        raise NotAcceptable(f"cannot encode the result as {CONTENT_TYPE}: {exc}") from exc
