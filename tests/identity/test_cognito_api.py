"""The Cognito user pool API through boto3's ``cognito-idp`` client against a real
``modelyard up``: the platform's pool and credentials file, users and groups, sign-in
with its challenge, tokens checked against the published keys, sign-out and revocation,
the OAuth 2.0 token route, and errors as botocore parses them."""

from __future__ import annotations

import configparser
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import jwt
import pytest
from botocore import UNSIGNED  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.test_cli import MODELYARD, clean_env, free_port, wait_until_up
from tests.workflows.test_stepfunctions_api import Server

PASSWORD = "Correct-Horse-9"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server.running(tmp_path_factory.mktemp("cognito")) as found:
        yield found


@pytest.fixture(scope="module")
def credentials(server: Server) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(server.home / "credentials")
    return parser["default"]


@pytest.fixture(scope="module")
def idp(server: Server, credentials: configparser.SectionProxy) -> Iterator[Any]:
    client = boto3.client(
        "cognito-idp",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=credentials["aws_access_key_id"],
        aws_secret_access_key=credentials["aws_secret_access_key"],
        config=Config(retries={"total_max_attempts": 1}),
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def pool(idp: Any) -> tuple[str, str]:
    """A pool with a password-sign-in client: (pool id, client id)."""
    pool_id = idp.create_user_pool(PoolName="shop")["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="web",
        ExplicitAuthFlows=[
            "ALLOW_USER_PASSWORD_AUTH",
            "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
        ],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def confirmed_user(idp: Any, pool_id: str, name: str, *groups: str) -> None:
    idp.admin_create_user(
        UserPoolId=pool_id,
        Username=name,
        UserAttributes=[{"Name": "email", "Value": f"{name}@example.com"}],
        MessageAction="SUPPRESS",
    )
    idp.admin_set_user_password(
        UserPoolId=pool_id, Username=name, Password=PASSWORD, Permanent=True
    )
    for group in groups:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=name, GroupName=group)


def sign_in(idp: Any, client_id: str, name: str) -> dict[str, Any]:
    answer = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD},
    )
    return dict(answer["AuthenticationResult"])


def test_the_first_start_writes_the_admin_credentials_once_and_privately(
    server: Server, credentials: configparser.SectionProxy, idp: Any
) -> None:
    path = server.home / "credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials["aws_access_key_id"].startswith("AKIA")
    assert credentials["modelyard_username"] == "admin"
    pool_id = credentials["modelyard_user_pool_id"]
    admin = idp.admin_get_user(UserPoolId=pool_id, Username="admin")
    groups = idp.admin_list_groups_for_user(UserPoolId=pool_id, Username="admin")["Groups"]
    assert admin["UserStatus"] == "CONFIRMED"
    assert [group["GroupName"] for group in groups] == ["admin"]
    log = (server.home / "server.log").read_text()
    assert credentials["aws_secret_access_key"] not in log
    assert credentials["modelyard_password"] not in log


def test_the_admin_signs_in_with_the_password_of_the_file(
    idp: Any, credentials: configparser.SectionProxy
) -> None:
    answer = idp.initiate_auth(
        ClientId=credentials["modelyard_client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={
            "USERNAME": "admin",
            "PASSWORD": credentials["modelyard_password"],
        },
    )

    claims = jwt.decode(
        answer["AuthenticationResult"]["IdToken"], options={"verify_signature": False}
    )
    assert claims["cognito:groups"] == ["admin"]


