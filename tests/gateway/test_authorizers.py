"""The authorization step: user pools, SigV4, Lambda authorizers and their cache, API keys.

Everything runs in process against fakes of what the platform hands the step: a token
verifier that checks a made-up signature and the expiry, the real SigV4 verifier over a
table of secrets (requests signed by botocore), and a function that answers as told.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.errors import (
    AccessDenied,
    AuthenticationRequired,
    DatabaseError,
    ModelyardError,
)
from modelyard.functions.errors import FunctionFailed, FunctionNotFound
from modelyard.gateway.authorizers import (
    AccessDeniedByPolicy,
    Authorized,
    AuthorizerConfigurationError,
    AuthorizerFailure,
    Authorizers,
    IamDenied,
    InvalidSecurityToken,
    MissingAuthenticationToken,
    RequestFacts,
    Unauthorized,
    api_key_of,
    method_arn,
    signature_verifier,
)
from modelyard.gateway.definitions import (
    ApiKeySource,
    AuthorizationType,
    Authorizer,
    AuthorizerType,
    Method,
)
from modelyard.gateway.responses import ResponseType
from modelyard.identity.errors import NotAuthorized
from modelyard.identity.service import Principal

REGION = "us-east-1"
ACCOUNT = "123456789012"
API = "a1b2c3d4e5"
STAGE = "prod"
POOL = "us-east-1_Pool1"
OTHER_POOL = "us-east-1_Other"
POOL_ARN = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{POOL}"
ARN_PREFIX = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API}"
#: The wall clock tokens are checked against (their ``exp`` is epoch seconds).
NOW = 1_800_000_000
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:authorize"
FUNCTION_URI = (
    f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FUNCTION_ARN}/invocations"
)
SECRETS = {"AKIDEXAMPLE": "s3cr3t", "AKIDINACTIVE": "0ld"}
HOST = "gw.example.test"


def run(awaitable: Any) -> Any:
    return asyncio.run(awaitable)


# -- fakes --------------------------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _b64(document: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def token(claims: Mapping[str, Any], *, signature: str = "signed") -> str:
    """A JWT-shaped token whose 'signature' the fake verifier checks by its text."""
    return f"{_b64({'kid': 'k1', 'alg': 'RS256'})}.{_b64(claims)}.{signature}"


def id_claims(pool: str = POOL, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "5f1c2a9e-0000-4000-8000-000000000001",
        "cognito:groups": ["admin", "user"],
        "email": "ada@example.test",
        "email_verified": True,
        "cognito:username": "ada",
        "aud": "client1",
        "token_use": "id",
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{pool}",
        "auth_time": NOW - 1000,
        "iat": NOW - 1000,
        "exp": NOW + 3600,
    }
    return claims | changes


def access_claims(scope: str, **changes: Any) -> dict[str, Any]:
    claims = id_claims(**changes)
    for name in ("cognito:username", "aud", "email", "email_verified"):
        del claims[name]
    return claims | {"token_use": "access", "scope": scope, "username": "ada", "client_id": "c1"}


ID_TOKEN = token(id_claims())
ACCESS_TOKEN = token(access_claims("aws.cognito.signin.user.admin pets/read"))


class FakeTokens:
    """``principal_of_token``: the signature must read 'signed', the token be unexpired.

    ``broken`` makes it fail as a database outage would.
    """

    def __init__(self) -> None:
        self.broken = False
        self.calls: list[str] = []

    async def __call__(self, value: str) -> Principal:
        self.calls.append(value)
        if self.broken:
            raise DatabaseError("database is locked")
        parts = value.split(".")
        if len(parts) != 3:
            raise NotAuthorized("Invalid token: Malformed token")
        if parts[2] != "signed":
            raise NotAuthorized("Invalid token: Invalid signature")
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if claims["exp"] <= NOW:
            raise NotAuthorized("Invalid token: Token has expired")
        return Principal(
            pool_id=claims["iss"].rpartition("/")[2],
            username=claims.get("cognito:username") or claims["username"],
            sub=claims["sub"],
            groups=tuple(claims.get("cognito:groups", ())),
            scopes=tuple(claims.get("scope", "").split()),
        )


class FakeKeys:
    """``principal_of_access_key``: AKIDINACTIVE signs fine but is no longer active."""

    async def __call__(self, access_key_id: str) -> Principal:
        if access_key_id != "AKIDEXAMPLE":
            raise NotAuthorized("The security token included in the request is invalid.")
        return Principal(pool_id=POOL, username="ada", sub="sub-ada", groups=("admin",))


class FakeFunction:
    """``invoke_function``: answers with ``answer(event)``, or raises ``error``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer: Callable[[dict[str, Any]], Any] = lambda event: policy("Allow", "*")
        self.error: Exception | None = None

    async def __call__(self, function: str, event: dict[str, Any]) -> Any:
        self.calls.append((function, event))
        if self.error is not None:
            raise self.error
        return self.answer(event)


class Setup:
    """The step and its fakes."""

    def __init__(self, *, sigv4_clock: Callable[[], float] | None = None) -> None:
        self.clock = FakeClock()
        self.tokens = FakeTokens()
        self.function = FakeFunction()
        verifier = (
            SigV4Verifier(SECRETS.get, clock=sigv4_clock)
            if sigv4_clock
            else SigV4Verifier(SECRETS.get)
        )
        self.authorizers = Authorizers(
            principal_of_token=self.tokens,
            verify_sigv4=signature_verifier(verifier),
            principal_of_access_key=FakeKeys(),
            invoke_function=self.function,
            clock=self.clock,
        )

    def authorize(
        self, method: Method, authorizer: Authorizer | None, facts: RequestFacts
    ) -> Authorized:
        result: Authorized = run(self.authorizers.authorize(method, authorizer, facts))
        return result


