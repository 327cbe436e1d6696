"""The parts of a REST API read and changed one by one: its Get* and Update* operations.

:class:`ApiUpdates` adds to :class:`~modelyard.gateway.apis.ApiOperations` UpdateRestApi,
UpdateResource, UpdateMethod, UpdateMethodResponse, UpdateIntegration,
UpdateIntegrationResponse, UpdateAuthorizer, UpdateRequestValidator, UpdateModel and
UpdateGatewayResponse, each applying its ``patchOperations`` (on the paths of
:mod:`~modelyard.gateway.update_paths`) to the part's document, and the Get* of the parts
that had none. Like every change of a definition, an update shows in the stages only
after the next CreateDeployment: a deployment serves the definition it froze.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import ValidationError

from modelyard.gateway import patches
from modelyard.gateway.apis import (
    ApiOperations,
    check_path_part,
    find_method,
    find_resource,
    with_resource,
)
from modelyard.gateway.definitions import (
    AuthorizationType,
    Authorizer,
    Definition,
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
from modelyard.gateway.patches import PatchOperation
from modelyard.gateway.responses import DEFAULT_TEMPLATE, ResponseType
from modelyard.gateway.update_paths import (
    AUTHORIZER_PATHS,
    GATEWAY_RESPONSE_PATHS,
    INTEGRATION_PATHS,
    INTEGRATION_RESPONSE_PATHS,
    METHOD_PATHS,
    METHOD_RESPONSE_PATHS,
    MODEL_PATHS,
    REQUEST_VALIDATOR_PATHS,
    RESOURCE_PATHS,
    REST_API_PATHS,
)

__all__ = ["ApiUpdates"]

D = TypeVar("D", bound=Definition)
T = TypeVar("T")

#: The authorization types that need an authorizer.
_NEED_AUTHORIZER = frozenset({AuthorizationType.CUSTOM, AuthorizationType.COGNITO_USER_POOLS})


class ApiUpdates(ApiOperations):
    """The Get* and Update* operations of a REST API's parts (see the module)."""

    # -- the API and its resources ------------------------------------------------------------

    async def update_rest_api(self, api_id: str, operations: Sequence[PatchOperation]) -> RestApi:
        """UpdateRestApi: its name, description, binary media types, endpoint..."""

        def change(api: RestApi) -> tuple[RestApi, RestApi]:
            updated = patched(api, operations, REST_API_PATHS)
            return updated, updated

        return await self._change(api_id, change)

    async def update_resource(
        self, api_id: str, resource_id: str, operations: Sequence[PatchOperation]
    ) -> Resource:
        """UpdateResource: a new path part or parent; the paths under it follow."""

        def change(api: RestApi) -> tuple[RestApi, Resource]:
            resource = find_resource(api, resource_id)
            fields = patches.apply_patch(
                {"parentId": resource.parent_id, "pathPart": resource.path_part},
                operations,
                RESOURCE_PATHS,
            )
            if (fields["parentId"], fields["pathPart"]) == (resource.parent_id, resource.path_part):
                return api, resource
            if resource.id == api.root_resource_id:
                changed = operations[0].path.strip("/")
                raise BadRequest(f"Root resource cannot update its {changed}.")
            parent = find_resource(api, fields["parentId"])
            updated = moved(api, resource, parent, fields["pathPart"])
            return updated, updated.resources[resource.id]

        return await self._change(api_id, change)

    # -- methods, their responses and integrations -------------------------------------------

    async def update_method(
        self, api_id: str, resource_id: str, http_method: str, operations: Sequence[PatchOperation]
    ) -> Method:
        """UpdateMethod: its authorization, API key, validator, parameters and models."""

        def change(api: RestApi) -> tuple[RestApi, Method]:
            resource = find_resource(api, resource_id)
            method = patched(find_method(resource, http_method), operations, METHOD_PATHS)
            _check_method_references(api, method)
            methods = {**(resource.resource_methods or {}), method.http_method: method}
            updated = resource.model_copy(update={"resource_methods": methods})
            return with_resource(api, updated), method

        return await self._change(api_id, change)

    async def get_method_response(
        self, api_id: str, resource_id: str, http_method: str, status_code: str
    ) -> MethodResponse:
        """GetMethodResponse."""
        method = await self.get_method(api_id, resource_id, http_method)
        return _method_response(method, status_code)

    async def update_method_response(
        self,
        api_id: str,
        resource_id: str,
        http_method: str,
        status_code: str,
        operations: Sequence[PatchOperation],
    ) -> MethodResponse:
        """UpdateMethodResponse: its declared headers and models."""

        def update(method: Method) -> tuple[Method, MethodResponse]:
            response = patched(
                _method_response(method, status_code), operations, METHOD_RESPONSE_PATHS
            )
            responses = {**(method.method_responses or {}), status_code: response}
            return method.model_copy(update={"method_responses": responses}), response

        return await self._update_method(api_id, resource_id, http_method, update)

    async def update_integration(
        self, api_id: str, resource_id: str, http_method: str, operations: Sequence[PatchOperation]
    ) -> Integration:
        """UpdateIntegration: its backend, mappings, templates and timeout."""

        def update(method: Method) -> tuple[Method, Integration]:
            integration = patched(_integration(method), operations, INTEGRATION_PATHS)
            if integration.type.value != "MOCK" and not integration.uri:
                raise BadRequest("Enumeration value for Integration URI must be non-empty")
            return method.model_copy(update={"method_integration": integration}), integration

        return await self._update_method(api_id, resource_id, http_method, update)

    async def get_integration_response(
        self, api_id: str, resource_id: str, http_method: str, status_code: str
    ) -> IntegrationResponse:
        """GetIntegrationResponse."""
        method = await self.get_method(api_id, resource_id, http_method)
        return _integration_response(_integration(method), status_code)

    async def update_integration_response(
        self,
        api_id: str,
        resource_id: str,
        http_method: str,
        status_code: str,
        operations: Sequence[PatchOperation],
    ) -> IntegrationResponse:
        """UpdateIntegrationResponse: its selection pattern, headers and templates."""

        def update(method: Method) -> tuple[Method, IntegrationResponse]:
            integration = _integration(method)
            response = patched(
                _integration_response(integration, status_code),
                operations,
                INTEGRATION_RESPONSE_PATHS,
            )
            responses = {**(integration.integration_responses or {}), status_code: response}
            changed = integration.model_copy(update={"integration_responses": responses})
            return method.model_copy(update={"method_integration": changed}), response

        return await self._update_method(api_id, resource_id, http_method, update)

    # -- authorizers, validators, models, gateway responses ----------------------------------

    async def get_authorizer(self, api_id: str, authorizer_id: str) -> Authorizer:
        """GetAuthorizer."""
        return _authorizer(await self.get_rest_api(api_id), authorizer_id)

    async def update_authorizer(
        self, api_id: str, authorizer_id: str, operations: Sequence[PatchOperation]
    ) -> Authorizer:
        """UpdateAuthorizer."""

        def change(api: RestApi) -> tuple[RestApi, Authorizer]:
            authorizer = patched(_authorizer(api, authorizer_id), operations, AUTHORIZER_PATHS)
            authorizers = {**api.authorizers, authorizer.id: authorizer}
            return api.model_copy(update={"authorizers": authorizers}), authorizer

        return await self._change(api_id, change)

    async def get_request_validator(self, api_id: str, validator_id: str) -> RequestValidator:
        """GetRequestValidator."""
        return _validator(await self.get_rest_api(api_id), validator_id)

    async def update_request_validator(
        self, api_id: str, validator_id: str, operations: Sequence[PatchOperation]
    ) -> RequestValidator:
        """UpdateRequestValidator."""

        def change(api: RestApi) -> tuple[RestApi, RequestValidator]:
            validator = patched(_validator(api, validator_id), operations, REQUEST_VALIDATOR_PATHS)
            validators = {**api.request_validators, validator.id: validator}
            return api.model_copy(update={"request_validators": validators}), validator

        return await self._change(api_id, change)

    async def get_model(self, api_id: str, model_name: str) -> Model:
        """GetModel (models are named by their name, not their id)."""
        return _model(await self.get_rest_api(api_id), model_name)

    async def update_model(
        self, api_id: str, model_name: str, operations: Sequence[PatchOperation]
    ) -> Model:
        """UpdateModel: its description and schema."""

        def change(api: RestApi) -> tuple[RestApi, Model]:
            model = patched(_model(api, model_name), operations, MODEL_PATHS)
            return api.model_copy(update={"models": {**api.models, model.id: model}}), model

        return await self._change(api_id, change)

    async def get_gateway_response(
        self, api_id: str, response_type: str
    ) -> GatewayResponseDefinition:
        """GetGatewayResponse: the customised one, else API Gateway's default."""
        return _gateway_response(await self.get_rest_api(api_id), response_type)

    async def update_gateway_response(
        self, api_id: str, response_type: str, operations: Sequence[PatchOperation]
    ) -> GatewayResponseDefinition:
        """UpdateGatewayResponse: customises the type (from its default if it was not)."""

        def change(api: RestApi) -> tuple[RestApi, GatewayResponseDefinition]:
            current = _gateway_response(api, response_type)
            response = patched(current, operations, GATEWAY_RESPONSE_PATHS).model_copy(
                update={"default_response": False}
            )
            responses = {**api.gateway_responses, current.response_type: response}
            return api.model_copy(update={"gateway_responses": responses}), response

        return await self._change(api_id, change)

    # -- helpers -----------------------------------------------------------------------------

    async def _update_method(
        self,
        api_id: str,
        resource_id: str,
        http_method: str,
        update: Callable[[Method], tuple[Method, T]],
    ) -> T:
        """Apply ``update`` to a method; what it answers besides the method."""

        def change(api: RestApi) -> tuple[RestApi, T]:
            resource = find_resource(api, resource_id)
            method, result = update(find_method(resource, http_method))
            methods = {**(resource.resource_methods or {}), method.http_method: method}
            updated = resource.model_copy(update={"resource_methods": methods})
            return with_resource(api, updated), result

        return await self._change(api_id, change)


