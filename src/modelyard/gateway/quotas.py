"""Request quotas as API Gateway's usage plans count them: so many requests per day, week
or month for each API key.

A :class:`Quota` is a usage plan's ``quota`` (``limit``, ``period``, ``offset``). Periods
are calendar periods in UTC, as API Gateway's are: a DAY from midnight UTC, a MONTH from
midnight UTC on its first day. The documentation does not say on which day a WEEK starts;
it starts on Monday here (ISO 8601). ``offset`` is, in the words of the QuotaSettings
reference, "the number of requests subtracted from the given limit in the initial time
period": a plan starting mid-month grants ``limit - offset`` requests until the month is
over. The initial period of a key is the one in which it first consumed from that quota.

Counting follows API Gateway: a request the quota refuses does not count. Beside each
period's counter a counter per UTC day is kept, so :meth:`QuotaCounters.usage` can answer
what ``GetUsage`` answers, ``[used, remaining]`` per day, where *remaining* is what was
left of the period's quota at the end of that day.

:class:`MemoryQuotas` counts in one process; :class:`RedisQuotas` in Redis, shared by every
gateway process. When Redis cannot be reached, :class:`QuotasUnavailable` is raised and the
caller decides, as for throttling (see :mod:`modelyard.gateway.throttling`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

import redis.asyncio

from modelyard.errors import ModelyardError

# The failures that mean "Redis is down" are the same for both modules.
from modelyard.gateway.throttling import _UNAVAILABLE

__all__ = [
    "MemoryQuotas",
    "Period",
    "Quota",
    "QuotaCounters",
    "QuotaState",
    "QuotasUnavailable",
    "RedisQuotas",
]

#: How long a period's counter outlives its period, so that a process whose clock is a
#: little behind still counts against the period it believes current.
_MARGIN = timedelta(days=1)


class QuotasUnavailable(ModelyardError):
    """The shared quota counters could not be reached; the request was neither allowed nor
    refused."""


class Period(StrEnum):
    """The periods a usage plan's quota may count over (``QuotaSettings.period``)."""

    #: A UTC day, from midnight to midnight.
    DAY = "DAY"
    #: A week from Monday 00:00 UTC.
    WEEK = "WEEK"
    #: A calendar month from 00:00 UTC on its first day.
    MONTH = "MONTH"

    def span(self, day: date) -> tuple[date, date]:
        """The first day of the period holding ``day``, and the first day of the next."""
        if self is Period.DAY:
            return day, day + timedelta(days=1)
        if self is Period.WEEK:
            monday = day - timedelta(days=day.weekday())
            return monday, monday + timedelta(days=7)
        first = day.replace(day=1)
        if first.month == 12:
            return first, first.replace(year=first.year + 1, month=1)
        return first, first.replace(month=first.month + 1)


@dataclass(frozen=True, kw_only=True, slots=True)
class Quota:
    """How many requests a key may make per period (a usage plan's ``quota``).

    ``Quota(limit=10_000, period=Period.MONTH, offset=4_000)`` grants 6,000 requests in the
    key's first month and 10,000 in every month after it.
    """

    #: The most requests per period, >= 0.
    limit: int
    #: The period counted over.
    period: Period
    #: Requests subtracted from ``limit`` in the initial period, >= 0.
    offset: int = 0

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError(f"limit must be >= 0, not {self.limit!r}")
        if self.offset < 0:
            raise ValueError(f"offset must be >= 0, not {self.offset!r}")

    def limit_in(self, first_day: date, initial: date) -> int:
        """The requests granted in the period starting ``first_day``, when the key's initial
        period starts ``initial``."""
        return max(0, self.limit - self.offset) if first_day == initial else self.limit


@dataclass(frozen=True, kw_only=True, slots=True)
class QuotaState:
    """What a request's :meth:`QuotaCounters.consume` came to."""

    #: Whether the request is within the quota (it was counted) or not (it was not).
    allowed: bool
    #: Requests counted in the current period, this one included when allowed.
    used: int
    #: Requests left in the current period (API Gateway's ``remaining``).
    remaining: int
    #: When the current period started, timezone-aware UTC.
    period_start: datetime
    #: When the current period ends (the next one starts), timezone-aware UTC.
    period_end: datetime