@pytest.fixture
def setup() -> Setup:
    return Setup()


def facts(
    *,
    http_method: str = "GET",
    path: str = "/pets/7",
    resource_path: str = "/pets/{petId}",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    stage_variables: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
    stage: str = STAGE,
    body: bytes = b"",
) -> RequestFacts:
    return RequestFacts(
        api_id=API,
        stage=stage,
        http_method=http_method,
        resource_path=resource_path,
        path=path,
        headers=dict(headers or {}),
        query=dict(query or {}),
        path_parameters={"petId": path.rpartition("/")[2]},
        stage_variables=dict(stage_variables or {}),
        context=dict(context or {"requestId": "req-1"}),
        method_arn=method_arn(
            region=REGION,
            account_id=ACCOUNT,
            api_id=API,
            stage=stage,
            http_method=http_method,
            path=path,
        ),
        host=HOST,
        raw_path=path,
        body=body,
    )


def method(kind: AuthorizationType, *, scopes: list[str] | None = None) -> Method:
    return Method(
        http_method="GET",
        authorization_type=kind,
        authorizer_id="au1",
        authorization_scopes=scopes,
    )


# -- NONE ---------------------------------------------------------------------------------


def test_none_lets_anyone_through(setup: Setup) -> None:
    authorized = setup.authorize(method(AuthorizationType.NONE), None, facts())
    assert authorized == Authorized()
    assert authorized.authorizer_context() == {}
    assert setup.function.calls == [] and setup.tokens.calls == []


# -- COGNITO_USER_POOLS -------------------------------------------------------------------

USER_POOLS = Authorizer(
    id="au1",
    name="pool",
    type=AuthorizerType.COGNITO_USER_POOLS,
    provider_arns=[POOL_ARN],
    identity_source="method.request.header.Authorization",
)


@pytest.mark.parametrize(
    ("header", "scopes", "outcome"),
    [
        pytest.param(ID_TOKEN, None, None, id="id token, bare"),
        pytest.param(f"Bearer {ID_TOKEN}", None, None, id="id token, Bearer"),
        pytest.param(f"bearer   {ID_TOKEN}", None, None, id="id token, bearer in lower case"),
        pytest.param(None, None, Unauthorized, id="no header"),
        pytest.param("", None, Unauthorized, id="empty header"),
        pytest.param("Bearer ", None, Unauthorized, id="Bearer and nothing"),
        pytest.param("not-a-token", None, Unauthorized, id="not a JWT"),
        pytest.param(token(id_claims(), signature="forged"), None, Unauthorized, id="forged"),
        pytest.param(token(id_claims(exp=NOW - 1)), None, Unauthorized, id="expired"),
        pytest.param(token(id_claims(OTHER_POOL)), None, Unauthorized, id="another pool's"),
        # Without scopes on the method API Gateway wants the ID token ...
        pytest.param(ACCESS_TOKEN, None, Unauthorized, id="access token, method without scopes"),
        pytest.param(ACCESS_TOKEN, [], Unauthorized, id="access token, empty scopes"),
        # ... with them, an access token holding one of them.
        pytest.param(ACCESS_TOKEN, ["pets/read"], None, id="access token with the scope"),
        pytest.param(ACCESS_TOKEN, ["pets/write", "pets/read"], None, id="one of the scopes"),
        pytest.param(ACCESS_TOKEN, ["pets/write"], Unauthorized, id="wrong scope"),
        pytest.param(ID_TOKEN, ["pets/read"], Unauthorized, id="id token, method with scopes"),
        pytest.param(
            token(access_claims("pets/read", exp=NOW - 5)),
            ["pets/read"],
            Unauthorized,
            id="expired access token",
        ),
    ],
)
def test_user_pool_tokens(
    setup: Setup, header: str | None, scopes: list[str] | None, outcome: type[Exception] | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    request = facts(headers=headers)
    chosen = method(AuthorizationType.COGNITO_USER_POOLS, scopes=scopes)
    if outcome is None:
        authorized = setup.authorize(chosen, USER_POOLS, request)
        assert authorized.kind is AuthorizationType.COGNITO_USER_POOLS
        assert authorized.claims["sub"] == "5f1c2a9e-0000-4000-8000-000000000001"
    else:
        with pytest.raises(outcome) as raised:
            setup.authorize(chosen, USER_POOLS, request)
        assert raised.value.message == "Unauthorized"
    # Without a token the identity service is never asked.
    assert bool(setup.tokens.calls) == bool((header or "").removeprefix("Bearer ").strip())


def test_claims_are_strings_as_api_gateway_passes_them(setup: Setup) -> None:
    authorized = setup.authorize(
        method(AuthorizationType.COGNITO_USER_POOLS),
        USER_POOLS,
        facts(headers={"authorization": ID_TOKEN}),
    )
    assert dict(authorized.claims) == {
        "sub": "5f1c2a9e-0000-4000-8000-000000000001",
        "cognito:groups": "admin,user",
        "email": "ada@example.test",
        "email_verified": "true",
        "cognito:username": "ada",
        "aud": "client1",
        "token_use": "id",
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}",
        "auth_time": str(NOW - 1000),
        "iat": "Fri Jan 15 07:43:20 UTC 2027",
        "exp": "Fri Jan 15 09:00:00 UTC 2027",
    }
    assert authorized.authorizer_context() == {"claims": dict(authorized.claims)}
    assert authorized.principal_id is None and authorized.usage_identifier_key is None