def patched(part: D, operations: Sequence[PatchOperation], rules: Sequence[patches.Rule]) -> D:
    """``part`` after ``operations`` on its document, read back as its own kind."""
    document = patches.apply_patch(part.document(), operations, rules)
    try:
        return type(part).model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise BadRequest(f"Invalid patch: {problems}") from None


def moved(api: RestApi, resource: Resource, parent: Resource, path_part: str) -> RestApi:
    """``api`` with ``resource`` under ``parent`` as ``path_part``, and every resource under
    it moved along (their paths follow)."""
    check_path_part(path_part)
    old_prefix = resource.path.rstrip("/") + "/"
    if parent.id == resource.id or parent.path.startswith(old_prefix):
        raise BadRequest("Resources cannot be cyclical.")
    path = f"{parent.path.rstrip('/')}/{path_part}"
    if any(r.path == path and r.id != resource.id for r in api.resources.values()):
        raise Conflict(f"Another resource with the same parent already has this name: {path_part}")
    resources: dict[str, Resource] = {}
    for key, found in api.resources.items():
        if found.id == resource.id:
            found = found.model_copy(
                update={"parent_id": parent.id, "path_part": path_part, "path": path}
            )
        elif found.path.startswith(old_prefix):
            found = found.model_copy(update={"path": path + "/" + found.path[len(old_prefix) :]})
        resources[key] = found
    return api.model_copy(update={"resources": resources})


