"""Usage plan quotas: calendar periods in UTC, the initial offset, per-day usage.

The same scenarios run on :class:`MemoryQuotas` and on :class:`RedisQuotas` (against the
server at 127.0.0.1:6379), both on a fake clock; the Redis scenarios take place next year
so that the counters' expiry times are in the future.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from modelyard.errors import ModelyardError
from modelyard.gateway.quotas import (
    MemoryQuotas,
    Period,
    Quota,
    QuotaCounters,
    QuotaState,
    QuotasUnavailable,
    RedisQuotas,
)

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
#: A year whose dates are all in the future, so Redis keys expiring after them live.
YEAR = datetime.now(UTC).year + 1


class FakeClock:
    """A wall clock that moves only when told."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def at(month: int, day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime(YEAR, month, day, hour, minute, second, tzinfo=UTC)


def midnight(month: int, day: int, year: int = YEAR) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


# -- Period and Quota --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "day", "first", "following"),
    [
        (Period.DAY, date(2024, 2, 29), date(2024, 2, 29), date(2024, 3, 1)),
        (Period.DAY, date(2024, 12, 31), date(2024, 12, 31), date(2025, 1, 1)),
        (Period.WEEK, date(2024, 5, 13), date(2024, 5, 13), date(2024, 5, 20)),  # a Monday
        (Period.WEEK, date(2024, 5, 15), date(2024, 5, 13), date(2024, 5, 20)),
        (Period.WEEK, date(2024, 5, 19), date(2024, 5, 13), date(2024, 5, 20)),  # a Sunday
        (Period.WEEK, date(2025, 1, 1), date(2024, 12, 30), date(2025, 1, 6)),
        (Period.MONTH, date(2024, 1, 31), date(2024, 1, 1), date(2024, 2, 1)),
        (Period.MONTH, date(2024, 2, 29), date(2024, 2, 1), date(2024, 3, 1)),
        (Period.MONTH, date(2023, 2, 1), date(2023, 2, 1), date(2023, 3, 1)),
        (Period.MONTH, date(2024, 12, 31), date(2024, 12, 1), date(2025, 1, 1)),
    ],
)
def test_periods_are_calendar_periods(
    period: Period, day: date, first: date, following: date
) -> None:
    assert period.span(day) == (first, following)


def test_period_values_are_api_gateway_names() -> None:
    assert [str(period) for period in Period] == ["DAY", "WEEK", "MONTH"]


@pytest.mark.parametrize(("limit", "offset"), [(-1, 0), (10, -1)])
def test_quota_refuses_negative_values(limit: int, offset: int) -> None:
    with pytest.raises(ValueError):
        Quota(limit=limit, period=Period.DAY, offset=offset)


# -- the same scenarios on both counters -------------------------------------------------


@pytest.fixture(scope="module")
def redis_server() -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at {REDIS_HOST}:{REDIS_PORT} is not reachable: {exc}")
    finally:
        client.close()


@pytest.fixture
def prefix(redis_server: None) -> Iterator[str]:
    """A key prefix of this test's own, its keys deleted after it."""
    prefix = f"test:quota:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@asynccontextmanager
async def connected(**options: Any) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis(host=REDIS_HOST, port=REDIS_PORT, **options)
    try:
        yield client
    finally:
        await client.aclose()


class Counters:
    """Runs each call on its own event loop, with counters (and a Redis client) for it."""

    def __init__(self, build: Callable[[], AbstractAsyncContextManager[QuotaCounters]]) -> None:
        self._build = build

    def run(self, call: Callable[[QuotaCounters], Awaitable[Any]]) -> Any:
        async def run() -> Any:
            async with self._build() as counters:
                return await call(counters)

        return asyncio.run(run())

    def consume(self, key: str, quota: Quota) -> QuotaState:
        state: QuotaState = self.run(lambda counters: counters.consume(key, quota))
        return state

    def usage(self, key: str, quota: Quota, start: date, end: date) -> dict[date, tuple[int, int]]:
        answer: dict[date, tuple[int, int]] = self.run(
            lambda counters: counters.usage(key, quota, start, end)
        )
        return answer