def test_claims_of_odd_values(setup: Setup) -> None:
    odd = token(id_claims(exp=10**18, iat=1.0e9, nested={"a": 1}, ratio=2.0))
    authorized = setup.authorize(
        method(AuthorizationType.COGNITO_USER_POOLS),
        USER_POOLS,
        facts(headers={"Authorization": odd}),
    )
    assert authorized.claims["exp"] == str(10**18)
    assert authorized.claims["iat"] == "Sun Sep 09 01:46:40 UTC 2001"
    assert authorized.claims["nested"] == '{"a":1}'
    assert authorized.claims["ratio"] == "2"


def test_groups_are_not_checked_by_the_authorizer(setup: Setup) -> None:
    # API Gateway's user pool authorizer knows nothing of groups: a user in none of the
    # groups the backend cares about is let through, the groups go to the backend.
    outsider = token(id_claims(**{"cognito:groups": ["guests"]}))
    loner = token({k: v for k, v in id_claims().items() if k != "cognito:groups"})
    for value, groups in ((outsider, "guests"), (loner, None)):
        authorized = setup.authorize(
            method(AuthorizationType.COGNITO_USER_POOLS),
            USER_POOLS,
            facts(headers={"Authorization": value}),
        )
        assert authorized.claims.get("cognito:groups") == groups


def test_user_pool_token_from_another_header_and_a_staged_pool(setup: Setup) -> None:
    authorizer = USER_POOLS.model_copy(
        update={
            "identity_source": "method.request.header.X-Id-Token",
            "provider_arns": [
                f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/${{stageVariables.pool}}"
            ],
        }
    )
    chosen = method(AuthorizationType.COGNITO_USER_POOLS)
    staged = {"pool": POOL}
    with pytest.raises(Unauthorized):  # the token in Authorization is not looked at
        setup.authorize(
            chosen, authorizer, facts(headers={"Authorization": ID_TOKEN}, stage_variables=staged)
        )
    with pytest.raises(AuthorizerConfigurationError):  # a stage without the variable
        setup.authorize(chosen, authorizer, facts(headers={"x-id-token": ID_TOKEN}))
    with pytest.raises(Unauthorized):  # the stage's pool is another
        setup.authorize(
            chosen,
            authorizer,
            facts(headers={"x-id-token": ID_TOKEN}, stage_variables={"pool": OTHER_POOL}),
        )
    authorized = setup.authorize(
        chosen,
        authorizer,
        facts(headers={"x-id-token": ID_TOKEN}, stage_variables={"pool": POOL}),
    )
    assert authorized.claims["cognito:username"] == "ada"


def test_user_pool_verifier_outage_is_an_authorizer_failure(setup: Setup) -> None:
    setup.tokens.broken = True
    with pytest.raises(AuthorizerFailure) as raised:
        setup.authorize(
            method(AuthorizationType.COGNITO_USER_POOLS),
            USER_POOLS,
            facts(headers={"Authorization": ID_TOKEN}),
        )
    assert raised.value.response_type == ResponseType.AUTHORIZER_FAILURE
    assert raised.value.public_message is None
    assert isinstance(raised.value.__cause__, DatabaseError)


@pytest.mark.parametrize(
    "authorizer",
    [
        pytest.param(None, id="no authorizer"),
        pytest.param(USER_POOLS.model_copy(update={"provider_arns": None}), id="no pools"),
        pytest.param(
            USER_POOLS.model_copy(update={"identity_source": "method.request.querystring.t"}),
            id="token not in a header",
        ),
        pytest.param(
            Authorizer(id="au1", name="fn", type=AuthorizerType.TOKEN, authorizer_uri="f"),
            id="a Lambda authorizer",
        ),
    ],
)
def test_user_pool_misconfigurations(setup: Setup, authorizer: Authorizer | None) -> None:
    with pytest.raises(AuthorizerConfigurationError) as raised:
        setup.authorize(
            method(AuthorizationType.COGNITO_USER_POOLS),
            authorizer,
            facts(headers={"Authorization": ID_TOKEN}),
        )
    assert raised.value.response_type == ResponseType.AUTHORIZER_CONFIGURATION_ERROR


# -- AWS_IAM ------------------------------------------------------------------------------


def signed(
    *,
    key: str = "AKIDEXAMPLE",
    secret: str | None = None,
    service: str = "execute-api",
    http_method: str = "GET",
    path: str = "/pets/7",
    body: bytes = b"",
) -> dict[str, str]:
    """The headers botocore sends for a signed request."""
    request = AWSRequest(method=http_method, url=f"https://{HOST}{path}", data=body)
    credentials = Credentials(key, secret if secret is not None else SECRETS.get(key, "x"))
    SigV4Auth(credentials, service, REGION).add_auth(request)
    return dict(request.headers.items())


def test_a_signed_request_names_its_caller(setup: Setup) -> None:
    authorized = setup.authorize(
        method(AuthorizationType.AWS_IAM), None, facts(headers=signed(body=b"{}"), body=b"{}")
    )
    assert authorized.kind is AuthorizationType.AWS_IAM
    assert dict(authorized.identity) == {
        "accessKey": "AKIDEXAMPLE",
        "accountId": ACCOUNT,
        "caller": "sub-ada",
        "user": "sub-ada",
        "userArn": f"arn:aws:iam::{ACCOUNT}:user/ada",
    }
    assert authorized.claims == {} and authorized.authorizer_context() == {}


