"""The identity facade: the directory (``directory.py``) plus sign-in and tokens.

Sign-in follows Cognito's flows: ``USER_PASSWORD_AUTH`` / ``ADMIN_USER_PASSWORD_AUTH``
give an ID, an access and a refresh token, or the ``NEW_PASSWORD_REQUIRED`` challenge for
a user created with a temporary password; ``REFRESH_TOKEN_AUTH`` gives new ID and access
tokens. Tokens are RS256 JWTs with Cognito's claims (``tokens.py``), signed with a key kept
in the database so that every process sharing it signs and verifies alike. Refresh tokens
are opaque and stored hashed; a challenge's session is a short-lived HMAC-signed JWT, so
the answer may reach any process.

As at Cognito, the ID and access tokens of one sign-in, and those refreshed from its
refresh token, share an ``origin_jti`` claim, stored with the refresh token: RevokeToken
revokes them all, and no other sign-in's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
import orjson

from modelyard.identity.bootstrap import PlatformIdentity, ensure_platform_identity
from modelyard.identity.directory import Directory
from modelyard.identity.errors import InvalidParameter, NotAuthorized, UnsupportedTokenType
from modelyard.identity.passwords import PasswordPolicy, Passwords, check_password
from modelyard.identity.tokens import (
    InvalidToken,
    TokenIssuer,
    TokenSubject,
    hash_refresh_token,
    new_refresh_token,
    new_signing_key,
)
from modelyard.storage.database import Database
from modelyard.storage.identity import (
    AccessKey,
    AccessKeyStatus,
    RefreshToken,
    SigningKey,
    User,
    UserPoolClient,
    UserStatus,
)

__all__ = ["AuthResult", "IdentityService", "Principal"]

#: Seconds a challenge's session is valid (Cognito: three minutes).
SESSION_S: Final = 180
#: Seconds an access key looked up for SigV4 is used again before being read anew.
KEY_CACHE_S: Final = 60.0
#: Seconds a token found valid is answered from memory (see ``principal_of_token``).
TOKEN_FRESH_S: Final = 5.0
_MAX_PRINCIPALS_KEPT: Final = 10_000
_MAX_KEYS_KEPT: Final = 10_000
_PASSWORD_FLOWS: Final = {
    "USER_PASSWORD_AUTH": ("ALLOW_USER_PASSWORD_AUTH", "USER_PASSWORD_AUTH"),
    "ADMIN_USER_PASSWORD_AUTH": ("ALLOW_ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"),
    "ADMIN_NO_SRP_AUTH": ("ALLOW_ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"),
}
_REFRESH_FLOWS: Final = frozenset({"REFRESH_TOKEN_AUTH", "REFRESH_TOKEN"})
_ADMIN_ONLY: Final = frozenset({"ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"})


@dataclass(frozen=True, kw_only=True)
class AuthResult:
    """What a sign-in step answers: tokens, or the next challenge."""

    #: The tokens (AuthenticationResult), when signed in.
    access_token: str | None = None
    id_token: str | None = None
    refresh_token: str | None = None
    #: Seconds the access token is valid.
    expires_in: int = 0
    #: The challenge to answer (RespondToAuthChallenge), and its session and parameters.
    challenge: str | None = None
    session: str | None = None
    parameters: Mapping[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who a verified token or access key stands for."""

    #: The user pool and the user's name and ``sub``.
    pool_id: str
    username: str
    sub: str
    #: The user's groups.
    groups: tuple[str, ...]
    #: The token's scopes (empty for an access key or an ID token).
    scopes: tuple[str, ...] = ()


