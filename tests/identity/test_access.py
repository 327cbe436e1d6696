"""Auth on, the default, against a real platform on 127.0.0.1: every AWS API takes only an
administrator's signature (``InvokeEndpoint`` any user's), the platform's own APIs take
only a user pool's bearer token, each user sees only their own jobs, and ``off`` is
refused beyond loopback."""

from __future__ import annotations

import asyncio
import configparser
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest
from botocore import UNSIGNED  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from pydantic import ValidationError

from modelyard.config import Settings
from modelyard.identity.service import IdentityService
from modelyard.platform import build_platform
from tests.endpoints.conftest import Variant, build_home, deploy_endpoint
from tests.servers import serve_in_thread, settings_for
from tests.test_cli import MODELYARD, clean_env, free_port

PASSWORD = "Correct-Horse-9"
REGION = "us-east-1"


@dataclass(frozen=True, kw_only=True)
class Keys:
    """An access key pair (what boto3 signs with)."""

    key_id: str
    secret: str


@dataclass(frozen=True, kw_only=True)
class AuthPlatform:
    """The running platform, its administrator's and a plain user's keys and tokens."""

    url: str
    admin: Keys
    user: Keys
    admin_token: str
    user_token: str


def client(service: str, url: str, keys: Keys | None) -> Any:
    """A boto3 client of ``service``: signed with ``keys``, unsigned without."""
    options: dict[str, Any] = {"retries": {"total_max_attempts": 1}}
    if keys is None:
        options["signature_version"] = UNSIGNED
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=keys.key_id if keys else "none",
        aws_secret_access_key=keys.secret if keys else "none",
        config=Config(**options),
    )


def token_of(url: str, username: str, password: str) -> str:
    answer = httpx.post(
        f"{url}/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "modelyardcli",
            "username": username,
            "password": password,
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthPlatform]:
    home = build_home(tmp_path_factory.mktemp("home"))
    settings = settings_for(home, workers=1).model_copy(update={"auth": "on"})
    built = build_platform(settings)
    identity = next(area for area in built.areas if isinstance(area, IdentityService))
    with serve_in_thread(built.app, settings.http) as url:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(home / "credentials")
        profile = parser["default"]
        admin = Keys(key_id=profile["aws_access_key_id"], secret=profile["aws_secret_access_key"])
        pool_id = profile["modelyard_user_pool_id"]
        idp = client("cognito-idp", url, admin)
        idp.admin_create_user(UserPoolId=pool_id, Username="alice", TemporaryPassword=PASSWORD)
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username="alice", Password=PASSWORD, Permanent=True
        )
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username="alice", GroupName="user")
        # Access keys have no AWS API of their own here (IAM is not served): the domain's.
        key = asyncio.run(identity.create_access_key(pool_id, "alice"))
        deploy_endpoint(
            client("sagemaker", url, admin),
            "adder",
            Variant("main", "sum.tar.gz"),
            tags=[{"Key": "category", "Value": "math"}],
        )
        yield AuthPlatform(
            url=url,
            admin=admin,
            user=Keys(key_id=key.access_key_id, secret=key.secret),
            admin_token=token_of(url, "admin", profile["modelyard_password"]),
            user_token=token_of(url, "alice", PASSWORD),
        )


#: One read-only call of each AWS-protocol API an administrator's key is needed for.
AWS_CALLS: dict[str, Callable[[Any], Any]] = {
    "sagemaker": lambda c: c.list_endpoints(),
    "stepfunctions": lambda c: c.list_state_machines(),
    "apigateway": lambda c: c.get_rest_apis(),
    "lambda": lambda c: c.list_functions(),
    "cognito-idp": lambda c: c.list_user_pools(MaxResults=10),
}