@pytest.mark.parametrize(
    ("headers", "changes", "outcome", "message"),
    [
        pytest.param({}, {}, MissingAuthenticationToken, "Missing Authentication Token", id="none"),
        pytest.param(
            {"Authorization": f"Bearer {ID_TOKEN}"},
            {},
            MissingAuthenticationToken,
            "Missing Authentication Token",
            id="a bearer token",
        ),
        pytest.param(
            signed(secret="wrong"),
            {},
            IamDenied,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details.",
            id="wrong secret",
        ),
        pytest.param(
            signed(),
            {"body": b"tampered"},
            IamDenied,
            ResponseType.INVALID_SIGNATURE.default_message,
            id="body changed after signing",
        ),
        pytest.param(
            signed(),
            {"http_method": "DELETE"},
            IamDenied,
            ResponseType.INVALID_SIGNATURE.default_message,
            id="method changed after signing",
        ),
        pytest.param(
            signed(service="sagemaker"),
            {},
            IamDenied,
            "Credential should be scoped to correct service: 'execute-api'. ",
            id="signed for another service",
        ),
        pytest.param(
            {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE", "X-Amz-Date": "x"},
            {},
            IamDenied,
            "Authorization header requires Credential, SignedHeaders and Signature",
            id="incomplete",
        ),
        pytest.param(
            signed(key="AKIDNOBODY"),
            {},
            InvalidSecurityToken,
            "The security token included in the request is invalid.",
            id="unknown key",
        ),
        pytest.param(
            signed(key="AKIDINACTIVE"),
            {},
            InvalidSecurityToken,
            "The security token included in the request is invalid.",
            id="inactive key",
        ),
    ],
)
def test_iam_refusals(
    setup: Setup,
    headers: dict[str, str],
    changes: dict[str, Any],
    outcome: type[ModelyardError],
    message: str,
) -> None:
    request = facts(headers=headers, **changes)
    with pytest.raises(outcome) as raised:
        setup.authorize(method(AuthorizationType.AWS_IAM), None, request)
    assert type(raised.value) is outcome
    assert raised.value.message == message
    assert isinstance(raised.value, AccessDenied)


def test_iam_refusal_response_types(setup: Setup) -> None:
    cases = [
        ({}, ResponseType.MISSING_AUTHENTICATION_TOKEN),
        (signed(secret="wrong"), ResponseType.INVALID_SIGNATURE),
        (signed(key="AKIDNOBODY"), ResponseType.ACCESS_DENIED),
    ]
    for headers, response_type in cases:
        with pytest.raises(AccessDenied) as raised:
            setup.authorize(method(AuthorizationType.AWS_IAM), None, facts(headers=headers))
        assert getattr(raised.value, "response_type", None) == response_type


def test_an_old_signature_is_refused_in_its_own_words() -> None:
    late = Setup(sigv4_clock=lambda: time.time() + 3600)
    with pytest.raises(IamDenied) as raised:
        late.authorize(method(AuthorizationType.AWS_IAM), None, facts(headers=signed()))
    assert raised.value.message.startswith("Signature expired")


# -- CUSTOM: TOKEN ------------------------------------------------------------------------

TOKEN_AUTHORIZER = Authorizer(
    id="au1",
    name="token",
    type=AuthorizerType.TOKEN,
    authorizer_uri=FUNCTION_URI,
    identity_source="method.request.header.Authorization",
)
CUSTOM = method(AuthorizationType.CUSTOM)


def policy(
    effect: str | list[str],
    resource: Any,
    *,
    action: str | list[str] = "execute-api:Invoke",
    **extra: Any,
) -> dict[str, Any]:
    """An authorizer's answer: one statement, or one per effect when effects are listed
    (``resource`` then lists one resource per statement)."""
    if isinstance(effect, list):
        pairs = list(zip(effect, resource, strict=True))
    else:
        pairs = [(effect, resource)]
    return {
        "principalId": "user-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": action, "Effect": e, "Resource": r} for e, r in pairs],
        },
        **extra,
    }


def test_token_authorizer_event_and_answer(setup: Setup) -> None:
    setup.function.answer = lambda event: policy(
        "Allow",
        event["methodArn"],
        context={"tenant": "t-1", "tier": 2, "admin": False},
        usageIdentifierKey="key-123",
    )
    authorized = setup.authorize(
        CUSTOM, TOKEN_AUTHORIZER, facts(headers={"authorization": "Bearer abc.def"})
    )
    assert setup.function.calls == [
        (
            FUNCTION_ARN,
            {
                "type": "TOKEN",
                "authorizationToken": "Bearer abc.def",
                "methodArn": f"{ARN_PREFIX}/{STAGE}/GET/pets/7",
            },
        )
    ]
    assert authorized == Authorized(
        principal_id="user-1",
        claims={"tenant": "t-1", "tier": 2, "admin": False},
        usage_identifier_key="key-123",
        kind=AuthorizationType.CUSTOM,
    )
    assert authorized.authorizer_context() == {
        "principalId": "user-1",
        "tenant": "t-1",
        "tier": 2,
        "admin": False,
    }


