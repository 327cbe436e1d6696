"""How the client commands prove who they are to a server with auth on.

The first ``modelyard up`` on a home writes ``<home>/credentials``: an administrator's
access key pair and password. A client command signs its requests to the AWS APIs with the
key pair (Signature Version 4, as boto3 would), and sends the others a bearer token it
gets once from ``POST /oauth2/token`` with the password. A management token, when one is
set, is sent instead: as the bearer token, and as the secret key of the signatures.
"""

from __future__ import annotations

import configparser
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

__all__ = ["HomeCredentials", "PlatformAuth", "fetch_token"]

#: The AWS service each X-Amz-Target prefix signs as.
_TARGET_SERVICES: Final = {
    "SageMaker": "sagemaker",
    "AWSStepFunctions": "states",
    "AWSCognitoIdentityProviderService": "cognito-idp",
}


@dataclass(frozen=True, kw_only=True)
class HomeCredentials:
    """The ``[default]`` profile of a home's credentials file."""

    access_key_id: str
    secret_access_key: str
    username: str | None = None
    password: str | None = None
    client_id: str | None = None

    @classmethod
    def read(cls, path: Path) -> HomeCredentials | None:
        """The file's credentials; None when there is no such file or it has no key pair."""
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(path.read_text())
        except (OSError, configparser.Error, UnicodeDecodeError):
            return None
        if not parser.has_section("default"):
            return None
        profile = parser["default"]
        key_id = profile.get("aws_access_key_id")
        secret = profile.get("aws_secret_access_key")
        if not key_id or not secret:
            return None
        return cls(
            access_key_id=key_id,
            secret_access_key=secret,
            username=profile.get("modelyard_username"),
            password=profile.get("modelyard_password"),
            client_id=profile.get("modelyard_client_id"),
        )


def token_request(base_url: httpx.URL, credentials: HomeCredentials) -> httpx.Request | None:
    """The password grant of the credentials' user, if they hold a password."""
    if not (credentials.username and credentials.password and credentials.client_id):
        return None
    return httpx.Request(
        "POST",
        base_url.join("/oauth2/token"),
        data={
            "grant_type": "password",
            "client_id": credentials.client_id,
            "username": credentials.username,
            "password": credentials.password,
        },
    )


def fetch_token(client: httpx.Client, credentials: HomeCredentials) -> str | None:
    """An access token of the credentials' user from the server of ``client``, or None
    when they hold no password or the server refuses it."""
    request = token_request(client.base_url, credentials)
    if request is None:
        return None
    return _access_token(client.send(request, auth=None))


class PlatformAuth(httpx.Auth):
    """Signs AWS-API requests and gives the others a bearer token (see the module)."""

    requires_request_body = True
    requires_response_body = True

    def __init__(
        self,
        credentials: HomeCredentials | None,
        *,
        management_token: str | None = None,
        region: str = "us-east-1",
    ) -> None:
        self._credentials = credentials
        self._management_token = management_token
        self._region = region
        self._bearer: str | None = management_token
        self._asked = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        service = _aws_service(request)
        if service is not None:
            self._sign(request, service)
            yield request
            return
        if self._bearer is None and self._credentials is not None and not self._asked:
            self._asked = True  # one try per command: a refused password is not retried
            base = request.url.copy_with(path="/", query=None, fragment=None)
            asked = token_request(base, self._credentials)
            if asked is not None:
                self._bearer = _access_token((yield asked))
        if self._bearer is not None:
            request.headers["Authorization"] = f"Bearer {self._bearer}"
        yield request

    def _sign(self, request: httpx.Request, service: str) -> None:
        if self._management_token is not None:
            key_id, secret = "modelyard", self._management_token
        elif self._credentials is not None:
            key_id = self._credentials.access_key_id
            secret = self._credentials.secret_access_key
        else:
            return
        # Imported here: botocore takes a tenth of a second, which other commands skip.
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]

        signed = AWSRequest(
            method=request.method,
            url=str(request.url),
            data=request.content,
            headers={
                name: value
                for name, value in request.headers.items()
                if name.lower() in ("content-type", "x-amz-target")
            },
        )
        SigV4Auth(Credentials(key_id, secret), service, self._region).add_auth(signed)
        for name, value in signed.headers.items():
            request.headers[name] = value


def _aws_service(request: httpx.Request) -> str | None:
    """The AWS service a request is for, or None for the platform's other APIs."""
    target = request.headers.get("x-amz-target")
    if target is not None:
        return _TARGET_SERVICES.get(target.partition(".")[0], "execute-api")
    path = request.url.path
    if path.startswith("/2015-03-31/"):
        return "lambda"
    if path.startswith("/endpoints/") and path.endswith("/invocations"):
        return "sagemaker"
    return None


def _access_token(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return None
    try:
        token = response.json().get("access_token")
    except ValueError:
        return None
    return token if isinstance(token, str) else None