class IdentityService(Directory):
    """Users, groups, tokens and access keys (see the module)."""

    def __init__(
        self,
        *,
        database: Database,
        region: str,
        account_id: str,
        base_url: str,
        home: Path | None = None,
        passwords: Passwords | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            database=database,
            region=region,
            account_id=account_id,
            passwords=passwords,
            clock=clock,
        )
        self._base_url = base_url
        self._home = home
        self._issuer: TokenIssuer | None = None
        self._session_key = b""
        #: The platform's own pool and client, once started with a home.
        self.platform: PlatformIdentity | None = None
        #: Access keys looked up for SigV4, by id: (when, the key or None).
        self._keys: dict[str, tuple[float, AccessKey | None]] = {}
        #: The groups of those keys' users, by key id: (when, groups).
        self._key_groups: dict[str, tuple[float, frozenset[str]]] = {}
        #: Tokens found valid, by token: (when, expiry epoch, principal).
        self._principals: dict[str, tuple[float, float, Principal]] = {}

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the signing keys, making the first one if there is none; with a home,
        make the platform's pool and administrator (see ``bootstrap.py``)."""
        keys = await self._db(self._store.signing_keys)
        if not keys:
            kid, pem = await asyncio.to_thread(new_signing_key)
            now = self._now()
            await self._db(
                self._store.add_signing_key, SigningKey(kid=kid, private_pem=pem, created_at=now)
            )
            keys = await self._db(self._store.signing_keys)
        self._issuer = TokenIssuer(
            [(key.kid, key.private_pem) for key in keys], base_url=self._base_url, clock=self._clock
        )
        self._session_key = hashlib.sha256(b"session:" + keys[0].private_pem.encode()).digest()
        if self._home is not None:
            self.platform = await ensure_platform_identity(self, self._home)

    async def stop(self) -> None:
        """Nothing to release."""

    @property
    def issuer(self) -> TokenIssuer:
        """The token issuer (once started)."""
        if self._issuer is None:
            raise RuntimeError("the identity service is not started")
        return self._issuer

    # -- sign-in --------------------------------------------------------------------------

    async def initiate_auth(
        self,
        client_id: str,
        flow: str,
        parameters: Mapping[str, str],
        *,
        admin_pool_id: str | None = None,
    ) -> AuthResult:
        """InitiateAuth, or AdminInitiateAuth when ``admin_pool_id`` is given."""
        client = await self.client(client_id)
        if admin_pool_id is not None and client.pool_id != admin_pool_id:
            raise InvalidParameter(f"User pool client {client_id} does not exist.")
        if flow in _ADMIN_ONLY and admin_pool_id is None:
            raise InvalidParameter(f"Initiate Auth method not supported: {flow}")
        if flow in _PASSWORD_FLOWS:
            if not set(_PASSWORD_FLOWS[flow]) & set(client.explicit_auth_flows):
                raise InvalidParameter(f"{flow} flow not enabled for this client")
            username = _required(parameters, "USERNAME")
            password = _required(parameters, "PASSWORD")
            self._check_secret_hash(client, username, parameters)
            return await self._password_sign_in(client, username, password)
        if flow in _REFRESH_FLOWS:
            return await self._refresh(client, _required(parameters, "REFRESH_TOKEN"), parameters)
        raise InvalidParameter(f"Initiate Auth method not supported: {flow}")

    async def respond_to_auth_challenge(
        self,
        client_id: str,
        challenge: str,
        session: str | None,
        responses: Mapping[str, str],
        *,
        admin_pool_id: str | None = None,
    ) -> AuthResult:
        """RespondToAuthChallenge: only ``NEW_PASSWORD_REQUIRED`` is ever asked here."""
        client = await self.client(client_id)
        if admin_pool_id is not None and client.pool_id != admin_pool_id:
            raise InvalidParameter(f"User pool client {client_id} does not exist.")
        if challenge != "NEW_PASSWORD_REQUIRED":
            raise InvalidParameter(f"Unsupported challenge: {challenge}")
        username = _required(responses, "USERNAME")
        new_password = _required(responses, "NEW_PASSWORD")
        if session is None or self._session_user(session, client) != username:
            raise NotAuthorized("Invalid session for the user, session is expired.")
        self._check_secret_hash(client, username, responses)
        pool = await self.describe_user_pool(client.pool_id)
        check_password(new_password, PasswordPolicy.from_cognito(pool.password_policy))
        user = await self.set_password(client.pool_id, username, new_password, permanent=True)
        return await self._tokens(client, user, with_refresh=True)

    async def get_user(self, access_token: str) -> User:
        """GetUser: the user an access token stands for."""
        claims = self._verified(access_token, "access")
        user = await self._db(self._store.user_by_sub, str(claims["sub"]))
        if user is None:
            raise NotAuthorized("User does not exist.")
        self._check_not_signed_out(user, claims)
        await self._check_origin_not_revoked(claims)
        return user

    async def global_sign_out(self, access_token: str) -> None:
        """GlobalSignOut: every token the user has stops working."""
        user = await self.get_user(access_token)
        self._principals.clear()
        await self._db(
            self._store.update_user,
            user.pool_id,
            user.username,
            signed_out_at=self._clock(),
            now=self._now(),
        )
        await self._db(self._store.revoke_refresh_tokens_of, user.pool_id, user.username)

    async def revoke_token(self, token: str, client_id: str, client_secret: str | None) -> None:
        """RevokeToken: a refresh token of this client stops working, and so do the ID and
        access tokens issued with it and from it."""
        client = await self.client(client_id)
        if client.secret is not None and not hmac.compare_digest(
            client.secret, client_secret or ""
        ):
            raise NotAuthorized("Client authentication failed.")
        if token.count(".") == 2:
            raise UnsupportedTokenType("The token is not a refresh token.")
        found = await self._db(self._store.get_refresh_token, hash_refresh_token(token))
        if found is not None and found.client_id == client_id:
            await self._db(self._store.revoke_refresh_token, found.token_hash)
            # Its ID and access tokens may be among those answered from memory.
            self._principals.clear()

    # -- verification (for the other areas) -------------------------------------------------

    async def principal_of_token(self, token: str) -> Principal:
        """Who an ID or access token of any of our pools stands for; NotAuthorized if
        it is not valid, expired, revoked, or its user signed out since.

        The gateway asks this of every request a user pool authorizer guards, so a token
        found valid is answered from memory until it expires, for :data:`TOKEN_FRESH_S`
        at most: a sign-out, revocation, deletion or group change made here applies at
        once, one made by another process sharing the database within that time.
        """
        now = time.monotonic()
        kept = self._principals.get(token)
        if kept is not None and now - kept[0] < TOKEN_FRESH_S and self._clock() < kept[1]:
            return kept[2]
        principal, expires = await self._principal_of_token(token)
        if len(self._principals) >= _MAX_PRINCIPALS_KEPT:
            self._principals.clear()
        self._principals[token] = (now, expires, principal)
        return principal

    async def _principal_of_token(self, token: str) -> tuple[Principal, float]:
        claims = self._verified(token, None)
        user = await self._db(self._store.user_by_sub, str(claims.get("sub")))
        if user is None or not user.enabled:
            raise NotAuthorized("User does not exist.")
        self._check_not_signed_out(user, claims)
        await self._check_origin_not_revoked(claims)
        groups = await self.groups_of(user.pool_id, user.username)
        scope = claims.get("scope")
        principal = Principal(
            pool_id=user.pool_id,
            username=user.username,
            sub=user.sub,
            groups=tuple(group.name for group in groups),
            scopes=tuple(scope.split()) if isinstance(scope, str) else (),
        )
        expires = claims.get("exp")
        return principal, float(expires) if isinstance(expires, int | float) else 0.0

    def secret_for(self, access_key_id: str) -> str | None:
        """The secret of an active access key, for SigV4 verification; None if unknown.

        Called on the event loop by the verifier: keys are kept for :data:`KEY_CACHE_S`
        (unknown ones too, so that made-up ids cost one read a minute), and a miss reads
        the database there and then (a primary-key look-up).
        """
        key = self._access_key(access_key_id)
        if key is None or key.status is not AccessKeyStatus.ACTIVE:
            return None
        return key.secret

    def groups_of_key(self, access_key_id: str) -> frozenset[str] | None:
        """The groups of an active access key's user, for the APIs a group may call; None
        for a key nobody has. A blocking read on a miss, kept like :meth:`secret_for`."""
        key = self._access_key(access_key_id)
        if key is None or key.status is not AccessKeyStatus.ACTIVE:
            return None
        now = time.monotonic()
        kept = self._key_groups.get(access_key_id)
        if kept is not None and now - kept[0] < KEY_CACHE_S:
            return kept[1]
        if len(self._key_groups) >= _MAX_KEYS_KEPT:
            self._key_groups.clear()
        groups = frozenset(g.name for g in self._store.groups_of(key.pool_id, key.username))
        self._key_groups[access_key_id] = (now, groups)
        return groups

    async def principal_of_access_key(self, access_key_id: str) -> Principal:
        """Who an access key belongs to; NotAuthorized for an unknown or inactive one."""
        key = self._access_key(access_key_id)
        if key is None or key.status is not AccessKeyStatus.ACTIVE:
            raise NotAuthorized("The security token included in the request is invalid.")
        user = await self.admin_get_user(key.pool_id, key.username)
        groups = await self.groups_of(user.pool_id, user.username)
        return Principal(
            pool_id=user.pool_id,
            username=user.username,
            sub=user.sub,
            groups=tuple(group.name for group in groups),
        )

    # -- helpers --------------------------------------------------------------------------

    def _identity_changed(self) -> None:
        self._principals.clear()
        self._key_groups.clear()

    def _access_key(self, access_key_id: str) -> AccessKey | None:
        now = time.monotonic()
        kept = self._keys.get(access_key_id)
        if kept is not None and now - kept[0] < KEY_CACHE_S:
            return kept[1]
        if len(self._keys) >= _MAX_KEYS_KEPT:
            self._keys.clear()
        key = self.access_key(access_key_id)
        self._keys[access_key_id] = (now, key)
        return key

    async def _password_sign_in(
        self, client: UserPoolClient, username: str, password: str
    ) -> AuthResult:
        user = await self._db(self._store.get_user, client.pool_id, username)
        if user is None or not await self.verify_password(user, password):
            raise NotAuthorized("Incorrect username or password.")
        if not user.enabled:
            raise NotAuthorized("User is disabled.")
        if user.status is UserStatus.FORCE_CHANGE_PASSWORD:
            return AuthResult(
                challenge="NEW_PASSWORD_REQUIRED",
                session=self._session(client, username),
                parameters={
                    "USER_ID_FOR_SRP": username,
                    "requiredAttributes": "[]",
                    "userAttributes": orjson.dumps(dict(user.attributes)).decode(),
                },
            )
        return await self._tokens(client, user, with_refresh=True)

    async def _refresh(
        self, client: UserPoolClient, token: str, parameters: Mapping[str, str]
    ) -> AuthResult:
        if "ALLOW_REFRESH_TOKEN_AUTH" not in client.explicit_auth_flows:
            raise InvalidParameter("REFRESH_TOKEN_AUTH flow not enabled for this client")
        found = await self._db(self._store.get_refresh_token, hash_refresh_token(token))
        if (
            found is None
            or found.revoked
            or found.client_id != client.client_id
            or found.expires_at <= self._clock()
        ):
            raise NotAuthorized("Invalid Refresh Token")
        user = await self._db(self._store.get_user, found.pool_id, found.username)
        if user is None or not user.enabled:
            raise NotAuthorized("Invalid Refresh Token")
        if client.secret is not None:
            self._check_secret_hash(client, user.username, parameters, also=user.sub)
        origin = found.origin_jti or await self._db(
            self._store.adopt_origin_jti, found.token_hash, str(uuid.uuid4())
        )
        if origin is None:  # deleted since it was read
            raise NotAuthorized("Invalid Refresh Token")
        return await self._tokens(
            client, user, with_refresh=False, auth_time=found.issued_at, origin_jti=origin
        )

    async def _tokens(
        self,
        client: UserPoolClient,
        user: User,
        *,
        with_refresh: bool,
        auth_time: float | None = None,
        origin_jti: str | None = None,
    ) -> AuthResult:
        """ID and access tokens for ``user``, and a refresh token ``with_refresh``.

        ``origin_jti`` is that of the refresh token they are refreshed from; a sign-in
        draws a new one, which its refresh token keeps.
        """
        groups = await self.groups_of(user.pool_id, user.username)
        now = self._clock()
        subject = TokenSubject(
            pool_id=user.pool_id,
            username=user.username,
            sub=user.sub,
            groups=tuple(group.name for group in groups),
            email=user.attributes.get("email"),
            client_id=client.client_id,
            auth_time=int(auth_time if auth_time is not None else now),
        )
        refresh: str | None = None
        origin = origin_jti or str(uuid.uuid4())
        if with_refresh:
            refresh = new_refresh_token()
            await self._db(
                self._store.add_refresh_token,
                RefreshToken(
                    token_hash=hash_refresh_token(refresh),
                    pool_id=user.pool_id,
                    username=user.username,
                    client_id=client.client_id,
                    issued_at=now,
                    expires_at=now + client.refresh_token_validity_s,
                    revoked=False,
                    origin_jti=origin,
                ),
            )
        return AuthResult(
            access_token=self.issuer.access_token(
                subject, validity_s=client.access_token_validity_s, origin_jti=origin
            ),
            id_token=self.issuer.id_token(
                subject, validity_s=client.id_token_validity_s, origin_jti=origin
            ),
            refresh_token=refresh,
            expires_in=client.access_token_validity_s,
        )

    def _verified(self, token: str, token_use: str | None) -> dict[str, Any]:
        try:
            return self.issuer.verify(token, token_use=token_use)
        except InvalidToken as exc:
            raise NotAuthorized(f"Invalid token: {exc.message}") from None

    def _check_not_signed_out(self, user: User, claims: Mapping[str, Any]) -> None:
        issued = claims.get("iat")
        if user.signed_out_at is not None and (
            not isinstance(issued, int | float) or issued <= user.signed_out_at
        ):
            raise NotAuthorized("Access Token has been revoked")

    async def _check_origin_not_revoked(self, claims: Mapping[str, Any]) -> None:
        # Tokens without the claim were never tied to a refresh token: none revokes them.
        origin = claims.get("origin_jti")
        if isinstance(origin, str) and await self._db(self._store.is_origin_revoked, origin):
            raise NotAuthorized("Access Token has been revoked")

    def _check_secret_hash(
        self,
        client: UserPoolClient,
        username: str,
        parameters: Mapping[str, str],
        *,
        also: str | None = None,
    ) -> None:
        if client.secret is None:
            return
        given = parameters.get("SECRET_HASH", "")
        for name in (username, also):
            if name is not None and hmac.compare_digest(given, secret_hash(client, name)):
                return
        raise NotAuthorized(f"Unable to verify secret hash for client {client.client_id}")

    def _session(self, client: UserPoolClient, username: str) -> str:
        now = self._clock()
        claims = {
            "u": username,
            "c": client.client_id,
            "iat": int(now),
            "exp": int(now) + SESSION_S,
        }
        return jwt.encode(claims, self._session_key, algorithm="HS256")

    def _session_user(self, session: str, client: UserPoolClient) -> str | None:
        try:
            claims = jwt.decode(
                session,
                self._session_key,
                algorithms=["HS256"],
                options={"verify_exp": False},
            )
        except jwt.PyJWTError:
            return None
        if claims.get("c") != client.client_id or claims.get("exp", 0) < self._clock():
            return None
        username = claims.get("u")
        return username if isinstance(username, str) else None


def secret_hash(client: UserPoolClient, username: str) -> str:
    """Cognito's SECRET_HASH: Base64(HMAC-SHA256(client secret, username + client id))."""
    assert client.secret is not None
    digest = hmac.new(
        client.secret.encode(), (username + client.client_id).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def _required(parameters: Mapping[str, str], name: str) -> str:
    value = parameters.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"Missing required parameter {name}")
    return value
