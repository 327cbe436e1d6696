"""A stage as requests see it: its deployment's definition made ready to serve.

Serving a request needs the stage's deployment (and its canary's) as a route table, its
gateway responses and its resolved body models. :class:`StageLoader` builds a
:class:`DeployedStage` once and keeps it briefly (:data:`FRESH_S`): stage changes made in
this process drop it at once, those of other processes sharing the database show within
that time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from modelyard.gateway.canary import CanarySettings
from modelyard.gateway.definitions import RestApi
from modelyard.gateway.responses import GatewayResponses
from modelyard.gateway.routing import RouteTable
from modelyard.gateway.service import GatewayService
from modelyard.gateway.validation import resolve_models
from modelyard.storage.gateway import StoredStage

__all__ = ["FRESH_S", "DeployedApi", "DeployedStage", "StageLoader", "deployed_api"]

#: Seconds a loaded stage is served before it is read again.
FRESH_S: Final = 1.0


@dataclass(frozen=True, kw_only=True)
class DeployedApi:
    """One deployment's definition, ready to serve."""

    deployment_id: str
    api: RestApi
    routes: RouteTable
    responses: GatewayResponses
    #: Model name → its JSON Schema, references resolved.
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DeployedStage:
    """A stage: its deployment, its canary's, its variables and settings."""

    api_id: str
    name: str
    main: DeployedApi
    canary: DeployedApi | None
    canary_settings: CanarySettings | None
    variables: Mapping[str, str]
    #: The stage document (methodSettings, cacheClusterEnabled, ...).
    document: Mapping[str, Any]


class StageLoader:
    """Loads deployed stages, keeping each for :data:`FRESH_S`."""

    def __init__(self, gateway: GatewayService) -> None:
        self._gateway = gateway
        self._stages: dict[tuple[str, str], tuple[float, DeployedStage | None]] = {}
        self._deployments: dict[tuple[str, str], DeployedApi] = {}
        gateway.stages.listeners.append(self.forget)

    def forget(self, api_id: str | None = None) -> None:
        """Drop what is kept (of one API, or all)."""
        if api_id is None:
            self._stages.clear()
        else:
            self._stages = {k: v for k, v in self._stages.items() if k[0] != api_id}

    async def load(self, api_id: str, stage_name: str) -> DeployedStage | None:
        """The stage, or None if the API or stage does not exist."""
        now = time.monotonic()
        kept = self._stages.get((api_id, stage_name))
        if kept is not None and now - kept[0] < FRESH_S:
            return kept[1]
        stored = await self._gateway.stages.find_stage(api_id, stage_name)
        stage = None if stored is None else await self._deployed_stage(stored)
        if len(self._stages) > 10_000:
            self._stages.clear()
        self._stages[(api_id, stage_name)] = (now, stage)
        return stage

    async def _deployed_stage(self, stored: StoredStage) -> DeployedStage:
        main = await self._deployment(stored.api_id, stored.deployment_id)
        raw = stored.document.get("canarySettings")
        canary_settings: CanarySettings | None = None
        canary: DeployedApi | None = None
        if isinstance(raw, Mapping) and raw.get("deploymentId"):
            canary_settings = CanarySettings(
                percent_traffic=float(raw.get("percentTraffic", 0.0)),
                deployment_id=str(raw["deploymentId"]),
                stage_variable_overrides=dict(raw.get("stageVariableOverrides") or {}),
                use_stage_cache=bool(raw.get("useStageCache", False)),
            )
            canary = await self._deployment(stored.api_id, canary_settings.deployment_id)
        return DeployedStage(
            api_id=stored.api_id,
            name=stored.name,
            main=main,
            canary=canary,
            canary_settings=canary_settings,
            variables=dict(stored.document.get("variables") or {}),
            document=stored.document,
        )

    async def _deployment(self, api_id: str, deployment_id: str) -> DeployedApi:
        # Deployments never change: kept for as long as the process lives (bounded).
        kept = self._deployments.get((api_id, deployment_id))
        if kept is not None:
            return kept
        deployment = await self._gateway.stages.get_deployment(api_id, deployment_id)
        api = RestApi.model_validate(deployment.document)
        deployed = deployed_api(api, deployment_id)
        if len(self._deployments) > 1_000:
            self._deployments.clear()
        self._deployments[(api_id, deployment_id)] = deployed
        return deployed


def deployed_api(api: RestApi, deployment_id: str) -> DeployedApi:
    """``api`` made ready to serve: its route table, gateway responses and models."""
    schemas = {
        model.name: orjson.loads(model.schema_) if model.schema_ else {}
        for model in api.models.values()
    }
    return DeployedApi(
        deployment_id=deployment_id,
        api=api,
        routes=RouteTable(api),
        responses=GatewayResponses.from_definitions(api.gateway_responses.values()),
        models=resolve_models(schemas, api.id),
    )