def test_a_created_user_answers_the_new_password_challenge_then_gets_tokens(
    server: Server, idp: Any, pool: tuple[str, str]
) -> None:
    pool_id, client_id = pool
    idp.create_group(UserPoolId=pool_id, GroupName="analysts", Precedence=3)
    created = idp.admin_create_user(
        UserPoolId=pool_id,
        Username="ada",
        TemporaryPassword="Temporary-Pass1",
        UserAttributes=[{"Name": "email", "Value": "ada@example.com"}],
    )["User"]
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username="ada", GroupName="analysts")

    challenge = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "ada", "PASSWORD": "Temporary-Pass1"},
    )
    answered = idp.respond_to_auth_challenge(
        ClientId=client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "ada", "NEW_PASSWORD": PASSWORD},
    )["AuthenticationResult"]

    assert created["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    jwks = httpx.get(f"{server.url}/{pool_id}/.well-known/jwks.json").json()
    key = jwt.PyJWK(jwks["keys"][0])
    issuer = f"{server.url}/{pool_id}"
    id_claims = jwt.decode(
        answered["IdToken"], key, algorithms=["RS256"], audience=client_id, issuer=issuer
    )
    access = jwt.decode(answered["AccessToken"], key, algorithms=["RS256"], issuer=issuer)
    sub = next(a["Value"] for a in created["Attributes"] if a["Name"] == "sub")
    assert id_claims["sub"] == access["sub"] == sub
    assert id_claims["cognito:username"] == "ada"
    assert id_claims["email"] == "ada@example.com"
    assert id_claims["token_use"] == "id"
    assert id_claims["cognito:groups"] == access["cognito:groups"] == ["analysts"]
    assert access["token_use"] == "access"
    assert access["client_id"] == client_id
    assert access["username"] == "ada"
    assert answered["TokenType"] == "Bearer"
    assert idp.admin_get_user(UserPoolId=pool_id, Username="ada")["UserStatus"] == "CONFIRMED"


def test_refresh_get_user_sign_out_and_revocation(idp: Any, pool: tuple[str, str]) -> None:
    pool_id, client_id = pool
    confirmed_user(idp, pool_id, "bo")
    first = sign_in(idp, client_id, "bo")
    # Another sign-in, whose tokens revoking the first's refresh token leaves alone.
    second = sign_in(idp, client_id, "bo")

    refreshed = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )["AuthenticationResult"]
    me = idp.get_user(AccessToken=refreshed["AccessToken"])
    idp.revoke_token(Token=first["RefreshToken"], ClientId=client_id)
    with pytest.raises(ClientError) as revoked:
        idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
        )
    idp.global_sign_out(AccessToken=second["AccessToken"])
    with pytest.raises(ClientError) as signed_out:
        idp.get_user(AccessToken=second["AccessToken"])

    assert "RefreshToken" not in refreshed
    assert me["Username"] == "bo"
    assert {"Name": "email", "Value": "bo@example.com"} in me["UserAttributes"]
    assert error_code(revoked) == "NotAuthorizedException"
    assert error_code(signed_out) == "NotAuthorizedException"


def test_revoking_a_refresh_token_revokes_the_tokens_of_its_sign_in_only(
    idp: Any, pool: tuple[str, str]
) -> None:
    pool_id, client_id = pool
    confirmed_user(idp, pool_id, "cy")
    first = sign_in(idp, client_id, "cy")
    other = sign_in(idp, client_id, "cy")
    refreshed = idp.initiate_auth(
        ClientId=client_id,
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]},
    )["AuthenticationResult"]
    assert idp.get_user(AccessToken=first["AccessToken"])["Username"] == "cy"

    idp.revoke_token(Token=first["RefreshToken"], ClientId=client_id)

    refused = []
    for token in (first["AccessToken"], refreshed["AccessToken"]):
        with pytest.raises(ClientError) as raised:
            idp.get_user(AccessToken=token)
        refused.append((error_code(raised), raised.value.response["Error"]["Message"]))
    assert refused == [("NotAuthorizedException", "Access Token has been revoked")] * 2
    assert idp.get_user(AccessToken=other["AccessToken"])["Username"] == "cy"


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ("wrong password", "NotAuthorizedException"),
        ("unknown user", "NotAuthorizedException"),
        ("flow not enabled", "InvalidParameterException"),
        ("unknown pool", "ResourceNotFoundException"),
        ("existing user", "UsernameExistsException"),
        ("weak password", "InvalidPasswordException"),
        ("missing user", "UserNotFoundException"),
        ("bad token", "NotAuthorizedException"),
    ],
)
def test_errors_carry_cognito_codes(idp: Any, pool: tuple[str, str], call: str, code: str) -> None:
    pool_id, client_id = pool
    name = f"err-{call.replace(' ', '-')}"
    confirmed_user(idp, pool_id, name)
    calls = {
        "wrong password": lambda: idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": "Wrong-Pass1"},
        ),
        "unknown user": lambda: idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "nobody", "PASSWORD": PASSWORD},
        ),
        "flow not enabled": lambda: idp.initiate_auth(
            ClientId=idp.create_user_pool_client(UserPoolId=pool_id, ClientName="srp-only")[
                "UserPoolClient"
            ]["ClientId"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD},
        ),
        "unknown pool": lambda: idp.describe_user_pool(UserPoolId="us-east-1_nothere"),
        "existing user": lambda: idp.admin_create_user(
            UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS"
        ),
        "weak password": lambda: idp.admin_set_user_password(
            UserPoolId=pool_id, Username=name, Password="short", Permanent=True
        ),
        "missing user": lambda: idp.admin_get_user(UserPoolId=pool_id, Username="nobody"),
        "bad token": lambda: idp.get_user(AccessToken="e30.e30.AAAA"),
    }

    with pytest.raises(ClientError) as raised:
        calls[call]()

    assert error_code(raised) == code


