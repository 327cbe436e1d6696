"""API-wide settings read from the ``x-amazon-apigateway-*`` extensions atop an OpenAPI document.

Binary media types, the API key source, endpoint settings, request validators and gateway
responses are declared once for the whole API. When merging (PutRestApi ``mode=merge``)
what the document leaves out keeps the base API's value; endpoint settings are kept on
overwrite too, as API Gateway keeps them. Extensions API Gateway knows but a
:class:`~modelyard.gateway.definitions.RestApi` here has no member for are warned about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from modelyard.gateway.definitions import (
    ApiKeySource,
    GatewayResponseDefinition,
    RequestValidator,
    RestApi,
)
from modelyard.gateway.openapi_reader import DocumentReader, validation_problem

__all__ = [
    "GATEWAY_RESPONSE_TYPES",
    "api_key_source",
    "binary_media_types",
    "disable_execute_api_endpoint",
    "endpoint_configuration",
    "gateway_responses",
    "request_validators",
    "warn_unsupported_extensions",
]

#: The response types a gateway response may customise (PutGatewayResponse).
GATEWAY_RESPONSE_TYPES = frozenset(
    {
        "ACCESS_DENIED",
        "API_CONFIGURATION_ERROR",
        "AUTHORIZER_CONFIGURATION_ERROR",
        "AUTHORIZER_FAILURE",
        "BAD_REQUEST_BODY",
        "BAD_REQUEST_PARAMETERS",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
        "EXPIRED_TOKEN",
        "INTEGRATION_FAILURE",
        "INTEGRATION_TIMEOUT",
        "INVALID_API_KEY",
        "INVALID_SIGNATURE",
        "MISSING_AUTHENTICATION_TOKEN",
        "QUOTA_EXCEEDED",
        "REQUEST_TOO_LARGE",
        "RESOURCE_NOT_FOUND",
        "THROTTLED",
        "UNAUTHORIZED",
        "UNSUPPORTED_MEDIA_TYPE",
        "WAF_FILTERED",
    }
)

# Extensions API Gateway knows but a RestApi here has no member for.
_UNSUPPORTED_EXTENSIONS = {
    "x-amazon-apigateway-documentation": "documentation parts",
    "x-amazon-apigateway-minimum-compression-size": "a minimum compression size",
    "x-amazon-apigateway-policy": "a resource policy",
    "x-amazon-apigateway-tag-value": "tag values",
    "x-amazon-apigateway-cors": "CORS configuration (HTTP APIs only)",
}
_KNOWN_DOCUMENT_EXTENSIONS = {
    "x-amazon-apigateway-api-key-source",
    "x-amazon-apigateway-binary-media-types",
    "x-amazon-apigateway-endpoint-configuration",
    "x-amazon-apigateway-gateway-responses",
    "x-amazon-apigateway-request-validator",
    "x-amazon-apigateway-request-validators",
    "x-amazon-apigateway-importexport-version",
}


def warn_unsupported_extensions(reader: DocumentReader) -> None:
    """Warn about each API-wide extension that is not read (unsupported or unknown)."""
    for key in reader.document:
        if key in _UNSUPPORTED_EXTENSIONS:
            reader.warn(f"{key}: {_UNSUPPORTED_EXTENSIONS[key]} not supported; ignored.")
        elif key.startswith("x-amazon-apigateway-") and key not in _KNOWN_DOCUMENT_EXTENSIONS:
            reader.warn(f"{key}: unknown API Gateway extension; ignored.")


def binary_media_types(reader: DocumentReader) -> list[str] | None:
    """The media types served as binary (the base's, when merging and not declared)."""
    kept = _kept(reader)
    key = "x-amazon-apigateway-binary-media-types"
    if key not in reader.document:
        return kept.binary_media_types if kept else None
    types = reader.document[key]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        reader.warn(f"{key}: must be a list of media types; ignored.")
        return kept.binary_media_types if kept else None
    return list(types) or None


def api_key_source(reader: DocumentReader) -> ApiKeySource:
    """Where API keys are read (the base's, when merging and not declared)."""
    kept = _kept(reader)
    key = "x-amazon-apigateway-api-key-source"
    default = kept.api_key_source if kept else ApiKeySource.HEADER
    if key not in reader.document:
        return default
    value = str(reader.document[key]).upper()
    if value not in ApiKeySource.__members__:
        reader.warn(f"{key}: {reader.document[key]!r} is neither HEADER nor AUTHORIZER; ignored.")
        return default
    return ApiKeySource(value)


def endpoint_configuration(reader: DocumentReader) -> dict[str, Any] | None:
    """The endpoint settings: the base's, with the VPC endpoint ids the document declares."""
    base = reader.base
    existing = base.endpoint_configuration if base is not None else None
    settings = reader.document.get("x-amazon-apigateway-endpoint-configuration")
    if not isinstance(settings, Mapping) or "vpcEndpointIds" not in settings:
        return existing
    ids = settings["vpcEndpointIds"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        reader.warn("x-amazon-apigateway-endpoint-configuration: vpcEndpointIds must be a list.")
        return existing
    return {**(existing or {}), "vpcEndpointIds": list(ids)}


def disable_execute_api_endpoint(reader: DocumentReader) -> bool:
    """Whether the default endpoint is off (the base's setting, unless declared)."""
    base = reader.base
    existing = base.disable_execute_api_endpoint if base is not None else False
    settings = reader.document.get("x-amazon-apigateway-endpoint-configuration")
    if not isinstance(settings, Mapping) or "disableExecuteApiEndpoint" not in settings:
        return existing
    return settings["disableExecuteApiEndpoint"] is True


def gateway_responses(reader: DocumentReader) -> dict[str, GatewayResponseDefinition]:
    """Response type → gateway response (the base's too, when merging)."""
    key = "x-amazon-apigateway-gateway-responses"
    base = reader.base
    responses = dict(base.gateway_responses) if reader.merging and base else {}
    declared = reader.document.get(key, {})
    if not isinstance(declared, Mapping):
        reader.warn(f"{key}: must be an object; ignored.")
        return responses
    for response_type, raw in declared.items():
        where = f"{key}.{response_type}"
        if response_type not in GATEWAY_RESPONSE_TYPES:
            reader.warn(f"{where}: unknown gateway response type; ignored.")
            continue
        if not isinstance(raw, Mapping):
            reader.warn(f"{where}: must be an object; ignored.")
            continue
        status = raw.get("statusCode")
        try:
            responses[response_type] = GatewayResponseDefinition(
                response_type=response_type,
                status_code=None if status is None else str(status),
                response_parameters=reader.strings(raw.get("responseParameters"), where),
                response_templates=reader.strings(raw.get("responseTemplates"), where),
            )
        except ValidationError as exc:
            reader.warn(f"{where}: {validation_problem(exc)}; ignored.")
    return responses


def request_validators(reader: DocumentReader) -> dict[str, RequestValidator]:
    """Validator name → validator (the base's too, when merging)."""
    key = "x-amazon-apigateway-request-validators"
    validators: dict[str, RequestValidator] = {}
    if reader.merging and reader.base is not None:
        validators = {v.name: v for v in reader.base.request_validators.values()}
    declared = reader.document.get(key, {})
    if not isinstance(declared, Mapping):
        reader.warn(f"{key}: must be an object; ignored.")
        return validators
    for name, raw in declared.items():
        if not isinstance(raw, Mapping):
            reader.warn(f"{key}.{name}: must be an object; ignored.")
            continue
        existing = validators.get(name)
        validators[name] = RequestValidator(
            id=existing.id if existing else reader.new_id(),
            name=name,
            validate_request_body=raw.get("validateRequestBody") is True,
            validate_request_parameters=raw.get("validateRequestParameters") is True,
        )
    return validators


def _kept(reader: DocumentReader) -> RestApi | None:
    """The API whose settings stand where the document declares none: the base, if merging."""
    return reader.base if reader.merging else None
