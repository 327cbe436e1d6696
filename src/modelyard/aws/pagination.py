"""``NextToken`` pagination tokens: opaque to clients, checked when they come back.

A token says where the next page starts (a position: the sort value and key of the last
row given) and which query it belongs to (a digest of the query's parameters), so a
token used with other filters, or edited, or made up, is refused with a
ValidationException rather than giving a wrong page::

    token = encode_token(("2026-01-01T00:00:00+00:00", "churn"), scope="ListModels|Name|")
    decode_token(token, scope="ListModels|Name|")   # -> the position
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from modelyard.aws.errors import InvalidPaginationToken
from modelyard.storage.listing import Cursor, ListQuery

__all__ = ["Position", "decode_position", "decode_token", "encode_token", "list_query"]

#: What a token can hold: a few scalars, datetimes kept exact.
Position = tuple[str | int | float | datetime | None, ...]

_VERSION = 1


def encode_token(position: Sequence[str | int | float | datetime | None], scope: str) -> str:
    """The token of ``position`` for the query described by ``scope``."""
    values = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in position]
    raw = orjson.dumps({"v": _VERSION, "q": _digest(scope), "p": values})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, scope: str) -> Position:
    """The position ``token`` holds; InvalidPaginationToken unless we made it for ``scope``."""
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        document = orjson.loads(raw)
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidPaginationToken() from None
    if (
        not isinstance(document, dict)
        or document.get("v") != _VERSION
        or document.get("q") != _digest(scope)
        or not isinstance(document.get("p"), list)
    ):
        raise InvalidPaginationToken()
    return tuple(_value(v) for v in document["p"])


def _value(value: object) -> str | int | float | datetime | None:
    if isinstance(value, dict) and set(value) == {"t"} and isinstance(value["t"], str):
        try:
            moment = datetime.fromisoformat(value["t"])
        except ValueError:
            raise InvalidPaginationToken() from None
        if moment.tzinfo is None:
            raise InvalidPaginationToken()
        return moment
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    raise InvalidPaginationToken()


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]


def decode_position(token: str, scope: str, types: Sequence[type]) -> tuple[Any, ...]:
    """The position ``token`` holds, checked to be values of ``types`` in order."""
    position = decode_token(token, scope)
    if len(position) != len(types) or not all(
        isinstance(v, t) for v, t in zip(position, types, strict=True)
    ):
        raise InvalidPaginationToken()
    return position


def list_query(
    operation: str,
    *,
    column: str,
    descending: bool,
    criteria: Mapping[str, Any],
    next_token: str | None,
    limit: int,
) -> tuple[ListQuery, str]:
    """The storage query of a SageMaker-style List request sorted by ``column``, and the
    scope its tokens belong to: a token is valid only for the query that made it (same
    operation, filters and order)."""
    scope = "|".join(
        [operation, column, str(descending)]
        + [f"{k}={v.isoformat() if isinstance(v, datetime) else v}" for k, v in criteria.items()]
    )
    after: Cursor | None = None
    if next_token:
        value_type: type = datetime if column == "created_at" else str
        value, key = decode_position(next_token, scope, (value_type, str))
        after = (value, key)
    query = ListQuery(sort_by=column, descending=descending, after=after, limit=limit, **criteria)
    return query, scope