class QuotaCounters(Protocol):
    """Per-key request counters for usage plan quotas."""

    async def consume(self, key: str, quota: Quota) -> QuotaState:
        """Count one request of ``key`` against ``quota``, unless the quota is used up.

        Called once per request that passed throttling, with the key the quota is counted
        for (an API key's id, scoped to its usage plan by the caller, e.g. ``"plan:key"``).
        A refused request is not counted.
        """
        ...

    async def usage(
        self, key: str, quota: Quota, start: date, end: date
    ) -> dict[date, tuple[int, int]]:
        """Each day from ``start`` to ``end`` (both included) → ``(used, remaining)``, as
        ``GetUsage`` reports them: the requests counted that day, and what was left of its
        period's quota at its end. Days older than the counters' history read as unused.
        """
        ...


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"the quota clock must give timezone-aware datetimes, not {moment!r}")
    return moment.astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _replay(
    quota: Quota, initial: date, days: list[date], used_on: Callable[[date], int]
) -> dict[date, tuple[int, int]]:
    """``usage`` from the day counters: ``days`` are the asked days, ``used_on`` also
    answers for the days before them in the first asked day's period."""
    answer: dict[date, tuple[int, int]] = {}
    period_first: date | None = None
    used_in_period = 0
    for day in days:
        first, _ = quota.period.span(day)
        if first != period_first:
            period_first = first
            used_in_period = sum(used_on(d) for d in _days(first, day - timedelta(days=1)))
        used = used_on(day)
        used_in_period += used
        answer[day] = (used, max(0, quota.limit_in(first, initial) - used_in_period))
    return answer


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryQuotas:
    """Quota counters in this process's memory (one gateway process, and tests).

    ``clock`` gives the current time, timezone-aware; ``history`` is how long day counters
    are kept for :meth:`usage` after their day (at least until their period is over).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = _utc_now,
        history: timedelta = timedelta(days=90),
    ) -> None:
        self._clock = clock
        self._history = history
        #: (key, period, first day of the period) → requests counted.
        self._period_used: dict[tuple[str, Period, date], int] = {}
        #: (key, day) → requests counted.
        self._day_used: dict[tuple[str, date], int] = {}
        #: (key, period) → first day of the key's initial period. Kept for good: without
        #: it a later period would be taken for the initial one and get the offset again.
        self._initial: dict[tuple[str, Period], date] = {}
        self._prune_above = 1024

    async def consume(self, key: str, quota: Quota) -> QuotaState:
        """See :meth:`QuotaCounters.consume`."""
        today = _utc(self._clock()).date()
        first, following = quota.period.span(today)
        initial = self._initial.setdefault((key, quota.period), first)
        limit = quota.limit_in(first, initial)
        counter = (key, quota.period, first)
        used = self._period_used.get(counter, 0)
        allowed = used < limit
        if allowed:
            used += 1
            self._period_used[counter] = used
            self._day_used[key, today] = self._day_used.get((key, today), 0) + 1
            if len(self._period_used) + len(self._day_used) > self._prune_above:
                self._prune(today)
        return QuotaState(
            allowed=allowed,
            used=used,
            remaining=max(0, limit - used),
            period_start=_midnight(first),
            period_end=_midnight(following),
        )

    async def usage(
        self, key: str, quota: Quota, start: date, end: date
    ) -> dict[date, tuple[int, int]]:
        """See :meth:`QuotaCounters.usage`."""
        today = _utc(self._clock()).date()
        # No initial period yet: it will be the current one, at the key's first request.
        initial = self._initial.get((key, quota.period), quota.period.span(today)[0])
        return _replay(
            quota, initial, _days(start, end), lambda day: self._day_used.get((key, day), 0)
        )

    def _prune(self, today: date) -> None:
        # Sweeping only when the tables have doubled since the last sweep keeps the cost
        # per request constant on average.
        self._period_used = {
            (key, period, first): used
            for (key, period, first), used in self._period_used.items()
            if period.span(first)[1] + _MARGIN > today
        }
        self._day_used = {
            (key, day): used
            for (key, day), used in self._day_used.items()
            if day + self._history >= today
        }
        self._prune_above = max(1024, 2 * (len(self._period_used) + len(self._day_used)))


#: Check-and-count, atomically. KEYS: the period's counter, the day's counter, the key's
#: initial-period marker. ARGV: limit, offset, the period's first day (ISO), and when the
#: two counters expire (ms since the epoch). Returns {allowed 0/1, used, period's limit}.
_CONSUME = """
redis.call('SET', KEYS[3], ARGV[3], 'NX')
local limit = tonumber(ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[3] then
  limit = math.max(0, limit - tonumber(ARGV[2]))
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= limit then
  return {0, used, limit}
end
used = redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('INCR', KEYS[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
return {1, used, limit}
"""


def _epoch_ms(day: date) -> int:
    return int(_midnight(day).timestamp() * 1000)


class RedisQuotas:
    """Quota counters in Redis, shared by every process using the same server and prefix.

    One Lua script checks and counts atomically (``EVALSHA``, loaded again if the server
    has forgotten it). A period's counter expires a day after its period; a day's counter
    ``history`` after its day, and not before its period's counter. The initial-period
    marker of each key (one small key per key and period kind) does not expire.

    Periods are told by ``clock`` (this host's, by default), not by the Redis server's:
    they are days long, so clocks kept within a second of each other only disagree about
    which side of midnight a request in that second falls on, and the script's keys stay
    declared, as Redis Cluster wants. On Cluster, a key's counters share a slot by the hash
    tag ``{key}`` around the key in their names.

    Raises :class:`QuotasUnavailable` when Redis cannot be reached.
    """

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        prefix: str = "modelyard:quota:",
        history: timedelta = timedelta(days=90),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._history = history
        self._clock = clock
        self._consume = client.register_script(_CONSUME)

    def _period_key(self, key: str, period: Period, first: date) -> str:
        return f"{self._prefix}period:{period}:{first.isoformat()}:{{{key}}}"

    def _day_key(self, key: str, day: date) -> str:
        return f"{self._prefix}day:{day.isoformat()}:{{{key}}}"

    def _initial_key(self, key: str, period: Period) -> str:
        return f"{self._prefix}initial:{period}:{{{key}}}"

    async def consume(self, key: str, quota: Quota) -> QuotaState:
        """See :meth:`QuotaCounters.consume`."""
        today = _utc(self._clock()).date()
        first, following = quota.period.span(today)
        period_expiry = following + _MARGIN
        day_expiry = max(period_expiry, today + timedelta(days=1) + self._history)
        try:
            allowed, used, limit = await self._consume(
                keys=[
                    self._period_key(key, quota.period, first),
                    self._day_key(key, today),
                    self._initial_key(key, quota.period),
                ],
                args=[
                    quota.limit,
                    quota.offset,
                    first.isoformat(),
                    _epoch_ms(period_expiry),
                    _epoch_ms(day_expiry),
                ],
            )
        except _UNAVAILABLE as exc:
            raise QuotasUnavailable(f"quota counters in Redis unavailable: {exc}") from exc
        return QuotaState(
            allowed=bool(allowed),
            used=int(used),
            remaining=max(0, int(limit) - int(used)),
            period_start=_midnight(first),
            period_end=_midnight(following),
        )

    async def usage(
        self, key: str, quota: Quota, start: date, end: date
    ) -> dict[date, tuple[int, int]]:
        """See :meth:`QuotaCounters.usage`."""
        if start > end:
            return {}
        today = _utc(self._clock()).date()
        # The days before ``start`` in its period are read too: its remaining depends on them.
        counted = _days(quota.period.span(start)[0], end)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(self._initial_key(key, quota.period))
                pipe.mget([self._day_key(key, day) for day in counted])
                marker, values = await pipe.execute()
        except _UNAVAILABLE as exc:
            raise QuotasUnavailable(f"quota counters in Redis unavailable: {exc}") from exc
        used_on = {day: int(value) for day, value in zip(counted, values, strict=True) if value}
        # No initial period yet: it will be the current one, at the key's first request.
        initial = (
            quota.period.span(today)[0]
            if marker is None
            else date.fromisoformat(marker.decode() if isinstance(marker, bytes) else marker)
        )
        return _replay(quota, initial, _days(start, end), lambda day: used_on.get(day, 0))
