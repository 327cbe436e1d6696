"""Methods read from an OpenAPI document's operations: parameters, bodies, responses, integrations.

An operation becomes a :class:`~modelyard.gateway.definitions.Method`: its path, query and
header parameters the method's request parameters, its body (a Swagger ``body`` parameter
or an OpenAPI 3 ``requestBody``) the request models by content type, its responses the
method responses, and ``x-amazon-apigateway-integration`` the integration with its
integration responses. What API Gateway would not take is left out with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelyard.gateway.definitions import (
    Integration,
    IntegrationResponse,
    IntegrationType,
    Method,
    MethodResponse,
    PassthroughBehavior,
    RequestValidator,
)
from modelyard.gateway.openapi_models import schema_model
from modelyard.gateway.openapi_reader import DocumentReader, optional_text, validation_problem
from modelyard.gateway.openapi_security import Scheme, method_authorization

__all__ = ["MethodContext", "read_method"]

_PARAMETER_LOCATIONS = {"path": "path", "query": "querystring", "header": "header"}
_STATUS_CODE = re.compile(r"[1-5][0-9][0-9]")
_OPERATION_EXTENSIONS = {
    "x-amazon-apigateway-integration",
    "x-amazon-apigateway-request-validator",
    "x-amazon-apigateway-auth",
}


@dataclass(frozen=True, kw_only=True)
class MethodContext:
    """What the methods of a document may refer to."""

    #: Security scheme name → what it asks (None: not supported, warned about).
    schemes: Mapping[str, Scheme | None]
    #: Validator name → validator.
    validators: Mapping[str, RequestValidator]
    #: The models body schemas may name.
    model_names: set[str]


def read_method(
    reader: DocumentReader,
    http_method: str,
    path: str,
    raw: Any,
    shared: Any,
    context: MethodContext,
) -> Method | None:
    """The method the operation ``raw`` defines at ``path``, or None (warned) if none.

    ``shared`` are the parameters of the operation's path item.
    """
    where = f"{http_method} {path}"
    operation = reader.resolve(raw, where)
    if operation is None:
        return None
    request_parameters: dict[str, bool] = {}
    request_models: dict[str, str] = {}
    for parameter in _parameters(reader, shared, operation.get("parameters", []), where):
        _parameter(reader, parameter, operation, request_parameters, request_models, context, where)
    if not reader.swagger and "requestBody" in operation:
        body = reader.resolve(operation["requestBody"], f"{where} requestBody")
        if body is not None:
            request_models.update(
                _content_models(reader, body, context.model_names, f"{where} requestBody")
            )
    authorization = method_authorization(reader, operation, context.schemes, where)
    validator = operation.get(
        "x-amazon-apigateway-request-validator",
        reader.document.get("x-amazon-apigateway-request-validator"),
    )
    validator_id = None
    if validator is not None:
        found = context.validators.get(str(validator))
        if found is None:
            reader.warn(f"{where}: no request validator named {validator!r}.")
        else:
            validator_id = found.id
    integration = None
    if "x-amazon-apigateway-integration" in operation:
        integration = _integration(reader, operation["x-amazon-apigateway-integration"], where)
    for key in operation:
        if key.startswith("x-amazon-apigateway-") and key not in _OPERATION_EXTENSIONS:
            reader.warn(f"{where}: {key} is not supported on an operation; ignored.")
    operation_id = operation.get("operationId")
    return Method(
        http_method=http_method,
        authorization_type=authorization.type,
        authorizer_id=authorization.authorizer_id,
        api_key_required=authorization.api_key_required,
        authorization_scopes=authorization.scopes or None,
        request_validator_id=validator_id,
        operation_name=operation_id if isinstance(operation_id, str) else None,
        request_parameters=request_parameters or None,
        request_models=request_models or None,
        method_responses=_method_responses(reader, operation, context.model_names, where) or None,
        method_integration=integration,
    )


# -- parameters and bodies ----------------------------------------------------------------


def _parameters(
    reader: DocumentReader, shared: Any, own: Any, where: str
) -> list[Mapping[str, Any]]:
    """The operation's parameters, the path item's under them (an operation's win)."""
    by_key: dict[tuple[str, str], Mapping[str, Any]] = {}
    for declared in (shared, own):
        if not isinstance(declared, list):
            reader.warn(f"{where}: parameters must be a list; ignored.")
            continue
        for raw in declared:
            parameter = reader.resolve(raw, f"{where} parameter")
            if parameter is not None:
                by_key[(str(parameter.get("in")), str(parameter.get("name")))] = parameter
    return list(by_key.values())


def _parameter(
    reader: DocumentReader,
    parameter: Mapping[str, Any],
    operation: Mapping[str, Any],
    request_parameters: dict[str, bool],
    request_models: dict[str, str],
    context: MethodContext,
    where: str,
) -> None:
    location, name = parameter.get("in"), parameter.get("name")
    if location in _PARAMETER_LOCATIONS and isinstance(name, str) and name:
        key = f"method.request.{_PARAMETER_LOCATIONS[location]}.{name}"
        request_parameters[key] = location == "path" or parameter.get("required") is True
    elif location == "body" and reader.swagger:
        model = schema_model(reader, parameter.get("schema"), context.model_names, f"{where} body")
        if model is not None:
            for content_type in _media_types(reader, "consumes", operation):
                request_models[content_type] = model
    else:
        reader.warn(f"{where}: {location} parameter {name!r} not supported; ignored.")


def _media_types(reader: DocumentReader, key: str, operation: Mapping[str, Any]) -> list[str]:
    types = operation.get(key, reader.document.get(key))
    if isinstance(types, list) and types and all(isinstance(t, str) for t in types):
        return list(types)
    return ["application/json"]


def _content_models(
    reader: DocumentReader, holder: Mapping[str, Any], model_names: set[str], where: str
) -> dict[str, str]:
    content = holder.get("content", {})
    if not isinstance(content, Mapping):
        reader.warn(f"{where}: content must be an object; ignored.")
        return {}
    models: dict[str, str] = {}
    for content_type, media in content.items():
        if not isinstance(media, Mapping):
            continue
        model = schema_model(reader, media.get("schema"), model_names, f"{where} {content_type}")
        if model is not None:
            models[content_type] = model
    return models


# -- responses ----------------------------------------------------------------------------


def _method_responses(
    reader: DocumentReader, operation: Mapping[str, Any], model_names: set[str], where: str
) -> dict[str, MethodResponse]:
    responses = operation.get("responses", {})
    if not isinstance(responses, Mapping):
        reader.warn(f"{where}: responses must be an object; ignored.")
        return {}
    method_responses: dict[str, MethodResponse] = {}
    for raw_status, raw in responses.items():
        status = str(raw_status)
        response = reader.resolve(raw, f"{where} response {status}")
        if response is None:
            continue
        if not _STATUS_CODE.fullmatch(status):
            # A bare `default` (an exported method with no responses) carries nothing.
            if status != "default" or set(response) - {"description"}:
                reader.warn(f"{where}: response '{status}' is not a status code; ignored.")
            continue
        parameters = {}
        headers = response.get("headers", {})
        for header, raw_header in (headers if isinstance(headers, Mapping) else {}).items():
            declared = reader.resolve(raw_header, f"{where} response {status} {header}")
            required = declared is not None and declared.get("required") is True
            parameters[f"method.response.header.{header}"] = required
        at = f"{where} response {status}"
        if reader.swagger:
            model = schema_model(reader, response.get("schema"), model_names, at)
            types = _media_types(reader, "produces", operation) if model else []
            models = {content_type: model for content_type in types if model}
        else:
            models = _content_models(reader, response, model_names, at)
        method_responses[status] = MethodResponse(
            status_code=status,
            response_parameters=parameters or None,
            response_models=models or None,
        )
    return method_responses


# -- integrations -------------------------------------------------------------------------


def _integration(reader: DocumentReader, raw: Any, where: str) -> Integration | None:
    where = f"{where} x-amazon-apigateway-integration"
    settings = reader.resolve(raw, where)
    if settings is None:
        return None
    kind = str(settings.get("type", "")).upper()
    if kind not in IntegrationType.__members__:
        reader.warn(f"{where}: integration type {settings.get('type')!r} not supported; ignored.")
        return None
    for key in ("connectionId", "tlsConfig", "integrationSubtype", "integrationTarget"):
        if key in settings:
            reader.warn(f"{where}: {key} not supported; ignored.")
    passthrough = settings.get("passthroughBehavior")
    if passthrough is not None:
        passthrough = str(passthrough).upper()
        if passthrough not in PassthroughBehavior.__members__:
            reader.warn(f"{where}: passthroughBehavior {passthrough!r} unknown; ignored.")
            passthrough = None
    http_method = settings.get("httpMethod")
    values: dict[str, Any] = {
        "type": IntegrationType(kind),
        "http_method": str(http_method).upper() if http_method is not None else None,
        "uri": optional_text(settings.get("uri")),
        "connection_type": optional_text(settings.get("connectionType")),
        "credentials": optional_text(settings.get("credentials")),
        "request_parameters": reader.strings(settings.get("requestParameters"), where),
        "request_templates": reader.strings(settings.get("requestTemplates"), where),
        "passthrough_behavior": passthrough,
        "content_handling": optional_text(settings.get("contentHandling")),
        "cache_namespace": optional_text(settings.get("cacheNamespace")),
        "cache_key_parameters": settings.get("cacheKeyParameters"),
        "integration_responses": _integration_responses(reader, settings, where),
    }
    if "timeoutInMillis" in settings:
        values["timeout_in_millis"] = settings["timeoutInMillis"]
    try:
        return Integration(**values)
    except ValidationError as exc:
        reader.warn(f"{where}: {validation_problem(exc)}; ignored.")
        return None


def _integration_responses(
    reader: DocumentReader, settings: Mapping[str, Any], where: str
) -> dict[str, IntegrationResponse] | None:
    declared = settings.get("responses")
    if declared is None:
        return None
    if not isinstance(declared, Mapping):
        reader.warn(f"{where}: responses must be an object; ignored.")
        return None
    responses: dict[str, IntegrationResponse] = {}
    for pattern, raw in declared.items():
        at = f"{where} response '{pattern}'"
        if not isinstance(raw, Mapping) or raw.get("statusCode") is None:
            reader.warn(f"{at}: needs a statusCode; ignored.")
            continue
        status = str(raw["statusCode"])
        if status in responses:
            reader.warn(f"{at}: a second response for status {status}; ignored.")
            continue
        try:
            responses[status] = IntegrationResponse(
                status_code=status,
                selection_pattern=None if pattern == "default" else pattern,
                response_parameters=reader.strings(raw.get("responseParameters"), at),
                response_templates=reader.strings(raw.get("responseTemplates"), at),
                content_handling=optional_text(raw.get("contentHandling")),
            )
        except ValidationError as exc:
            reader.warn(f"{at}: {validation_problem(exc)}; ignored.")
    return responses or None
