"""The records of the identity area: what the identity repository stores and answers.

User pools, their app clients, users, groups, refresh tokens, access keys and token signing
keys, in Cognito's vocabulary, and how each is read back from its row; see
:mod:`modelyard.storage.identity` for the repository.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Row

from modelyard.storage.listing import utc

__all__ = [
    "KEEP",
    "AccessKey",
    "AccessKeyStatus",
    "Group",
    "Keep",
    "RefreshToken",
    "SigningKey",
    "User",
    "UserPool",
    "UserPoolClient",
    "UserStatus",
    "access_key_from_row",
    "client_from_row",
    "group_from_row",
    "pool_from_row",
    "refresh_token_from_row",
    "signing_key_from_row",
    "user_from_row",
]


class Keep(Enum):
    """An update argument that was not given: the stored value stays.

    ``None`` cannot say so, since it is a value several fields take (no password hash,
    never signed out), the way httpx's ``UseClientDefault`` differs from ``timeout=None``.
    """

    #: Keep what is stored.
    KEEP = "keep"


#: The one :class:`Keep` value, the default of every optional update argument.
KEEP = Keep.KEEP


@dataclass(frozen=True, kw_only=True, slots=True)
class UserPool:
    """A user pool (CreateUserPool): a directory of users and the rules for their passwords."""

    #: Its id, ``<region>_<suffix>`` (``us-east-1_AbCdEf123``); case-sensitive.
    id: str
    #: Its name, as given; several pools may share one.
    name: str
    #: The ``PasswordPolicy`` document (``MinimumLength``, ``RequireNumbers``…), as given.
    password_policy: Mapping[str, Any]
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When it last changed, timezone-aware UTC.
    last_modified_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class UserPoolClient:
    """An app client of a user pool (CreateUserPoolClient): who may sign users in, and how."""

    #: Its id, unique across pools.
    client_id: str
    #: The pool it belongs to.
    pool_id: str
    #: Its name (``ClientName``), as given.
    name: str
    #: The client secret, ``None`` for a public client.
    secret: str | None
    #: The ``ExplicitAuthFlows`` it allows (``ALLOW_USER_PASSWORD_AUTH``…), in order.
    explicit_auth_flows: tuple[str, ...]
    #: Seconds an access token it gets is valid.
    access_token_validity_s: int
    #: Seconds an ID token it gets is valid.
    id_token_validity_s: int
    #: Seconds a refresh token it gets is valid.
    refresh_token_validity_s: int
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When it last changed, timezone-aware UTC.
    last_modified_at: datetime


class UserStatus(StrEnum):
    """Where a user's account is (Cognito's ``UserStatusType``)."""

    #: Signed up, not confirmed yet.
    UNCONFIRMED = "UNCONFIRMED"
    #: Confirmed: may sign in.
    CONFIRMED = "CONFIRMED"
    #: Created by an administrator with a temporary password, to change at first sign-in.
    FORCE_CHANGE_PASSWORD = "FORCE_CHANGE_PASSWORD"
    #: Must reset the password before signing in again.
    RESET_REQUIRED = "RESET_REQUIRED"
    #: No longer active.
    ARCHIVED = "ARCHIVED"
    #: Disabled because of a potential security threat.
    COMPROMISED = "COMPROMISED"
    #: Not known.
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, kw_only=True, slots=True)
class User:
    """A user of a user pool."""

    #: The pool it belongs to.
    pool_id: str
    #: Its username, unique in the pool and case-sensitive.
    username: str
    #: Its immutable id (a UUID), unique across all pools; the ``sub`` of its tokens.
    sub: str
    #: Its password, as the identity area hashed it; ``None`` if it has none.
    password_hash: str | None
    #: Where its account is.
    status: UserStatus
    #: Whether it may sign in (AdminDisableUser makes it ``False``).
    enabled: bool
    #: Its attributes (``email``, ``custom:…``), ``sub`` excluded: it has a field of its own.
    attributes: Mapping[str, str]
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When it last changed, timezone-aware UTC.
    last_modified_at: datetime
    #: Epoch seconds of its last global sign-out: tokens issued before are no longer valid.
    #: ``None`` if it never signed out so.
    signed_out_at: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Group:
    """A group of a user pool (CreateGroup)."""

    #: The pool it belongs to.
    pool_id: str
    #: Its name, unique in the pool and case-sensitive.
    name: str
    #: What it is for, as given.
    description: str | None = None
    #: Its rank when a user is in several groups: the lowest wins; ``None`` ranks last.
    precedence: int | None = None
    #: The IAM role its members take, as given.
    role_arn: str | None = None
    #: When it was created, timezone-aware UTC.
    created_at: datetime
    #: When it last changed, timezone-aware UTC.
    last_modified_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class RefreshToken:
    """A refresh token issued to a user through an app client, known by its hash only."""

    #: The SHA-256 (hex) of the opaque token: a stolen database gives no usable token.
    token_hash: str
    #: The pool of its user.
    pool_id: str
    #: Its user.
    username: str
    #: The app client it was issued through.
    client_id: str
    #: Epoch seconds when it was issued.
    issued_at: float
    #: Epoch seconds after which it is no longer valid.
    expires_at: float
    #: Whether it was revoked (RevokeToken, GlobalSignOut).
    revoked: bool = False
    #: The ``origin_jti`` claim of the ID and access tokens issued with it and from it,
    #: which its revocation revokes too; ``None`` if issued before the store recorded it.
    origin_jti: str | None = None


class AccessKeyStatus(StrEnum):
    """Whether an access key may sign requests (IAM's ``StatusType``)."""

    #: It may.
    ACTIVE = "Active"
    #: It may not; it is kept until deleted.
    INACTIVE = "Inactive"


@dataclass(frozen=True, kw_only=True, slots=True)
class AccessKey:
    """An access key of a user, for SigV4-signed calls."""

    #: Its id, ``AKIA…`` (20 characters).
    access_key_id: str
    #: The secret access key, as given: verifying a SigV4 signature needs it.
    secret: str
    #: The pool of its user.
    pool_id: str
    #: Its user.
    username: str
    #: Whether it may sign requests.
    status: AccessKeyStatus = AccessKeyStatus.ACTIVE
    #: When it was created, timezone-aware UTC.
    created_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class SigningKey:
    """A private key that signs tokens."""

    #: Its key id: the ``kid`` of the tokens it signs and of its entry in the JWKS.
    kid: str
    #: The private key, PEM.
    private_pem: str
    #: When it was created, timezone-aware UTC.
    created_at: datetime


# -- reading records from their rows (JSON text decoded, datetimes made UTC) ---------------


def pool_from_row(row: Row[Any]) -> UserPool:
    return UserPool(
        id=row.id,
        name=row.name,
        password_policy=json.loads(row.password_policy),
        created_at=utc(row.created_at),
        last_modified_at=utc(row.last_modified_at),
    )


def client_from_row(row: Row[Any]) -> UserPoolClient:
    return UserPoolClient(
        client_id=row.client_id,
        pool_id=row.pool_id,
        name=row.name,
        secret=row.secret,
        explicit_auth_flows=tuple(json.loads(row.explicit_auth_flows)),
        access_token_validity_s=row.access_token_validity_s,
        id_token_validity_s=row.id_token_validity_s,
        refresh_token_validity_s=row.refresh_token_validity_s,
        created_at=utc(row.created_at),
        last_modified_at=utc(row.last_modified_at),
    )


def user_from_row(row: Row[Any]) -> User:
    return User(
        pool_id=row.pool_id,
        username=row.username,
        sub=row.sub,
        password_hash=row.password_hash,
        status=UserStatus(row.status),
        enabled=row.enabled,
        attributes=json.loads(row.attributes),
        created_at=utc(row.created_at),
        last_modified_at=utc(row.last_modified_at),
        signed_out_at=row.signed_out_at,
    )


def group_from_row(row: Row[Any]) -> Group:
    return Group(
        pool_id=row.pool_id,
        name=row.name,
        description=row.description,
        precedence=row.precedence,
        role_arn=row.role_arn,
        created_at=utc(row.created_at),
        last_modified_at=utc(row.last_modified_at),
    )


def refresh_token_from_row(row: Row[Any]) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash,
        pool_id=row.pool_id,
        username=row.username,
        client_id=row.client_id,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked=row.revoked,
        origin_jti=row.origin_jti,
    )


def signing_key_from_row(row: Row[Any]) -> SigningKey:
    return SigningKey(kid=row.kid, private_pem=row.private_pem, created_at=utc(row.created_at))


def access_key_from_row(row: Row[Any]) -> AccessKey:
    return AccessKey(
        access_key_id=row.access_key_id,
        secret=row.secret,
        pool_id=row.pool_id,
        username=row.username,
        status=AccessKeyStatus(row.status),
        created_at=utc(row.created_at),
    )
