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

The step is spread over modules, one concept each: :mod:`~modelyard.gateway.authorization`
(what the step is shown and answers, and the callables it is handed),
:mod:`~modelyard.gateway.authorizer_errors` (its errors, each naming the gateway response
the runtime answers it with), :mod:`~modelyard.gateway.authorizer_inputs` (identity
sources, the REQUEST event, the authorizer's function), :mod:`~modelyard.gateway.policies`
(a Lambda authorizer's answer and its IAM policy) and :mod:`~modelyard.gateway.token_claims`
(a user pool token's claims as the backend sees them). This module holds the step itself,
and every public name of the step can be imported from here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Final

from modelyard.aws.sigv4 import IncompleteSignature, MissingSignature, UnknownAccessKey
from modelyard.errors import AccessDenied, AuthenticationRequired, ModelyardError
from modelyard.gateway.authorization import (
    AccessKeyLookup,
    Authorized,
    FunctionInvoker,
    PrincipalLike,
    RequestFacts,
    SignatureVerifier,
    TokenVerifier,
    api_key_of,
    method_arn,
    signature_verifier,
)
from modelyard.gateway.authorizer_errors import (
    AccessDeniedByPolicy,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    IamDenied,
    InvalidSecurityToken,
    MissingAuthenticationToken,
    Unauthorized,
)
from modelyard.gateway.authorizer_inputs import (
    function_of,
    header_source,
    request_event,
    source_value,
    validation_pattern,
    with_stage_variables,
)
from modelyard.gateway.definitions import AuthorizationType, Authorizer, AuthorizerType, Method
from modelyard.gateway.policies import AuthorizerAnswer, parse_answer
from modelyard.gateway.token_claims import claim_text, claims_of

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
_BEARER: Final = re.compile(r"bearer(?:\s+|$)", re.IGNORECASE)


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
        self._answers: dict[tuple[str, ...], tuple[float, AuthorizerAnswer]] = {}

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
        arns = [with_stage_variables(arn, facts) for arn in authorizer.provider_arns or []]
        pools = {arn.rpartition("/")[2] for arn in arns if arn.rpartition("/")[2]}
        if not pools:
            raise AuthorizerConfigurationError("the user pool authorizer names no user pool")
        source = authorizer.identity_source or DEFAULT_IDENTITY_SOURCE
        value = (header_source(source, facts) or "").strip()
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
        claims = claims_of(token)
        scopes = method.authorization_scopes
        if scopes:
            granted = str(claims.get("scope", "")).split()
            if claims.get("token_use") != "access" or not set(scopes) & set(granted):
                raise Unauthorized()
        elif claims.get("token_use") != "id":
            raise Unauthorized()
        return Authorized(
            claims={name: claim_text(name, v) for name, v in claims.items()},
            kind=AuthorizationType.COGNITO_USER_POOLS,
            groups=tuple(principal.groups),
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
            raise IamDenied(exc.message if expired else None) from exc
        try:
            principal = await self._principal_of_access_key(access_key)
        except (AuthenticationRequired, AccessDenied) as exc:
            raise InvalidSecurityToken() from exc
        except ModelyardError as exc:
            raise AuthorizerFailure(f"the access key could not be looked up: {exc}") from exc
        account = facts.method_arn.split(":")[4] if facts.method_arn.count(":") >= 5 else ""
        return Authorized(
            kind=AuthorizationType.AWS_IAM,
            groups=tuple(principal.groups),
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
            token = header_source(source, facts)
            if not token:
                raise Unauthorized()
            expression = authorizer.identity_validation_expression
            if expression and not validation_pattern(expression).fullmatch(token):
                raise Unauthorized()
            identity: tuple[str, ...] = (token,)
            event: dict[str, Any] = {
                "type": "TOKEN",
                "authorizationToken": token,
                "methodArn": facts.method_arn,
            }
        else:
            sources = [s.strip() for s in (authorizer.identity_source or "").split(",")]
            identity = tuple(source_value(source, facts) for source in sources if source)
            if not all(identity):
                raise Unauthorized()
            event = request_event(facts)
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
    ) -> AuthorizerAnswer:
        function = function_of(authorizer, facts)
        try:
            result = await self._invoke_function(function, event)
        except Exception as exc:
            # The one error a function may raise to mean 401 (API Gateway's contract).
            if getattr(exc, "message", str(exc)) == "Unauthorized":
                raise Unauthorized() from exc
            raise AuthorizerConfigurationError(
                f"authorizer function {function} failed: {exc}"
            ) from exc
        return parse_answer(result)

    def _cached(self, key: tuple[str, ...] | None) -> AuthorizerAnswer | None:
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

    def _keep(self, key: tuple[str, ...], answer: AuthorizerAnswer, ttl: float) -> None:
        now = self._clock()
        if len(self._answers) >= _MAX_CACHED:
            for old in [k for k, (expires, _) in self._answers.items() if expires <= now]:
                del self._answers[old]
            while len(self._answers) >= _MAX_CACHED:
                del self._answers[next(iter(self._answers))]
        self._answers[key] = (now + ttl, answer)