def _check_method_references(api: RestApi, method: Method) -> None:
    """BadRequest if the method names an authorizer or validator the API does not have."""
    if method.authorizer_id and method.authorizer_id not in api.authorizers:
        raise BadRequest(f"Invalid authorizer id specified: {method.authorizer_id}")
    if method.authorization_type in _NEED_AUTHORIZER and not method.authorizer_id:
        raise BadRequest(
            "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
            "COGNITO_USER_POOLS requires a valid authorizer."
        )
    validator = method.request_validator_id
    if validator and validator not in api.request_validators:
        raise BadRequest(f"Invalid Request Validator identifier specified: {validator}")


def _method_response(method: Method, status_code: str) -> MethodResponse:
    found = (method.method_responses or {}).get(status_code)
    if found is None:
        raise GatewayNotFound("Invalid Response status code specified")
    return found


def _integration(method: Method) -> Integration:
    if method.method_integration is None:
        raise GatewayNotFound("No integration defined for method")
    return method.method_integration


def _integration_response(integration: Integration, status_code: str) -> IntegrationResponse:
    found = (integration.integration_responses or {}).get(status_code)
    if found is None:
        raise GatewayNotFound("Invalid Response status code specified")
    return found


def _authorizer(api: RestApi, authorizer_id: str) -> Authorizer:
    found = api.authorizers.get(authorizer_id)
    if found is None:
        raise GatewayNotFound("Invalid Authorizer identifier specified")
    return found


def _validator(api: RestApi, validator_id: str) -> RequestValidator:
    found = api.request_validators.get(validator_id)
    if found is None:
        raise GatewayNotFound("Invalid Request Validator identifier specified")
    return found


def _model(api: RestApi, model_name: str) -> Model:
    found = next((model for model in api.models.values() if model.name == model_name), None)
    if found is None:
        raise GatewayNotFound(f"Invalid model name specified: {model_name}")
    return found


def _gateway_response(api: RestApi, response_type: str) -> GatewayResponseDefinition:
    """The API's customised response of the type, else API Gateway's default of it."""
    found = api.gateway_responses.get(response_type)
    if found is not None:
        return found
    try:
        kind = ResponseType(response_type)
    except ValueError:
        raise BadRequest(f"Invalid response type specified: {response_type}") from None
    status = kind.default_status_code
    return GatewayResponseDefinition(
        response_type=kind.value,
        status_code=str(status) if status is not None else None,
        response_parameters={},
        response_templates={"application/json": DEFAULT_TEMPLATE},
        default_response=True,
    )
