"""The authorization step of a REST API method, as API Gateway takes it before anything else.

A method's ``authorizationType`` says who may call it:

``NONE``
    anyone.
``COGNITO_USER_POOLS``
    a token of one of the authorizer's user pools, in the identity source header
    (``Authorization`` unless the authorizer names another), bare or as ``Bearer <token>``.
    Without ``authorizationScopes`` on the method it must be an **ID token**; with them, an
    **access token** holding at least one of them (API Gateway's rule: "if there are no
    scopes on the method, use a valid ID token; if scopes are configured, use a valid
    access token"). Anything else is 401 ``Unauthorized``. API Gateway checks nothing of
    the user's groups: they reach the backend in ``$context.authorizer.claims`` and the
    backend decides. The claims are strings there, as API Gateway passes them: ``exp`` and
    ``iat`` as dates (``Wed Nov 06 07:36:54 UTC 2019``), other numbers as decimals.
``AWS_IAM``
    a request signed with Signature Version 4 for the service ``execute-api``. Unsigned
    is 403 ``Missing Authentication Token``; a bad signature, a key nobody has or a scope
    for another service is 403 with IAM's own words.
``CUSTOM``
    a Lambda authorizer (a function). A ``TOKEN`` authorizer gets the identity source
    header's value, which must match ``identityValidationExpression`` when there is one;
    a ``REQUEST`` authorizer gets the whole request, once every identity source
    (``method.request.header.X``, ``method.request.querystring.y``, ``stageVariables.z``,
    ``context.w``) is present and non-empty. Either way a missing identity is 401 without
    calling the function. The function answers an IAM policy; its result is kept for
    ``authorizerResultTtlInSeconds`` (300 by default, 0 for never) under the identity
    values, and the kept *policy* is evaluated anew against each request's method ARN, so
    one answer may allow some methods and not others, as API Gateway does. An explicit
    ``Deny`` matching the method ARN wins; without a matching ``Allow`` access is denied
    too (both 403, in different words). A function that raises an error whose message is
    exactly ``Unauthorized`` means 401; any other failure, or an answer that is not a
    policy, is a 500: API Gateway answers it ``{"message": null}`` with
    ``x-amzn-ErrorType: AuthorizerConfigurationException``, which is the
    ``AUTHORIZER_CONFIGURATION_ERROR`` gateway response.

Everything the step needs from the rest of the platform is handed to :class:`Authorizers`
as callables (the identity area's token and access-key look-ups, SigV4 verification, the
functions area's ``invoke``), so it runs, and is tested, without a server.

The errors, each naming the gateway response (``response_type``) the runtime answers it
with::

    AuthenticationRequired
     └── Unauthorized                    UNAUTHORIZED 401
    AccessDenied
     ├── AccessDeniedByPolicy            ACCESS_DENIED 403
     ├── MissingAuthenticationToken      MISSING_AUTHENTICATION_TOKEN 403
     └── IamDenied                       INVALID_SIGNATURE 403
          └── InvalidSecurityToken       ACCESS_DENIED 403 (a key nobody has)
    ModelyardError
     └── AuthorizerFailure               AUTHORIZER_FAILURE 500 (a verifier broke)
          └── AuthorizerConfigurationError   AUTHORIZER_CONFIGURATION_ERROR 500
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Protocol

import orjson

from modelyard.aws.sigv4 import (
    IncompleteSignature,
    MissingSignature,
    SigV4Verifier,
    UnknownAccessKey,
)
from modelyard.errors import AccessDenied, AuthenticationRequired, ModelyardError
from modelyard.gateway.definitions import (
    ApiKeySource,
    AuthorizationType,
    Authorizer,
    AuthorizerType,
    Method,
)
from modelyard.gateway.responses import ResponseType

__all__ = [
    "DEFAULT_IDENTITY_SOURCE",
    "DEFAULT_TTL_S",
    "AccessDeniedByPolicy",
    "AccessKeyLookup",
    "Authorized",
    "AuthorizerConfigurationError",
    "AuthorizerFailure",
    "Authorizers",
    "FunctionInvoker",
    "IamDenied",
    "InvalidSecurityToken",
    "MissingAuthenticationToken",
    "PrincipalLike",
    "RequestFacts",
    "SignatureVerifier",
    "TokenVerifier",
    "Unauthorized",
    "api_key_of",
    "method_arn",
    "signature_verifier",
]

#: Where a token is when the authorizer does not say.
DEFAULT_IDENTITY_SOURCE: Final = "method.request.header.Authorization"
#: Seconds a Lambda authorizer's answer is kept when ``authorizerResultTtlInSeconds`` is unset.
DEFAULT_TTL_S: Final = 300
#: Answers kept at most; past it the oldest go first.
_MAX_CACHED: Final = 10_000
_SIGV4: Final = "AWS4-HMAC-SHA256"
_SERVICE: Final = "execute-api"
_INVOKE: Final = "execute-api:Invoke"
_BEARER: Final = re.compile(r"bearer(?:\s+|$)", re.IGNORECASE)
_STAGE_VARIABLE: Final = re.compile(r"\$\{stageVariables\.([A-Za-z0-9_.:-]+)\}")
_DATE_CLAIMS: Final = frozenset({"exp", "iat"})
_DAYS: Final = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTHS: Final = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]

_INVALID_SIGNATURE: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_INVALID_TOKEN: Final = "The security token included in the request is invalid."
_EXPLICIT_DENY: Final = "User is not authorized to access this resource with an explicit deny"


# -- errors -------------------------------------------------------------------------------


class _GatewayAnswered:
    """What the runtime needs of each error to answer it: the gateway response type, and
    what the caller is told (``$context.error.message``)."""

    #: The gateway response (``ResponseType``) the runtime answers with.
    response_type: ClassVar[str]
    message: str

    @property
    def public_message(self) -> str | None:
        """What the caller is told; None for ``{"message": null}``."""
        return self.message


class Unauthorized(_GatewayAnswered, AuthenticationRequired):
    """Unauthorized"""

    response_type = ResponseType.UNAUTHORIZED


class AccessDeniedByPolicy(_GatewayAnswered, AccessDenied):
    """User is not authorized to access this resource"""

    response_type = ResponseType.ACCESS_DENIED


class MissingAuthenticationToken(_GatewayAnswered, AccessDenied):
    """Missing Authentication Token"""

    response_type = ResponseType.MISSING_AUTHENTICATION_TOKEN


class IamDenied(_GatewayAnswered, AccessDenied):
    """A signed request whose signature, or its scope, does not verify (IAM's words)."""

    response_type = ResponseType.INVALID_SIGNATURE

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _INVALID_SIGNATURE)


