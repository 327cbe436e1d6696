"""Request throttling as API Gateway does it: token buckets at several levels at once.

API Gateway throttles a request at up to four levels (the account, the stage, the method,
the usage plan's API key), each a token bucket of ``burst`` tokens refilled at ``rate``
tokens per second. A request passes only if every level has a token for it; then it takes
one from each. A refused request takes nothing, so a client hammering one busy method does
not drain the stage's or the account's bucket for everyone else.

Two :class:`TokenBuckets` do that: :class:`MemoryBuckets` for one process, and
:class:`RedisBuckets`, shared by every gateway process that talks to the same Redis.

Each bucket is kept as one number, the time at which it will be full again (the
"theoretical arrival time" of the generic cell rate algorithm): a bucket with no entry is
full, taking a token moves the time ``1 / rate`` later, and a bucket may give a token when
that time is less than ``(burst - 1) / rate`` ahead of now. An entry is dropped once its
time has passed, so memory (or Redis keys) grows with the buckets in use, not with all the
buckets ever seen.

Example::

    buckets = RedisBuckets(redis.asyncio.Redis(socket_timeout=0.1))
    wait = await buckets.take(
        [
            ("account", Limit(rate=10_000, burst=5_000)),
            ("stage:abc:prod", Limit(rate=100, burst=200)),
            ("key:k1", Limit(rate=5, burst=10)),
        ]
    )
    if wait is not None:
        ...  # 429 Too Many Requests, Retry-After: math.ceil(wait)

**When Redis is down** :meth:`RedisBuckets.take` raises :class:`ThrottlingUnavailable`
instead of choosing for the caller. API Gateway would rather serve a request than fail it
for want of a counter, so the gateway should catch it, log it and let the request through
(fail open); a deployment that must never exceed its limits (a paid backend) may refuse
instead. Give the Redis client a short ``socket_timeout`` either way, or a hung Redis stalls
every request for the client's default five seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio
import redis.exceptions

from modelyard.errors import ModelyardError

__all__ = [
    "Limit",
    "MemoryBuckets",
    "RedisBuckets",
    "ThrottlingUnavailable",
    "TokenBuckets",
]


class ThrottlingUnavailable(ModelyardError):
    """The shared throttling state could not be reached; the request was neither allowed
    nor refused."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Limit:
    """A token bucket's size and refill rate (API Gateway's ``burstLimit`` and
    ``rateLimit``).

    ``Limit(rate=100, burst=200)`` lets 200 requests through at once, then 100 a second.
    ``Limit(rate=1, burst=0)`` lets nothing through (a stage or method throttled to zero).
    """

    #: Tokens added per second, > 0 (a fraction is allowed: 0.5 is one every 2 s).
    rate: float
    #: The most tokens the bucket holds, >= 0; a new bucket starts full.
    burst: int

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be a finite number > 0, not {self.rate!r}")
        if self.burst < 0:
            raise ValueError(f"burst must be >= 0, not {self.burst!r}")


class TokenBuckets(Protocol):
    """Token buckets, named by opaque keys, checked and taken from all at once."""

    async def take(self, keys: Sequence[tuple[str, Limit]]) -> float | None:
        """Take one token from each of the buckets ``keys`` names, or from none of them.

        Called once per request with every level that applies to it (e.g. ``"account"``,
        ``"stage:{api}:{stage}"``, ``"method:{api}:{stage}:{verb} {path}"``,
        ``"key:{id}"``), each with its limit; the keys must be distinct. Returns ``None``
        when the request may pass (a token was taken at each level), else the seconds until
        every level would have a token (the answer's ``Retry-After``), having taken none;
        ``math.inf`` when a level's burst is 0. An empty ``keys`` passes.
        """
        ...


def _checked(keys: Sequence[tuple[str, Limit]]) -> None:
    if len({key for key, _ in keys}) != len(keys):
        raise ValueError(f"throttling keys must be distinct: {[key for key, _ in keys]}")


