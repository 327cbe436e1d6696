"""A REST API's definition, as API Gateway's own documents shape it.

A :class:`RestApi` is the whole of one API: its resources (a tree by ``parentId``), each
resource's methods with their integrations and responses, and the API's authorizers,
models, request validators and gateway responses. Members are snake_case here and
camelCase on the wire and in the database (``model_dump(by_alias=True)``), exactly as the
``apigateway`` service model names them, so what boto3 sends, what GetRestApi answers,
what a deployment freezes and what is stored are one document. Models are frozen:
changes are new copies (``model_copy(update=...)``), written back whole.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "ApiKeySource",
    "AuthorizationType",
    "Authorizer",
    "AuthorizerType",
    "Definition",
    "GatewayResponseDefinition",
    "Integration",
    "IntegrationResponse",
    "IntegrationType",
    "Method",
    "MethodResponse",
    "Model",
    "PassthroughBehavior",
    "RequestValidator",
    "Resource",
    "RestApi",
]


class Definition(BaseModel):
    """Base of the definition documents: camelCase on the wire, frozen, unknown members
    kept out (boto3 may send members modelyard does not use)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def document(self) -> dict[str, Any]:
        """The camelCase JSON document, absent members left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class IntegrationType(StrEnum):
    """Where a method's requests go."""

    #: An AWS service action: the SageMaker runtime, Step Functions, a function.
    AWS = "AWS"
    #: A function called with the Lambda proxy event (version 1.0).
    AWS_PROXY = "AWS_PROXY"
    #: Any URL, with mapping templates.
    HTTP = "HTTP"
    #: Any URL, the request passed through.
    HTTP_PROXY = "HTTP_PROXY"
    #: No backend: the integration response templates answer.
    MOCK = "MOCK"


class PassthroughBehavior(StrEnum):
    """What a request whose content type has no request template does."""

    WHEN_NO_MATCH = "WHEN_NO_MATCH"
    WHEN_NO_TEMPLATES = "WHEN_NO_TEMPLATES"
    NEVER = "NEVER"


class AuthorizationType(StrEnum):
    """How a method's callers are authorized."""

    NONE = "NONE"
    AWS_IAM = "AWS_IAM"
    CUSTOM = "CUSTOM"
    COGNITO_USER_POOLS = "COGNITO_USER_POOLS"


class AuthorizerType(StrEnum):
    """The kinds of authorizer."""

    TOKEN = "TOKEN"
    REQUEST = "REQUEST"
    COGNITO_USER_POOLS = "COGNITO_USER_POOLS"


class ApiKeySource(StrEnum):
    """Where the API key of a request comes from."""

    HEADER = "HEADER"
    AUTHORIZER = "AUTHORIZER"


class IntegrationResponse(Definition):
    """How a backend answer becomes the method's answer, chosen by ``selection_pattern``."""

    #: The method response status this answer gets.
    status_code: str
    #: A regular expression matched against the backend's status (HTTP) or error message
    #: (AWS, functions); ``None`` is the default response.
    selection_pattern: str | None = None
    #: ``method.response.header.X`` → ``integration.response.header.Y`` or ``'literal'``.
    response_parameters: dict[str, str] | None = None
    #: Content type → VTL template.
    response_templates: dict[str, str] | None = None
    content_handling: str | None = None


class Integration(Definition):
    """Where a method sends its requests, and how they are mapped there and back."""

    type: IntegrationType
    #: The backend's HTTP method (HTTP, AWS: POST for the AWS actions).
    http_method: str | None = None
    #: The backend: a URL, or an ``arn:aws:apigateway:{region}:{service}:path/...`` /
    #: ``...:action/...`` URI.
    uri: str | None = None
    connection_type: str | None = None
    credentials: str | None = None
    #: ``integration.request.header.X`` → ``method.request.querystring.y`` or ``'literal'``.
    request_parameters: dict[str, str] | None = None
    #: Content type → VTL template.
    request_templates: dict[str, str] | None = None
    passthrough_behavior: PassthroughBehavior | None = None
    content_handling: str | None = None
    timeout_in_millis: int = Field(default=29_000, ge=50, le=29_000)
    cache_namespace: str | None = None
    cache_key_parameters: list[str] | None = None
    #: Status code → integration response.
    integration_responses: dict[str, IntegrationResponse] | None = None