def code_of(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


@pytest.mark.parametrize("service", sorted(AWS_CALLS))
def test_an_administrators_signature_is_accepted(platform: AuthPlatform, service: str) -> None:
    answer = AWS_CALLS[service](client(service, platform.url, platform.admin))

    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("service", sorted(AWS_CALLS))
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("unsigned", (403, "MissingAuthenticationTokenException")),
        ("wrong secret", (403, "InvalidSignatureException")),
        ("unknown key", (403, "UnrecognizedClientException")),
        ("plain user", (403, "AccessDeniedException")),
    ],
)
def test_anyone_else_is_refused(
    platform: AuthPlatform, service: str, who: str, expected: tuple[int, str]
) -> None:
    keys = {
        "unsigned": None,
        "wrong secret": Keys(key_id=platform.admin.key_id, secret="not-the-secret"),
        "unknown key": Keys(key_id="AKIANOBODYHASTHIS00", secret=platform.admin.secret),
        "plain user": platform.user,
    }[who]

    with pytest.raises(ClientError) as raised:
        AWS_CALLS[service](client(service, platform.url, keys))

    assert code_of(raised) == expected


def test_invoke_endpoint_takes_any_users_signature_and_no_unsigned_call(
    platform: AuthPlatform,
) -> None:
    runtime = client("sagemaker-runtime", platform.url, platform.user)
    answer = runtime.invoke_endpoint(
        EndpointName="adder", ContentType="application/json", Body="[1, 2, 3]"
    )
    assert answer["Body"].read() == b"[6.0]"

    with pytest.raises(ClientError) as raised:
        client("sagemaker-runtime", platform.url, None).invoke_endpoint(
            EndpointName="adder", ContentType="application/json", Body="[1, 2, 3]"
        )
    assert code_of(raised)[0] == 403


