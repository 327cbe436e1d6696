"""The identity area's part of the OpenAPI document: JWKS and the OAuth 2.0 token route.

(The Cognito operations themselves are AWS JSON operations on ``POST /``, listed with the
other AWS services by ``aws/openapi.py``.)
"""

from __future__ import annotations

from modelyard.openapi import JsonObject, OpenApiPart, json_content

__all__ = ["part"]

_TAG = "identity"
_TEXT: JsonObject = {"type": "string"}


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _schemas() -> dict[str, JsonObject]:
    return {
        "IdentityJwks": {
            "type": "object",
            "required": ["keys"],
            "properties": {
                "keys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kid", "kty", "alg", "use", "n", "e"],
                        "properties": {
                            name: _TEXT for name in ("kid", "kty", "alg", "use", "n", "e")
                        },
                    },
                }
            },
        },
        "IdentityTokenRequest": {
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
                "client_id": _TEXT,
                "client_secret": _TEXT,
                "username": _TEXT,
                "password": _TEXT,
                "refresh_token": _TEXT,
            },
        },
        "IdentityTokens": {
            "type": "object",
            "required": ["access_token", "id_token", "token_type", "expires_in"],
            "properties": {
                "access_token": _TEXT,
                "id_token": _TEXT,
                "refresh_token": _TEXT,
                "token_type": {"type": "string", "enum": ["Bearer"]},
                "expires_in": {"type": "integer"},
            },
        },
        "IdentityOAuthError": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {"error": _TEXT, "error_description": _TEXT},
        },
        "IdentityMessage": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": _TEXT},
        },
    }


def part() -> OpenApiPart:
    """``/{pool_id}/.well-known/jwks.json`` and ``/oauth2/token``."""
    oauth_error = json_content(_ref("IdentityOAuthError"))
    return OpenApiPart(
        paths={
            "/{pool_id}/.well-known/jwks.json": {
                "get": {
                    "tags": [_TAG],
                    "operationId": "identityJwks",
                    "summary": "The public keys that sign the user pool's tokens.",
                    "parameters": [
                        {"name": "pool_id", "in": "path", "required": True, "schema": _TEXT}
                    ],
                    "responses": {
                        "200": {
                            "description": "The JSON Web Key Set.",
                            "content": json_content(_ref("IdentityJwks")),
                        },
                        "404": {
                            "description": "No user pool has that id.",
                            "content": json_content(_ref("IdentityMessage")),
                        },
                    },
                }
            },
            "/oauth2/token": {
                "post": {
                    "tags": [_TAG],
                    "operationId": "identityToken",
                    "summary": "OAuth 2.0 token endpoint: password and refresh-token grants.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": _ref("IdentityTokenRequest")
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The tokens.",
                            "content": json_content(_ref("IdentityTokens")),
                        },
                        "400": {
                            "description": "A bad request or grant (RFC 6749 section 5.2).",
                            "content": oauth_error,
                        },
                        "401": {"description": "Unknown client.", "content": oauth_error},
                    },
                }
            },
        },
        components={"schemas": _schemas()},
        tags=[{"name": _TAG, "description": "Tokens of the user pools (Cognito-style)."}],
    )
