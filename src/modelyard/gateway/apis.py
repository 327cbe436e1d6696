"""REST API definitions: the API Gateway operations that build and change them.

:class:`ApiOperations` answers CreateRestApi, GetRestApi(s), DeleteRestApi,
ImportRestApi, PutRestApi, the resource, method, integration and response operations,
and CreateAuthorizer, CreateModel, CreateRequestValidator and PutGatewayResponse. An API
is one document (``definitions.RestApi``): each change reads it, makes a new copy and
writes it back only if nobody wrote in between (optimistic concurrency; a conflict is
retried), so two processes changing one API never lose each other's changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

from modelyard.gateway.definitions import (
    Authorizer,
    GatewayResponseDefinition,
    Integration,
    IntegrationResponse,
    Method,
    MethodResponse,
    Model,
    RequestValidator,
    Resource,
    RestApi,
)
from modelyard.gateway.errors import BadRequest, Conflict, GatewayNotFound
from modelyard.gateway.openapi_import import import_api, parse_document
from modelyard.gateway.operations import Operations, new_id
from modelyard.storage.database import Database
from modelyard.storage.gateway import StoredApi

__all__ = [
    "ApiOperations",
    "check_path_part",
    "find_method",
    "find_resource",
    "new_id",
    "with_resource",
]

T = TypeVar("T")

#: Attempts at writing a change before giving up (each one after a concurrent change).
_ATTEMPTS: Final = 20
_HTTP_METHODS: Final = frozenset(
    {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}
)


class ApiOperations(Operations):
    """REST API definitions (see the module)."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        super().__init__(database=database, clock=clock, make_id=make_id)

    # -- REST APIs ------------------------------------------------------------------------

    async def create_rest_api(self, name: str, **settings: Any) -> RestApi:
        """CreateRestApi: an API with its root resource ``/``."""
        if not name:
            raise BadRequest("Invalid REST API name specified")
        root = self._new_id()
        api = RestApi(
            id=self._new_id(),
            name=name,
            created_date=self._now(),
            root_resource_id=root,
            resources={root: Resource(id=root, path="/")},
            **settings,
        )
        await self._add(api)
        return api

    async def get_rest_api(self, api_id: str) -> RestApi:
        """GetRestApi."""
        return (await self._stored(api_id))[1]

    async def get_rest_apis(
        self, *, after: str | None, limit: int
    ) -> tuple[list[RestApi], str | None]:
        """GetRestApis: by id, after ``after``; and the next page's ``after``."""
        found, more = await self._db(self._store.list_apis, after=after, limit=limit)
        return [RestApi.model_validate(stored.document) for stored in found], more

    async def delete_rest_api(self, api_id: str) -> None:
        """DeleteRestApi: the API, its deployments and stages."""
        if not await self._db(self._store.delete_api, api_id):
            raise GatewayNotFound("Invalid API identifier specified")
        self._deleted(api_id)

    async def import_rest_api(
        self, body: bytes, *, fail_on_warnings: bool = False, api_id: str | None = None
    ) -> RestApi:
        """ImportRestApi: a new API from an OpenAPI 3 or Swagger 2 document (``api_id``:
        its id, when it must be known beforehand; a new one otherwise)."""
        api = import_api(
            parse_document(body),
            api_id=api_id or self._new_id(),
            created=self._now(),
            new_id=self._new_id,
            fail_on_warnings=fail_on_warnings,
        )
        await self._add(api)
        return api

    async def put_rest_api(
        self, api_id: str, body: bytes, *, mode: str = "merge", fail_on_warnings: bool = False
    ) -> RestApi:
        """PutRestApi: the API's definition merged with, or overwritten by, a document."""
        if mode not in ("merge", "overwrite"):
            raise BadRequest(f"Invalid mode {mode!r}: merge or overwrite")
        document = parse_document(body)

        def change(api: RestApi) -> tuple[RestApi, RestApi]:
            updated = import_api(
                document,
                api_id=api.id,
                created=api.created_date,
                new_id=self._new_id,
                base=api,
                mode="merge" if mode == "merge" else "overwrite",
                fail_on_warnings=fail_on_warnings,
            )
            return updated, updated

        return await self._change(api_id, change)

    # -- resources ------------------------------------------------------------------------

    async def get_resources(self, api_id: str) -> list[Resource]:
        """GetResources: every resource, by path."""
        api = await self.get_rest_api(api_id)
        return sorted(api.resources.values(), key=lambda resource: resource.path)

    async def get_resource(self, api_id: str, resource_id: str) -> Resource:
        """GetResource."""
        return find_resource(await self.get_rest_api(api_id), resource_id)

    async def create_resource(self, api_id: str, parent_id: str, path_part: str) -> Resource:
        """CreateResource: a child of ``parent_id`` named ``path_part``."""
        check_path_part(path_part)

        def change(api: RestApi) -> tuple[RestApi, Resource]:
            parent = find_resource(api, parent_id)
            path = f"{parent.path.rstrip('/')}/{path_part}"
            if any(r.path == path for r in api.resources.values()):
                raise Conflict(
                    f"Another resource with the same parent already has this name: {path_part}"
                )
            resource = Resource(
                id=self._new_id(), parent_id=parent.id, path_part=path_part, path=path
            )
            return with_resource(api, resource), resource

        return await self._change(api_id, change)

    async def delete_resource(self, api_id: str, resource_id: str) -> None:
        """DeleteResource: the resource and everything under it (not the root)."""

        def change(api: RestApi) -> tuple[RestApi, None]:
            resource = find_resource(api, resource_id)
            if resource.id == api.root_resource_id:
                raise BadRequest("Cannot delete the root resource")
            prefix = resource.path.rstrip("/") + "/"
            kept = {
                key: r
                for key, r in api.resources.items()
                if r.id != resource.id and not r.path.startswith(prefix)
            }
            return api.model_copy(update={"resources": kept}), None

        await self._change(api_id, change)

    # -- methods and their responses and integrations ---------------------------------------

    async def put_method(
        self, api_id: str, resource_id: str, http_method: str, **fields: Any
    ) -> Method:
        """PutMethod: the resource's method, replacing any there (integration included)."""
        verb = _check_method(http_method)

        def change(api: RestApi) -> tuple[RestApi, Method]:
            resource = find_resource(api, resource_id)
            if fields.get("authorizer_id") and fields["authorizer_id"] not in api.authorizers:
                raise BadRequest(f"Invalid authorizer id specified: {fields['authorizer_id']}")
            validator = fields.get("request_validator_id")
            if validator and validator not in api.request_validators:
                raise BadRequest(f"Invalid Request Validator identifier specified: {validator}")
            method = Method(http_method=verb, **fields)
            methods = {**(resource.resource_methods or {}), verb: method}
            updated = resource.model_copy(update={"resource_methods": methods})
            return with_resource(api, updated), method

        return await self._change(api_id, change)

    async def get_method(self, api_id: str, resource_id: str, http_method: str) -> Method:
        """GetMethod."""
        api = await self.get_rest_api(api_id)
        return find_method(find_resource(api, resource_id), http_method)

    async def delete_method(self, api_id: str, resource_id: str, http_method: str) -> None:
        """DeleteMethod."""

        def change(api: RestApi) -> tuple[RestApi, None]:
            resource = find_resource(api, resource_id)
            verb = find_method(resource, http_method).http_method
            methods = {k: m for k, m in (resource.resource_methods or {}).items() if k != verb}
            return with_resource(
                api, resource.model_copy(update={"resource_methods": methods})
            ), None

        await self._change(api_id, change)

    async def put_method_response(
        self, api_id: str, resource_id: str, http_method: str, status_code: str, **fields: Any
    ) -> MethodResponse:
        """PutMethodResponse."""
        _check_status(status_code)
        response = MethodResponse(status_code=status_code, **fields)

        def update(method: Method) -> Method:
            responses = {**(method.method_responses or {}), status_code: response}
            return method.model_copy(update={"method_responses": responses})

        await self._change_method(api_id, resource_id, http_method, update)
        return response

    async def put_integration(
        self, api_id: str, resource_id: str, verb: str, **fields: Any
    ) -> Integration:
        """PutIntegration: the method's integration, replacing any there (``verb`` names the
        method; ``http_method`` among ``fields`` is the backend's)."""
        try:
            integration = Integration(**fields)
        except ValueError as exc:
            raise BadRequest(f"Invalid integration: {exc}") from None
        if integration.type.value != "MOCK" and not integration.uri:
            raise BadRequest("Enumeration value for Integration URI must be non-empty")
        await self._change_method(
            api_id,
            resource_id,
            verb,
            lambda method: method.model_copy(update={"method_integration": integration}),
        )
        return integration

    async def get_integration(self, api_id: str, resource_id: str, http_method: str) -> Integration:
        """GetIntegration."""
        method = await self.get_method(api_id, resource_id, http_method)
        if method.method_integration is None:
            raise GatewayNotFound("No integration defined for method")
        return method.method_integration

    async def put_integration_response(
        self, api_id: str, resource_id: str, http_method: str, status_code: str, **fields: Any
    ) -> IntegrationResponse:
        """PutIntegrationResponse."""
        _check_status(status_code)
        response = IntegrationResponse(status_code=status_code, **fields)

        def update(method: Method) -> Method:
            integration = method.method_integration
            if integration is None:
                raise GatewayNotFound("No integration defined for method")
            responses = {**(integration.integration_responses or {}), status_code: response}
            changed = integration.model_copy(update={"integration_responses": responses})
            return method.model_copy(update={"method_integration": changed})

        await self._change_method(api_id, resource_id, http_method, update)
        return response

    # -- authorizers, models, validators, gateway responses ---------------------------------

    async def create_authorizer(self, api_id: str, **fields: Any) -> Authorizer:
        """CreateAuthorizer."""
        authorizer = Authorizer(id=self._new_id(), **fields)
        await self._change(
            api_id,
            lambda api: (
                api.model_copy(
                    update={"authorizers": {**api.authorizers, authorizer.id: authorizer}}
                ),
                None,
            ),
        )
        return authorizer

    async def create_model(self, api_id: str, **fields: Any) -> Model:
        """CreateModel: a JSON Schema (draft 4) methods may require of bodies."""
        model = Model(id=self._new_id(), **fields)

        def change(api: RestApi) -> tuple[RestApi, None]:
            if any(existing.name == model.name for existing in api.models.values()):
                raise Conflict("Model name already exists for this REST API")
            return api.model_copy(update={"models": {**api.models, model.id: model}}), None

        await self._change(api_id, change)
        return model

    async def create_request_validator(self, api_id: str, **fields: Any) -> RequestValidator:
        """CreateRequestValidator."""
        validator = RequestValidator(id=self._new_id(), **fields)
        await self._change(
            api_id,
            lambda api: (
                api.model_copy(
                    update={
                        "request_validators": {**api.request_validators, validator.id: validator}
                    }
                ),
                None,
            ),
        )
        return validator

    async def put_gateway_response(
        self, api_id: str, response_type: str, **fields: Any
    ) -> GatewayResponseDefinition:
        """PutGatewayResponse: a customised gateway response of the API."""
        response = GatewayResponseDefinition(response_type=response_type, **fields)
        await self._change(
            api_id,
            lambda api: (
                api.model_copy(
                    update={"gateway_responses": {**api.gateway_responses, response_type: response}}
                ),
                None,
            ),
        )
        return response

    # -- helpers --------------------------------------------------------------------------

    def _deleted(self, api_id: str) -> None:
        """An API is gone (the facade tells what serves its stages)."""

    async def _add(self, api: RestApi) -> None:
        stored = StoredApi(
            id=api.id,
            name=api.name,
            created_at=api.created_date,
            version=1,
            document=api.document(),
        )
        if not await self._db(self._store.add_api, stored):
            raise Conflict(f"REST API {api.id} exists")

    async def _stored(self, api_id: str) -> tuple[int, RestApi]:
        stored = await self._db(self._store.get_api, api_id)
        if stored is None:
            raise GatewayNotFound("Invalid API identifier specified")
        return stored.version, RestApi.model_validate(stored.document)

    async def _change(self, api_id: str, change: Callable[[RestApi], tuple[RestApi, T]]) -> T:
        """Apply ``change`` to the API's current definition and store the result."""
        for _ in range(_ATTEMPTS):
            version, api = await self._stored(api_id)
            updated, result = change(api)
            written = await self._db(
                self._store.replace_api,
                api_id,
                expected_version=version,
                name=updated.name,
                document=updated.document(),
            )
            if written is not None:
                return result
        raise Conflict("The REST API is being changed by others: try again")

    async def _change_method(
        self, api_id: str, resource_id: str, http_method: str, update: Callable[[Method], Method]
    ) -> None:
        def change(api: RestApi) -> tuple[RestApi, None]:
            resource = find_resource(api, resource_id)
            method = find_method(resource, http_method)
            methods = {**(resource.resource_methods or {}), method.http_method: update(method)}
            return with_resource(
                api, resource.model_copy(update={"resource_methods": methods})
            ), None

        await self._change(api_id, change)


