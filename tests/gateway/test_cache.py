"""The stage response cache: API Gateway's keys, TTLs, size limits and Cache-Control rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.gateway.cache import (
    MAX_RESPONSE_BYTES,
    UNAUTHORIZED_WARNING,
    CachedResponse,
    CacheSettings,
    ResponseCache,
    UnauthorizedStrategy,
    cache_key,
    cache_prefix,
    decide_cache_control,
)
from modelyard.gateway.errors import BadRequest


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key(
    *,
    stage: str = "prod",
    deployment_id: str = "d1",
    method: str = "GET",
    resource_path: str = "/users",
    key_parameters: Sequence[str] = ("method.request.querystring.type",),
    path: Mapping[str, str] | None = None,
    querystring: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    api_id: str = "api1",
) -> str:
    return cache_key(
        api_id=api_id,
        stage=stage,
        deployment_id=deployment_id,
        method=method,
        resource_path=resource_path,
        key_parameters=key_parameters,
        path=path or {},
        querystring=querystring or {},
        headers=headers or {},
    )


def response(body: bytes = b"{}", status: int = 200) -> CachedResponse:
    return CachedResponse(status=status, headers=(("Content-Type", "application/json"),), body=body)


# --- keys ---------------------------------------------------------------------------

SAME = [
    # The documentation's example: only `type` is a key parameter, department is ignored.
    (
        {"querystring": {"type": ["admin"], "department": ["A"]}},
        {"querystring": {"type": ["admin"], "department": ["B"]}},
    ),
    # The request's query order does not matter, only the values of key parameters.
    (
        {"querystring": {"department": ["A"], "type": ["admin"]}},
        {"querystring": {"type": ["admin"], "department": ["A"]}},
    ),
    # Header names are case-insensitive, in the request and in the parameter name.
    (
        {
            "key_parameters": ["method.request.header.Accept"],
            "headers": {"accept": "text/csv"},
        },
        {
            "key_parameters": ["method.request.header.accept"],
            "headers": {"ACCEPT": "text/csv"},
        },
    ),
    # A single-valued query parameter counts by its last value.
    ({"querystring": {"type": ["x", "admin"]}}, {"querystring": {"type": ["admin"]}}),
    # The method is case-insensitive.
    ({"method": "get"}, {"method": "GET"}),
]

DIFFERENT = [
    ({"querystring": {"type": ["admin"]}}, {"querystring": {"type": ["regular"]}}),
    # Absent differs from empty.
    ({"querystring": {}}, {"querystring": {"type": [""]}}),
    ({"method": "GET"}, {"method": "POST"}),
    ({"resource_path": "/users"}, {"resource_path": "/groups"}),
    ({"stage": "prod"}, {"stage": "beta"}),
    ({"api_id": "a"}, {"api_id": "b"}),
    # A canary on another deployment keeps its own entries.
    ({"deployment_id": "d1"}, {"deployment_id": "d2"}),
    (
        {
            "key_parameters": ["method.request.path.user_id"],
            "resource_path": "/users/{user_id}",
            "path": {"user_id": "1"},
        },
        {
            "key_parameters": ["method.request.path.user_id"],
            "resource_path": "/users/{user_id}",
            "path": {"user_id": "2"},
        },
    ),
    # Every value counts, in order, for a multi-valued parameter.
    (
        {
            "key_parameters": ["method.request.multivaluequerystring.tag"],
            "querystring": {"tag": ["a", "b"]},
        },
        {
            "key_parameters": ["method.request.multivaluequerystring.tag"],
            "querystring": {"tag": ["b", "a"]},
        },
    ),
    # Query parameter names are case-sensitive.
    ({"querystring": {"type": ["admin"]}}, {"querystring": {"Type": ["admin"]}}),
    # Values that would collide if the parts were joined with a separator.
    (
        {
            "key_parameters": [
                "method.request.querystring.a",
                "method.request.querystring.b",
            ],
            "querystring": {"a": ["x,y"], "b": ["z"]},
        },
        {
            "key_parameters": [
                "method.request.querystring.a",
                "method.request.querystring.b",
            ],
            "querystring": {"a": ["x"], "b": ["y,z"]},
        },
    ),
    ({"stage": "a", "resource_path": "b/c"}, {"stage": "a/b", "resource_path": "c"}),
]


@pytest.mark.parametrize(("one", "other"), SAME)
def test_requests_that_share_an_entry(one: dict[str, object], other: dict[str, object]) -> None:
    assert key(**one) == key(**other)


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_requests_that_do_not(one: dict[str, object], other: dict[str, object]) -> None:
    assert key(**one) != key(**other)


def test_key_parameters_count_in_the_order_listed() -> None:
    parameters = ["method.request.querystring.a", "method.request.header.b"]
    request = {"querystring": {"a": ["1"]}, "headers": {"b": "2"}}
    assert key(key_parameters=parameters, **request) != key(
        key_parameters=parameters[::-1], **request
    )


@pytest.mark.parametrize(
    "parameter",
    [
        "method.request.body.x",
        "integration.request.querystring.x",
        "method.request.querystring",
        "method.request.querystring.",
        "type",
    ],
)
def test_invalid_key_parameters_are_refused(parameter: str) -> None:
    with pytest.raises(BadRequest):
        key(key_parameters=[parameter])


text = st.text(max_size=8)


@given(
    st.tuples(text, text, text, st.lists(text, max_size=3)),
    st.tuples(text, text, text, st.lists(text, max_size=3)),
)
def test_keys_are_collision_free(
    one: tuple[str, str, str, list[str]], other: tuple[str, str, str, list[str]]
) -> None:
    def of(parts: tuple[str, str, str, list[str]]) -> str:
        stage, resource, header, values = parts
        return key(
            stage=stage,
            resource_path=resource,
            key_parameters=["method.request.header.h", "method.request.multivaluequerystring.q"],
            headers={"h": header},
            querystring={"q": values},
        )

    assert (of(one) == of(other)) == (one == other)


def test_prefix_names_a_stage_and_nothing_else() -> None:
    prod = cache_prefix("api1", "prod")
    assert key(stage="prod").startswith(prod)
    assert not key(stage="prod2").startswith(prod)
    assert not key(stage="prod", api_id="api2").startswith(prod)
    assert key(stage="beta").startswith(cache_prefix("api1"))


# --- the cache ----------------------------------------------------------------------


def test_an_entry_lives_for_its_ttl() -> None:
    clock = FakeClock()
    cache = ResponseCache(clock=clock)
    cache.put("k", response(b"one"), ttl_s=300)
    clock.now += 299.9
    assert cache.get("k") == response(b"one")
    clock.now += 0.1
    assert cache.get("k") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.bytes) == (1, 1, 0, 0)


def test_ttl_0_caches_nothing_and_drops_the_old_entry() -> None:
    cache = ResponseCache()
    cache.put("k", response(), ttl_s=300)
    cache.put("k", response(b"new"), ttl_s=0)
    assert cache.get("k") is None


def test_ttl_over_an_hour_is_refused() -> None:
    with pytest.raises(BadRequest):
        ResponseCache().put("k", response(), ttl_s=3601)
    with pytest.raises(BadRequest):
        CacheSettings(enabled=True, ttl_s=3601)
    with pytest.raises(BadRequest):
        CacheSettings(enabled=True, ttl_s=-1)


def test_a_put_replaces_the_entry() -> None:
    cache = ResponseCache()
    cache.put("k", response(b"old"), ttl_s=300)
    cache.put("k", response(b"new"), ttl_s=300)
    assert cache.get("k") == response(b"new")
    assert cache.stats().entries == 1


@pytest.mark.parametrize("status", [199, 301, 304, 400, 403, 404, 429, 500, 503])
def test_non_2xx_answers_are_not_cached(status: int) -> None:
    cache = ResponseCache()
    cache.put("k", response(b"old"), ttl_s=300)
    cache.put("k", response(b"error", status=status), ttl_s=300)
    assert cache.get("k") is None


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_answers_are_cached(status: int) -> None:
    cache = ResponseCache()
    cache.put("k", response(status=status), ttl_s=300)
    assert cache.get("k") == response(status=status)


def test_error_answers_are_cached_when_asked_as_api_gateway_does() -> None:
    cache = ResponseCache(cache_error_responses=True)
    cache.put("k", response(status=429), ttl_s=300)
    assert cache.get("k") == response(status=429)


def test_responses_over_the_limit_are_not_cached() -> None:
    cache = ResponseCache()
    headers_size = response().size - len(b"{}")
    fits = response(b"x" * (MAX_RESPONSE_BYTES - headers_size))
    assert fits.size == MAX_RESPONSE_BYTES
    cache.put("fits", fits, ttl_s=300)
    cache.put("big", response(b"x" * (MAX_RESPONSE_BYTES - headers_size + 1)), ttl_s=300)
    assert cache.get("fits") == fits
    assert cache.get("big") is None


def test_least_recently_used_entries_go_first_to_make_room() -> None:
    entry = response(b"x" * 100)
    charge = entry.size + 1  # one-character keys
    cache = ResponseCache(capacity_bytes=3 * charge)
    for name in "abc":
        cache.put(name, entry, ttl_s=300)
    assert cache.get("a") is not None  # now b is the least recently used
    cache.put("d", entry, ttl_s=300)
    assert [cache.get(name) is not None for name in "abcd"] == [True, False, True, True]
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (3, 3 * charge, 1)


def test_a_large_entry_evicts_as_many_as_it_needs() -> None:
    small = response(b"x" * 10)
    cache = ResponseCache(capacity_bytes=1000)
    for name in "abcdef":
        cache.put(name, small, ttl_s=300)
    cache.put("g", response(b"y" * 900), ttl_s=300)
    assert cache.stats().bytes <= 1000
    assert cache.get("g") is not None
    assert cache.get("a") is None
    # What does not fit the whole cache is not kept, and evicts nothing.
    before = cache.stats().entries
    cache.put("h", response(b"z" * 1000), ttl_s=300)
    assert cache.get("h") is None
    assert cache.stats().entries == before


def test_invalidate_drops_one_entry() -> None:
    cache = ResponseCache()
    cache.put("a", response(), ttl_s=300)
    cache.put("b", response(), ttl_s=300)
    assert cache.invalidate("a") is True
    assert cache.invalidate("a") is False
    assert cache.get("a") is None
    assert cache.get("b") is not None


def test_flush_drops_one_stage() -> None:
    cache = ResponseCache()
    prod, prod2, beta = key(stage="prod"), key(stage="prod2"), key(stage="beta")
    other_api = key(stage="prod", api_id="api2")
    for name in (prod, prod2, beta, other_api):
        cache.put(name, response(), ttl_s=300)
    assert cache.flush(cache_prefix("api1", "prod")) == 1
    assert cache.get(prod) is None
    assert all(cache.get(name) is not None for name in (prod2, beta, other_api))
    assert cache.flush() == 3
    assert cache.stats().entries == 0
    assert cache.stats().bytes == 0


# --- Cache-Control: max-age=0 -------------------------------------------------------

INVALIDATE = {"Cache-Control": "max-age=0"}


@pytest.mark.parametrize(
    ("strategy", "may_invalidate", "bypass", "refuse", "extra"),
    [
        (UnauthorizedStrategy.FAIL_WITH_403, True, True, False, {}),
        (UnauthorizedStrategy.FAIL_WITH_403, False, False, True, {}),
        (UnauthorizedStrategy.SUCCEED_WITH_RESPONSE_HEADER, True, True, False, {}),
        (
            UnauthorizedStrategy.SUCCEED_WITH_RESPONSE_HEADER,
            False,
            False,
            False,
            {"Warning": UNAUTHORIZED_WARNING},
        ),
        (UnauthorizedStrategy.SUCCEED_WITHOUT_RESPONSE_HEADER, True, True, False, {}),
        (UnauthorizedStrategy.SUCCEED_WITHOUT_RESPONSE_HEADER, False, False, False, {}),
    ],
)
def test_each_strategy(
    strategy: UnauthorizedStrategy,
    may_invalidate: bool,
    bypass: bool,
    refuse: bool,
    extra: dict[str, str],
) -> None:
    settings = CacheSettings(enabled=True, unauthorized_strategy=strategy)
    decision = decide_cache_control(
        settings, request_headers=INVALIDATE, may_invalidate=may_invalidate
    )
    assert (decision.bypass, decision.refuse, dict(decision.extra_headers)) == (
        bypass,
        refuse,
        extra,
    )


def test_the_defaults_are_api_gateways() -> None:
    settings = CacheSettings(enabled=True)
    assert settings.ttl_s == 300
    assert settings.require_authorization is True
    assert settings.unauthorized_strategy is UnauthorizedStrategy.SUCCEED_WITH_RESPONSE_HEADER
    assert UnauthorizedStrategy("FAIL_WITH_403") is UnauthorizedStrategy.FAIL_WITH_403


def test_anyone_may_invalidate_when_authorization_is_not_required() -> None:
    for strategy in UnauthorizedStrategy:
        settings = CacheSettings(
            enabled=True, require_authorization=False, unauthorized_strategy=strategy
        )
        decision = decide_cache_control(settings, request_headers=INVALIDATE, may_invalidate=False)
        assert decision.bypass and not decision.refuse and not decision.extra_headers


@pytest.mark.parametrize(
    ("headers", "bypass"),
    [
        ({"Cache-Control": "max-age=0"}, True),
        ({"cache-control": "MAX-AGE=0"}, True),
        ({"Cache-Control": "no-transform, max-age = 0"}, True),
        ({"Cache-Control": 'max-age="0"'}, True),
        ({"Cache-Control": "max-age=60"}, False),
        ({"Cache-Control": "no-cache"}, False),
        ({"Cache-Control": "max-age="}, False),
        ({"Cache-Control": "s-maxage=0"}, False),
        ({}, False),
    ],
)
def test_only_max_age_0_invalidates(headers: dict[str, str], bypass: bool) -> None:
    settings = CacheSettings(enabled=True, unauthorized_strategy=UnauthorizedStrategy.FAIL_WITH_403)
    assert decide_cache_control(settings, request_headers=headers, may_invalidate=True).bypass is (
        bypass
    )
    # Without max-age=0 an unauthorized caller is not refused either.
    assert decide_cache_control(settings, request_headers=headers, may_invalidate=False).refuse is (
        bypass
    )


@pytest.mark.parametrize(
    "settings", [CacheSettings(enabled=False), CacheSettings(enabled=True, ttl_s=0)]
)
def test_a_stage_that_does_not_cache_ignores_the_header(settings: CacheSettings) -> None:
    settings = CacheSettings(
        enabled=settings.enabled,
        ttl_s=settings.ttl_s,
        unauthorized_strategy=UnauthorizedStrategy.FAIL_WITH_403,
    )
    decision = decide_cache_control(settings, request_headers=INVALIDATE, may_invalidate=False)
    assert not decision.bypass and not decision.refuse and not decision.extra_headers


def test_an_authorized_invalidation_replaces_the_entry() -> None:
    """The whole flow: a bypassing request skips the lookup and puts the fresh answer."""
    cache = ResponseCache()
    settings = CacheSettings(enabled=True)
    k = key()
    cache.put(k, response(b"stale"), ttl_s=settings.ttl_s)
    decision = decide_cache_control(settings, request_headers=INVALIDATE, may_invalidate=True)
    assert decision.bypass
    cache.put(k, response(b"fresh"), ttl_s=settings.ttl_s)
    assert cache.get(k) == response(b"fresh")
