"""modelyard's own operator route of the endpoints area: the endpoint metadata registry.

``GET /admin/endpoints`` lists every endpoint with its status, variants and categories
(the ``category`` tag); ``?category=X`` only those filed under X, as the jobs API sees
them. ``modelyard endpoints list`` reads it.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.endpoints.errors import InvalidParameterValue
from modelyard.endpoints.service import EndpointService
from modelyard.errors import ModelyardError
from modelyard.storage.endpoints import Endpoint
from modelyard.storage.listing import ListQuery
from modelyard.storage.tags import ResourceType

__all__ = ["routes"]

#: Rows read per query when listing every endpoint.
_PAGE = 500


def routes(endpoints: EndpointService) -> list[Route]:
    """``GET /admin/endpoints``, bound to ``endpoints``."""

    async def list_endpoints(request: Request) -> Response:
        try:
            category = request.query_params.get("category")
            if category is not None and not category.strip():
                raise InvalidParameterValue("category must not be empty")
            categories = {e.name: c for e, c in await endpoints.categorized_endpoints()}
            if category is not None:
                found = await endpoints.endpoints_of_category(category)
            else:
                found = await _every_endpoint(endpoints)
        except ModelyardError as exc:
            status = 400 if isinstance(exc, InvalidParameterValue) else 503
            return _json({"error": exc.message}, status)
        return _json({"endpoints": [_row(e, categories.get(e.name, ()), endpoints) for e in found]})

    return [Route("/admin/endpoints", list_endpoints, methods=["GET"])]


async def _every_endpoint(endpoints: EndpointService) -> list[Endpoint]:
    found: list[Endpoint] = []
    query = ListQuery(sort_by="name", limit=_PAGE)
    while True:
        page = await endpoints.list_endpoints(query)
        found += page.items
        if page.next is None:
            return found
        query = ListQuery(sort_by="name", limit=_PAGE, after=page.next)


def _row(endpoint: Endpoint, categories: tuple[str, ...], endpoints: EndpointService) -> Any:
    return {
        "EndpointName": endpoint.name,
        "EndpointArn": endpoints.arns.of(ResourceType.ENDPOINT, endpoint.name),
        "EndpointStatus": endpoint.status.value,
        "EndpointConfigName": endpoint.current.config_name,
        "Categories": list(categories),
        "CreationTime": endpoint.created_at.isoformat(),
        "LastModifiedTime": endpoint.last_modified_at.isoformat(),
        "FailureReason": endpoint.failure_reason,
        "Variants": [
            {
                "VariantName": v.variant_name,
                "ModelName": v.model_name,
                "Mode": v.mode.value,
                "Weight": v.current_weight,
                "InstanceCount": v.current_instance_count,
            }
            for v in endpoint.current.variants
        ],
    }


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")
