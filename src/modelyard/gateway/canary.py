"""Canary releases: which requests a stage's canary takes, and what promotion leaves.

A stage with canary settings sends a random ``percentTraffic`` percent of its requests to
the canary's deployment, with the canary's stage variable overrides laid over the stage's
variables; the rest go to the stage's own deployment. Canary requests use the stage cache
only when ``useStageCache`` is set. Promoting a canary makes its deployment and variables
the stage's and turns its traffic down to 0 %; as in API Gateway, the canary settings
stay on the stage until they are removed.

These are pure functions over the stage's fields: the stage record is kept elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from modelyard.gateway.errors import BadRequest

__all__ = [
    "CanarySettings",
    "Promotion",
    "Selection",
    "choose",
    "promoted",
    "select",
    "stage_variables",
]


@dataclass(frozen=True, kw_only=True)
class CanarySettings:
    """A stage's canary (``canarySettings``).

    >>> canary = CanarySettings(percent_traffic=10.0, deployment_id="eh1sby")
    >>> choose(canary, draw=0.05), choose(canary, draw=0.5)
    (True, False)
    """

    #: The share of the stage's requests the canary takes, 0.0..100.0 percent.
    percent_traffic: float
    #: The deployment the canary serves.
    deployment_id: str
    #: Stage variables the canary overrides or adds.
    stage_variable_overrides: Mapping[str, str] = field(default_factory=dict)
    #: Whether canary requests use the stage cache.
    use_stage_cache: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.percent_traffic <= 100.0:
            raise BadRequest("percentTraffic must be between 0.0 and 100.0")


def choose(canary: CanarySettings | None, *, draw: float) -> bool:
    """Whether a request goes to the canary, given ``draw`` uniform in [0, 1) (the caller's
    random number, so tests can pick it). No canary, or 0 %, never; 100 % always."""
    if not 0.0 <= draw < 1.0:
        raise ValueError(f"draw must be in [0, 1), not {draw!r}")
    return canary is not None and draw * 100.0 < canary.percent_traffic


def stage_variables(base: Mapping[str, str], canary: CanarySettings | None) -> dict[str, str]:
    """The stage variables a canary request sees: the stage's, with the canary's
    overrides replacing or adding to them."""
    merged = dict(base)
    if canary is not None:
        merged.update(canary.stage_variable_overrides)
    return merged


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Where one request goes."""

    #: Whether the canary takes it.
    is_canary: bool
    #: The deployment that serves it.
    deployment_id: str
    #: The stage variables it sees.
    variables: dict[str, str]
    #: Whether it may use the stage cache (when the stage caches at all).
    uses_stage_cache: bool


def select(
    deployment_id: str,
    variables: Mapping[str, str],
    canary: CanarySettings | None,
    *,
    draw: float,
) -> Selection:
    """Route one request of a stage (its ``deployment_id`` and ``variables``) given
    ``draw`` uniform in [0, 1)."""
    if choose(canary, draw=draw) and canary is not None:
        return Selection(
            is_canary=True,
            deployment_id=canary.deployment_id,
            variables=stage_variables(variables, canary),
            uses_stage_cache=canary.use_stage_cache,
        )
    return Selection(
        is_canary=False,
        deployment_id=deployment_id,
        variables=dict(variables),
        uses_stage_cache=True,
    )


@dataclass(frozen=True, kw_only=True)
class Promotion:
    """A stage's fields after its canary is promoted."""

    #: The stage's deployment: the canary's.
    deployment_id: str
    #: The stage's variables, with the canary's overrides merged in.
    variables: dict[str, str]
    #: The canary, still attached, taking 0 % of the traffic.
    canary: CanarySettings


def promoted(deployment_id: str, variables: Mapping[str, str], canary: CanarySettings) -> Promotion:
    """What promoting ``canary`` makes of a stage on ``deployment_id`` with ``variables``.

    API Gateway's promotion copies the canary's deployment id to the stage, copies its
    stage variable overrides into the stage variables, and sets its traffic to 0 %. The
    canary settings themselves stay until removed (set the stage's canary to ``None``
    for that); ``deployment_id``, the stage's old deployment, is replaced.
    """
    return Promotion(
        deployment_id=canary.deployment_id,
        variables=stage_variables(variables, canary),
        canary=replace(canary, percent_traffic=0.0),
    )