@dataclass
class GuardedServer(Server):
    """A server with a management token: AWS-protocol requests must be signed."""

    def start(self) -> None:
        port = free_port()
        log = (self.home / "server.log").open("ab")
        self.process = subprocess.Popen(
            [MODELYARD, "up", "--home", str(self.home), "--port", str(port)],
            cwd=self.home,
            env=clean_env()
            | {"MODELYARD_SERVING__WORKERS": "1", "MODELYARD_SERVING__MANAGEMENT_TOKEN": "tok"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.url = f"http://127.0.0.1:{port}"
        wait_until_up(self.process, self.url)  # type: ignore[arg-type]


def test_admin_operations_need_a_valid_signature_and_sign_in_does_not(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = GuardedServer(tmp_path_factory.mktemp("guarded"))
    server.start()
    try:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(server.home / "credentials")
        keys = parser["default"]

        def client(key: str | None, secret: str | None) -> Any:
            return boto3.client(
                "cognito-idp",
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                config=Config(
                    retries={"total_max_attempts": 1},
                    **({} if key else {"signature_version": UNSIGNED}),
                ),
            )

        admin = client(keys["aws_access_key_id"], keys["aws_secret_access_key"])
        forged = client(keys["aws_access_key_id"], "not-the-secret")
        anonymous = client(None, None)
        pool_id = keys["modelyard_user_pool_id"]

        described = admin.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        with pytest.raises(ClientError) as bad_signature:
            forged.describe_user_pool(UserPoolId=pool_id)
        with pytest.raises(ClientError) as unsigned_admin:
            anonymous.admin_get_user(UserPoolId=pool_id, Username="admin")
        signed_in = anonymous.initiate_auth(
            ClientId=keys["modelyard_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "admin", "PASSWORD": keys["modelyard_password"]},
        )
    finally:
        server.stop()

    assert described["Name"] == "modelyard"
    assert bad_signature.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert unsigned_admin.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)
    assert "AccessToken" in signed_in["AuthenticationResult"]


def test_list_operations_page(idp: Any, pool: tuple[str, str]) -> None:
    pool_id, _ = pool
    for number in range(3):
        idp.admin_create_user(
            UserPoolId=pool_id, Username=f"page-{number}", MessageAction="SUPPRESS"
        )
    names: list[str] = []
    token = None
    while True:
        page = idp.list_users(
            UserPoolId=pool_id, Limit=2, **({"PaginationToken": token} if token else {})
        )
        names += [user["Username"] for user in page["Users"]]
        token = page.get("PaginationToken")
        if not token:
            break
    pools = idp.list_user_pools(MaxResults=60)["UserPools"]

    assert len(names) == len(set(names))
    assert {"page-0", "page-1", "page-2"} <= set(names)
    assert {"modelyard", "shop"} <= {p["Name"] for p in pools}


def test_the_oauth2_token_route_grants_password_and_refresh(
    server: Server, idp: Any, pool: tuple[str, str]
) -> None:
    pool_id, client_id = pool
    confirmed_user(idp, pool_id, "dee")

    granted = httpx.post(
        f"{server.url}/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": client_id,
            "username": "dee",
            "password": PASSWORD,
        },
    )
    refreshed = httpx.post(
        f"{server.url}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": client_id,
            "refresh_token": granted.json()["refresh_token"],
        },
    )
    wrong = httpx.post(
        f"{server.url}/oauth2/token",
        data={"grant_type": "password", "client_id": client_id, "username": "dee", "password": "x"},
    )
    unknown = httpx.post(
        f"{server.url}/oauth2/token", data={"grant_type": "password", "client_id": "nope"}
    )

    assert granted.status_code == 200, granted.text
    assert granted.json()["token_type"] == "Bearer"
    assert refreshed.status_code == 200 and "access_token" in refreshed.json()
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
