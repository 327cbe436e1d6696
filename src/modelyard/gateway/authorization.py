"""What the authorization step works with: the request it is shown, whom it lets through.

:class:`RequestFacts` is what the step may look at of one routed request;
:class:`Authorized` is who it let through, and what it learnt of them. The rest of the
platform is handed to the step as callables shaped by the protocols here (the identity
area's token and access-key look-ups, SigV4 verification, the functions area's
``invoke``), so the step runs, and is tested, without a server.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.gateway.definitions import ApiKeySource, AuthorizationType

__all__ = [
    "AccessKeyLookup",
    "Authorized",
    "FunctionInvoker",
    "PrincipalLike",
    "RequestFacts",
    "SignatureVerifier",
    "TokenVerifier",
    "api_key_of",
    "method_arn",
    "signature_verifier",
]


@dataclass(frozen=True, kw_only=True)
class RequestFacts:
    """What the authorization step may look at of one request, already routed."""

    #: The API, the stage, and the request's HTTP method (the verb sent, also under ANY).
    api_id: str
    stage: str
    http_method: str
    #: The matched resource (``/pets/{petId}``) and the path asked for (``/pets/7``).
    resource_path: str
    path: str
    #: The request's headers; names in any case (look up with :meth:`header`).
    headers: Mapping[str, str]
    #: The query string's parameters, the last value of each.
    query: Mapping[str, str] = field(default_factory=dict)
    #: Every value of each header and query parameter; by default the single values.
    multi_value_headers: Mapping[str, Sequence[str]] | None = None
    multi_value_query: Mapping[str, Sequence[str]] | None = None
    #: The path parameters matched (``{"petId": "7"}``) and the stage's variables.
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    #: The request's ``$context`` so far (``requestId``, ``identity.sourceIp``...): it is
    #: the REQUEST event's ``requestContext``, and where ``context.x`` sources look.
    context: Mapping[str, Any] = field(default_factory=dict)
    #: ``arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`` (see
    #: :func:`method_arn`).
    method_arn: str
    #: The request as received, for SigV4: its method (``http_method`` when empty),
    #: ``Host``, the path and query string as sent (percent-encoded), the body.
    method: str = ""
    host: str = ""
    raw_path: str = ""
    query_string: str = ""
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of header ``name``, whatever its case, or None."""
        return self._lowered_headers.get(name.lower())

    @functools.cached_property
    def _lowered_headers(self) -> dict[str, str]:
        return {name.lower(): value for name, value in self.headers.items()}


@dataclass(frozen=True, kw_only=True)
class Authorized:
    """Who the authorization step let through, and what it learnt of them."""

    #: ``$context.authorizer.principalId``: what a Lambda authorizer named; None otherwise.
    principal_id: str | None = None
    #: ``$context.authorizer.claims`` (a user pool token's claims, all strings) or, for a
    #: Lambda authorizer, its ``context`` (``$context.authorizer.<key>``).
    claims: Mapping[str, Any] = field(default_factory=dict)
    #: The API key a Lambda authorizer answered (``usageIdentifierKey``).
    usage_identifier_key: str | None = None
    #: What goes into ``$context.identity``: for AWS_IAM ``accessKey``, ``user``,
    #: ``userArn``, ``caller``, ``accountId``.
    identity: Mapping[str, Any] = field(default_factory=dict)
    #: How the caller was let through (``NONE`` for anyone).
    kind: AuthorizationType = AuthorizationType.NONE
    #: The caller's groups, when a user pool token or an access key named a user.
    groups: tuple[str, ...] = ()

    def authorizer_context(self) -> dict[str, Any]:
        """``$context.authorizer`` (the proxy event's ``requestContext.authorizer``): a user
        pool's claims under ``claims``; a Lambda authorizer's ``principalId`` beside its
        ``context`` keys; nothing for the others."""
        if self.kind is AuthorizationType.COGNITO_USER_POOLS:
            return {"claims": dict(self.claims)}
        if self.kind is AuthorizationType.CUSTOM:
            return {**self.claims, "principalId": self.principal_id}
        return {}


class PrincipalLike(Protocol):
    """Who a token or access key stands for (``identity.service.Principal`` is one)."""

    @property
    def pool_id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def sub(self) -> str: ...
    @property
    def groups(self) -> tuple[str, ...]: ...


class TokenVerifier(Protocol):
    """Verifies a user pool token (signature, expiry, revocation): who it stands for.

    Raises :class:`~modelyard.errors.AuthenticationRequired` (or ``AccessDenied``) for a
    token that is not valid; any other :class:`ModelyardError` means it could not tell.
    """

    def __call__(self, token: str, /) -> Awaitable[PrincipalLike]: ...


class SignatureVerifier(Protocol):
    """Verifies a request's SigV4 signature: the access key id that signed it.

    Raises as :class:`~modelyard.aws.sigv4.SigV4Verifier` does: ``MissingSignature``,
    ``IncompleteSignature``, ``UnknownAccessKey``, ``InvalidSignature``.
    """

    def __call__(self, facts: RequestFacts, /) -> Awaitable[str]: ...


class AccessKeyLookup(Protocol):
    """Who an access key belongs to; ``AuthenticationRequired`` for one unknown or inactive."""

    def __call__(self, access_key_id: str, /) -> Awaitable[PrincipalLike]: ...


class FunctionInvoker(Protocol):
    """Calls a function (its name or ARN) with an event: its result; raises if it fails,
    with the function's error message as the exception's ``message``."""

    def __call__(self, function: str, event: dict[str, Any], /) -> Awaitable[Any]: ...


def method_arn(
    *, region: str, account_id: str, api_id: str, stage: str, http_method: str, path: str
) -> str:
    """The ARN a request is authorized against (the Lambda event's ``methodArn``).

    >>> method_arn(region="us-east-1", account_id="123456789012", api_id="a1",
    ...            stage="prod", http_method="GET", path="/pets/7")
    'arn:aws:execute-api:us-east-1:123456789012:a1/prod/GET/pets/7'
    """
    return (
        f"arn:aws:execute-api:{region}:{account_id}:{api_id}/{stage}/"
        f"{http_method.upper()}/{path.removeprefix('/')}"
    )


def signature_verifier(verifier: SigV4Verifier) -> SignatureVerifier:
    """The :class:`SignatureVerifier` checking requests with ``verifier``'s secrets."""

    async def verify(facts: RequestFacts) -> str:
        signed = verifier.verify(
            method=facts.method or facts.http_method,
            host=facts.host,
            raw_path=facts.raw_path or facts.path,
            query_string=facts.query_string,
            headers=facts.headers,
            body=facts.body,
        )
        return signed.access_key

    return verify


def api_key_of(
    headers: Mapping[str, str], api_key_source: ApiKeySource | str, authorized: Authorized
) -> str | None:
    """The request's API key, from where the API says (``apiKeySource``): the
    ``x-api-key`` header (HEADER), or the Lambda authorizer's ``usageIdentifierKey``
    (AUTHORIZER). Raises ``ValueError`` for another source."""
    if ApiKeySource(api_key_source) is ApiKeySource.AUTHORIZER:
        return authorized.usage_identifier_key
    for name, value in headers.items():
        if name.lower() == "x-api-key":
            return value
    return None
