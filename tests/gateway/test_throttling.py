"""Token-bucket throttling over several levels, in memory and shared through Redis.

The memory tests run on a fake clock and check exact figures; the Redis tests run against
the server at 127.0.0.1:6379 with rates slow enough (or waits short enough) that timing
does not matter, and one acceptance test has two processes share a limit.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import socket
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from modelyard.errors import ModelyardError
from modelyard.gateway.throttling import (
    Limit,
    MemoryBuckets,
    RedisBuckets,
    ThrottlingUnavailable,
    TokenBuckets,
)

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
#: So slow that no token comes back during a test: the bucket holds exactly its burst.
SLOW = 0.01


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def take(buckets: TokenBuckets, *keys: tuple[str, Limit]) -> float | None:
    return asyncio.run(buckets.take(keys))


# -- Limit -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 1), (-1, 1), (math.nan, 1), (math.inf, 1), (1, -1)]
)
def test_limit_refuses_impossible_values(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        Limit(rate=rate, burst=burst)


# -- MemoryBuckets -----------------------------------------------------------------------


def test_memory_bucket_starts_full_and_lets_burst_through() -> None:
    buckets = MemoryBuckets(clock=FakeClock())
    limit = Limit(rate=1, burst=3)
    assert [take(buckets, ("k", limit)) for _ in range(3)] == [None, None, None]
    assert take(buckets, ("k", limit)) == pytest.approx(1.0)


def test_memory_bucket_refills_at_rate_up_to_burst() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    limit = Limit(rate=2, burst=3)
    for _ in range(3):
        assert take(buckets, ("k", limit)) is None
    clock.advance(0.25)
    assert take(buckets, ("k", limit)) == pytest.approx(0.25)  # half a token so far
    clock.advance(0.25)
    assert take(buckets, ("k", limit)) is None
    assert take(buckets, ("k", limit)) == pytest.approx(0.5)
    # A long idle time refills to burst, not beyond.
    clock.advance(3_600)
    assert [take(buckets, ("k", limit)) for _ in range(4)] == [None, None, None, 0.5]


def test_memory_retry_after_is_when_a_token_is_back() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    limit = Limit(rate=4, burst=2)
    take(buckets, ("k", limit))
    take(buckets, ("k", limit))
    wait = take(buckets, ("k", limit))
    assert wait == pytest.approx(0.25)
    clock.advance(0.1)
    assert take(buckets, ("k", limit)) == pytest.approx(0.15)
    clock.advance(0.15)
    assert take(buckets, ("k", limit)) is None


def test_memory_levels_are_all_or_nothing() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    stage = ("stage:abc:prod", Limit(rate=1, burst=5))
    key = ("key:k1", Limit(rate=0.5, burst=2))
    assert take(buckets, stage, key) is None
    assert take(buckets, stage, key) is None
    # The key level is empty: refused, and the stage level keeps its token.
    assert take(buckets, stage, key) == pytest.approx(2.0)
    assert [take(buckets, stage) for _ in range(4)] == [None, None, None, 1.0]
    # The wait is the slowest level's: the stage has a token back in 1 s, the key in 2 s.
    assert take(buckets, stage, key) == pytest.approx(2.0)
    clock.advance(2.0)
    assert take(buckets, stage, key) is None


def test_memory_zero_burst_lets_nothing_through_and_takes_nothing() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    closed = ("method:abc:prod:GET /pets", Limit(rate=10, burst=0))
    other = ("stage:abc:prod", Limit(rate=SLOW, burst=1))
    assert take(buckets, closed) == math.inf
    clock.advance(3_600)
    assert take(buckets, other, closed) == math.inf
    assert take(buckets, other) is None  # its one token was not taken by the refusal


def test_memory_buckets_are_independent_per_key() -> None:
    buckets = MemoryBuckets(clock=FakeClock())
    limit = Limit(rate=SLOW, burst=1)
    assert take(buckets, ("key:a", limit)) is None
    assert take(buckets, ("key:a", limit)) is not None
    assert take(buckets, ("key:b", limit)) is None


def test_no_levels_pass_and_duplicate_levels_are_refused() -> None:
    buckets = MemoryBuckets(clock=FakeClock())
    assert take(buckets) is None
    limit = Limit(rate=1, burst=1)
    with pytest.raises(ValueError, match="distinct"):
        take(buckets, ("k", limit), ("k", limit))


def test_memory_forgets_buckets_that_are_full_again() -> None:
    clock = FakeClock()
    buckets = MemoryBuckets(clock=clock)
    limit = Limit(rate=1_000, burst=5)  # full again 1 ms after a take

    async def many_keys() -> None:
        for batch in range(40):
            for n in range(1_000):
                assert await buckets.take([(f"key:{batch}:{n}", limit)]) is None
            clock.advance(1.0)

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        asyncio.run(many_keys())
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 40,000 buckets kept would take several MB; the idle ones must have been dropped.
    assert kept < 1_000_000
    # A forgotten bucket is a full one.
    assert [take(buckets, ("key:0:0", limit)) for _ in range(5)] == [None] * 5


# -- RedisBuckets ------------------------------------------------------------------------


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
    prefix = f"test:throttle:{uuid.uuid4().hex}:"
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


def test_redis_bucket_lets_burst_through_then_says_when(prefix: str) -> None:
    async def scenario() -> list[float | None]:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            return [await buckets.take([("k", Limit(rate=SLOW, burst=3))]) for _ in range(4)]

    *passed, refused = asyncio.run(scenario())
    assert passed == [None, None, None]
    assert refused is not None
    assert 99.0 < refused <= 100.0  # one token per 100 s, the bucket just emptied


def test_redis_bucket_refills(prefix: str) -> None:
    async def scenario() -> None:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            limit = Limit(rate=500, burst=1)  # a token every 2 ms
            assert await buckets.take([("k", limit)]) is None
            wait = await buckets.take([("k", limit)])
            assert wait is not None
            assert 0 < wait <= 0.002
            await asyncio.sleep(wait + 0.001)
            assert await buckets.take([("k", limit)]) is None

    asyncio.run(scenario())


def test_redis_levels_are_all_or_nothing(prefix: str) -> None:
    async def scenario() -> None:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            stage = ("stage:abc:prod", Limit(rate=SLOW, burst=5))
            key = ("key:k1", Limit(rate=SLOW / 2, burst=2))
            assert await buckets.take([stage, key]) is None
            assert await buckets.take([stage, key]) is None
            wait = await buckets.take([stage, key])
            assert wait is not None
            assert 199.0 < wait <= 200.0  # the key level's wait, the longer one
            assert [await buckets.take([stage]) for _ in range(3)] == [None, None, None]
            assert await buckets.take([stage]) is not None

    asyncio.run(scenario())


def test_redis_zero_burst_lets_nothing_through_and_takes_nothing(prefix: str) -> None:
    async def scenario() -> None:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            closed = ("method:m", Limit(rate=10, burst=0))
            other = ("stage:s", Limit(rate=SLOW, burst=1))
            assert await buckets.take([other, closed]) == math.inf
            assert await buckets.take([other]) is None
            assert await buckets.take([other]) is not None

    asyncio.run(scenario())


def test_redis_buckets_are_shared_between_clients(prefix: str) -> None:
    async def scenario() -> None:
        async with connected() as one, connected(decode_responses=True) as two:
            first, second = RedisBuckets(one, prefix=prefix), RedisBuckets(two, prefix=prefix)
            limit = Limit(rate=SLOW, burst=2)
            assert await first.take([("k", limit)]) is None
            assert await second.take([("k", limit)]) is None
            assert await first.take([("k", limit)]) is not None
            assert await second.take([("k", limit)]) is not None
            # Another prefix is another set of buckets.
            other = RedisBuckets(one, prefix=prefix + "other:")
            assert await other.take([("k", limit)]) is None

    asyncio.run(scenario())


def test_redis_take_is_atomic_under_concurrency(prefix: str) -> None:
    async def scenario() -> list[float | None]:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            levels = [("account", Limit(rate=SLOW, burst=30)), ("key", Limit(rate=SLOW, burst=20))]
            return await asyncio.gather(*(buckets.take(levels) for _ in range(60)))

    answers = asyncio.run(scenario())
    assert answers.count(None) == 20


def test_redis_keys_expire_when_full_again(prefix: str) -> None:
    async def scenario() -> tuple[int, int]:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            await buckets.take([("a", Limit(rate=SLOW, burst=3))])
            # A refused request writes nothing: "b" is empty, "c" keeps no key.
            await buckets.take([("b", Limit(rate=1, burst=0)), ("c", Limit(rate=1, burst=1))])
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            assert keys == [(prefix + "a").encode()]
            ttl: int = await client.pttl(prefix + "a")
            await buckets.take([("d", Limit(rate=1_000, burst=1))])
            await asyncio.sleep(0.005)
            return ttl, await client.exists(prefix + "d")

    ttl, d_exists = asyncio.run(scenario())
    assert 99_000 < ttl <= 100_000  # one token taken, back in 100 s
    assert d_exists == 0


def test_redis_script_is_loaded_again_when_the_server_forgot_it(prefix: str) -> None:
    async def scenario() -> None:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            limit = Limit(rate=SLOW, burst=2)
            assert await buckets.take([("k", limit)]) is None
            await client.script_flush()
            assert await buckets.take([("k", limit)]) is None
            assert await buckets.take([("k", limit)]) is not None

    asyncio.run(scenario())


def test_redis_down_raises_throttling_unavailable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> None:
        client = redis.asyncio.Redis(
            host="127.0.0.1", port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        try:
            await RedisBuckets(client).take([("k", Limit(rate=1, burst=1))])
        finally:
            await client.aclose()

    with pytest.raises(ThrottlingUnavailable) as raised:
        asyncio.run(scenario())
    assert isinstance(raised.value, ModelyardError)
    assert isinstance(raised.value.__cause__, redis.exceptions.ConnectionError)


# -- acceptance: two processes, one limit ------------------------------------------------

RATE = 100
BURST = 100
SECONDS = 2.0


def hammer(prefix: str, start: Any, results: Any) -> None:
    """Take from the shared bucket as fast as possible for SECONDS, in its own process."""

    async def run() -> tuple[int, int, float, float]:
        async with connected() as client:
            buckets = RedisBuckets(client, prefix=prefix)
            limit = Limit(rate=RATE, burst=BURST)
            await client.ping()  # connected before the start, not during the run
            await asyncio.to_thread(start.wait)
            allowed = attempts = 0
            first = time.time()
            last = first
            while last - first < SECONDS:
                if await buckets.take([("shared", limit)]) is None:
                    allowed += 1
                attempts += 1
                last = time.time()
            return allowed, attempts, first, last

    results.put(asyncio.run(run()))


@pytest.mark.slow
def test_two_processes_share_one_limit(prefix: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=hammer, args=(prefix, start, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=30) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=10)
    assert [worker.exitcode for worker in workers] == [0, 0]

    allowed = sum(outcome[0] for outcome in outcomes)
    attempts = sum(outcome[1] for outcome in outcomes)
    elapsed = max(outcome[3] for outcome in outcomes) - min(outcome[2] for outcome in outcomes)
    expected = BURST + RATE * elapsed
    assert abs(allowed - expected) <= 0.05 * expected, (allowed, expected, elapsed)
    # Both really hammered: far more attempts than passes, and each got a share.
    assert attempts > 5 * allowed
    assert all(outcome[0] > 0.2 * allowed for outcome in outcomes), outcomes
