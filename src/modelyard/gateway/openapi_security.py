"""Security schemes read from an OpenAPI document, and the authorization of each method.

A scheme becomes what API Gateway makes of it: an API key (``apiKey`` in the ``x-api-key``
header), SigV4 (``x-amazon-apigateway-authtype: awsSigv4``, IAM authorization) or an
:class:`~modelyard.gateway.definitions.Authorizer` (``x-amazon-apigateway-authorizer``:
token, request or Cognito user pools). Any other scheme is left out with a warning. An
operation's security requirements, and its ``x-amazon-apigateway-auth``, then become its
method's authorization.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from modelyard.gateway.definitions import AuthorizationType, Authorizer, AuthorizerType
from modelyard.gateway.openapi_reader import (
    DocumentReader,
    as_mapping,
    optional_text,
    validation_problem,
)

__all__ = ["Authorization", "Scheme", "method_authorization", "security_schemes"]


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """What a security scheme asks of the methods that require it."""

    #: ``api_key`` (the x-api-key header), ``iam`` (SigV4) or ``authorizer``.
    kind: Literal["api_key", "iam", "authorizer"]
    #: The authorizer, for ``kind="authorizer"``.
    authorizer: Authorizer | None = None


@dataclass
class Authorization:
    """A method's authorization, gathered from its security requirements."""

    #: How callers are authorized (none, IAM, a custom authorizer or a user pool).
    type: AuthorizationType = AuthorizationType.NONE
    #: The authorizer's id, for a custom authorizer or a user pool.
    authorizer_id: str | None = None
    #: Whether callers must send an API key.
    api_key_required: bool = False
    #: The OAuth scopes a user pool's access token must carry.
    scopes: list[str] = field(default_factory=list)

    def set_authorizer(self, scheme: Scheme, scopes: Any) -> None:
        """Authorize with ``scheme``'s authorizer, asking for ``scopes`` (user pools only)."""
        authorizer = scheme.authorizer
        assert authorizer is not None
        cognito = authorizer.type is AuthorizerType.COGNITO_USER_POOLS
        self.type = AuthorizationType.COGNITO_USER_POOLS if cognito else AuthorizationType.CUSTOM
        self.authorizer_id = authorizer.id
        # Scopes mean something to user pools only (OAuth scopes of the access token).
        if cognito and isinstance(scopes, list):
            self.scopes = [str(scope) for scope in scopes]


def security_schemes(
    reader: DocumentReader, authorizers: dict[str, Authorizer]
) -> dict[str, Scheme | None]:
    """Scheme name → what it means; None for a scheme already warned about.

    ``authorizers`` (name → authorizer) are the base API's when merging, whose ids a
    scheme of the same name keeps; each authorizer read is added to it.
    """
    if reader.swagger:
        declared = reader.document.get("securityDefinitions", {})
    else:
        declared = as_mapping(reader.document.get("components")).get("securitySchemes", {})
    schemes: dict[str, Scheme | None] = {}
    if not isinstance(declared, Mapping):
        reader.warn("The security schemes must be an object; ignored.")
        return schemes
    for name, raw in declared.items():
        scheme = reader.resolve(raw, f"Security scheme '{name}'")
        schemes[name] = None if scheme is None else _scheme(reader, name, scheme, authorizers)
    return schemes


def _scheme(
    reader: DocumentReader,
    name: str,
    scheme: Mapping[str, Any],
    authorizers: dict[str, Authorizer],
) -> Scheme | None:
    where = f"Security scheme '{name}'"
    auth_type = scheme.get("x-amazon-apigateway-authtype")
    settings = scheme.get("x-amazon-apigateway-authorizer")
    if settings is not None:
        authorizer = _authorizer(reader, name, scheme, settings, auth_type, authorizers)
        return None if authorizer is None else Scheme(kind="authorizer", authorizer=authorizer)
    if str(auth_type).lower() == "awssigv4":
        return Scheme(kind="iam")
    if (
        scheme.get("type") == "apiKey"
        and scheme.get("in") == "header"
        and str(scheme.get("name", "")).lower() == "x-api-key"
    ):
        return Scheme(kind="api_key")
    if auth_type is not None:
        reader.warn(f"{where}: authtype {auth_type!r} without an x-amazon-apigateway-authorizer.")
    else:
        reader.warn(f"{where}: API Gateway supports only API keys, SigV4 and authorizers.")
    return None


