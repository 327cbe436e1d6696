"""The paths each Update* operation of a REST API's definition accepts, and their ops.

One table of :mod:`~modelyard.gateway.patches` rules per operation, in the words of API
Gateway's "Patch Operations" reference: a member replaced whole (``/name``), an entry of a
map added, replaced or removed (``/requestTemplates/application~1json``), an item of a
list added or removed (``/binaryMediaTypes/image~1png``, ``/authorizationScopes``).
Values are strings on the wire; each rule reads its own (``"true"``, ``"29000"``...).
"""

from __future__ import annotations

from typing import Final

import orjson

from modelyard.gateway.definitions import (
    ApiKeySource,
    AuthorizationType,
    AuthorizerType,
    IntegrationType,
    PassthroughBehavior,
)
from modelyard.gateway.patches import (
    EDITS,
    Entry,
    Field,
    Item,
    Rule,
    boolean,
    choice,
    flag,
    integer,
    nonblank,
    optional,
    optional_text,
    text,
)

__all__ = [
    "AUTHORIZER_PATHS",
    "GATEWAY_RESPONSE_PATHS",
    "INTEGRATION_PATHS",
    "INTEGRATION_RESPONSE_PATHS",
    "METHOD_PATHS",
    "METHOD_RESPONSE_PATHS",
    "MODEL_PATHS",
    "REQUEST_VALIDATOR_PATHS",
    "RESOURCE_PATHS",
    "REST_API_PATHS",
]

#: The largest ``minimumCompressionSize`` (10 MiB).
_MAX_COMPRESSION_SIZE: Final = 10_485_760
_CONTENT_HANDLING: Final = choice("CONVERT_TO_BINARY", "CONVERT_TO_TEXT")


def _schema(value: str | None) -> str:
    """A model's schema: JSON text (what it means is checked where it is used)."""
    schema = text(value)
    try:
        orjson.loads(schema)
    except orjson.JSONDecodeError:
        raise ValueError("the schema is not valid JSON") from None
    return schema


def _status_code(value: str | None) -> str:
    code = text(value)
    if not (len(code) == 3 and code.isdigit() and "1" <= code[0] <= "5"):
        raise ValueError("a status code, 100 to 599")
    return code


#: UpdateRestApi.
REST_API_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/name", read=nonblank),
    Field(path="/description", read=optional_text),
    Field(path="/apiKeySource", read=choice(*ApiKeySource)),
    Item(path="/binaryMediaTypes", ops=EDITS),
    Field(path="/minimumCompressionSize", read=optional(integer(0, _MAX_COMPRESSION_SIZE))),
    Field(path="/policy", read=optional_text),
    Field(path="/endpointConfiguration/types/0", read=choice("EDGE", "REGIONAL", "PRIVATE")),
    Item(path="/endpointConfiguration/vpcEndpointIds", by_value=True),
    Field(path="/disableExecuteApiEndpoint", read=boolean),
)

#: UpdateResource (the resource's path, and those under it, follow).
RESOURCE_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/parentId", read=nonblank),
    Field(path="/pathPart", read=nonblank),
)

#: UpdateMethod.
METHOD_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/authorizationType", read=choice(*AuthorizationType)),
    Field(path="/authorizerId", read=optional_text),
    Field(path="/apiKeyRequired", read=boolean),
    # An empty value takes the method's validator away.
    Field(path="/requestValidatorId", read=optional_text),
    Field(path="/operationName", read=optional_text),
    Entry(path="/requestParameters", key="parameter", read=flag),
    Entry(path="/requestModels", key="contentType"),
    Item(path="/authorizationScopes", by_value=True),
)

#: UpdateIntegration.
INTEGRATION_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/type", read=choice(*IntegrationType)),
    Field(path="/httpMethod", read=nonblank),
    Field(path="/uri", read=optional_text),
    Field(path="/credentials", read=optional_text),
    Field(path="/connectionType", read=choice("INTERNET", "VPC_LINK")),
    Field(path="/passthroughBehavior", read=choice(*PassthroughBehavior)),
    Field(path="/contentHandling", read=optional(_CONTENT_HANDLING)),
    Field(path="/timeoutInMillis", read=integer(50, 29_000)),
    Field(path="/cacheNamespace", read=optional_text),
    Item(path="/cacheKeyParameters"),
    Item(path="/cacheKeyParameters", by_value=True),
    Entry(path="/requestParameters", key="parameter"),
    Entry(path="/requestTemplates", key="contentType"),
)

#: UpdateIntegrationResponse.
INTEGRATION_RESPONSE_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/selectionPattern", read=optional_text),
    Field(path="/contentHandling", read=optional(_CONTENT_HANDLING)),
    Entry(path="/responseParameters", key="parameter"),
    Entry(path="/responseTemplates", key="contentType"),
)

#: UpdateMethodResponse.
METHOD_RESPONSE_PATHS: Final[tuple[Rule, ...]] = (
    Entry(path="/responseParameters", key="parameter", read=flag),
    Entry(path="/responseModels", key="contentType"),
)

#: UpdateAuthorizer.
AUTHORIZER_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/name", read=nonblank),
    Field(path="/type", read=choice(*AuthorizerType)),
    Field(path="/authType", read=optional_text),
    Field(path="/authorizerUri", read=optional_text),
    Field(path="/authorizerCredentials", read=optional_text),
    Field(path="/identitySource", read=optional_text),
    Field(path="/identityValidationExpression", read=optional_text),
    Field(path="/authorizerResultTtlInSeconds", read=integer(0, 3600)),
    Item(path="/providerARNs", by_value=True),
    Item(path="/providerARNs"),
)

#: UpdateRequestValidator.
REQUEST_VALIDATOR_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/name", read=nonblank),
    Field(path="/validateRequestBody", read=boolean),
    Field(path="/validateRequestParameters", read=boolean),
)

#: UpdateModel.
MODEL_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/description", read=optional_text),
    Field(path="/schema", read=_schema),
)

#: UpdateGatewayResponse.
GATEWAY_RESPONSE_PATHS: Final[tuple[Rule, ...]] = (
    Field(path="/statusCode", read=_status_code),
    Entry(path="/responseParameters", key="parameter"),
    Entry(path="/responseTemplates", key="contentType"),
)