@pytest.mark.parametrize(
    ("headers", "expression", "called"),
    [
        pytest.param({}, None, False, id="no header"),
        pytest.param({"Authorization": ""}, None, False, id="empty header"),
        pytest.param({"Other": "x"}, None, False, id="another header"),
        pytest.param({"Authorization": "Bearer ok-1"}, r"^Bearer [-0-9a-zA-Z._]*$", True, id="ok"),
        pytest.param({"Authorization": "Basic b2s="}, r"^Bearer [-0-9a-zA-Z._]*$", False, id="no"),
        # The expression must match the whole token, as Java's matches() does.
        pytest.param({"Authorization": "xx-ok-xx"}, r"ok", False, id="partial match"),
        pytest.param({"Authorization": "ok"}, r"ok", True, id="whole match"),
    ],
)
def test_token_identity_and_validation_expression(
    setup: Setup, headers: dict[str, str], expression: str | None, called: bool
) -> None:
    authorizer = TOKEN_AUTHORIZER.model_copy(update={"identity_validation_expression": expression})
    if called:
        assert setup.authorize(CUSTOM, authorizer, facts(headers=headers)).principal_id == "user-1"
    else:
        with pytest.raises(Unauthorized):
            setup.authorize(CUSTOM, authorizer, facts(headers=headers))
    assert len(setup.function.calls) == int(called)