def _authorizer(
    reader: DocumentReader,
    name: str,
    scheme: Mapping[str, Any],
    settings: Any,
    auth_type: Any,
    authorizers: dict[str, Authorizer],
) -> Authorizer | None:
    where = f"Security scheme '{name}'"
    if not isinstance(settings, Mapping):
        reader.warn(f"{where}: x-amazon-apigateway-authorizer must be an object; ignored.")
        return None
    kinds = {
        "token": AuthorizerType.TOKEN,
        "request": AuthorizerType.REQUEST,
        "cognito_user_pools": AuthorizerType.COGNITO_USER_POOLS,
    }
    kind = kinds.get(str(settings.get("type", "")).lower())
    if kind is None:
        reader.warn(f"{where}: authorizer type {settings.get('type')!r} not supported; ignored.")
        return None
    cognito = kind is AuthorizerType.COGNITO_USER_POOLS
    if cognito and not settings.get("providerARNs"):
        reader.warn(f"{where}: a Cognito authorizer needs providerARNs; ignored.")
        return None
    if not cognito and not settings.get("authorizerUri"):
        reader.warn(f"{where}: a {kind.value} authorizer needs an authorizerUri; ignored.")
        return None
    identity_source = settings.get("identitySource")
    header = scheme.get("name") if scheme.get("in") == "header" else None
    if identity_source is None and header and kind is not AuthorizerType.REQUEST:
        # The scheme's header is where a token authorizer or user pool finds the token.
        identity_source = f"method.request.header.{header}"
    existing = authorizers.get(name)
    try:
        authorizer = Authorizer(
            id=existing.id if existing else reader.new_id(),
            name=name,
            type=kind,
            providerARNs=settings.get("providerARNs"),
            auth_type=optional_text(auth_type) or ("cognito_user_pools" if cognito else "custom"),
            authorizer_uri=settings.get("authorizerUri"),
            authorizer_credentials=settings.get("authorizerCredentials"),
            identity_source=identity_source,
            identity_validation_expression=settings.get("identityValidationExpression"),
            authorizer_result_ttl_in_seconds=settings.get("authorizerResultTtlInSeconds"),
        )
    except ValidationError as exc:
        reader.warn(f"{where}: {validation_problem(exc)}; ignored.")
        return None
    authorizers[name] = authorizer
    return authorizer


def method_authorization(
    reader: DocumentReader,
    operation: Mapping[str, Any],
    schemes: Mapping[str, Scheme | None],
    where: str,
) -> Authorization:
    """How callers of ``operation`` are authorized, from its (or the document's) security."""
    requirements = operation.get("security", reader.document.get("security", []))
    result = Authorization()
    if not isinstance(requirements, list):
        reader.warn(f"{where}: security must be a list; ignored.")
        requirements = []
    for requirement in requirements:
        if not isinstance(requirement, Mapping):
            reader.warn(f"{where}: a security requirement must be an object; ignored.")
            continue
        for name, scopes in requirement.items():
            if name not in schemes:
                reader.warn(f"{where}: no security scheme named '{name}'; ignored.")
                continue
            scheme = schemes[name]
            if scheme is None:
                continue  # Warned about once, where the scheme is declared.
            if scheme.kind == "api_key":
                result.api_key_required = True
            elif result.type is not AuthorizationType.NONE:
                reader.warn(f"{where}: one authorizer per method; '{name}' ignored.")
            elif scheme.kind == "iam":
                result.type = AuthorizationType.AWS_IAM
            else:
                result.set_authorizer(scheme, scopes)
    auth = operation.get("x-amazon-apigateway-auth")
    if isinstance(auth, Mapping):
        kind = str(auth.get("type", "")).upper()
        if kind == "AWS_IAM" and result.type is AuthorizationType.NONE:
            result.type = AuthorizationType.AWS_IAM
        elif kind not in {"AWS_IAM", "NONE"}:
            reader.warn(f"{where}: x-amazon-apigateway-auth type {kind!r} not supported.")
    return result
