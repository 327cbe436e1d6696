"""Timestamps as Amazon States Language defines them: RFC 3339 date-times, read exactly.

ASL (Choice Rules' ``Timestamp…`` operators and ``IsTimestamp``, a Wait state's
``Timestamp``) takes RFC 3339's profile of ISO 8601 with an uppercase ``T`` between date and
time and an uppercase ``Z`` when no numeric offset is given::

    2016-08-18T17:33:00Z            2016-08-18T17:33:00.123456789+05:30

:func:`parse_timestamp` gives the :class:`Instant` such a string names, or ``None``; instants
order and compare as the moments do, offsets applied and fractional seconds to any
precision (not rounded to microseconds as ``datetime`` would).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final, NamedTuple

__all__ = [
    "Instant",
    "iso8601",
    "parse_timestamp",
]


class Instant(NamedTuple):
    """A moment in UTC; as a tuple it orders as the moments do."""

    #: Whole seconds since 1970-01-01T00:00:00Z (negative before).
    seconds: int
    #: The fractional second's decimal digits, trailing zeros removed (``"5"`` for .50):
    #: so stripped, digit strings order as the fractions do.
    fraction: str

    @property
    def epoch(self) -> float:
        """Seconds since 1970-01-01T00:00:00Z, as a float (to its precision)."""
        return self.seconds + (float(f"0.{self.fraction}") if self.fraction else 0.0)


# RFC 3339 ``date-time``, with ASL's uppercase ``T`` and ``Z``; digits ASCII only.
_TIMESTAMP: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> Instant | None:
    """The instant an ASL timestamp names, or ``None`` when ``text`` is not one.

    Dates must exist (no February 30th); hours run to 23, minutes and offsets' minutes to
    59. A leap second (``:60``) is refused, as Java's ``java.time`` parsers refuse it.
    """
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match[group]) for group in range(1, 7))
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    offset = 0
    if match[8]:
        offset_hours, offset_minutes = int(match[9]), int(match[10])
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = (offset_hours * 60 + offset_minutes) * 60
        if match[8] == "-":
            offset = -offset
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return Instant(seconds - offset, (match[7] or "").rstrip("0"))


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (year 0000 included)."""
    # H. Hinnant's days_from_civil: years counted from March 1st put the leap day last.
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def iso8601(epoch: float) -> str:
    """``epoch`` as Step Functions writes times in the context object (milliseconds, Z)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