def test_signing_in_stays_unsigned(platform: AuthPlatform) -> None:
    idp = client("cognito-idp", platform.url, None)

    answer = idp.initiate_auth(
        ClientId="modelyardcli",
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )

    assert answer["AuthenticationResult"]["AccessToken"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def finished(http: httpx.Client, job_id: str, token: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = http.get(f"/jobs/{job_id}", headers=bearer(token)).json()
        if job["status"] not in ("QUEUED", "RUNNING"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_each_user_sees_their_own_jobs_and_an_administrator_all(platform: AuthPlatform) -> None:
    job = {"data": [1, 2, 3], "categories": ["math"]}
    with httpx.Client(base_url=platform.url, timeout=30) as http:
        mine = http.post("/create-job", json=job, headers=bearer(platform.user_token))
        theirs = http.post("/create-job", json=job, headers=bearer(platform.admin_token))
        assert (mine.status_code, theirs.status_code) == (202, 202), (mine.text, theirs.text)
        mine_id, theirs_id = mine.json()["job_id"], theirs.json()["job_id"]

        done = finished(http, mine_id, platform.user_token)
        listed = http.get("/jobs", headers=bearer(platform.user_token)).json()["jobs"]
        everyone = http.get("/jobs", headers=bearer(platform.admin_token)).json()["jobs"]
        peek = http.get(f"/jobs/{theirs_id}", headers=bearer(platform.user_token))
        results = http.get(
            "/get-job-results", params={"job_id": theirs_id}, headers=bearer(platform.user_token)
        )
        cancel = http.delete(f"/jobs/{theirs_id}", headers=bearer(platform.user_token))
        admin_peek = http.get(f"/jobs/{mine_id}", headers=bearer(platform.admin_token))

    assert (done["status"], done["owner"]) == ("SUCCEEDED", "alice")
    assert done["results"][0]["output"] == [6.0]
    assert {j["job_id"] for j in listed} == {mine_id}
    assert {mine_id, theirs_id} <= {j["job_id"] for j in everyone}
    # Another user's job is no job of theirs, whatever they do with it.
    assert [peek.status_code, results.status_code, cancel.status_code] == [404, 404, 404]
    assert admin_peek.status_code == 200


@pytest.mark.parametrize(
    ("token", "status", "words"),
    [
        (None, 401, "Authorization: Bearer"),
        ("not-a-token", 401, ""),
        ("tampered", 401, ""),
    ],
)
def test_the_jobs_api_refuses_a_missing_or_bad_token(
    platform: AuthPlatform, token: str | None, status: int, words: str
) -> None:
    if token == "tampered":
        # A token of ours whose signature no longer matches once its end changes.
        tail = "AAAA" if not platform.user_token.endswith("AAAA") else "BBBB"
        token = platform.user_token[:-4] + tail
    headers = bearer(token) if token else {}

    answer = httpx.get(f"{platform.url}/jobs", headers=headers, timeout=10)

    assert answer.status_code == status
    assert words in answer.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/functions", None),
        ("POST", "/models", {"model_name": "x", "url": "/nowhere"}),
        ("POST", "/v2/repository/models/x/load", {}),
    ],
)
def test_management_needs_an_administrators_token(
    platform: AuthPlatform, method: str, path: str, body: dict[str, Any] | None
) -> None:
    def call(token: str | None) -> httpx.Response:
        headers = bearer(token) if token else {}
        return httpx.request(method, platform.url + path, json=body, headers=headers, timeout=30)

    assert call(None).status_code == 401
    assert call(platform.user_token).status_code == 403
    assert call(platform.admin_token).status_code not in (401, 403)


def test_model_server_inference_and_probes_stay_open(platform: AuthPlatform) -> None:
    assert httpx.get(f"{platform.url}/ping", timeout=10).status_code == 200
    assert httpx.get(f"{platform.url}/metrics", timeout=10).status_code == 200


def test_auth_off_is_refused_beyond_loopback(tmp_path: Path) -> None:
    assert Settings(auth="off", host="127.0.0.1").auth == "off"
    with pytest.raises(ValidationError, match="MODELYARD_AUTH=off is accepted only"):
        Settings(auth="off", host="0.0.0.0")

    port = str(free_port())  # were it not refused, it would listen there, not elsewhere
    started = subprocess.run(
        [MODELYARD, "up", "--home", str(tmp_path), "--host", "0.0.0.0", "--port", port],
        env=clean_env() | {"MODELYARD_AUTH": "off"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode != 0
    assert "MODELYARD_AUTH=off is accepted only" in started.stderr
    assert "Traceback" not in started.stderr


def test_no_secret_reaches_the_logs(
    platform: AuthPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    fresh = token_of(platform.url, "alice", PASSWORD)
    wrong = Keys(key_id=platform.admin.key_id, secret="wrong-secret-of-the-test")
    with httpx.Client(base_url=platform.url, timeout=30) as http:
        assert http.get("/jobs", headers=bearer(fresh)).status_code == 200
        assert http.get("/jobs", headers=bearer(fresh[:-4] + "AAAA")).status_code == 401
        refused = http.post(
            "/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": "modelyardcli",
                "username": "alice",
                "password": "not-alices-password-9",
            },
        )
        assert refused.status_code == 400
    with pytest.raises(ClientError):
        client("sagemaker", platform.url, wrong).list_endpoints()
    client("sagemaker", platform.url, platform.admin).list_endpoints()
    apigateway = client("apigateway", platform.url, platform.admin)
    key = apigateway.create_api_key(name="logged-nowhere", enabled=True)

    # What the server side logged (the clients, botocore and httpx, log what they send).
    clients = ("botocore", "boto3", "urllib3", "httpx", "httpcore")
    text = "\n".join(
        record.getMessage() + (record.exc_text or "")
        for record in caplog.records
        if not record.name.startswith(clients)
    )
    for secret in (
        PASSWORD,
        "not-alices-password-9",
        platform.admin.secret,
        platform.user.secret,
        platform.admin_token,
        platform.user_token,
        fresh,
        key["value"],
    ):
        assert secret not in text