class InvalidSecurityToken(IamDenied):
    """The security token included in the request is invalid."""

    # API Gateway answers it as UnrecognizedClientException; of the gateway response
    # types, only ACCESS_DENIED is a 403 about who the caller is.
    response_type = ResponseType.ACCESS_DENIED

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _INVALID_TOKEN)


class AuthorizerFailure(_GatewayAnswered, ModelyardError):
    """The authorizer failed to authenticate the caller."""

    response_type = ResponseType.AUTHORIZER_FAILURE

    @property
    def public_message(self) -> str | None:
        """Nothing: API Gateway answers ``{"message": null}``; ``message`` is for logs."""
        return None


class AuthorizerConfigurationError(AuthorizerFailure):
    """The authorizer could not be used: its function failed, answered something that is
    not a policy, or the authorizer's definition is unusable."""

    response_type = ResponseType.AUTHORIZER_CONFIGURATION_ERROR


# -- records ------------------------------------------------------------------------------


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


# -- policies -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Statement:
    allow: bool
    #: Patterns, and whether they are NotAction / NotResource.
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool

    def applies_to(self, arn: str) -> bool:
        action = any(_pattern(a, True).fullmatch(_INVOKE) for a in self.actions)
        resource = any(_pattern(r, False).fullmatch(arn) for r in self.resources)
        return action != self.not_action and resource != self.not_resource