@pytest.fixture(params=["memory", "redis"])
def counters(request: pytest.FixtureRequest) -> tuple[Counters, FakeClock]:
    """Counters of either kind, and the clock they tell periods by."""
    clock = FakeClock(at(3, 10))
    if request.param == "memory":
        memory = MemoryQuotas(clock=clock)

        @asynccontextmanager
        async def in_memory() -> AsyncIterator[QuotaCounters]:
            yield memory

        return Counters(in_memory), clock
    prefix: str = request.getfixturevalue("prefix")

    @asynccontextmanager
    async def in_redis() -> AsyncIterator[QuotaCounters]:
        async with connected() as client:
            yield RedisQuotas(client, prefix=prefix, clock=clock)

    return Counters(in_redis), clock


def test_daily_quota_counts_until_the_limit(counters: tuple[Counters, FakeClock]) -> None:
    quotas, clock = counters
    quota = Quota(limit=3, period=Period.DAY)
    states = [quotas.consume("k1", quota) for _ in range(4)]
    assert [(s.allowed, s.used, s.remaining) for s in states] == [
        (True, 1, 2),
        (True, 2, 1),
        (True, 3, 0),
        (False, 3, 0),
    ]
    assert states[0].period_start == midnight(3, 10)
    assert states[0].period_end == midnight(3, 11)
    # Another key has its own count; the next day starts afresh.
    assert quotas.consume("k2", quota).allowed
    clock.now = midnight(3, 11)
    state = quotas.consume("k1", quota)
    assert (state.allowed, state.used, state.remaining) == (True, 1, 2)


def test_a_refused_request_does_not_count(counters: tuple[Counters, FakeClock]) -> None:
    quotas, _ = counters
    quota = Quota(limit=2, period=Period.DAY)
    for _ in range(5):
        quotas.consume("k", quota)
    assert quotas.usage("k", quota, date(YEAR, 3, 10), date(YEAR, 3, 10)) == {
        date(YEAR, 3, 10): (2, 0)
    }
    # A larger limit on the same day lets exactly the difference through.
    bigger = Quota(limit=4, period=Period.DAY)
    assert [quotas.consume("k", bigger).allowed for _ in range(3)] == [True, True, False]


def test_weekly_quota_runs_monday_to_sunday(counters: tuple[Counters, FakeClock]) -> None:
    quotas, clock = counters
    quota = Quota(limit=2, period=Period.WEEK)
    monday = date(YEAR, 3, 10) - timedelta(days=date(YEAR, 3, 10).weekday())
    clock.now = datetime.combine(monday, datetime.min.time(), tzinfo=UTC)
    first = quotas.consume("k", quota)
    assert first.period_start == clock.now
    assert first.period_end == clock.now + timedelta(days=7)
    clock.now += timedelta(days=6, hours=23, minutes=59)  # Sunday, 23:59
    assert quotas.consume("k", quota).remaining == 0
    assert not quotas.consume("k", quota).allowed
    clock.now += timedelta(minutes=1)  # Monday again
    assert quotas.consume("k", quota).used == 1