ARN = f"{ARN_PREFIX}/{STAGE}/GET/pets/7"


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        pytest.param(policy("Allow", ARN), None, id="allow the method ARN"),
        pytest.param(policy("Allow", "*"), None, id="allow everything"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/*"), None, id="allow the API"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/*/GET/*"), None, id="any stage, GET"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/prod/*/pets/*"), None, id="any method"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/prod/GET/pets/?"), None, id="? is one char"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/prod/GET/pets/??"), "implicit", id="? not 2"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/prod/GET/pets"), "implicit", id="parent"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/prod/POST/*"), "implicit", id="other verb"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/beta/GET/*"), "implicit", id="other stage"),
        pytest.param(policy("Allow", f"{ARN_PREFIX}/prod/get/pets/7"), "implicit", id="case"),
        pytest.param(
            policy("Allow", f"{ARN_PREFIX}/prod/GET/pets/[0-9]"), "implicit", id="[] is literal"
        ),
        pytest.param(
            policy("Allow", f"arn:aws:execute-api:{REGION}:{ACCOUNT}:zzz/*"),
            "implicit",
            id="other API",
        ),
        pytest.param(
            policy("Allow", [f"{ARN_PREFIX}/prod/POST/*", ARN]), None, id="a list of resources"
        ),
        pytest.param(policy("Deny", ARN), "explicit", id="deny the method ARN"),
        pytest.param(policy("Deny", f"{ARN_PREFIX}/prod/POST/*"), "implicit", id="deny other"),
        pytest.param(
            policy(["Allow", "Deny"], ["*", f"{ARN_PREFIX}/*/GET/pets/*"]),
            "explicit",
            id="deny beats allow",
        ),
        pytest.param(
            policy(["Deny", "Allow"], [f"{ARN_PREFIX}/*/DELETE/*", "*"]),
            None,
            id="a deny elsewhere",
        ),
        pytest.param(policy("allow", ARN), None, id="effect in lower case"),
        pytest.param(policy("Allow", ARN, action="execute-api:*"), None, id="action wildcard"),
        pytest.param(policy("Allow", ARN, action="*"), None, id="any action"),
        pytest.param(
            policy("Allow", ARN, action=["s3:GetObject", "execute-api:invoke"]),
            None,
            id="actions are case-insensitive",
        ),
        pytest.param(policy("Allow", ARN, action="s3:GetObject"), "implicit", id="other action"),
        pytest.param(
            policy("Allow", ARN, action="execute-api:ManageConnections"),
            "implicit",
            id="other execute-api action",
        ),
        pytest.param(
            {
                "principalId": "user-1",
                "policyDocument": {
                    "Statement": {
                        "Action": "execute-api:Invoke",
                        "Effect": "Allow",
                        "NotResource": f"{ARN_PREFIX}/*/POST/*",
                    }
                },
            },
            None,
            id="NotResource, single statement object",
        ),
        pytest.param(
            {
                "principalId": "user-1",
                "policyDocument": {
                    "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
                        {"Action": "*", "Effect": "Deny", "NotResource": f"{ARN_PREFIX}/*/POST/*"},
                    ]
                },
            },
            "explicit",
            id="deny everything but POST",
        ),
    ],
)
def test_policy_evaluation(setup: Setup, answer: dict[str, Any], outcome: str | None) -> None:
    setup.function.answer = lambda event: answer
    request = facts(headers={"Authorization": "t"})
    if outcome is None:
        assert setup.authorize(CUSTOM, TOKEN_AUTHORIZER, request).principal_id == "user-1"
        return
    with pytest.raises(AccessDeniedByPolicy) as raised:
        setup.authorize(CUSTOM, TOKEN_AUTHORIZER, request)
    assert raised.value.response_type == ResponseType.ACCESS_DENIED
    assert (
        raised.value.public_message
        == {
            "implicit": "User is not authorized to access this resource",
            "explicit": "User is not authorized to access this resource with an explicit deny",
        }[outcome]
    )


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(None, id="null"),
        pytest.param("Allow", id="a string"),
        pytest.param([policy("Allow", "*")], id="a list"),
        pytest.param({"principalId": "u"}, id="no policyDocument"),
        pytest.param({"policyDocument": "Allow"}, id="policyDocument not an object"),
        pytest.param({"policyDocument": {"Statement": []}}, id="no statements"),
        pytest.param({"policyDocument": {"Version": "2012-10-17"}}, id="no Statement"),
        pytest.param({"policyDocument": {"Statement": ["Allow"]}}, id="statement not an object"),
        pytest.param(policy("Maybe", "*"), id="unknown effect"),
        pytest.param(
            {"policyDocument": {"Statement": [{"Action": "*", "Effect": "Allow"}]}},
            id="no Resource",
        ),
        pytest.param(
            {"policyDocument": {"Statement": [{"Resource": "*", "Effect": "Allow"}]}},
            id="no Action",
        ),
        pytest.param(policy("Allow", [5]), id="resource not a string"),
        pytest.param(policy("Allow", []), id="empty resource list"),
        pytest.param(policy("Allow", "*", context={"user": {"id": 1}}), id="object in context"),
        pytest.param(policy("Allow", "*", context={"roles": ["a"]}), id="array in context"),
        pytest.param(policy("Allow", "*", context="tenant=1"), id="context not an object"),
        pytest.param(policy("Allow", "*", usageIdentifierKey=5), id="key not a string"),
        pytest.param(policy("Allow", "*", principalId={"id": 1}), id="principalId an object"),
    ],
)
def test_an_answer_that_is_not_a_policy_is_a_configuration_error(setup: Setup, answer: Any) -> None:
    setup.function.answer = lambda event: answer
    with pytest.raises(AuthorizerConfigurationError) as raised:
        setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t"}))
    assert raised.value.public_message is None


def test_principal_id_is_optional(setup: Setup) -> None:
    answer = policy("Allow", "*")
    del answer["principalId"]
    setup.function.answer = lambda event: answer
    authorized = setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t"}))
    assert authorized.principal_id is None and authorized.claims == {}


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        pytest.param(FunctionFailed("Exception", "Unauthorized"), Unauthorized, id="Unauthorized"),
        pytest.param(RuntimeError("Unauthorized"), Unauthorized, id="any error, Unauthorized"),
        pytest.param(
            FunctionFailed("Exception", "unauthorized"),
            AuthorizerConfigurationError,
            id="lower case is not the word",
        ),
        pytest.param(
            FunctionFailed("Error", "Unauthorized: token expired"),
            AuthorizerConfigurationError,
            id="more than the word",
        ),
        pytest.param(
            FunctionFailed("Sandbox.Timedout", "Task timed out after 3.00 seconds"),
            AuthorizerConfigurationError,
            id="timed out",
        ),
        pytest.param(FunctionNotFound(), AuthorizerConfigurationError, id="no such function"),
    ],
)
def test_function_failures(setup: Setup, error: Exception, outcome: type[Exception]) -> None:
    setup.function.error = error
    with pytest.raises(outcome) as raised:
        setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t"}))
    assert raised.value.__cause__ is error
    # Neither is remembered: the next request asks again.
    with pytest.raises(outcome):
        setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t"}))
    assert len(setup.function.calls) == 2


@pytest.mark.parametrize(
    ("uri", "variables", "function"),
    [
        pytest.param(FUNCTION_URI, {}, FUNCTION_ARN, id="Lambda invocation URI"),
        pytest.param("authorize", {}, "authorize", id="a bare name"),
        pytest.param(FUNCTION_ARN, {}, FUNCTION_ARN, id="a function ARN"),
        pytest.param(
            f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:${{stageVariables.fn}}/invocations",
            {"fn": "auth-prod"},
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:auth-prod",
            id="a stage variable",
        ),
    ],
)
def test_the_function_an_authorizer_names(
    setup: Setup, uri: str, variables: dict[str, str], function: str
) -> None:
    authorizer = TOKEN_AUTHORIZER.model_copy(update={"authorizer_uri": uri})
    setup.authorize(
        CUSTOM, authorizer, facts(headers={"Authorization": "t"}, stage_variables=variables)
    )
    assert setup.function.calls[0][0] == function


@pytest.mark.parametrize(
    ("authorizer", "chosen"),
    [
        pytest.param(None, CUSTOM, id="no authorizer"),
        pytest.param(USER_POOLS, CUSTOM, id="a user pool authorizer"),
        pytest.param(
            TOKEN_AUTHORIZER.model_copy(update={"authorizer_uri": None}), CUSTOM, id="no URI"
        ),
        pytest.param(
            TOKEN_AUTHORIZER.model_copy(
                update={"authorizer_uri": f"arn:aws:apigateway:{REGION}:lambda:path/nothing"}
            ),
            CUSTOM,
            id="a URI naming no function",
        ),
        pytest.param(
            TOKEN_AUTHORIZER.model_copy(update={"identity_validation_expression": "(["}),
            CUSTOM,
            id="not a regular expression",
        ),
        pytest.param(
            TOKEN_AUTHORIZER.model_copy(update={"identity_source": "method.request.querystring.t"}),
            CUSTOM,
            id="TOKEN source not a header",
        ),
        pytest.param(
            TOKEN_AUTHORIZER, method(AuthorizationType.COGNITO_USER_POOLS), id="pool method"
        ),
    ],
)
def test_lambda_authorizer_misconfigurations(
    setup: Setup, authorizer: Authorizer | None, chosen: Method
) -> None:
    with pytest.raises(AuthorizerConfigurationError):
        setup.authorize(chosen, authorizer, facts(headers={"Authorization": "t"}, query={"t": "1"}))
    assert setup.function.calls == []


# -- CUSTOM: the cache --------------------------------------------------------------------


def test_answers_are_kept_for_the_default_ttl(setup: Setup) -> None:
    request = facts(headers={"Authorization": "t"})
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, request)
    setup.clock.now += 299
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, request)
    assert len(setup.function.calls) == 1
    setup.clock.now += 1  # 300 s: expired
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, request)
    assert len(setup.function.calls) == 2
    setup.clock.now += 10  # kept anew from the second call
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, request)
    assert len(setup.function.calls) == 2


@pytest.mark.parametrize(("ttl", "calls"), [(0, 3), (5, 2), (3600, 1)])
def test_ttl_of_the_authorizer(setup: Setup, ttl: int, calls: int) -> None:
    authorizer = TOKEN_AUTHORIZER.model_copy(update={"authorizer_result_ttl_in_seconds": ttl})
    request = facts(headers={"Authorization": "t"})
    for step in (0, 4, 2):  # at 0, 4 and 6 seconds
        setup.clock.now += step
        setup.authorize(CUSTOM, authorizer, request)
    assert len(setup.function.calls) == calls


def test_answers_are_kept_by_token_stage_and_authorizer(setup: Setup) -> None:
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t1"}))
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t2"}))
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t1"}, stage="b"))
    other = TOKEN_AUTHORIZER.model_copy(update={"id": "au2"})
    setup.authorize(CUSTOM, other, facts(headers={"Authorization": "t1"}))
    setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t2"}))
    assert [event["authorizationToken"] for _, event in setup.function.calls] == [
        "t1",
        "t2",
        "t1",
        "t1",
    ]


def test_a_kept_policy_is_evaluated_against_each_request(setup: Setup) -> None:
    # The first request's answer allows GETs under /pets only; a later POST with the same
    # token is judged by that same answer, without asking the function again.
    setup.function.answer = lambda event: policy(
        ["Allow", "Deny"], [f"{ARN_PREFIX}/prod/GET/pets/*", f"{ARN_PREFIX}/prod/GET/pets/13"]
    )
    headers = {"Authorization": "t"}
    assert setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers=headers)).principal_id
    with pytest.raises(AccessDeniedByPolicy) as implicit:
        setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers=headers, http_method="POST"))
    with pytest.raises(AccessDeniedByPolicy) as explicit:
        setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers=headers, path="/pets/13"))
    assert "explicit" not in implicit.value.message and "explicit" in explicit.value.message
    assert setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers=headers, path="/pets/8"))
    assert len(setup.function.calls) == 1


def test_a_denial_is_kept_too(setup: Setup) -> None:
    setup.function.answer = lambda event: policy("Deny", "*")
    for _ in range(3):
        with pytest.raises(AccessDeniedByPolicy):
            setup.authorize(CUSTOM, TOKEN_AUTHORIZER, facts(headers={"Authorization": "t"}))
    assert len(setup.function.calls) == 1


# -- CUSTOM: REQUEST ----------------------------------------------------------------------

REQUEST_AUTHORIZER = Authorizer(
    id="au9",
    name="request",
    type=AuthorizerType.REQUEST,
    authorizer_uri=FUNCTION_URI,
    identity_source=(
        "method.request.header.x-user, method.request.querystring.tenant,"
        "stageVariables.env,context.identity.sourceIp"
    ),
)


def request_facts(**changes: Any) -> RequestFacts:
    arguments: dict[str, Any] = {
        "headers": {"X-User": "ada", "Accept": "application/json"},
        "query": {"tenant": "t-1"},
        "stage_variables": {"env": "prod"},
        "context": {"requestId": "req-1", "identity": {"sourceIp": "203.0.113.9"}},
    }
    return facts(**(arguments | changes))


def test_request_authorizer_event(setup: Setup) -> None:
    setup.authorize(CUSTOM, REQUEST_AUTHORIZER, request_facts())
    assert setup.function.calls == [
        (
            FUNCTION_ARN,
            {
                "type": "REQUEST",
                "methodArn": f"{ARN_PREFIX}/{STAGE}/GET/pets/7",
                "resource": "/pets/{petId}",
                "path": "/pets/7",
                "httpMethod": "GET",
                "headers": {"X-User": "ada", "Accept": "application/json"},
                "multiValueHeaders": {"X-User": ["ada"], "Accept": ["application/json"]},
                "queryStringParameters": {"tenant": "t-1"},
                "multiValueQueryStringParameters": {"tenant": ["t-1"]},
                "pathParameters": {"petId": "7"},
                "stageVariables": {"env": "prod"},
                "requestContext": {
                    "resourcePath": "/pets/{petId}",
                    "httpMethod": "GET",
                    "path": "/pets/7",
                    "stage": STAGE,
                    "apiId": API,
                    "requestId": "req-1",
                    "identity": {"sourceIp": "203.0.113.9"},
                },
            },
        )
    ]


def test_request_event_sends_null_for_what_the_request_lacks(setup: Setup) -> None:
    authorizer = REQUEST_AUTHORIZER.model_copy(update={"identity_source": None})
    setup.authorize(CUSTOM, authorizer, facts(query={}, stage_variables={}))
    event = setup.function.calls[0][1]
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["stageVariables"] is None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"headers": {"Accept": "*/*"}}, id="no header"),
        pytest.param({"headers": {"X-User": ""}}, id="empty header"),
        pytest.param({"query": {}}, id="no query parameter"),
        pytest.param({"query": {"tenant": ""}}, id="empty query parameter"),
        pytest.param({"stage_variables": {}}, id="no stage variable"),
        pytest.param({"context": {"requestId": "r"}}, id="no context value"),
    ],
)
def test_request_identity_sources_must_all_be_there(setup: Setup, changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        setup.authorize(CUSTOM, REQUEST_AUTHORIZER, request_facts(**changes))
    assert setup.function.calls == []


def test_request_answers_are_kept_by_every_identity_value(setup: Setup) -> None:
    setup.authorize(CUSTOM, REQUEST_AUTHORIZER, request_facts())
    setup.authorize(CUSTOM, REQUEST_AUTHORIZER, request_facts(path="/pets/8"))
    assert len(setup.function.calls) == 1  # same identity, another path: kept
    setup.authorize(CUSTOM, REQUEST_AUTHORIZER, request_facts(query={"tenant": "t-2"}))
    setup.authorize(
        CUSTOM,
        REQUEST_AUTHORIZER,
        request_facts(context={"identity": {"sourceIp": "198.51.100.1"}}),
    )
    assert len(setup.function.calls) == 3


def test_request_authorizer_without_sources_asks_every_time(setup: Setup) -> None:
    # Nothing to key the answers by: one caller's answer must not serve another.
    authorizer = REQUEST_AUTHORIZER.model_copy(update={"identity_source": None})
    for _ in range(2):
        setup.authorize(CUSTOM, authorizer, facts())
    assert len(setup.function.calls) == 2


def test_request_authorizer_with_an_unknown_source(setup: Setup) -> None:
    authorizer = REQUEST_AUTHORIZER.model_copy(update={"identity_source": "method.request.body.x"})
    with pytest.raises(AuthorizerConfigurationError):
        setup.authorize(CUSTOM, authorizer, request_facts())


def test_request_path_source_and_the_answer(setup: Setup) -> None:
    authorizer = REQUEST_AUTHORIZER.model_copy(
        update={"identity_source": "method.request.path.petId"}
    )
    setup.function.answer = lambda event: policy(
        "Allow", event["methodArn"], context={"pet": event["pathParameters"]["petId"]}
    )
    authorized = setup.authorize(CUSTOM, authorizer, facts(path="/pets/42"))
    assert authorized.claims == {"pet": "42"}


# -- errors, API keys, ARNs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "family", "response_type", "public_message"),
    [
        (Unauthorized(), AuthenticationRequired, ResponseType.UNAUTHORIZED, "Unauthorized"),
        (
            AccessDeniedByPolicy(),
            AccessDenied,
            ResponseType.ACCESS_DENIED,
            "User is not authorized to access this resource",
        ),
        (
            MissingAuthenticationToken(),
            AccessDenied,
            ResponseType.MISSING_AUTHENTICATION_TOKEN,
            "Missing Authentication Token",
        ),
        (
            IamDenied(),
            AccessDenied,
            ResponseType.INVALID_SIGNATURE,
            ResponseType.INVALID_SIGNATURE.default_message,
        ),
        (
            InvalidSecurityToken(),
            AccessDenied,
            ResponseType.ACCESS_DENIED,
            "The security token included in the request is invalid.",
        ),
        (AuthorizerFailure("db down"), ModelyardError, ResponseType.AUTHORIZER_FAILURE, None),
        (
            AuthorizerConfigurationError("bad"),
            AuthorizerFailure,
            ResponseType.AUTHORIZER_CONFIGURATION_ERROR,
            None,
        ),
    ],
)
def test_errors_name_their_gateway_response(
    error: Any, family: type[Exception], response_type: ResponseType, public_message: str | None
) -> None:
    assert isinstance(error, family)
    assert error.response_type == response_type
    assert error.public_message == public_message
    assert isinstance(error.message, str) and error.message