@dataclass(frozen=True, kw_only=True, slots=True)
class _Answer:
    """A Lambda authorizer's answer, checked: what is cached."""

    principal_id: str | None
    statements: tuple[_Statement, ...]
    context: Mapping[str, Any]
    usage_identifier_key: str | None

    def authorize(self, arn: str) -> Authorized:
        applying = [statement for statement in self.statements if statement.applies_to(arn)]
        if any(not statement.allow for statement in applying):
            raise AccessDeniedByPolicy(_EXPLICIT_DENY)
        if not applying:
            raise AccessDeniedByPolicy()
        return Authorized(
            principal_id=self.principal_id,
            claims=self.context,
            usage_identifier_key=self.usage_identifier_key,
            kind=AuthorizationType.CUSTOM,
        )


@functools.lru_cache(maxsize=1024)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: '*' any run of characters ('/' and ':' included), '?' one character.
    translated = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(translated, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _answer(result: Any) -> _Answer:
    """The function's result as an answer; AuthorizerConfigurationError if it is not one."""
    if not isinstance(result, Mapping):
        raise AuthorizerConfigurationError("the authorizer's answer is not a JSON object")
    principal = result.get("principalId")
    if principal is not None and not isinstance(principal, str | int | float):
        raise AuthorizerConfigurationError("principalId is not a string")
    document = result.get("policyDocument")
    if not isinstance(document, Mapping):
        raise AuthorizerConfigurationError("the answer has no policyDocument object")
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, Mapping) else raw
    if not isinstance(statements, list) or not statements:
        raise AuthorizerConfigurationError("the policy has no Statement")
    context = result.get("context") or {}
    if not isinstance(context, Mapping) or not all(
        isinstance(value, str | int | float | bool) or value is None for value in context.values()
    ):
        # API Gateway's words: a context value may not be a JSON object or array.
        raise AuthorizerConfigurationError("context must map keys to strings, numbers or booleans")
    key = result.get("usageIdentifierKey")
    if key is not None and not isinstance(key, str):
        raise AuthorizerConfigurationError("usageIdentifierKey is not a string")
    return _Answer(
        principal_id=None if principal is None else str(principal),
        statements=tuple(_statement(statement) for statement in statements),
        context=dict(context),
        usage_identifier_key=key,
    )


def _statement(raw: Any) -> _Statement:
    if not isinstance(raw, Mapping):
        raise AuthorizerConfigurationError("a policy statement is not an object")
    effect = raw.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise AuthorizerConfigurationError(f"a policy statement's Effect is {effect!r}")
    actions, not_action = _either(raw, "Action", "NotAction")
    resources, not_resource = _either(raw, "Resource", "NotResource")
    return _Statement(
        allow=effect.lower() == "allow",
        actions=actions,
        not_action=not_action,
        resources=resources,
        not_resource=not_resource,
    )


def _either(raw: Mapping[str, Any], name: str, negated: str) -> tuple[tuple[str, ...], bool]:
    is_negated = name not in raw and negated in raw
    value = raw.get(negated if is_negated else name)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise AuthorizerConfigurationError(f"a policy statement has no usable {name}")
    return tuple(values), is_negated


# -- the step -----------------------------------------------------------------------------


