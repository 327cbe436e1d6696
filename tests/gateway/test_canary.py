"""Canary releases: the traffic split, the canary's stage variables, promotion."""

from __future__ import annotations

import math
import random

import pytest

from modelyard.gateway.canary import (
    CanarySettings,
    choose,
    promoted,
    select,
    stage_variables,
)
from modelyard.gateway.errors import BadRequest

DRAWS = 100_000


def canary(percent: float, **overrides: str) -> CanarySettings:
    return CanarySettings(
        percent_traffic=percent, deployment_id="eh1sby", stage_variable_overrides=overrides
    )


def canary_count(percent: float, seed: int) -> int:
    draws = random.Random(seed)
    return sum(choose(canary(percent), draw=draws.random()) for _ in range(DRAWS))


@pytest.mark.parametrize("percent", [10.0, 10.5, 50.0, 0.1])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_split_follows_percent_traffic(percent: float, seed: int) -> None:
    p = percent / 100
    sigma = math.sqrt(DRAWS * p * (1 - p))
    assert abs(canary_count(percent, seed) - DRAWS * p) <= 4 * sigma


def test_0_percent_never_and_100_percent_always() -> None:
    assert canary_count(0.0, seed=7) == 0
    assert canary_count(100.0, seed=7) == DRAWS
    # The edges of [0, 1) too.
    assert choose(canary(0.0), draw=0.0) is False
    assert choose(canary(100.0), draw=math.nextafter(1.0, 0.0)) is True


def test_the_boundary_of_the_share() -> None:
    assert choose(canary(10.0), draw=0.0999) is True
    assert choose(canary(10.0), draw=0.1) is False


def test_no_canary_takes_nothing() -> None:
    assert choose(None, draw=0.0) is False


@pytest.mark.parametrize("draw", [-0.1, 1.0, 2.0, math.nan])
def test_draws_outside_0_1_are_refused(draw: float) -> None:
    with pytest.raises(ValueError):
        choose(canary(50.0), draw=draw)


@pytest.mark.parametrize("percent", [-0.1, 100.1, math.nan])
def test_percent_traffic_is_0_to_100(percent: float) -> None:
    with pytest.raises(BadRequest):
        canary(percent)


def test_canary_requests_see_the_overrides() -> None:
    base = {"sv1": "val1", "kept": "k"}
    assert stage_variables(base, canary(10.0, sv1="val2", sv2="val3")) == {
        "sv1": "val2",
        "sv2": "val3",
        "kept": "k",
    }
    assert stage_variables(base, None) == base
    assert base == {"sv1": "val1", "kept": "k"}  # not changed in place


def test_select_routes_a_request() -> None:
    settings = CanarySettings(
        percent_traffic=10.0,
        deployment_id="canary",
        stage_variable_overrides={"v": "new"},
        use_stage_cache=False,
    )
    to_canary = select("prod", {"v": "old"}, settings, draw=0.05)
    assert (to_canary.is_canary, to_canary.deployment_id, to_canary.variables) == (
        True,
        "canary",
        {"v": "new"},
    )
    assert to_canary.uses_stage_cache is False
    to_stage = select("prod", {"v": "old"}, settings, draw=0.5)
    assert (to_stage.is_canary, to_stage.deployment_id, to_stage.variables) == (
        False,
        "prod",
        {"v": "old"},
    )
    assert to_stage.uses_stage_cache is True
    with pytest.raises(ValueError):
        select("prod", {}, None, draw=1.0)


def test_promotion_as_in_api_gateways_example() -> None:
    """The documented promotion: stage nfcn0x {sv1: val1}, canary eh1sby at 10.5 %."""
    settings = CanarySettings(
        percent_traffic=10.5,
        deployment_id="eh1sby",
        stage_variable_overrides={"sv2": "val3", "sv1": "val2"},
    )
    after = promoted("nfcn0x", {"sv1": "val1", "other": "x"}, settings)
    assert after.deployment_id == "eh1sby"
    assert after.variables == {"sv1": "val2", "sv2": "val3", "other": "x"}
    # The canary stays on the stage, taking no traffic, until it is removed.
    assert after.canary.percent_traffic == 0.0
    assert after.canary.deployment_id == "eh1sby"
    assert after.canary.stage_variable_overrides == {"sv2": "val3", "sv1": "val2"}
    assert all(
        select(after.deployment_id, after.variables, after.canary, draw=d / 10).deployment_id
        == "eh1sby"
        for d in range(10)
    )
