"""The control plane's handlers of REST APIs, their resources, authorizers, models,
request validators and gateway responses (the route table is :mod:`~modelyard.gateway.control`'s).

Each handler parses the request, calls the gateway service and renders its answer.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from modelyard.gateway.control_documents import (
    api_document,
    fail_on_warnings,
    given_fields,
    json,
    json_object,
    limit,
    page,
    param,
    patch_operations,
    resource_document,
    rest_api_fields,
)
from modelyard.gateway.definitions import Authorizer, Model, RequestValidator
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.service import GatewayService

__all__ = ["RestApiHandlers"]


class RestApiHandlers:
    """REST APIs, resources, authorizers, models, validators and gateway responses."""

    def __init__(self, gateway: GatewayService) -> None:
        self._gateway = gateway

    # -- REST APIs --

    async def create_rest_api(self, request: Request, body: bytes) -> Response:
        """CreateRestApi, or ImportRestApi (``?mode=import``, the body an OpenAPI document)."""
        if request.query_params.get("mode") == "import":
            api = await self._gateway.import_rest_api(
                body, fail_on_warnings=fail_on_warnings(request)
            )
            return json(api_document(api), 201)
        document = json_object(body)
        name = document.get("name")
        if not isinstance(name, str):
            raise BadRequest("name is required")
        api = await self._gateway.create_rest_api(name, **rest_api_fields(document))
        return json(api_document(api), 201)

    async def get_rest_apis(self, request: Request, body: bytes) -> Response:
        """GetRestApis."""
        found, more = await self._gateway.get_rest_apis(
            after=request.query_params.get("position"), limit=limit(request)
        )
        return json(page([api_document(api) for api in found], more))

    async def get_rest_api(self, request: Request, body: bytes) -> Response:
        """GetRestApi."""
        return json(api_document(await self._gateway.get_rest_api(param(request, "api"))))

    async def put_rest_api(self, request: Request, body: bytes) -> Response:
        """PutRestApi (``?mode=merge|overwrite``)."""
        api = await self._gateway.put_rest_api(
            param(request, "api"),
            body,
            mode=request.query_params.get("mode", "merge"),
            fail_on_warnings=fail_on_warnings(request),
        )
        return json(api_document(api))

    async def update_rest_api(self, request: Request, body: bytes) -> Response:
        """UpdateRestApi."""
        api = await self._gateway.update_rest_api(param(request, "api"), patch_operations(body))
        return json(api_document(api))

    async def delete_rest_api(self, request: Request, body: bytes) -> Response:
        """DeleteRestApi."""
        await self._gateway.delete_rest_api(param(request, "api"))
        return Response(status_code=202)

    # -- resources --

    async def get_resources(self, request: Request, body: bytes) -> Response:
        """GetResources."""
        resources = await self._gateway.get_resources(param(request, "api"))
        return json({"item": [resource_document(r) for r in resources]})

    async def get_resource(self, request: Request, body: bytes) -> Response:
        """GetResource."""
        resource = await self._gateway.get_resource(param(request, "api"), param(request, "id"))
        return json(resource_document(resource))

    async def create_resource(self, request: Request, body: bytes) -> Response:
        """CreateResource (``id``: the parent's)."""
        path_part = json_object(body).get("pathPart")
        if not isinstance(path_part, str):
            raise BadRequest("pathPart is required")
        resource = await self._gateway.create_resource(
            param(request, "api"), param(request, "id"), path_part
        )
        return json(resource_document(resource), 201)

    async def update_resource(self, request: Request, body: bytes) -> Response:
        """UpdateResource."""
        resource = await self._gateway.update_resource(
            param(request, "api"), param(request, "id"), patch_operations(body)
        )
        return json(resource_document(resource))

    async def delete_resource(self, request: Request, body: bytes) -> Response:
        """DeleteResource."""
        await self._gateway.delete_resource(param(request, "api"), param(request, "id"))
        return Response(status_code=202)

    # -- authorizers, models, validators, gateway responses --

    async def create_authorizer(self, request: Request, body: bytes) -> Response:
        """CreateAuthorizer."""
        fields = given_fields(Authorizer, {**json_object(body), "id": "-"}, exclude={"id"})
        authorizer = await self._gateway.create_authorizer(param(request, "api"), **fields)
        return json(authorizer.document(), 201)

    async def get_authorizer(self, request: Request, body: bytes) -> Response:
        """GetAuthorizer."""
        found = await self._gateway.get_authorizer(param(request, "api"), param(request, "id"))
        return json(found.document())

    async def update_authorizer(self, request: Request, body: bytes) -> Response:
        """UpdateAuthorizer."""
        authorizer = await self._gateway.update_authorizer(
            param(request, "api"), param(request, "id"), patch_operations(body)
        )
        return json(authorizer.document())

    async def create_model(self, request: Request, body: bytes) -> Response:
        """CreateModel."""
        fields = given_fields(Model, {**json_object(body), "id": "-"}, exclude={"id"})
        model = await self._gateway.create_model(param(request, "api"), **fields)
        return json(model.document(), 201)

    async def get_model(self, request: Request, body: bytes) -> Response:
        """GetModel (by name)."""
        found = await self._gateway.get_model(param(request, "api"), param(request, "name"))
        return json(found.document())

    async def update_model(self, request: Request, body: bytes) -> Response:
        """UpdateModel (by name)."""
        model = await self._gateway.update_model(
            param(request, "api"), param(request, "name"), patch_operations(body)
        )
        return json(model.document())

    async def create_request_validator(self, request: Request, body: bytes) -> Response:
        """CreateRequestValidator."""
        fields = given_fields(RequestValidator, {**json_object(body), "id": "-"}, exclude={"id"})
        validator = await self._gateway.create_request_validator(param(request, "api"), **fields)
        return json(validator.document(), 201)

    async def get_request_validator(self, request: Request, body: bytes) -> Response:
        """GetRequestValidator."""
        found = await self._gateway.get_request_validator(
            param(request, "api"), param(request, "id")
        )
        return json(found.document())

    async def update_request_validator(self, request: Request, body: bytes) -> Response:
        """UpdateRequestValidator."""
        validator = await self._gateway.update_request_validator(
            param(request, "api"), param(request, "id"), patch_operations(body)
        )
        return json(validator.document())

    async def put_gateway_response(self, request: Request, body: bytes) -> Response:
        """PutGatewayResponse."""
        document = json_object(body)
        response = await self._gateway.put_gateway_response(
            param(request, "api"),
            param(request, "type"),
            status_code=document.get("statusCode"),
            response_parameters=document.get("responseParameters"),
            response_templates=document.get("responseTemplates"),
        )
        return json(response.document(), 201)

    async def get_gateway_response(self, request: Request, body: bytes) -> Response:
        """GetGatewayResponse."""
        found = await self._gateway.get_gateway_response(
            param(request, "api"), param(request, "type")
        )
        return json(found.document())

    async def update_gateway_response(self, request: Request, body: bytes) -> Response:
        """UpdateGatewayResponse."""
        response = await self._gateway.update_gateway_response(
            param(request, "api"), param(request, "type"), patch_operations(body)
        )
        return json(response.document())