def test_monthly_quota_turns_over_at_midnight_utc(counters: tuple[Counters, FakeClock]) -> None:
    quotas, clock = counters
    quota = Quota(limit=2, period=Period.MONTH)
    clock.now = at(1, 31, 23, 59, 59)
    january = [quotas.consume("k", quota) for _ in range(3)]
    assert [s.allowed for s in january] == [True, True, False]
    assert (january[0].period_start, january[0].period_end) == (midnight(1, 1), midnight(2, 1))
    # 00:30 in UTC+02:00 on 1 February is still January in UTC.
    clock.now = datetime(YEAR, 2, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert not quotas.consume("k", quota).allowed
    clock.now = midnight(2, 1)
    february = quotas.consume("k", quota)
    assert (february.allowed, february.used) == (True, 1)
    assert (february.period_start, february.period_end) == (midnight(2, 1), midnight(3, 1))
    clock.now = at(12, 31)
    december = quotas.consume("k", quota)
    assert december.period_end == midnight(1, 1, year=YEAR + 1)


def test_offset_is_subtracted_in_the_initial_period_only(
    counters: tuple[Counters, FakeClock],
) -> None:
    quotas, clock = counters
    quota = Quota(limit=5, period=Period.MONTH, offset=3)
    initial = [quotas.consume("k", quota) for _ in range(3)]
    assert [(s.allowed, s.remaining) for s in initial] == [(True, 1), (True, 0), (False, 0)]
    clock.now = at(4, 1)
    assert [quotas.consume("k", quota).allowed for _ in range(6)] == [True] * 5 + [False]
    # A key first seen in April has April as its initial period.
    assert [quotas.consume("late", quota).allowed for _ in range(3)] == [True, True, False]
    # An offset larger than the limit leaves nothing in the initial period.
    overdrawn = Quota(limit=2, period=Period.DAY, offset=5)
    assert quotas.consume("o", overdrawn).allowed is False
    clock.now = at(4, 2)
    assert quotas.consume("o", overdrawn).allowed is True


def test_usage_answers_used_and_remaining_per_day(counters: tuple[Counters, FakeClock]) -> None:
    quotas, clock = counters
    quota = Quota(limit=10, period=Period.DAY)
    clock.now = at(3, 10)
    for _ in range(3):
        quotas.consume("k", quota)
    clock.now = at(3, 12)
    for _ in range(12):
        quotas.consume("k", quota)
    usage = quotas.usage("k", quota, date(YEAR, 3, 9), date(YEAR, 3, 13))
    assert usage == {
        date(YEAR, 3, 9): (0, 10),
        date(YEAR, 3, 10): (3, 7),
        date(YEAR, 3, 11): (0, 10),
        date(YEAR, 3, 12): (10, 0),
        date(YEAR, 3, 13): (0, 10),
    }
    assert quotas.usage("k", quota, date(YEAR, 3, 13), date(YEAR, 3, 9)) == {}
    assert quotas.usage("unknown", quota, date(YEAR, 3, 12), date(YEAR, 3, 12)) == {
        date(YEAR, 3, 12): (0, 10)
    }


def test_usage_remaining_runs_down_over_a_month(counters: tuple[Counters, FakeClock]) -> None:
    quotas, clock = counters
    quota = Quota(limit=100, period=Period.MONTH, offset=20)
    for day, requests in [(28, 5), (30, 7), (31, 1)]:
        clock.now = at(1, day)
        for _ in range(requests):
            quotas.consume("k", quota)
    clock.now = at(2, 1)
    for _ in range(4):
        quotas.consume("k", quota)
    # Asked from mid-period: the 28th's requests still count against the 29th onwards.
    assert quotas.usage("k", quota, date(YEAR, 1, 29), date(YEAR, 2, 2)) == {
        date(YEAR, 1, 29): (0, 75),  # 100 - 20 (offset, initial month) - 5
        date(YEAR, 1, 30): (7, 68),
        date(YEAR, 1, 31): (1, 67),
        date(YEAR, 2, 1): (4, 96),  # a new month, without the offset
        date(YEAR, 2, 2): (0, 96),
    }


def test_usage_before_the_first_request_assumes_the_current_period_is_initial(
    counters: tuple[Counters, FakeClock],
) -> None:
    quotas, _ = counters
    quota = Quota(limit=10, period=Period.MONTH, offset=4)
    assert quotas.usage("new", quota, date(YEAR, 2, 28), date(YEAR, 3, 1)) == {
        date(YEAR, 2, 28): (0, 10),
        date(YEAR, 3, 1): (0, 6),
    }


def test_consume_is_atomic_under_concurrency(counters: tuple[Counters, FakeClock]) -> None:
    quotas, _ = counters
    quota = Quota(limit=20, period=Period.DAY)

    async def many(counters: QuotaCounters) -> list[QuotaState]:
        return await asyncio.gather(*(counters.consume("k", quota) for _ in range(50)))

    states: list[QuotaState] = quotas.run(many)
    assert sum(state.allowed for state in states) == 20
    assert sorted(state.used for state in states if state.allowed) == list(range(1, 21))


# -- MemoryQuotas only -------------------------------------------------------------------


def test_memory_quotas_keep_live_counts_when_they_forget_old_ones() -> None:
    clock = FakeClock(at(1, 5))
    quotas = MemoryQuotas(clock=clock, history=timedelta(days=3))
    daily, monthly = Quota(limit=10, period=Period.DAY), Quota(limit=10, period=Period.MONTH)

    async def scenario() -> None:
        await quotas.consume("old", daily)
        clock.now = at(3, 10)
        for _ in range(2):
            await quotas.consume("live", monthly)
        # Thousands of keys later, the tables have been swept.
        for n in range(5_000):
            assert (await quotas.consume(f"key:{n}", daily)).allowed
        state = await quotas.consume("live", monthly)
        assert (state.used, state.remaining) == (3, 7)
        usage = await quotas.usage("live", monthly, date(YEAR, 3, 10), date(YEAR, 3, 10))
        assert usage == {date(YEAR, 3, 10): (3, 7)}

    asyncio.run(scenario())


def test_memory_quotas_want_an_aware_clock() -> None:
    quotas = MemoryQuotas(clock=lambda: datetime(2024, 1, 1, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        asyncio.run(quotas.consume("k", Quota(limit=1, period=Period.DAY)))


# -- RedisQuotas only --------------------------------------------------------------------


def test_redis_counters_expire_after_their_period(prefix: str) -> None:
    clock = FakeClock(at(3, 10))
    history = timedelta(days=30)

    async def scenario() -> list[int]:
        async with connected() as client:
            quotas = RedisQuotas(client, prefix=prefix, clock=clock, history=history)
            await quotas.consume("k", Quota(limit=5, period=Period.DAY))
            await quotas.consume("k", Quota(limit=5, period=Period.MONTH))
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            return sorted([await client.pexpiretime(key) for key in keys])

    expiries = asyncio.run(scenario())

    def ms(moment: datetime) -> int:
        return int(moment.timestamp() * 1000)

    # Two initial-period markers (no expiry); the DAY counter a day after its day; the
    # day counter `history` after its day; the MONTH counter a day after the month.
    assert expiries == sorted(
        [-1, -1, ms(midnight(3, 12)), ms(midnight(3, 11) + history), ms(midnight(4, 2))]
    )


def test_redis_quotas_are_shared_between_clients(prefix: str) -> None:
    clock = FakeClock(at(3, 10))
    quota = Quota(limit=3, period=Period.DAY)

    async def scenario() -> None:
        async with connected() as one, connected(decode_responses=True) as two:
            first = RedisQuotas(one, prefix=prefix, clock=clock)
            second = RedisQuotas(two, prefix=prefix, clock=clock)
            assert (await first.consume("k", quota)).used == 1
            assert (await second.consume("k", quota)).used == 2
            assert (await first.consume("k", quota)).used == 3
            assert not (await second.consume("k", quota)).allowed
            day = date(YEAR, 3, 10)
            assert await second.usage("k", quota, day, day) == {day: (3, 0)}
            assert await first.usage("k", quota, day, day) == {day: (3, 0)}

    asyncio.run(scenario())


def test_redis_down_raises_quotas_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario(call: Callable[[RedisQuotas], Any]) -> None:
        client = redis.asyncio.Redis(
            host="127.0.0.1", port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            await call(RedisQuotas(client))
        finally:
            await client.aclose()

    quota = Quota(limit=1, period=Period.DAY)
    for call in (
        lambda quotas: quotas.consume("k", quota),
        lambda quotas: quotas.usage("k", quota, date(2024, 1, 1), date(2024, 1, 2)),
    ):
        with pytest.raises(QuotasUnavailable) as raised:
            asyncio.run(scenario(call))
        assert isinstance(raised.value, ModelyardError)
        assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)
