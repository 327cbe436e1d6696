"""The gateway facade: REST API definitions, deployments and stages, keys and plans.

:class:`GatewayService` is what the API Gateway control plane (``control.py``) and the
serving of deployed APIs call; it composes the three groups of operations, each over the
gateway's storage: :class:`~modelyard.gateway.api_updates.ApiUpdates` (definitions,
built in ``apis.py``, read and updated part by part in ``api_updates.py``),
:class:`~modelyard.gateway.stages.StageOperations` (deployments, stages) and
:class:`~modelyard.gateway.keys.KeyOperations` (API keys, usage plans).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any, Literal

from modelyard.gateway.api_updates import ApiUpdates
from modelyard.gateway.definitions import RestApi
from modelyard.gateway.keys import KeyOperations
from modelyard.gateway.openapi_export import export_api
from modelyard.gateway.operations import new_id
from modelyard.gateway.stages import StageOperations
from modelyard.storage.database import Database
from modelyard.storage.gateway import StoredDeployment

__all__ = ["GatewayService"]


class GatewayService(ApiUpdates):
    """REST APIs, their deployments and stages, API keys and usage plans."""

    def __init__(
        self,
        *,
        database: Database,
        region: str,
        account_id: str,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        super().__init__(database=database, clock=clock, make_id=make_id)
        self.region = region
        self.account_id = account_id
        self.stages = StageOperations(database=database, clock=clock, make_id=make_id)
        self.keys = KeyOperations(database=database, clock=clock, make_id=make_id)

    def _deleted(self, api_id: str) -> None:
        for listener in self.stages.listeners:
            listener(api_id)

    async def start(self) -> None:
        """Nothing to resume."""

    async def stop(self) -> None:
        """Nothing to release."""

    async def create_deployment(self, api_id: str, **options: Any) -> StoredDeployment:
        """CreateDeployment of the API's current definition (see StageOperations)."""
        return await self.stages.create_deployment(await self.get_rest_api(api_id), **options)

    async def deployed_api(self, deployment: StoredDeployment) -> RestApi:
        """The definition a deployment froze."""
        return RestApi.model_validate(deployment.document)

    async def get_export(
        self,
        api_id: str,
        stage_name: str,
        export_type: Literal["oas30", "swagger"],
        *,
        extensions: Collection[str],
        server_url: str,
    ) -> dict[str, Any]:
        """GetExport: the definition the stage serves, as OpenAPI 3.0 or Swagger 2.0."""
        stage = await self.stages.get_stage(api_id, stage_name)
        deployment = await self.stages.get_deployment(api_id, stage.deployment_id)
        return export_api(
            await self.deployed_api(deployment),
            stage=stage_name,
            stage_variables=stage.document.get("variables") or {},
            server_url=server_url,
            export_type=export_type,
            extensions=extensions,
        )
