"""The control plane's handlers of deployments, stages and exports (the route table is
:mod:`~modelyard.gateway.control`'s).

Each handler parses the request, calls the gateway service and renders its answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelyard.gateway.control_documents import (
    deployment_document,
    export_extensions,
    export_response,
    export_type,
    json,
    json_object,
    param,
    patch_operations,
    stage_document,
)
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.service import GatewayService

__all__ = ["StageHandlers"]


class StageHandlers:
    """Deployments, stages and GetExport (``server_url``: where exports say the API is)."""

    def __init__(self, gateway: GatewayService, server_url: str) -> None:
        self._gateway = gateway
        self._server_url = server_url

    # -- deployments --

    async def create_deployment(self, request: Request, body: bytes) -> Response:
        """CreateDeployment."""
        document = json_object(body)
        deployment = await self._gateway.create_deployment(
            param(request, "api"),
            description=document.get("description"),
            stage_name=document.get("stageName"),
            stage_description=document.get("stageDescription"),
            variables=document.get("variables"),
            canary_settings=document.get("canarySettings"),
        )
        return json(deployment_document(deployment), 201)

    async def get_deployments(self, request: Request, body: bytes) -> Response:
        """GetDeployments."""
        found = await self._gateway.stages.get_deployments(param(request, "api"))
        return json({"item": [deployment_document(d) for d in found]})

    async def get_deployment(self, request: Request, body: bytes) -> Response:
        """GetDeployment."""
        found = await self._gateway.stages.get_deployment(
            param(request, "api"), param(request, "id")
        )
        return json(deployment_document(found))

    async def update_deployment(self, request: Request, body: bytes) -> Response:
        """UpdateDeployment."""
        updated = await self._gateway.stages.update_deployment(
            param(request, "api"), param(request, "id"), patch_operations(body)
        )
        return json(deployment_document(updated))

    # -- stages --

    async def create_stage(self, request: Request, body: bytes) -> Response:
        """CreateStage."""
        document = json_object(body)
        name, deployment = document.get("stageName"), document.get("deploymentId")
        if not isinstance(name, str) or not isinstance(deployment, str):
            raise BadRequest("stageName and deploymentId are required")
        stage = await self._gateway.stages.create_stage(
            param(request, "api"),
            name,
            deployment,
            description=document.get("description"),
            variables=document.get("variables"),
            cache_cluster_enabled=bool(document.get("cacheClusterEnabled", False)),
            cache_cluster_size=document.get("cacheClusterSize"),
            canary_settings=document.get("canarySettings"),
            tracing_enabled=bool(document.get("tracingEnabled", False)),
            tags=document.get("tags"),
        )
        return json(stage_document(stage), 201)

    async def get_stages(self, request: Request, body: bytes) -> Response:
        """GetStages."""
        found = await self._gateway.stages.get_stages(param(request, "api"))
        return json({"item": [stage_document(stage) for stage in found]})

    async def get_stage(self, request: Request, body: bytes) -> Response:
        """GetStage."""
        stage = await self._gateway.stages.get_stage(param(request, "api"), param(request, "name"))
        return json(stage_document(stage))

    async def update_stage(self, request: Request, body: bytes) -> Response:
        """UpdateStage."""
        operations = json_object(body).get("patchOperations") or []
        if not isinstance(operations, list):
            raise BadRequest("patchOperations must be a list")
        stage = await self._gateway.stages.update_stage(
            param(request, "api"), param(request, "name"), operations
        )
        return json(stage_document(stage))

    async def delete_stage(self, request: Request, body: bytes) -> Response:
        """DeleteStage."""
        await self._gateway.stages.delete_stage(param(request, "api"), param(request, "name"))
        return Response(status_code=202)

    async def get_export(self, request: Request, body: bytes) -> Response:
        """GetExport: the stage's definition as OpenAPI 3 or Swagger 2."""
        document = await self._gateway.get_export(
            param(request, "api"),
            param(request, "name"),
            export_type(request),
            extensions=export_extensions(request),
            server_url=self._server_url,
        )
        return export_response(request, document)