def find_resource(api: RestApi, resource_id: str) -> Resource:
    """The resource ``resource_id`` of ``api``; GatewayNotFound if there is none."""
    resource = api.resources.get(resource_id)
    if resource is None:
        raise GatewayNotFound("Invalid Resource identifier specified")
    return resource


def find_method(resource: Resource, http_method: str) -> Method:
    """The method ``http_method`` of ``resource``; GatewayNotFound if there is none."""
    method = (resource.resource_methods or {}).get(http_method.upper())
    if method is None:
        raise GatewayNotFound("Invalid Method identifier specified")
    return method


def with_resource(api: RestApi, resource: Resource) -> RestApi:
    """``api`` with ``resource`` added, or put in place of the one of its id."""
    return api.model_copy(update={"resources": {**api.resources, resource.id: resource}})


def _check_method(http_method: str) -> str:
    verb = http_method.upper()
    if verb not in _HTTP_METHODS:
        raise BadRequest(f"Invalid HttpMethod specified: {http_method}")
    return verb


def _check_status(status_code: str) -> None:
    if not (len(status_code) == 3 and status_code.isdigit() and "1" <= status_code[0] <= "5"):
        raise BadRequest(f"Invalid status code specified: {status_code}")


def check_path_part(path_part: str) -> None:
    """BadRequest unless ``path_part`` is a valid last segment of a resource's path."""
    valid = bool(path_part) and "/" not in path_part
    if path_part.startswith("{") or path_part.endswith("}"):
        name = path_part.strip("{}").removesuffix("+")
        valid = valid and path_part.startswith("{") and path_part.endswith("}") and bool(name)
    if not valid:
        raise BadRequest(
            f"Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning "
            f"and the end and an optional plus sign before the closing brace: {path_part}"
        )
