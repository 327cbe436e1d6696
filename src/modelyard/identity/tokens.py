"""The JSON Web Tokens of user pools, as Cognito issues them: RS256 ID and access tokens.

Tokens are signed with the first of the issuer's keys and verified with any of them (the
``kid`` header names which), so a new key can be added ahead of the old one and the old
one dropped once the tokens it signed have expired. The public halves are published as a
JWKS, at ``{issuer}/.well-known/jwks.json`` in Cognito's layout. Refresh tokens are opaque
random strings, stored only as their SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from modelyard.errors import AuthenticationRequired

__all__ = [
    "InvalidToken",
    "TokenIssuer",
    "TokenSubject",
    "hash_refresh_token",
    "new_refresh_token",
    "new_signing_key",
]

_ALGORITHM = "RS256"
#: The scope of access tokens from user-pool sign-in: the user may manage their own account.
_ADMIN_SCOPE = "aws.cognito.signin.user.admin"


class InvalidToken(AuthenticationRequired):
    """The token is not valid: malformed, expired, revoked or not signed by us."""


def new_signing_key() -> tuple[str, str]:
    """A new 2048-bit RSA signing key: its ``kid`` and its private key (PKCS#8 PEM).

    The ``kid`` is the key's RFC 7638 JWK thumbprint, so it is the same wherever it is
    computed and says nothing else about the key.
    """
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return _thumbprint(private_key.public_key()), pem.decode("ascii")


@dataclass(frozen=True, kw_only=True)
class TokenSubject:
    """Whom tokens are issued to, and through which app client."""

    #: The user pool's ID, as in ``eu-west-1_AbCdEf123``; it ends the issuer URL.
    pool_id: str
    #: The user's name in the pool (``cognito:username`` / ``username``).
    username: str
    #: The user's immutable ID (the ``sub`` attribute, a UUID).
    sub: str
    #: The groups the user belongs to, in Cognito's order (by precedence).
    groups: tuple[str, ...]
    #: The user's e-mail address, or None when the user has none.
    email: str | None
    #: The app client the user signed in through.
    client_id: str
    #: When the user authenticated, in seconds since the epoch (kept across refreshes).
    auth_time: int
    #: The OAuth scopes granted to access tokens.
    scopes: tuple[str, ...] = (_ADMIN_SCOPE,)


class TokenIssuer:
    """Issues and verifies the ID and access tokens of user pools.

    ``keys`` are ``(kid, private key PEM)`` pairs as :func:`new_signing_key` returns them:
    the first signs, all verify. ``base_url`` is the issuer URL without the pool ID
    (``https://cognito-idp.eu-west-1.amazonaws.com`` at AWS); ``clock`` gives the time in
    seconds since the epoch, for ``iat``, ``exp`` and the expiry check.
    """

    def __init__(
        self,
        keys: Sequence[tuple[str, str]],
        *,
        base_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("a token issuer needs at least one signing key")
        self._private_keys: dict[str, rsa.RSAPrivateKey] = {}
        for kid, pem in keys:
            if kid in self._private_keys:
                raise ValueError(f"two signing keys share the kid {kid!r}")
            key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"signing key {kid!r} is not an RSA private key")
            self._private_keys[kid] = key
        self._public_keys = {kid: key.public_key() for kid, key in self._private_keys.items()}
        self._signing_kid = keys[0][0]
        self._base_url = base_url.rstrip("/")
        self._clock = clock

    def issuer(self, pool_id: str) -> str:
        """The ``iss`` of the tokens of pool ``pool_id``."""
        return f"{self._base_url}/{pool_id}"

    def id_token(
        self, subject: TokenSubject, *, validity_s: int, origin_jti: str | None = None
    ) -> str:
        """An ID token for ``subject``, valid for ``validity_s`` seconds.

        ``origin_jti`` ties tokens of one authentication together (for revocation); a new
        one is drawn when not given.
        """
        claims: dict[str, Any] = {"sub": subject.sub}
        # Cognito leaves the claim out, rather than sending [], for users in no group.
        if subject.groups:
            claims["cognito:groups"] = list(subject.groups)
        if subject.email is not None:
            claims["email"] = subject.email
        claims |= {
            "cognito:username": subject.username,
            "aud": subject.client_id,
            "token_use": "id",
        }
        return self._sign(claims, subject, validity_s=validity_s, origin_jti=origin_jti)

    def access_token(
        self, subject: TokenSubject, *, validity_s: int, origin_jti: str | None = None
    ) -> str:
        """An access token for ``subject``, valid for ``validity_s`` seconds.

        ``origin_jti`` ties tokens of one authentication together (for revocation); a new
        one is drawn when not given.
        """
        claims: dict[str, Any] = {"sub": subject.sub}
        if subject.groups:
            claims["cognito:groups"] = list(subject.groups)
        claims |= {
            "client_id": subject.client_id,
            "token_use": "access",
            "scope": " ".join(subject.scopes),
            "username": subject.username,
        }
        return self._sign(claims, subject, validity_s=validity_s, origin_jti=origin_jti)

    def verify(
        self,
        token: str,
        *,
        token_use: str | None = None,
        pool_id: str | None = None,
        audience: str | None = None,
        leeway_s: float = 0,
    ) -> dict[str, Any]:
        """The claims of ``token``, once its signature, expiry and issuer are checked.

        ``token_use`` (``"id"`` or ``"access"``), ``pool_id`` and ``audience`` (the app
        client ID: ``aud`` of ID tokens, ``client_id`` of access tokens) are checked when
        given; without ``pool_id`` the issuer must be any pool of ours. ``leeway_s`` extends
        the expiry, for clocks that disagree. Raises :class:`InvalidToken`.
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("Malformed token") from exc
        # Checked before the key is looked up, so 'none' and HMAC tokens never get near it.
        if header.get("alg") != _ALGORITHM:
            raise InvalidToken("Unsupported algorithm")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._public_keys:
            raise InvalidToken("Unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public_keys[kid],
                algorithms=[_ALGORITHM],
                # Times are checked below, against our clock rather than PyJWT's.
                options={
                    "require": ["exp", "iss", "token_use"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("Invalid signature") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("Malformed token") from exc
        expires = claims["exp"]
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise InvalidToken("Malformed token")
        if self._clock() >= expires + leeway_s:
            raise InvalidToken("Token has expired")
        if not self._is_our_issuer(claims["iss"], pool_id):
            raise InvalidToken("Invalid issuer")
        if token_use is not None and claims["token_use"] != token_use:
            raise InvalidToken("Wrong token use")
        if audience is not None:
            audience_claim = "aud" if claims["token_use"] == "id" else "client_id"
            if claims.get(audience_claim) != audience:
                raise InvalidToken("Invalid audience")
        return claims

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JSON Web Key Set, as Cognito's ``jwks.json`` serves them."""
        keys = []
        for kid, public_key in self._public_keys.items():
            numbers = public_key.public_numbers()
            keys.append(
                {
                    "kid": kid,
                    "alg": _ALGORITHM,
                    "kty": "RSA",
                    "use": "sig",
                    "e": _base64url_uint(numbers.e),
                    "n": _base64url_uint(numbers.n),
                }
            )
        return {"keys": keys}

    def _sign(
        self,
        claims: dict[str, Any],
        subject: TokenSubject,
        *,
        validity_s: int,
        origin_jti: str | None,
    ) -> str:
        issued_at = int(self._clock())
        payload = {
            **claims,
            "iss": self.issuer(subject.pool_id),
            "exp": issued_at + validity_s,
            "iat": issued_at,
            "auth_time": subject.auth_time,
            "jti": str(uuid.uuid4()),
            "origin_jti": origin_jti or str(uuid.uuid4()),
        }
        return jwt.encode(
            payload,
            self._private_keys[self._signing_kid],
            algorithm=_ALGORITHM,
            # Cognito's header is {kid, alg} only: no 'typ'.
            headers={"kid": self._signing_kid, "typ": None},
        )

    def _is_our_issuer(self, issuer: object, pool_id: str | None) -> bool:
        if not isinstance(issuer, str):
            return False
        if pool_id is not None:
            return issuer == self.issuer(pool_id)
        prefix = self._base_url + "/"
        if not issuer.startswith(prefix):
            return False
        pool = issuer.removeprefix(prefix)
        return pool != "" and "/" not in pool


def new_refresh_token() -> str:
    """A new refresh token: opaque and unguessable, as Cognito's are."""
    return secrets.token_urlsafe(64)


def hash_refresh_token(token: str) -> str:
    """The SHA-256 of ``token`` in hex: what is stored, so a leaked table grants nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """The RFC 7638 thumbprint of ``public_key``: SHA-256 of its canonical JWK, base64url."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _base64url_uint(numbers.e), "kty": "RSA", "n": _base64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _base64url(hashlib.sha256(canonical.encode("ascii")).digest())


def _base64url_uint(value: int) -> str:
    """``value`` big-endian in its fewest bytes, base64url without padding (RFC 7518 6.3.1)."""
    return _base64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
