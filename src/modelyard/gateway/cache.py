"""The per-stage response cache, with API Gateway's keys, TTLs and ``Cache-Control`` rules.

API Gateway caches an integration's response for the stage's TTL (300 s by default, at
most 3600 s; 0 turns caching off), under a key made of the method, the resource and the
values of the method's *cache key parameters*, and never caches a response over
1,048,576 bytes. A client may skip the cache and refresh the entry by sending
``Cache-Control: max-age=0``; when the stage requires authorization for that (the
``execute-api:InvalidateCache`` permission) an unauthorized client's header is handled as
the stage's ``unauthorizedCacheControlHeaderStrategy`` says.

One :class:`ResponseCache` may hold several stages: every key starts with the API, the
stage and the deployment (see :func:`cache_key`), so :func:`cache_prefix` names the
entries ``FlushStageCache`` drops, and a canary on another deployment never sees the
production release's entries (and vice versa), as API Gateway keeps them apart.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from modelyard.gateway.errors import BadRequest

__all__ = [
    "DEFAULT_CAPACITY_BYTES",
    "MAX_RESPONSE_BYTES",
    "MAX_TTL_S",
    "UNAUTHORIZED_WARNING",
    "CacheDecision",
    "CacheSettings",
    "CacheStats",
    "CachedResponse",
    "ResponseCache",
    "UnauthorizedStrategy",
    "cache_key",
    "cache_prefix",
    "decide_cache_control",
]

#: The longest TTL API Gateway accepts, in seconds.
MAX_TTL_S = 3600
#: The largest response API Gateway caches (body and headers here), in bytes.
MAX_RESPONSE_BYTES = 1_048_576
#: The default size of a :class:`ResponseCache` (API Gateway's cache clusters range from
#: 0.5 GB to 237 GB; an in-process cache is far smaller).
DEFAULT_CAPACITY_BYTES = 64 * 1024 * 1024
#: The ``Warning`` header value added under ``SUCCEED_WITH_RESPONSE_HEADER``. API
#: Gateway's documentation says only that "a warning header" is added, not its text; this
#: is a well-formed RFC 7234 warning (199: miscellaneous, no agent).
UNAUTHORIZED_WARNING = '199 - "Cache-Control ignored: not authorized to invalidate the cache"'

_SINGLE_VALUED = {"path", "querystring", "header"}
_MULTI_VALUED = {"multivaluequerystring", "multivalueheader"}


class UnauthorizedStrategy(StrEnum):
    """What a stage does with ``Cache-Control: max-age=0`` from a caller not allowed to
    invalidate (``unauthorizedCacheControlHeaderStrategy``)."""

    #: Answer 403 and do not call the integration.
    FAIL_WITH_403 = "FAIL_WITH_403"
    #: Ignore the header, answer as usual, and add a ``Warning`` header to the answer.
    SUCCEED_WITH_RESPONSE_HEADER = "SUCCEED_WITH_RESPONSE_HEADER"
    #: Ignore the header and answer as usual, silently.
    SUCCEED_WITHOUT_RESPONSE_HEADER = "SUCCEED_WITHOUT_RESPONSE_HEADER"


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    """A stage's (or a method's override of its) cache settings.

    API Gateway caches only ``GET`` methods unless a method setting says otherwise; which
    methods cache is the caller's to decide, these settings say how.

    >>> CacheSettings(enabled=True, ttl_s=60).is_active
    True
    >>> CacheSettings(enabled=True, ttl_s=0).is_active
    False
    """

    #: Whether responses are cached at all (``cachingEnabled``).
    enabled: bool
    #: How long an entry lives, 0..3600 seconds; 0 disables caching (``cacheTtlInSeconds``).
    ttl_s: int = 300
    #: Whether ``Cache-Control: max-age=0`` needs ``execute-api:InvalidateCache``
    #: (``requireAuthorizationForCacheControl``).
    require_authorization: bool = True
    #: What an unauthorized ``max-age=0`` gets (``unauthorizedCacheControlHeaderStrategy``).
    unauthorized_strategy: UnauthorizedStrategy = UnauthorizedStrategy.SUCCEED_WITH_RESPONSE_HEADER
    #: ``cacheDataEncrypted``: accepted for compatibility; entries live in this process's
    #: memory only, so there is nothing to encrypt.
    encrypted: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.ttl_s <= MAX_TTL_S:
            raise BadRequest(f"cacheTtlInSeconds must be between 0 and {MAX_TTL_S}")

    @property
    def is_active(self) -> bool:
        """Whether responses are cached with these settings."""
        return self.enabled and self.ttl_s > 0


def cache_prefix(api_id: str, stage: str | None = None) -> str:
    """The prefix every :func:`cache_key` of the API (or of its one stage) starts with,
    for :meth:`ResponseCache.flush`."""
    parts = [api_id] if stage is None else [api_id, stage]
    # A JSON string is closed by its quote, so '["a","prod",' never prefixes stage "prod2".
    return json.dumps(parts, separators=(",", ":"))[:-1] + ","


def cache_key(
    *,
    api_id: str,
    stage: str,
    deployment_id: str,
    method: str,
    resource_path: str,
    key_parameters: Sequence[str],
    path: Mapping[str, str],
    querystring: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
) -> str:
    """The cache key of a request, as API Gateway forms it.

    The key is the method, the resource (its path template, e.g. ``/users/{user_id}``) and
    the value of each cache key parameter, in the order the method lists them, behind the
    API, the stage and the deployment. Parameters are named as in ``cacheKeyParameters``:
    ``method.request.path.user_id``, ``method.request.querystring.type``,
    ``method.request.header.Accept`` (names case-insensitive), or
    ``method.request.multivaluequerystring.tag`` / ``method.request.multivalueheader.X``
    for every value in order; a repeated query parameter otherwise counts by its last
    value. Request parameters that are not key parameters do not matter: with ``type`` the
    only key parameter, ``?type=admin&department=A`` and ``?type=admin&department=B``
    share one entry. An absent parameter differs from an empty one.

    The parts are JSON-encoded, so no two different requests share a key.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    values: list[list[object]] = []
    for parameter in key_parameters:
        location, name = _split_parameter(parameter)
        value: object
        if location == "path":
            value = path.get(name)
        elif location == "querystring":
            found = querystring.get(name)
            value = found[-1] if found else None
        elif location == "multivaluequerystring":
            value = list(querystring.get(name, ()))
        elif location == "header":
            name = name.lower()
            value = lowered.get(name)
        else:  # multivalueheader: a mapping holds one value per name
            name = name.lower()
            value = [lowered[name]] if name in lowered else []
        values.append([location, name, value])
    return json.dumps(
        [api_id, stage, deployment_id, method.upper(), resource_path, values],
        separators=(",", ":"),
    )


