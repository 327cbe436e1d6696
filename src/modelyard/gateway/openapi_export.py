"""REST API definitions written as OpenAPI documents, as GetExport does.

A deployed :class:`~modelyard.gateway.definitions.RestApi` becomes an OpenAPI 3.0.1
(``oas30``) or Swagger 2.0 (``swagger``) document: a path per resource with methods, a
schema per model, a security scheme per authorizer (and for API keys and SigV4 when a
method asks for them). The ``x-amazon-apigateway-*`` extensions are written as GetExport's
``extensions`` parameter asks: ``integrations`` the integrations, ``authorizers`` the
authorizers, ``apigateway`` those and everything else (validators, gateway responses, API
key source, binary media types, endpoint settings). ``postman`` is accepted and adds nothing.
What this writes, :func:`~modelyard.gateway.openapi_import.import_api` reads back to the same
definition, ids aside.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import UTC
from typing import Any, Literal
from urllib.parse import urlsplit

from modelyard.gateway.definitions import (
    AuthorizationType,
    Authorizer,
    AuthorizerType,
    Integration,
    Method,
    Resource,
    RestApi,
)
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.openapi_import import ANY_METHOD_EXTENSION, MODEL_URL_PATTERN

__all__ = ["EXPORT_EXTENSIONS", "export_api"]

#: The values GetExport's ``extensions`` parameter takes.
EXPORT_EXTENSIONS = frozenset({"apigateway", "authorizers", "integrations", "postman"})

_LOCATIONS = {"path": "path", "querystring": "query", "header": "header"}


def export_api(
    api: RestApi,
    *,
    stage: str,
    stage_variables: Mapping[str, str] | None,
    server_url: str,
    export_type: Literal["oas30", "swagger"],
    extensions: Collection[str],
) -> dict[str, Any]:
    """The OpenAPI document of ``api`` as ``stage`` serves it from ``server_url``.

    ``server_url`` is where the API's stages are (``https://{id}.execute-api.{region}
    .amazonaws.com``); the stage is the base path, written as API Gateway does, a
    ``basePath`` server variable (OpenAPI 3) or ``host`` and ``basePath`` (Swagger 2).
    ``stage_variables`` are the stage's: API Gateway leaves ``${stageVariables.x}`` in
    integration URIs and templates as written, and so does this. Raises
    :class:`~modelyard.gateway.errors.BadRequest` for an unknown export type or extension.
    """
    del stage_variables  # Exported as references, never substituted (see above).
    if export_type not in ("oas30", "swagger"):
        raise BadRequest(f"Invalid export type {export_type!r}: oas30 or swagger")
    unknown = set(extensions) - EXPORT_EXTENSIONS
    if unknown:
        raise BadRequest(f"Invalid extensions {', '.join(sorted(unknown))}")
    return _Exporter(api, export_type=export_type, extensions=set(extensions)).document(
        stage=stage, server_url=server_url
    )


class _Exporter:
    """One export: the API, the format, and the extensions asked for."""

    def __init__(
        self, api: RestApi, *, export_type: Literal["oas30", "swagger"], extensions: set[str]
    ) -> None:
        self.api = api
        self.swagger = export_type == "swagger"
        everything = "apigateway" in extensions
        self.with_extensions = everything
        self.with_integrations = everything or "integrations" in extensions
        self.with_authorizers = everything or "authorizers" in extensions
        taken = {a.name for a in api.authorizers.values()}
        self.api_key_scheme = _free_name("api_key", taken)
        self.sigv4_scheme = _free_name("sigv4", taken | {self.api_key_scheme})

    def document(self, *, stage: str, server_url: str) -> dict[str, Any]:
        api = self.api
        info: dict[str, Any] = {"title": api.name}
        if api.description:
            info["description"] = api.description
        info["version"] = api.version or _timestamp(api)
        document: dict[str, Any]
        if self.swagger:
            url = urlsplit(server_url)
            document = {
                "swagger": "2.0",
                "info": info,
                "host": url.netloc,
                "basePath": f"{url.path.rstrip('/')}/{stage}",
                "schemes": [url.scheme or "https"],
                "paths": self._paths(),
            }
            if schemes := self._security_schemes():
                document["securityDefinitions"] = schemes
            if schemas := self._schemas():
                document["definitions"] = schemas
        else:
            document = {
                "openapi": "3.0.1",
                "info": info,
                "servers": [
                    {
                        "url": f"{server_url.rstrip('/')}/{{basePath}}",
                        "variables": {"basePath": {"default": f"/{stage}"}},
                    }
                ],
                "paths": self._paths(),
            }
            components: dict[str, Any] = {}
            if schemas := self._schemas():
                components["schemas"] = schemas
            if schemes := self._security_schemes():
                components["securitySchemes"] = schemes
            if components:
                document["components"] = components
        if self.with_extensions:
            document.update(self._api_extensions())
        return document

    # -- the API's own extensions -------------------------------------------------------

    def _api_extensions(self) -> dict[str, Any]:
        api = self.api
        extensions: dict[str, Any] = {}
        if api.request_validators:
            extensions["x-amazon-apigateway-request-validators"] = {
                v.name: {
                    "validateRequestBody": v.validate_request_body,
                    "validateRequestParameters": v.validate_request_parameters,
                }
                for v in api.request_validators.values()
            }
        responses = {}
        for response_type, response in api.gateway_responses.items():
            if response.default_response:
                continue  # API Gateway's own default, not a customisation.
            exported: dict[str, Any] = {}
            if response.status_code is not None:
                exported["statusCode"] = response.status_code
            if response.response_parameters:
                exported["responseParameters"] = dict(response.response_parameters)
            if response.response_templates:
                exported["responseTemplates"] = dict(response.response_templates)
            responses[response_type] = exported
        if responses:
            extensions["x-amazon-apigateway-gateway-responses"] = responses
        extensions["x-amazon-apigateway-api-key-source"] = api.api_key_source.value
        if api.binary_media_types:
            extensions["x-amazon-apigateway-binary-media-types"] = list(api.binary_media_types)
        endpoint: dict[str, Any] = {}
        if api.disable_execute_api_endpoint:
            endpoint["disableExecuteApiEndpoint"] = True
        vpc_endpoints = (api.endpoint_configuration or {}).get("vpcEndpointIds")
        if vpc_endpoints:
            endpoint["vpcEndpointIds"] = list(vpc_endpoints)
        if endpoint:
            extensions["x-amazon-apigateway-endpoint-configuration"] = endpoint
        return extensions

    # -- models and security schemes ----------------------------------------------------

    def _schemas(self) -> dict[str, Any]:
        schemas = {}
        for model in self.api.models.values():
            try:
                schema = json.loads(model.schema_) if model.schema_ else {}
            except ValueError:
                schema = {}  # Stored unchecked by CreateModel; nothing to say of it.
            schemas[model.name] = self._local_refs(schema)
        return schemas

    def _local_refs(self, value: Any) -> Any:
        """``value`` with model URLs as the document's own ``$ref`` form."""
        if isinstance(value, dict):
            return {
                key: self._ref(item)
                if key == "$ref" and isinstance(item, str)
                else self._local_refs(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._local_refs(item) for item in value]
        return value

    def _ref(self, ref: str) -> str:
        match = MODEL_URL_PATTERN.fullmatch(ref)
        return self._model_ref(match["name"]) if match else ref

    def _model_ref(self, name: str) -> str:
        token = name.replace("~", "~0").replace("/", "~1")
        return f"#/definitions/{token}" if self.swagger else f"#/components/schemas/{token}"

    def _security_schemes(self) -> dict[str, Any]:
        methods = [m for r in self.api.resources.values() for m in _methods(r)]
        schemes: dict[str, Any] = {}
        if any(m.api_key_required for m in methods):
            schemes[self.api_key_scheme] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
        if any(m.authorization_type is AuthorizationType.AWS_IAM for m in methods):
            scheme = {"type": "apiKey", "name": "Authorization", "in": "header"}
            if self.with_authorizers:
                scheme["x-amazon-apigateway-authtype"] = "awsSigv4"
            schemes[self.sigv4_scheme] = scheme
        for authorizer in self.api.authorizers.values():
            schemes[authorizer.name] = self._authorizer_scheme(authorizer)
        return schemes

    def _authorizer_scheme(self, authorizer: Authorizer) -> dict[str, Any]:
        source = authorizer.identity_source or ""
        single_header = source.startswith("method.request.header.") and "," not in source
        # A request authorizer's identity may be several values: API Gateway names its
        # scheme's header "Unused" then, and the authorizer carries the sources.
        header = source.removeprefix("method.request.header.") if single_header else "Unused"
        scheme: dict[str, Any] = {"type": "apiKey", "name": header, "in": "header"}
        if not self.with_authorizers:
            return scheme
        cognito = authorizer.type is AuthorizerType.COGNITO_USER_POOLS
        scheme["x-amazon-apigateway-authtype"] = authorizer.auth_type or (
            "cognito_user_pools" if cognito else "custom"
        )
        settings: dict[str, Any] = {"type": authorizer.type.value.lower()}
        optional = {
            "providerARNs": authorizer.provider_arns,
            "authorizerUri": authorizer.authorizer_uri,
            "authorizerCredentials": authorizer.authorizer_credentials,
            "identitySource": authorizer.identity_source,
            "identityValidationExpression": authorizer.identity_validation_expression,
            "authorizerResultTtlInSeconds": authorizer.authorizer_result_ttl_in_seconds,
        }
        settings.update({key: value for key, value in optional.items() if value is not None})
        scheme["x-amazon-apigateway-authorizer"] = settings
        return scheme

    # -- paths and operations -----------------------------------------------------------

    def _paths(self) -> dict[str, Any]:
        resources = sorted(self.api.resources.values(), key=lambda r: r.path)
        parents = {r.parent_id for r in resources}
        paths: dict[str, Any] = {}
        for resource in resources:
            methods = _methods(resource)
            if not methods and (resource.id in parents or resource.parent_id is None):
                continue  # Its children's paths bring it back.
            item: dict[str, Any] = {}
            for method in methods:
                http_method = method.http_method.lower()
                key = ANY_METHOD_EXTENSION if http_method == "any" else http_method
                item[key] = self._operation(method)
            paths[resource.path] = item
        return paths

    def _operation(self, method: Method) -> dict[str, Any]:
        operation: dict[str, Any] = {}
        if method.operation_name:
            operation["operationId"] = method.operation_name
        parameters = self._parameters(method)
        request_models = method.request_models or {}
        if self.swagger and request_models:
            operation["consumes"] = list(request_models)
            name = next(iter(request_models.values()))
            parameters.append(
                {"in": "body", "name": name, "required": True, "schema": self._schema_ref(name)}
            )
        if parameters:
            operation["parameters"] = parameters
        if not self.swagger and request_models:
            operation["requestBody"] = {
                "content": {t: {"schema": self._schema_ref(m)} for t, m in request_models.items()},
                "required": True,
            }
        if self.swagger:
            produces = list(
                dict.fromkeys(
                    content_type
                    for response in (method.method_responses or {}).values()
                    for content_type in response.response_models or {}
                )
            )
            if produces:
                operation["produces"] = produces
        operation["responses"] = self._responses(method) or {
            # OpenAPI wants one response at least; the importer reads a bare default as none.
            "default": {"description": "Default response"}
        }
        if security := self._security(method):
            operation["security"] = security
        validator = self.api.request_validators.get(method.request_validator_id or "")
        if self.with_extensions and validator is not None:
            operation["x-amazon-apigateway-request-validator"] = validator.name
        if self.with_integrations and method.method_integration is not None:
            operation["x-amazon-apigateway-integration"] = _integration(method.method_integration)
        return operation

    def _parameters(self, method: Method) -> list[dict[str, Any]]:
        parameters = []
        for key, required in (method.request_parameters or {}).items():
            parts = key.split(".", 3)
            if len(parts) != 4 or parts[:2] != ["method", "request"] or parts[2] not in _LOCATIONS:
                continue
            location = _LOCATIONS[parts[2]]
            parameter: dict[str, Any] = {"name": parts[3], "in": location}
            if required or location == "path":
                parameter["required"] = True
            if self.swagger:
                parameter["type"] = "string"
            else:
                parameter["schema"] = {"type": "string"}
            parameters.append(parameter)
        return parameters

    def _responses(self, method: Method) -> dict[str, Any]:
        responses: dict[str, Any] = {}
        for status, response in (method.method_responses or {}).items():
            exported: dict[str, Any] = {"description": f"{status} response"}
            headers: dict[str, dict[str, Any]] = {}
            for key, required in (response.response_parameters or {}).items():
                name = key.removeprefix("method.response.header.")
                if self.swagger:
                    headers[name] = {"type": "string"}
                else:
                    headers[name] = {"schema": {"type": "string"}}
                    if required:
                        headers[name]["required"] = True
            if headers:
                exported["headers"] = headers
            models = response.response_models or {}
            if models and self.swagger:
                exported["schema"] = self._schema_ref(next(iter(models.values())))
            elif models:
                exported["content"] = {
                    t: {"schema": self._schema_ref(m)} for t, m in models.items()
                }
            responses[status] = exported
        return responses

    def _schema_ref(self, model: str) -> dict[str, str]:
        return {"$ref": self._model_ref(model)}

    def _security(self, method: Method) -> list[dict[str, list[str]]]:
        security: list[dict[str, list[str]]] = []
        if method.authorization_type is AuthorizationType.AWS_IAM:
            security.append({self.sigv4_scheme: []})
        elif method.authorizer_id in self.api.authorizers:
            name = self.api.authorizers[method.authorizer_id or ""].name
            security.append({name: list(method.authorization_scopes or [])})
        if method.api_key_required:
            security.append({self.api_key_scheme: []})
        return security


def _integration(integration: Integration) -> dict[str, Any]:
    exported: dict[str, Any] = {"type": integration.type.value.lower()}
    optional = {
        "httpMethod": integration.http_method,
        "uri": integration.uri,
        "connectionType": integration.connection_type,
        "credentials": integration.credentials,
        "requestParameters": integration.request_parameters,
        "requestTemplates": integration.request_templates,
        "passthroughBehavior": (
            integration.passthrough_behavior.value.lower()
            if integration.passthrough_behavior
            else None
        ),
        "contentHandling": integration.content_handling,
        "timeoutInMillis": integration.timeout_in_millis,
        "cacheNamespace": integration.cache_namespace,
        "cacheKeyParameters": integration.cache_key_parameters,
    }
    exported.update({key: value for key, value in optional.items() if value is not None})
    responses: dict[str, Any] = {}
    for response in (integration.integration_responses or {}).values():
        pattern = (
            response.selection_pattern if response.selection_pattern is not None else "default"
        )
        written: dict[str, Any] = {"statusCode": response.status_code}
        if response.response_parameters:
            written["responseParameters"] = dict(response.response_parameters)
        if response.response_templates:
            written["responseTemplates"] = dict(response.response_templates)
        if response.content_handling:
            written["contentHandling"] = response.content_handling
        # Two responses with one pattern cannot both be written; the first is the one
        # API Gateway would choose.
        responses.setdefault(pattern, written)
    if responses:
        exported["responses"] = responses
    return exported


def _methods(resource: Resource) -> list[Method]:
    methods = resource.resource_methods or {}
    return [methods[name] for name in sorted(methods)]


def _free_name(name: str, taken: Collection[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... when an authorizer has it already."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    return candidate


def _timestamp(api: RestApi) -> str:
    """The version API Gateway writes for an API that has none: when it was created."""
    created = api.created_date
    if created.tzinfo is not None:
        created = created.astimezone(UTC)
    return created.strftime("%Y-%m-%dT%H:%M:%SZ")
