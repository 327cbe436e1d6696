"""The identity area's own HTTP routes (the Cognito API itself is on ``POST /``).

::

    GET  /{userPoolId}/.well-known/jwks.json   the public keys tokens are signed with
    POST /oauth2/token                         OAuth 2.0 token endpoint for non-AWS clients:
                                               grant_type=password | refresh_token

The token endpoint reads ``application/x-www-form-urlencoded`` bodies (RFC 6749), the
client from ``client_id`` or HTTP Basic (``client_id:client_secret``), and answers errors
as RFC 6749 section 5.2 does: ``{"error": "invalid_grant", "error_description": ...}``.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard.errors import AuthenticationRequired, InvalidRequest, ModelyardError
from modelyard.identity.errors import IdentityNotFound
from modelyard.identity.service import IdentityService, secret_hash
from modelyard.serving.protocols.body import read_body

__all__ = ["routes"]

#: Largest token request read.
_MAX_BODY = 64 * 1024
_JSON = "application/json"


def routes(identity: IdentityService) -> list[Route]:
    """The JWKS and OAuth 2.0 token routes of ``identity``."""

    async def jwks(request: Request) -> Response:
        pool_id = request.path_params["pool_id"]
        try:
            await identity.describe_user_pool(pool_id)
        except IdentityNotFound:
            return _json({"message": f"User pool {pool_id} does not exist."}, 404)
        return _json(identity.issuer.jwks(), 200, {"cache-control": "max-age=3600"})

    async def token(request: Request) -> Response:
        try:
            form = dict(parse_qsl((await read_body(request, _MAX_BODY)).decode("utf-8")))
        except (ModelyardError, UnicodeDecodeError):
            return _oauth_error("invalid_request", "the body must be a form of at most 64 KiB")
        client_id, client_secret = _client_credentials(request, form)
        if client_id is None:
            return _oauth_error("invalid_client", "client_id is required", 401)
        try:
            client = await identity.client(client_id)
        except IdentityNotFound:
            return _oauth_error("invalid_client", "unknown client", 401)
        if client.secret is not None and client_secret != client.secret:
            return _oauth_error("invalid_client", "client authentication failed", 401)
        grant = form.get("grant_type")
        try:
            if grant == "password":
                username, password = form.get("username", ""), form.get("password", "")
                parameters = {"USERNAME": username, "PASSWORD": password}
                if client.secret is not None:
                    parameters["SECRET_HASH"] = secret_hash(client, username)
                result = await identity.initiate_auth(client_id, "USER_PASSWORD_AUTH", parameters)
                if result.challenge is not None:
                    return _oauth_error("invalid_grant", "the user must set a new password first")
            elif grant == "refresh_token":
                result = await identity.initiate_auth(
                    client_id,
                    "REFRESH_TOKEN_AUTH",
                    {"REFRESH_TOKEN": form.get("refresh_token", "")},
                )
            else:
                return _oauth_error("unsupported_grant_type", f"grant_type {grant!r}")
        except AuthenticationRequired as exc:
            return _oauth_error("invalid_grant", exc.message)
        except InvalidRequest as exc:
            return _oauth_error("invalid_request", exc.message)
        answer = {
            "access_token": result.access_token,
            "id_token": result.id_token,
            "token_type": "Bearer",
            "expires_in": result.expires_in,
        }
        if result.refresh_token is not None:
            answer["refresh_token"] = result.refresh_token
        return _json(answer, 200, {"cache-control": "no-store", "pragma": "no-cache"})

    return [
        Route("/{pool_id}/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/oauth2/token", token, methods=["POST"]),
    ]


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """The client id and secret: from HTTP Basic if sent, else from the form."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, _, secret = decoded.partition(":")
        return client_id or None, secret or None
    return form.get("client_id") or None, form.get("client_secret") or None


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    headers = {"www-authenticate": 'Basic realm="modelyard"'} if status == 401 else {}
    return _json({"error": error, "error_description": description}, status, headers)


def _json(body: object, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON, headers=headers)
