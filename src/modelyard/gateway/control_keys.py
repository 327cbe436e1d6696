"""The control plane's handlers of API keys, usage plans and their usage (the route table
is :mod:`~modelyard.gateway.control`'s).

Each handler parses the request, calls the gateway service and renders its answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelyard.gateway.control_documents import (
    day_parameter,
    json,
    json_object,
    key_document,
    limit,
    page,
    param,
    patch_operations,
    plan_document,
    plan_key_document,
)
from modelyard.gateway.quotas import QuotaCounters
from modelyard.gateway.service import GatewayService

__all__ = ["KeyHandlers"]


class KeyHandlers:
    """API keys and usage plans (``quotas``: the counters the serving of stages keeps,
    which GetUsage reports)."""

    def __init__(self, gateway: GatewayService, quotas: QuotaCounters | None) -> None:
        self._keys = gateway.keys
        self._quotas = quotas

    # -- API keys --

    async def create_api_key(self, request: Request, body: bytes) -> Response:
        """CreateApiKey (its value shown this once)."""
        document = json_object(body)
        created = await self._keys.create_api_key(
            name=document.get("name"),
            description=document.get("description"),
            enabled=bool(document.get("enabled", False)),
            value=document.get("value"),
            customer_id=document.get("customerId"),
        )
        return json({**key_document(created.record), "value": created.value}, 201)

    async def get_api_keys(self, request: Request, body: bytes) -> Response:
        """GetApiKeys."""
        found, more = await self._keys.get_api_keys(
            after=request.query_params.get("position"), limit=limit(request)
        )
        return json(page([key_document(key) for key in found], more))

    async def get_api_key(self, request: Request, body: bytes) -> Response:
        """GetApiKey."""
        return json(key_document(await self._keys.get_api_key(param(request, "id"))))

    async def update_api_key(self, request: Request, body: bytes) -> Response:
        """UpdateApiKey."""
        key = await self._keys.update_api_key(param(request, "id"), patch_operations(body))
        return json(key_document(key))

    async def delete_api_key(self, request: Request, body: bytes) -> Response:
        """DeleteApiKey."""
        await self._keys.delete_api_key(param(request, "id"))
        return Response(status_code=202)

    # -- usage plans --

    async def create_usage_plan(self, request: Request, body: bytes) -> Response:
        """CreateUsagePlan."""
        document = json_object(body)
        plan = await self._keys.create_usage_plan(
            name=str(document.get("name") or ""),
            description=document.get("description"),
            api_stages=document.get("apiStages") or [],
            throttle=document.get("throttle"),
            quota=document.get("quota"),
            tags=document.get("tags"),
        )
        return json(plan_document(plan), 201)

    async def get_usage_plans(self, request: Request, body: bytes) -> Response:
        """GetUsagePlans (``?keyId=``: those of one key)."""
        found, more = await self._keys.get_usage_plans(
            after=request.query_params.get("position"),
            limit=limit(request),
            key_id=request.query_params.get("keyId"),
        )
        return json(page([plan_document(plan) for plan in found], more))

    async def get_usage_plan(self, request: Request, body: bytes) -> Response:
        """GetUsagePlan."""
        return json(plan_document(await self._keys.get_usage_plan(param(request, "id"))))

    async def update_usage_plan(self, request: Request, body: bytes) -> Response:
        """UpdateUsagePlan."""
        plan = await self._keys.update_usage_plan(param(request, "id"), patch_operations(body))
        return json(plan_document(plan))

    async def delete_usage_plan(self, request: Request, body: bytes) -> Response:
        """DeleteUsagePlan."""
        await self._keys.delete_usage_plan(param(request, "id"))
        return Response(status_code=202)

    async def create_usage_plan_key(self, request: Request, body: bytes) -> Response:
        """CreateUsagePlanKey."""
        document = json_object(body)
        key = await self._keys.create_usage_plan_key(
            param(request, "id"), str(document.get("keyId") or ""), str(document.get("keyType"))
        )
        return json(plan_key_document(key), 201)

    async def get_usage_plan_keys(self, request: Request, body: bytes) -> Response:
        """GetUsagePlanKeys."""
        keys = await self._keys.get_usage_plan_keys(param(request, "id"))
        return json({"item": [plan_key_document(key) for key in keys]})

    async def delete_usage_plan_key(self, request: Request, body: bytes) -> Response:
        """DeleteUsagePlanKey."""
        await self._keys.delete_usage_plan_key(param(request, "id"), param(request, "key"))
        return Response(status_code=202)

    async def get_usage(self, request: Request, body: bytes) -> Response:
        """GetUsage: each day's requests and remaining quota, by key."""
        start, end = day_parameter(request, "startDate"), day_parameter(request, "endDate")
        usage = await self._keys.usage(
            param(request, "id"), start, end, request.query_params.get("keyId"), self._quotas
        )
        return json(
            {
                "usagePlanId": param(request, "id"),
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
                "values": usage,
            }
        )