def _split_parameter(parameter: str) -> tuple[str, str]:
    parts = parameter.split(".", 3)
    if len(parts) != 4 or parts[:2] != ["method", "request"] or not parts[3]:
        raise BadRequest(f"Invalid cache key parameter specified: {parameter}")
    location = parts[2]
    if location not in _SINGLE_VALUED | _MULTI_VALUED:
        raise BadRequest(f"Invalid cache key parameter specified: {parameter}")
    return location, parts[3]


@dataclass(frozen=True, kw_only=True)
class CachedResponse:
    """A method response as the cache keeps and replays it."""

    #: Its HTTP status.
    status: int
    #: Its headers, in order, names as sent.
    headers: tuple[tuple[str, str], ...]
    #: Its body.
    body: bytes

    @property
    def size(self) -> int:
        """Its size in bytes: the body and the headers' names and values."""
        return len(self.body) + sum(
            len(name.encode()) + len(value.encode()) for name, value in self.headers
        )


@dataclass(frozen=True, kw_only=True)
class CacheStats:
    """How a :class:`ResponseCache` has fared (API Gateway's ``CacheHitCount`` and
    ``CacheMissCount``, and what it holds now)."""

    #: Lookups answered from the cache.
    hits: int
    #: Lookups that found nothing, or only an expired entry.
    misses: int
    #: Entries held now.
    entries: int
    #: Bytes held now (responses and keys).
    bytes: int
    #: Entries dropped to make room.
    evictions: int


@dataclass(slots=True)
class _Entry:
    response: CachedResponse
    expires_at: float
    charge: int