class MethodResponse(Definition):
    """A status the method may answer with, and its declared headers and models."""

    status_code: str
    response_parameters: dict[str, bool] | None = None
    response_models: dict[str, str] | None = None


class Method(Definition):
    """One HTTP method of a resource: who may call it, what it requires, where it goes."""

    http_method: str
    authorization_type: AuthorizationType = AuthorizationType.NONE
    authorizer_id: str | None = None
    api_key_required: bool = False
    request_validator_id: str | None = None
    operation_name: str | None = None
    #: ``method.request.{path|querystring|header}.name`` → required.
    request_parameters: dict[str, bool] | None = None
    #: Content type → model name.
    request_models: dict[str, str] | None = None
    method_responses: dict[str, MethodResponse] | None = None
    method_integration: Integration | None = None
    authorization_scopes: list[str] | None = None


class Resource(Definition):
    """A path of the API (``/pets/{petId}``), a node of its tree."""

    id: str
    parent_id: str | None = None
    #: The last segment: ``pets``, ``{petId}``, ``{proxy+}``; ``None`` for the root.
    path_part: str | None = None
    path: str
    #: HTTP method (or ``ANY``) → method.
    resource_methods: dict[str, Method] | None = None


class Authorizer(Definition):
    """An authorizer methods may name (``authorizer_id``)."""

    id: str
    name: str
    type: AuthorizerType
    #: The user pools' ARNs (COGNITO_USER_POOLS).
    provider_arns: list[str] | None = Field(default=None, alias="providerARNs")
    auth_type: str | None = None
    #: The function to call (TOKEN, REQUEST).
    authorizer_uri: str | None = None
    authorizer_credentials: str | None = None
    #: Where the identity is: ``method.request.header.Authorization``, ...
    identity_source: str | None = None
    identity_validation_expression: str | None = None
    authorizer_result_ttl_in_seconds: int | None = Field(default=None, ge=0, le=3600)


class Model(Definition):
    """A JSON Schema (draft 4) the API's methods may require of bodies."""

    id: str
    name: str
    description: str | None = None
    #: The schema, as JSON text.
    schema_: str | None = Field(default=None, alias="schema")
    content_type: str = "application/json"


class RequestValidator(Definition):
    """What of a request is checked before it goes on."""

    id: str
    name: str
    validate_request_body: bool = False
    validate_request_parameters: bool = False


class GatewayResponseDefinition(Definition):
    """A customised gateway response (PutGatewayResponse)."""

    response_type: str
    status_code: str | None = None
    response_parameters: dict[str, str] | None = None
    response_templates: dict[str, str] | None = None
    default_response: bool = False


class RestApi(Definition):
    """A whole REST API: its settings and everything under it."""

    id: str
    name: str
    description: str | None = None
    created_date: datetime
    version: str | None = None
    binary_media_types: list[str] | None = None
    api_key_source: ApiKeySource = ApiKeySource.HEADER
    endpoint_configuration: dict[str, Any] | None = None
    tags: dict[str, str] | None = None
    disable_execute_api_endpoint: bool = False
    #: Bodies at least this large are compressed when the client accepts it (bytes).
    minimum_compression_size: int | None = Field(default=None, ge=0, le=10_485_760)
    #: The resource policy, as JSON text.
    policy: str | None = None
    root_resource_id: str
    #: Id → resource.
    resources: dict[str, Resource] = Field(default_factory=dict)
    #: Id → authorizer, model, validator; response type → customised gateway response.
    authorizers: dict[str, Authorizer] = Field(default_factory=dict)
    models: dict[str, Model] = Field(default_factory=dict)
    request_validators: dict[str, RequestValidator] = Field(default_factory=dict)
    gateway_responses: dict[str, GatewayResponseDefinition] = Field(default_factory=dict)
    #: Problems found importing it (GetRestApi's ``warnings``).
    warnings: list[str] | None = None