class MemoryBuckets:
    """Token buckets in this process's memory (one gateway process, and tests).

    Not shared between processes: with several gateway processes each lets the full limit
    through. ``clock`` gives seconds on any monotonic scale (:func:`time.monotonic` by
    default); tests pass a fake one.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        #: Bucket key → when it is full again (absent: full).
        self._full_at: dict[str, float] = {}
        #: Prune when the table has grown past this; see :meth:`_prune`.
        self._prune_above = 1024

    async def take(self, keys: Sequence[tuple[str, Limit]]) -> float | None:
        """See :meth:`TokenBuckets.take`."""
        _checked(keys)
        if any(limit.burst == 0 for _, limit in keys):
            return math.inf
        now = self._clock()
        # No await from here on: the check and the take happen without another request
        # of this event loop in between.
        wait = 0.0
        for key, limit in keys:
            full_at = max(self._full_at.get(key, now), now)
            wait = max(wait, full_at - now - (limit.burst - 1) / limit.rate)
        if wait > 0:
            return wait
        for key, limit in keys:
            self._full_at[key] = max(self._full_at.get(key, now), now) + 1 / limit.rate
        if len(self._full_at) > self._prune_above:
            self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        # A bucket full again is the same as no bucket. Sweeping only when the table has
        # doubled since the last sweep keeps the cost per request constant on average.
        self._full_at = {key: at for key, at in self._full_at.items() if at > now}
        self._prune_above = max(1024, 2 * len(self._full_at))


#: Check-and-take over all KEYS at once, on the server's clock so all processes agree.
#: KEYS[i] holds the time (µs since the epoch) bucket i is full again; ARGV[2i-1] is its
#: interval between tokens (µs), ARGV[2i] its burst. Returns 0 when allowed (one token
#: taken from each), else the µs to wait (>= 1), having written nothing.
_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local full_at = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local at = tonumber(redis.call('GET', key) or now)
  if at < now then at = now end
  full_at[i] = at
  local w = at - now - (burst - 1) * interval
  if w > wait then wait = w end
end
if wait > 0 then
  return math.ceil(wait)
end
for i, key in ipairs(KEYS) do
  local at = full_at[i] + tonumber(ARGV[2 * i - 1])
  redis.call('SET', key, string.format('%.17g', at), 'PX', math.ceil((at - now) / 1000))
end
return 0
"""

#: What "Redis is down" looks like, as opposed to a bug in the script or its arguments.
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    OSError,
)


class RedisBuckets:
    """Token buckets in Redis, shared by every process using the same server and prefix.

    One Lua script checks and takes at all levels atomically, timed by the Redis server's
    clock (``TIME``) so that processes on hosts with drifting clocks still agree; each key
    expires when its bucket is full again. Sent with ``EVALSHA``, loaded again if the
    server has forgotten it. On Redis Cluster the keys of one request must share a slot:
    put a hash tag in ``prefix`` (``"{throttle}:"``).

    Raises :class:`ThrottlingUnavailable` when Redis cannot be reached (see the module
    docstring for what the caller should do).
    """

    def __init__(self, client: redis.asyncio.Redis, *, prefix: str = "modelyard:throttle:") -> None:
        self._prefix = prefix
        self._take = client.register_script(_TAKE)

    async def take(self, keys: Sequence[tuple[str, Limit]]) -> float | None:
        """See :meth:`TokenBuckets.take`."""
        _checked(keys)
        if not keys:
            return None
        if any(limit.burst == 0 for _, limit in keys):
            return math.inf
        arguments: list[float | int] = []
        for _, limit in keys:
            arguments += [1_000_000 / limit.rate, limit.burst]
        try:
            wait_us = await self._take(
                keys=[self._prefix + key for key, _ in keys], args=[repr(a) for a in arguments]
            )
        except _UNAVAILABLE as exc:
            raise ThrottlingUnavailable(f"throttling state in Redis unavailable: {exc}") from exc
        return None if int(wait_us) == 0 else int(wait_us) / 1_000_000
