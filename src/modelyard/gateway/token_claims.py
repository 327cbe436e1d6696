"""A user pool token's claims, as API Gateway passes them on in ``$context.authorizer.claims``.

The claims are strings there: ``exp`` and ``iat`` as dates, as Java prints them
(``Wed Nov 06 07:36:54 UTC 2019``), other numbers as decimals, lists joined by commas,
objects as JSON.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any, Final

import orjson

__all__ = ["claim_text", "claims_of"]

_DATE_CLAIMS: Final = frozenset({"exp", "iat"})
_DAYS: Final = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTHS: Final = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a token the verifier accepted (so its signature needs no second look)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = orjson.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def claim_text(name: str, value: Any) -> str:
    """A claim as API Gateway passes it on: a string (dates as Java prints them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in _DATE_CLAIMS and isinstance(value, int | float):
        try:
            when = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return str(value)  # no date a calendar has; the number, then
        # Spelt out rather than strftime's %a/%b, which follow the process's locale.
        return (
            f"{_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when:%d %H:%M:%S} UTC {when.year}"
        )
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)
