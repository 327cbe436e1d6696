"""The content-type facade of SageMaker ``/invocations``: one ``decode``/``encode`` for every format.

    body = b"1.5,16.0,14,23.0\\n"
    features = decode(body, "text/csv; charset=utf-8")      # 2-D float64 array
    media_type = negotiate(request_accept, default="application/json")
    payload, content_type = encode(predictions, media_type)

What each format decodes to and accepts for encoding is documented in its module:
``json``, ``csv``, ``libsvm`` and ``recordio``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modelyard.errors import NotAcceptable, UnsupportedContentType
from modelyard.serving.codecs import csv, json, libsvm, recordio
from modelyard.serving.codecs.negotiation import media_type_of, select_media_type

__all__ = ["SUPPORTED_CONTENT_TYPES", "decode", "encode", "negotiate"]

#: Media types ``decode`` and ``encode`` understand, in order of preference for wildcards.
#: ``text/libsvm`` is the name SageMaker XGBoost uses for ``text/x-libsvm``.
SUPPORTED_CONTENT_TYPES: tuple[str, ...] = (
    json.CONTENT_TYPE,
    csv.CONTENT_TYPE,
    libsvm.CONTENT_TYPE,
    "text/libsvm",
    recordio.CONTENT_TYPE,
)

_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    json.CONTENT_TYPE: json.encode,
    csv.CONTENT_TYPE: csv.encode,
    libsvm.CONTENT_TYPE: libsvm.encode,
    "text/libsvm": libsvm.encode,
    recordio.CONTENT_TYPE: recordio.encode,
}


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


def decode(body: bytes, content_type: str) -> Any:
    """Decode a request body by its ``Content-Type`` (parameters allowed, case-insensitive).

    Raises ``UnsupportedContentType`` naming the type and the supported ones, or
    ``PayloadMalformed`` naming what is wrong and where.
    """
    media_type = media_type_of(content_type)
    if media_type == json.CONTENT_TYPE:
        return json.decode(body)
    if media_type == csv.CONTENT_TYPE:
        return csv.decode(body, _charset(content_type))
    if media_type in (libsvm.CONTENT_TYPE, "text/libsvm"):
        return libsvm.decode(body)
    if media_type == recordio.CONTENT_TYPE:
        return recordio.decode(body)
    raise UnsupportedContentType(
        f"content type {content_type!r} is not supported; "
        f"supported: {', '.join(SUPPORTED_CONTENT_TYPES)}"
    )


def encode(value: Any, accept: str) -> tuple[bytes, str]:
    """Encode a result as the media type ``accept`` (one type, parameters ignored).

    Returns the body and its content type. Raises ``NotAcceptable`` when the type is not
    supported (use ``negotiate`` first to resolve a full ``Accept`` header) or when the
    value has no form in that type.
    """
    media_type = media_type_of(accept)
    encoder = _ENCODERS.get(media_type)
    if encoder is None:
        raise NotAcceptable(
            f"cannot encode as {accept!r}; supported: {', '.join(SUPPORTED_CONTENT_TYPES)}"
        )
    return encoder(value), media_type


def negotiate(accept_header: str | None, default: str) -> str:
    """Pick the supported media type that best matches an HTTP ``Accept`` header.

    ``None``, empty and ``*/*`` give ``default``; ``q`` values, ``type/*`` and ``*/*`` are
    honoured; ``NotAcceptable`` when nothing supported is acceptable.
    """
    return select_media_type(accept_header, default, SUPPORTED_CONTENT_TYPES)