class Authorizers:
    """Authorizes requests to REST API methods (see the module).

    Example::

        authorizers = Authorizers(
            principal_of_token=identity.principal_of_token,
            verify_sigv4=verify,            # async (facts) -> access key id
            principal_of_access_key=identity.principal_of_access_key,
            invoke_function=functions.invoke,
        )
        authorized = await authorizers.authorize(method, api.authorizers.get(id), facts)

    One instance serves every API and stage: Lambda authorizer answers are kept by API,
    stage, authorizer and identity values, at most :data:`_MAX_CACHED` of them.
    """

    def __init__(
        self,
        *,
        principal_of_token: TokenVerifier,
        verify_sigv4: SignatureVerifier,
        principal_of_access_key: AccessKeyLookup,
        invoke_function: FunctionInvoker,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._principal_of_token = principal_of_token
        self._verify_sigv4 = verify_sigv4
        self._principal_of_access_key = principal_of_access_key
        self._invoke_function = invoke_function
        self._clock = clock
        #: Cache key → (when it expires, the answer).
        self._answers: dict[tuple[str, ...], tuple[float, _Answer]] = {}

    async def authorize(
        self, method: Method, authorizer: Authorizer | None, facts: RequestFacts
    ) -> Authorized:
        """Who may call ``method`` with this request; raises one of the module's errors
        if nobody may. ``authorizer`` is the one the method names (``authorizerId``)."""
        match method.authorization_type:
            case AuthorizationType.NONE:
                return Authorized()
            case AuthorizationType.AWS_IAM:
                return await self._iam(facts)
            case AuthorizationType.COGNITO_USER_POOLS:
                if authorizer is None or authorizer.type is not AuthorizerType.COGNITO_USER_POOLS:
                    raise AuthorizerConfigurationError("the method has no user pool authorizer")
                return await self._user_pools(method, authorizer, facts)
            case AuthorizationType.CUSTOM:
                if authorizer is None or authorizer.type is AuthorizerType.COGNITO_USER_POOLS:
                    raise AuthorizerConfigurationError("the method has no Lambda authorizer")
                return await self._lambda(authorizer, facts)
        raise AuthorizerConfigurationError(f"unknown authorization {method.authorization_type}")

    # -- COGNITO_USER_POOLS ---------------------------------------------------------------

    async def _user_pools(
        self, method: Method, authorizer: Authorizer, facts: RequestFacts
    ) -> Authorized:
        arns = [_with_stage_variables(arn, facts) for arn in authorizer.provider_arns or []]
        pools = {arn.rpartition("/")[2] for arn in arns if arn.rpartition("/")[2]}
        if not pools:
            raise AuthorizerConfigurationError("the user pool authorizer names no user pool")
        source = authorizer.identity_source or DEFAULT_IDENTITY_SOURCE
        value = (_header_source(source, facts) or "").strip()
        bearer = _BEARER.match(value)
        token = value[bearer.end() :] if bearer else value
        if not token:
            raise Unauthorized()
        try:
            principal = await self._principal_of_token(token)
        except (AuthenticationRequired, AccessDenied) as exc:
            raise Unauthorized() from exc
        except ModelyardError as exc:
            raise AuthorizerFailure(f"the token could not be verified: {exc.message}") from exc
        if principal.pool_id not in pools:
            raise Unauthorized()
        claims = _claims(token)
        scopes = method.authorization_scopes
        if scopes:
            granted = str(claims.get("scope", "")).split()
            if claims.get("token_use") != "access" or not set(scopes) & set(granted):
                raise Unauthorized()
        elif claims.get("token_use") != "id":
            raise Unauthorized()
        return Authorized(
            claims={name: _claim_text(name, v) for name, v in claims.items()},
            kind=AuthorizationType.COGNITO_USER_POOLS,
        )

    # -- AWS_IAM --------------------------------------------------------------------------

    async def _iam(self, facts: RequestFacts) -> Authorized:
        authorization = facts.header("authorization") or ""
        if not authorization.startswith(_SIGV4):
            raise MissingAuthenticationToken()
        # Checked before the signature: a request signed for another service is refused
        # in the words IAM uses, whatever its signature.
        scope = re.search(r"Credential=([^,\s]+)", authorization)
        parts = scope[1].split("/") if scope else []
        if len(parts) == 5 and parts[3] != _SERVICE:
            raise IamDenied(f"Credential should be scoped to correct service: '{_SERVICE}'. ")
        try:
            access_key = await self._verify_sigv4(facts)
        except MissingSignature as exc:
            raise MissingAuthenticationToken() from exc
        except UnknownAccessKey as exc:
            raise InvalidSecurityToken() from exc
        except IncompleteSignature as exc:
            raise IamDenied(exc.message) from exc
        except (AuthenticationRequired, AccessDenied) as exc:
            # An expired signature keeps its own words; a wrong one gets API Gateway's.
            expired = exc.message.startswith("Signature expired")
            raise IamDenied(exc.message if expired else _INVALID_SIGNATURE) from exc
        try:
            principal = await self._principal_of_access_key(access_key)
        except (AuthenticationRequired, AccessDenied) as exc:
            raise InvalidSecurityToken() from exc
        except ModelyardError as exc:
            raise AuthorizerFailure(f"the access key could not be looked up: {exc}") from exc
        account = facts.method_arn.split(":")[4] if facts.method_arn.count(":") >= 5 else ""
        return Authorized(
            kind=AuthorizationType.AWS_IAM,
            identity={
                "accessKey": access_key,
                "accountId": account,
                "caller": principal.sub,
                "user": principal.sub,
                "userArn": f"arn:aws:iam::{account}:user/{principal.username}",
            },
        )

    # -- CUSTOM (Lambda authorizers) ------------------------------------------------------

    async def _lambda(self, authorizer: Authorizer, facts: RequestFacts) -> Authorized:
        if authorizer.type is AuthorizerType.TOKEN:
            source = authorizer.identity_source or DEFAULT_IDENTITY_SOURCE
            token = _header_source(source, facts)
            if not token:
                raise Unauthorized()
            expression = authorizer.identity_validation_expression
            if expression and not _validation(expression).fullmatch(token):
                raise Unauthorized()
            identity: tuple[str, ...] = (token,)
            event: dict[str, Any] = {
                "type": "TOKEN",
                "authorizationToken": token,
                "methodArn": facts.method_arn,
            }
        else:
            sources = [s.strip() for s in (authorizer.identity_source or "").split(",")]
            identity = tuple(_source_value(source, facts) for source in sources if source)
            if not all(identity):
                raise Unauthorized()
            event = _request_event(facts)
        ttl = authorizer.authorizer_result_ttl_in_seconds
        ttl = DEFAULT_TTL_S if ttl is None else ttl
        # A REQUEST authorizer without identity sources has nothing to key its answers by:
        # every caller would share the first one's (API Gateway requires sources to cache).
        key = (facts.api_id, facts.stage, authorizer.id, *identity) if ttl and identity else None
        answer = self._cached(key)
        if answer is None:
            answer = await self._ask(authorizer, facts, event)
            if key is not None:
                self._keep(key, answer, ttl)
        return answer.authorize(facts.method_arn)

    async def _ask(
        self, authorizer: Authorizer, facts: RequestFacts, event: dict[str, Any]
    ) -> _Answer:
        function = _function_of(authorizer, facts)
        try:
            result = await self._invoke_function(function, event)
        except Exception as exc:
            # The one error a function may raise to mean 401 (API Gateway's contract).
            if getattr(exc, "message", str(exc)) == "Unauthorized":
                raise Unauthorized() from exc
            raise AuthorizerConfigurationError(
                f"authorizer function {function} failed: {exc}"
            ) from exc
        return _answer(result)

    def _cached(self, key: tuple[str, ...] | None) -> _Answer | None:
        if key is None:
            return None
        kept = self._answers.get(key)
        if kept is None:
            return None
        expires, answer = kept
        if self._clock() >= expires:
            del self._answers[key]
            return None
        return answer

    def _keep(self, key: tuple[str, ...], answer: _Answer, ttl: float) -> None:
        now = self._clock()
        if len(self._answers) >= _MAX_CACHED:
            for old in [k for k, (expires, _) in self._answers.items() if expires <= now]:
                del self._answers[old]
            while len(self._answers) >= _MAX_CACHED:
                del self._answers[next(iter(self._answers))]
        self._answers[key] = (now + ttl, answer)


# -- helpers ------------------------------------------------------------------------------


def _header_source(source: str, facts: RequestFacts) -> str | None:
    """The header a TOKEN or user pool authorizer's identity source names, in the request."""
    prefix = "method.request.header."
    if not source.startswith(prefix):
        raise AuthorizerConfigurationError(f"identity source {source!r} is not a header")
    return facts.header(source.removeprefix(prefix))


def _source_value(source: str, facts: RequestFacts) -> str:
    """A REQUEST authorizer's identity source's value; "" when the request lacks it."""
    value: Any
    if name := _after(source, "method.request.header.", "method.request.multivalueheader."):
        value = facts.header(name)
    elif name := _after(
        source, "method.request.querystring.", "method.request.multivaluequerystring."
    ):
        value = facts.query.get(name)
    elif name := _after(source, "method.request.path."):
        value = facts.path_parameters.get(name)
    elif name := _after(source, "stageVariables."):
        value = facts.stage_variables.get(name)
    elif name := _after(source, "context."):
        value = facts.context
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    else:
        raise AuthorizerConfigurationError(f"identity source {source!r} is not supported")
    return "" if value is None else str(value)


def _after(source: str, *prefixes: str) -> str:
    """What follows the first of ``prefixes`` ``source`` starts with; "" if none."""
    for prefix in prefixes:
        if source.startswith(prefix):
            return source.removeprefix(prefix)
    return ""


def _request_event(facts: RequestFacts) -> dict[str, Any]:
    """The REQUEST authorizer's event, shaped as the Lambda proxy integration's."""
    headers = dict(facts.headers)
    multi_headers = facts.multi_value_headers or {k: [v] for k, v in headers.items()}
    multi_query = facts.multi_value_query or {k: [v] for k, v in facts.query.items()}
    return {
        "type": "REQUEST",
        "methodArn": facts.method_arn,
        "resource": facts.resource_path,
        "path": facts.path,
        "httpMethod": facts.http_method,
        "headers": headers,
        "multiValueHeaders": {k: list(v) for k, v in multi_headers.items()},
        # API Gateway sends null, not {}, for what the request does not have.
        "queryStringParameters": dict(facts.query) or None,
        "multiValueQueryStringParameters": {k: list(v) for k, v in multi_query.items()} or None,
        "pathParameters": dict(facts.path_parameters) or None,
        "stageVariables": dict(facts.stage_variables) or None,
        "requestContext": {
            "resourcePath": facts.resource_path,
            "httpMethod": facts.http_method,
            "path": facts.path,
            "stage": facts.stage,
            "apiId": facts.api_id,
            **facts.context,
        },
    }


def _function_of(authorizer: Authorizer, facts: RequestFacts) -> str:
    """The function an ``authorizerUri`` names: the ARN inside
    ``arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations``,
    or the URI itself when it is a bare name or ARN; stage variables substituted."""
    uri = _with_stage_variables(authorizer.authorizer_uri or "", facts)
    if not uri:
        raise AuthorizerConfigurationError(f"authorizer {authorizer.id} has no function")
    _, found, rest = uri.partition(":path/")
    if found:
        _, functions, target = rest.partition("/functions/")
        if not functions or not target.endswith("/invocations"):
            raise AuthorizerConfigurationError(f"authorizer URI {uri!r} names no function")
        return target.removesuffix("/invocations")
    return uri


def _with_stage_variables(text: str, facts: RequestFacts) -> str:
    return _STAGE_VARIABLE.sub(lambda m: facts.stage_variables.get(m[1], ""), text)


@functools.lru_cache(maxsize=256)
def _validation(expression: str) -> re.Pattern[str]:
    try:
        return re.compile(expression)
    except re.error as exc:
        raise AuthorizerConfigurationError(
            f"identityValidationExpression {expression!r} is not a regular expression"
        ) from exc


def _claims(token: str) -> dict[str, Any]:
    """The claims of a token the verifier accepted (so its signature needs no second look)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = orjson.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _claim_text(name: str, value: Any) -> str:
    """A claim as API Gateway passes it on: a string (dates as Java prints them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in _DATE_CLAIMS and isinstance(value, int | float):
        try:
            when = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return str(value)  # no date a calendar has; the number, then
        # Spelt out rather than strftime's %a/%b, which follow the process's locale.
        return (
            f"{_DAYS[when.weekday()]} {_MONTHS[when.month - 1]} {when:%d %H:%M:%S} UTC {when.year}"
        )
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)
