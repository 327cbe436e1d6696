"""Deployments and stages: frozen snapshots of an API, and the names they are served at.

CreateDeployment freezes the API's current definition; a stage points at one deployment
(and, with canary settings, sends a share of its traffic to another). Stage settings are
changed by UpdateStage's JSON-Patch-like operations on API Gateway's paths
(``/variables/x``, ``/*/*/throttling/rateLimit``, ``/~1pets/GET/caching/enabled``,
``/canarySettings/percentTraffic``, ``/accessLogSettings/format``...), applied here to the
stage document.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from modelyard.gateway import patches
from modelyard.gateway.access_log import format_problem
from modelyard.gateway.definitions import RestApi
from modelyard.gateway.errors import BadRequest, Conflict, GatewayNotFound
from modelyard.gateway.operations import Operations, new_id
from modelyard.gateway.patches import Op, PatchOperation
from modelyard.storage.database import Database
from modelyard.storage.gateway import StoredDeployment, StoredStage

__all__ = ["StageOperations", "apply_patch", "method_setting"]

T = TypeVar("T")

#: The members of a method setting, and how a patch value (always a string) is read.
_SETTINGS: Final[Mapping[str, tuple[str, Callable[[str], Any]]]] = {
    "throttling/rateLimit": ("throttlingRateLimit", float),
    "throttling/burstLimit": ("throttlingBurstLimit", int),
    "caching/enabled": ("cachingEnabled", lambda v: v.lower() == "true"),
    "caching/ttlInSeconds": ("cacheTtlInSeconds", int),
    "caching/dataEncrypted": ("cacheDataEncrypted", lambda v: v.lower() == "true"),
    "caching/requireAuthorizationForCacheControl": (
        "requireAuthorizationForCacheControl",
        lambda v: v.lower() == "true",
    ),
    "caching/unauthorizedCacheControlHeaderStrategy": (
        "unauthorizedCacheControlHeaderStrategy",
        str,
    ),
    "metrics/enabled": ("metricsEnabled", lambda v: v.lower() == "true"),
    "logging/loglevel": ("loggingLevel", str),
    "logging/dataTrace": ("dataTraceEnabled", lambda v: v.lower() == "true"),
}
#: UpdateDeployment's paths.
_DEPLOYMENT_PATHS: Final = (patches.Field(path="/description", read=patches.optional_text),)
_BOOLEANS: Final = frozenset({"cacheClusterEnabled", "tracingEnabled"})
_STRINGS: Final = frozenset({"description", "deploymentId", "cacheClusterSize"})
#: The members of ``accessLogSettings`` a patch may set.
_ACCESS_LOG: Final = frozenset({"format", "destinationArn"})


class StageOperations(Operations):
    """Deployments and stages (see the module)."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        super().__init__(database=database, clock=clock, make_id=make_id)
        #: Called with an API's id whenever one of its stages changed here (what serves
        #: the stage drops what it kept of it).
        self.listeners: list[Callable[[str], None]] = []

    def _changed(self, api_id: str) -> None:
        for listener in self.listeners:
            listener(api_id)

    async def create_deployment(
        self,
        api: RestApi,
        *,
        description: str | None = None,
        stage_name: str | None = None,
        stage_description: str | None = None,
        variables: Mapping[str, str] | None = None,
        canary_settings: Mapping[str, Any] | None = None,
    ) -> StoredDeployment:
        """CreateDeployment: freeze ``api``; with a stage name, point that stage at it (or,
        with canary settings, make it the stage's canary)."""
        if not any(r.resource_methods for r in api.resources.values()):
            raise BadRequest("The REST API doesn't contain any methods")
        deployment = StoredDeployment(
            api_id=api.id,
            id=self._new_id(),
            description=description,
            created_at=self._now(),
            document=api.document(),
        )
        if not await self._db(self._store.add_deployment, deployment):
            raise GatewayNotFound("Invalid API identifier specified")
        if stage_name is not None:
            if canary_settings is not None:
                canary = {**canary_settings, "deploymentId": deployment.id}
                await self.update_stage(
                    api.id, stage_name, [], replace_canary=canary, variables=variables
                )
            elif await self._db(self._store.get_stage, api.id, stage_name) is None:
                await self.create_stage(
                    api.id,
                    stage_name,
                    deployment.id,
                    description=stage_description,
                    variables=variables,
                )
            else:
                await self.update_stage(
                    api.id,
                    stage_name,
                    [{"op": "replace", "path": "/deploymentId", "value": deployment.id}],
                    variables=variables,
                )
        return deployment

    async def get_deployment(self, api_id: str, deployment_id: str) -> StoredDeployment:
        """GetDeployment."""
        found = await self._db(self._store.get_deployment, api_id, deployment_id)
        if found is None:
            raise GatewayNotFound("Invalid Deployment identifier specified")
        return found

    async def get_deployments(self, api_id: str) -> list[StoredDeployment]:
        """GetDeployments (every one, newest last)."""
        found, _ = await self._db(self._store.list_deployments, api_id, after=None, limit=500)
        return sorted(found, key=lambda d: d.created_at)

    async def update_deployment(
        self, api_id: str, deployment_id: str, operations: Sequence[PatchOperation]
    ) -> StoredDeployment:
        """UpdateDeployment: its description (the definition it froze never changes)."""
        deployment = await self.get_deployment(api_id, deployment_id)
        document = {"description": deployment.description} if deployment.description else {}
        patched = patches.apply_patch(document, operations, _DEPLOYMENT_PATHS)
        updated = await self._db(
            self._store.update_deployment,
            api_id,
            deployment_id,
            description=patched.get("description"),
        )
        if updated is None:
            raise GatewayNotFound("Invalid Deployment identifier specified")
        return updated

    async def create_stage(
        self,
        api_id: str,
        stage_name: str,
        deployment_id: str,
        *,
        description: str | None = None,
        variables: Mapping[str, str] | None = None,
        cache_cluster_enabled: bool = False,
        cache_cluster_size: str | None = None,
        method_settings: Mapping[str, Mapping[str, Any]] | None = None,
        canary_settings: Mapping[str, Any] | None = None,
        tracing_enabled: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> StoredStage:
        """CreateStage."""
        _check_stage_name(stage_name)
        await self.get_deployment(api_id, deployment_id)
        now = self._now()
        document: dict[str, Any] = {
            "stageName": stage_name,
            "deploymentId": deployment_id,
            "variables": dict(variables or {}),
            "methodSettings": {k: dict(v) for k, v in (method_settings or {}).items()},
            "cacheClusterEnabled": cache_cluster_enabled,
            "tracingEnabled": tracing_enabled,
        }
        if description is not None:
            document["description"] = description
        if cache_cluster_enabled:
            document["cacheClusterSize"] = cache_cluster_size or "0.5"
            document["cacheClusterStatus"] = "AVAILABLE"
        if canary_settings is not None:
            document["canarySettings"] = dict(canary_settings)
        if tags:
            document["tags"] = dict(tags)
        stage = StoredStage(
            api_id=api_id,
            name=stage_name,
            deployment_id=deployment_id,
            created_at=now,
            last_updated_at=now,
            document=document,
        )
        if not await self._db(self._store.add_stage, stage):
            raise Conflict("Stage already exists")
        self._changed(api_id)
        return stage

    async def get_stage(self, api_id: str, stage_name: str) -> StoredStage:
        """GetStage."""
        found = await self._db(self._store.get_stage, api_id, stage_name)
        if found is None:
            raise GatewayNotFound("Invalid Stage identifier specified")
        return found

    async def find_stage(self, api_id: str, stage_name: str) -> StoredStage | None:
        """The stage, or None."""
        return await self._db(self._store.get_stage, api_id, stage_name)

    async def get_stages(self, api_id: str) -> list[StoredStage]:
        """GetStages."""
        return await self._db(self._store.list_stages, api_id)

    async def delete_stage(self, api_id: str, stage_name: str) -> None:
        """DeleteStage."""
        if not await self._db(self._store.delete_stage, api_id, stage_name):
            raise GatewayNotFound("Invalid Stage identifier specified")
        self._changed(api_id)

    async def update_stage(
        self,
        api_id: str,
        stage_name: str,
        operations: Sequence[Mapping[str, Any]],
        *,
        replace_canary: Mapping[str, Any] | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> StoredStage:
        """UpdateStage: the patch operations applied to the stage's document."""
        stage = await self.get_stage(api_id, stage_name)
        document = apply_patch(stage.document, operations)
        if variables:
            document["variables"] = {**document.get("variables", {}), **variables}
        if replace_canary is not None:
            document["canarySettings"] = dict(replace_canary)
        deployment_id = str(document.get("deploymentId", stage.deployment_id))
        if deployment_id != stage.deployment_id:
            await self.get_deployment(api_id, deployment_id)
        canary = document.get("canarySettings")
        if isinstance(canary, dict) and canary.get("deploymentId"):
            await self.get_deployment(api_id, str(canary["deploymentId"]))
        updated = await self._db(
            self._store.update_stage,
            api_id,
            stage_name,
            deployment_id=deployment_id,
            document=document,
            now=self._now(),
        )
        if updated is None:
            raise GatewayNotFound("Invalid Stage identifier specified")
        self._changed(api_id)
        return updated


def apply_patch(
    document: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The stage ``document`` after UpdateStage's ``operations`` (a new dict)."""
    result: dict[str, Any] = {
        key: (dict(value) if isinstance(value, Mapping) else value)
        for key, value in document.items()
    }
    result["methodSettings"] = {k: dict(v) for k, v in result.get("methodSettings", {}).items()}
    for operation in patches.parse_operations(list(operations)):
        op, path, value = operation.op, operation.path, operation.value
        if op is Op.COPY:
            # Promoting a canary: copy /canarySettings/deploymentId to /deploymentId.
            op, value = Op.REPLACE, patches.source_value(result, operation)
        if op not in (Op.REPLACE, Op.ADD, Op.REMOVE):
            raise BadRequest(f"Invalid patch path  '{path}' specified for op '{op}'")
        parts = path.split("/")[1:]
        if not parts or not parts[0]:
            raise BadRequest(f"Invalid patch path {path!r}")
        _apply(result, op, parts, value, path)
    return result


def method_setting(
    document: Mapping[str, Any], resource_path: str, http_method: str
) -> dict[str, Any]:
    """The settings of one method in a stage document: ``*/*`` overridden by its own."""
    settings = document.get("methodSettings", {})
    key = f"{resource_path.lstrip('/')}/{http_method.upper()}"
    return {**settings.get("*/*", {}), **settings.get(key, {})}


def _apply(result: dict[str, Any], op: str, parts: list[str], value: Any, path: str) -> None:
    head = parts[0]
    if head == "variables" and len(parts) == 2:
        variables = dict(result.get("variables", {}))
        if op == "remove":
            variables.pop(parts[1], None)
        else:
            variables[parts[1]] = str(value)
        result["variables"] = variables
    elif head == "canarySettings":
        if op == "remove" and len(parts) == 1:
            result.pop("canarySettings", None)
            return
        canary = dict(result.get("canarySettings") or {})
        if len(parts) == 3 and parts[1] == "stageVariableOverrides":
            overrides = dict(canary.get("stageVariableOverrides", {}))
            if op == "remove":
                overrides.pop(parts[2], None)
            else:
                overrides[parts[2]] = str(value)
            canary["stageVariableOverrides"] = overrides
        elif len(parts) == 2 and parts[1] == "percentTraffic":
            canary["percentTraffic"] = _number(value, path, 0.0, 100.0)
        elif len(parts) == 2 and parts[1] == "deploymentId":
            canary["deploymentId"] = str(value)
        elif len(parts) == 2 and parts[1] == "useStageCache":
            canary["useStageCache"] = str(value).lower() == "true"
        else:
            raise BadRequest(f"Invalid patch path {path!r}")
        result["canarySettings"] = canary
    elif head == "accessLogSettings":
        _apply_access_log(result, op, parts, value, path)
    elif len(parts) == 1 and (head in _BOOLEANS or head in _STRINGS):
        if op == "remove":
            result.pop(head, None)
        else:
            result[head] = str(value).lower() == "true" if head in _BOOLEANS else str(value)
    elif len(parts) >= 4:
        # /{resource path with ~1 for /}/{method}/{group}/{name}
        resource = parts[0].replace("~1", "/").lstrip("/")
        method = parts[1]
        setting = "/".join(parts[2:])
        if setting not in _SETTINGS:
            raise BadRequest(f"Invalid method setting path: {path}")
        member, read = _SETTINGS[setting]
        key = f"{resource}/{method}" if resource != "*" else f"*/{method}"
        settings = dict(result["methodSettings"].get(key, {}))
        if op == "remove":
            settings.pop(member, None)
        else:
            try:
                settings[member] = read(str(value))
            except ValueError:
                raise BadRequest(f"Invalid value {value!r} for {path}") from None
        result["methodSettings"][key] = settings
    else:
        raise BadRequest(f"Invalid patch path {path!r}")


def _apply_access_log(
    result: dict[str, Any], op: str, parts: list[str], value: Any, path: str
) -> None:
    """``/accessLogSettings`` (remove only), ``/accessLogSettings/format`` and
    ``/accessLogSettings/destinationArn``; the format checked as API Gateway checks it."""
    if len(parts) == 1 and op == "remove":
        result.pop("accessLogSettings", None)
        return
    if len(parts) != 2 or parts[1] not in _ACCESS_LOG:
        raise BadRequest(f"Invalid patch path {path!r}")
    settings = dict(result.get("accessLogSettings") or {})
    if op == "remove":
        settings.pop(parts[1], None)
    else:
        text = str(value)
        problem = format_problem(text) if parts[1] == "format" else None
        if problem is not None:
            raise BadRequest(problem)
        settings[parts[1]] = text
    if settings:
        result["accessLogSettings"] = settings
    else:
        result.pop("accessLogSettings", None)


def _number(value: Any, path: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid value {value!r} for {path}") from None
    if not low <= number <= high:
        raise BadRequest(f"{path} must be between {low:g} and {high:g}")
    return number


def _check_stage_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 128:
        raise BadRequest("Stage name only allows a-zA-Z0-9_-")