class ResponseCache:
    """Responses in memory, bounded by bytes, least recently used dropped first.

    Entries expire after the TTL given when they were put, by the injected ``clock``
    (monotonic seconds). Safe to share between threads.

    >>> cache = ResponseCache(capacity_bytes=1024 * 1024)
    >>> cache.put("k", CachedResponse(status=200, headers=(), body=b"hi"), ttl_s=300)
    >>> cache.get("k").body
    b'hi'
    """

    def __init__(
        self,
        *,
        capacity_bytes: int = DEFAULT_CAPACITY_BYTES,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        cache_error_responses: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``cache_error_responses``: keep non-2xx answers too. API Gateway does (a
        throttled 429 is then replayed for the whole TTL), so it is off by default."""
        if capacity_bytes <= 0:
            raise ValueError("capacity_bytes must be positive")
        self.capacity_bytes = capacity_bytes
        self.max_response_bytes = max_response_bytes
        self.cache_error_responses = cache_error_responses
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedResponse | None:
        """The live response under ``key``, or None (counted as a hit or a miss)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._clock() >= entry.expires_at:
                self._remove(key)
                entry = None
            if entry is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry.response

    def put(self, key: str, response: CachedResponse, ttl_s: int) -> None:
        """Keep ``response`` under ``key`` for ``ttl_s`` seconds.

        Whatever ``key`` held before is gone afterwards, even when ``response`` is not kept
        (TTL 0, a non-2xx status, larger than ``max_response_bytes`` or the whole cache):
        a put follows a miss or an invalidation, and neither may serve the old entry again.
        """
        if not 0 <= ttl_s <= MAX_TTL_S:
            raise BadRequest(f"cacheTtlInSeconds must be between 0 and {MAX_TTL_S}")
        size = response.size
        charge = size + len(key.encode())
        with self._lock:
            self._remove(key)
            if (
                ttl_s == 0
                or (not self.cache_error_responses and not 200 <= response.status < 300)
                or size > self.max_response_bytes
                or charge > self.capacity_bytes
            ):
                return
            while self._bytes + charge > self.capacity_bytes:
                oldest = next(iter(self._entries))
                self._remove(oldest)
                self._evictions += 1
            self._entries[key] = _Entry(
                response=response, expires_at=self._clock() + ttl_s, charge=charge
            )
            self._bytes += charge

    def invalidate(self, key: str) -> bool:
        """Drop the entry under ``key``; whether there was one."""
        with self._lock:
            return self._remove(key)

    def flush(self, prefix: str | None = None) -> int:
        """Drop every entry (``prefix`` None) or those whose key starts with ``prefix``
        (see :func:`cache_prefix`); how many were dropped."""
        with self._lock:
            doomed = [key for key in self._entries if prefix is None or key.startswith(prefix)]
            for key in doomed:
                self._remove(key)
            return len(doomed)

    def stats(self) -> CacheStats:
        """Counts so far and what is held now."""
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                entries=len(self._entries),
                bytes=self._bytes,
                evictions=self._evictions,
            )

    def _remove(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= entry.charge
        return True


@dataclass(frozen=True, kw_only=True)
class CacheDecision:
    """What a request's ``Cache-Control`` header makes of the cache."""

    #: Skip the lookup, call the integration, and put its answer in place of the entry.
    bypass: bool = False
    #: Answer 403 without calling the integration (``FAIL_WITH_403``).
    refuse: bool = False
    #: Headers to add to the answer.
    extra_headers: Mapping[str, str] = field(default_factory=dict)


_AS_USUAL = CacheDecision()


def decide_cache_control(
    settings: CacheSettings, *, request_headers: Mapping[str, str], may_invalidate: bool
) -> CacheDecision:
    """How a request's ``Cache-Control: max-age=0`` is honoured.

    ``may_invalidate`` is the caller's authorization check (``execute-api:InvalidateCache``
    on the method); it matters only when the settings require authorization. Without
    ``max-age=0``, or on a stage that does not cache, the request uses the cache as usual.
    """
    if not settings.is_active or not _asks_max_age_0(request_headers):
        return _AS_USUAL
    if may_invalidate or not settings.require_authorization:
        return CacheDecision(bypass=True)
    match settings.unauthorized_strategy:
        case UnauthorizedStrategy.FAIL_WITH_403:
            return CacheDecision(refuse=True)
        case UnauthorizedStrategy.SUCCEED_WITH_RESPONSE_HEADER:
            return CacheDecision(extra_headers={"Warning": UNAUTHORIZED_WARNING})
        case UnauthorizedStrategy.SUCCEED_WITHOUT_RESPONSE_HEADER:
            return _AS_USUAL


def _asks_max_age_0(headers: Mapping[str, str]) -> bool:
    value = next((v for k, v in headers.items() if k.lower() == "cache-control"), None)
    if value is None:
        return False
    for directive in value.split(","):
        name, _, argument = directive.partition("=")
        if name.strip().lower() == "max-age":
            argument = argument.strip().strip('"')
            return argument.isdigit() and int(argument) == 0
    return False