def test_default_messages_are_api_gateway_defaults() -> None:
    # What the caller is told by default is what API Gateway says for that response type.
    for error in (
        Unauthorized(),
        AccessDeniedByPolicy(),
        MissingAuthenticationToken(),
        IamDenied(),
    ):
        assert error.public_message == ResponseType(error.response_type).default_message


AUTHORIZED = Authorized(usage_identifier_key="from-authorizer")


@pytest.mark.parametrize(
    ("headers", "source", "authorized", "key"),
    [
        ({"X-API-Key": "k1"}, ApiKeySource.HEADER, AUTHORIZED, "k1"),
        ({"x-api-key": "k1"}, "HEADER", Authorized(), "k1"),
        ({"Accept": "*/*"}, ApiKeySource.HEADER, AUTHORIZED, None),
        ({"X-API-Key": "k1"}, ApiKeySource.AUTHORIZER, AUTHORIZED, "from-authorizer"),
        ({"X-API-Key": "k1"}, "AUTHORIZER", Authorized(), None),
    ],
)
def test_api_key_of(
    headers: dict[str, str], source: str, authorized: Authorized, key: str | None
) -> None:
    assert api_key_of(headers, source, authorized) == key


def test_api_key_of_an_unknown_source() -> None:
    with pytest.raises(ValueError):
        api_key_of({}, "QUERYSTRING", Authorized())


@pytest.mark.parametrize(
    ("http_method", "path", "arn"),
    [
        ("GET", "/", f"{ARN_PREFIX}/prod/GET/"),
        ("post", "/pets", f"{ARN_PREFIX}/prod/POST/pets"),
        ("GET", "/pets/7/toys", f"{ARN_PREFIX}/prod/GET/pets/7/toys"),
    ],
)
def test_method_arn(http_method: str, path: str, arn: str) -> None:
    assert (
        method_arn(
            region=REGION,
            account_id=ACCOUNT,
            api_id=API,
            stage="prod",
            http_method=http_method,
            path=path,
        )
        == arn
    )


def test_request_facts_headers_in_any_case() -> None:
    request = facts(headers={"X-Mixed-Case": "v"})
    assert request.header("x-mixed-case") == "v" and request.header("X-MIXED-CASE") == "v"
    assert request.header("absent") is None
