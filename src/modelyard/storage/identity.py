"""The identity area's storage: user pools, app clients, users, groups, tokens and keys.

One repository, :class:`IdentityStore`, with one query per intent, each its own
transaction. Everything of a pool hangs off it by foreign keys that cascade: deleting a
pool deletes its clients, users, groups, memberships, refresh tokens and access keys;
deleting a user or a group deletes its memberships (and a user's tokens and keys).

Lists are keyset pages by the record's key (``after`` is the last key of the previous
page), so records added or removed between two pages neither repeat nor shift the rest.
Encoding ``after`` into a ``NextToken`` is the protocol's business. Times are written
converted to UTC: SQLite keeps a datetime's wall time and drops its offset. The records are
in :mod:`modelyard.storage.identity_records` and exported from here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    insert,
    select,
    update,
)

from modelyard.storage.identity_records import (
    KEEP,
    AccessKey,
    AccessKeyStatus,
    Group,
    Keep,
    RefreshToken,
    SigningKey,
    User,
    UserPool,
    UserPoolClient,
    UserStatus,
    access_key_from_row,
    client_from_row,
    group_from_row,
    pool_from_row,
    refresh_token_from_row,
    signing_key_from_row,
    user_from_row,
)
from modelyard.storage.listing import utc
from modelyard.storage.repository import Repository, insert_new
from modelyard.storage.schema import (
    access_keys,
    identity_groups,
    identity_memberships,
    identity_refresh_tokens,
    identity_users,
    signing_keys,
    user_pool_clients,
    user_pools,
)

__all__ = [
    "KEEP",
    "AccessKey",
    "AccessKeyStatus",
    "Group",
    "IdentityStore",
    "Keep",
    "RefreshToken",
    "SigningKey",
    "User",
    "UserPool",
    "UserPoolClient",
    "UserStatus",
]

T = TypeVar("T")

#: The page size when none is given: Cognito's largest ``MaxResults`` for users and pools.
DEFAULT_LIMIT = 60

#: Memberships joined to their group, as ``groups_of`` reads them.
_GROUP_OF_MEMBERSHIP = and_(
    identity_groups.c.pool_id == identity_memberships.c.pool_id,
    identity_groups.c.name == identity_memberships.c.group_name,
)

#: Memberships joined to their user, as ``users_in_group`` reads them.
_USER_OF_MEMBERSHIP = and_(
    identity_users.c.pool_id == identity_memberships.c.pool_id,
    identity_users.c.username == identity_memberships.c.username,
)


class IdentityStore(Repository):
    """The repository of the identity area's records: one query per intent.

    Methods that add a record answer ``False`` rather than raise when the record's key is
    taken, and also when what it belongs to (its pool, its user) does not exist: both are
    constraint violations to the database, and the caller, which looked up the pool or user
    first, knows it exists unless it was deleted in between.
    """

    # -- pools ------------------------------------------------------------------------------

    def add_pool(self, pool: UserPool) -> bool:
        """Add ``pool``; ``False`` if a pool has its id."""
        return self._add(
            insert(user_pools).values(
                id=pool.id,
                name=pool.name,
                password_policy=_dumps(pool.password_policy),
                created_at=utc(pool.created_at),
                last_modified_at=utc(pool.last_modified_at),
            )
        )

    def get_pool(self, pool_id: str) -> UserPool | None:
        """The pool ``pool_id``, or ``None``."""
        return self._one(select(user_pools).where(user_pools.c.id == pool_id), pool_from_row)

    def pool_named(self, name: str) -> UserPool | None:
        """The pool called ``name`` (the first by id if several are), or ``None``."""
        statement = select(user_pools).where(user_pools.c.name == name)
        return self._one(statement.order_by(user_pools.c.id).limit(1), pool_from_row)

    def list_pools(
        self, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[UserPool], str | None]:
        """Up to ``limit`` pools by id, after the id ``after``; and the ``after`` of the
        next page, ``None`` on the last."""
        return self._page(select(user_pools), user_pools.c.id, after, limit, pool_from_row)

    def delete_pool(self, pool_id: str) -> bool:
        """Delete the pool ``pool_id`` and everything of it; ``False`` if there was none."""
        return self._change(delete(user_pools).where(user_pools.c.id == pool_id)) > 0

    # -- app clients ------------------------------------------------------------------------

    def add_client(self, client: UserPoolClient) -> bool:
        """Add ``client``; ``False`` if a client has its id or its pool does not exist."""
        return self._add(
            insert(user_pool_clients).values(
                client_id=client.client_id,
                pool_id=client.pool_id,
                name=client.name,
                secret=client.secret,
                explicit_auth_flows=json.dumps(list(client.explicit_auth_flows)),
                access_token_validity_s=client.access_token_validity_s,
                id_token_validity_s=client.id_token_validity_s,
                refresh_token_validity_s=client.refresh_token_validity_s,
                created_at=utc(client.created_at),
                last_modified_at=utc(client.last_modified_at),
            )
        )

    def get_client(self, client_id: str) -> UserPoolClient | None:
        """The app client ``client_id`` (whatever its pool), or ``None``."""
        clients = user_pool_clients.c
        return self._one(
            select(user_pool_clients).where(clients.client_id == client_id), client_from_row
        )

    def list_clients(
        self, pool_id: str, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[UserPoolClient], str | None]:
        """Up to ``limit`` app clients of ``pool_id`` by client id, after ``after``; and the
        ``after`` of the next page, ``None`` on the last."""
        statement = select(user_pool_clients).where(user_pool_clients.c.pool_id == pool_id)
        return self._page(statement, user_pool_clients.c.client_id, after, limit, client_from_row)

    def delete_client(self, client_id: str) -> bool:
        """Delete the app client ``client_id`` and the refresh tokens issued through it;
        ``False`` if there was none."""
        clients = user_pool_clients.c
        return self._change(delete(user_pool_clients).where(clients.client_id == client_id)) > 0

    # -- users ------------------------------------------------------------------------------

    def add_user(self, user: User) -> bool:
        """Add ``user``; ``False`` if its pool has a user of its username, or has gone (or,
        which a fresh UUID never does, another user has its ``sub``).

        Raises :class:`ValueError` if its attributes hold a ``sub``.
        """
        _check_attributes(user.attributes)
        return self._add(
            insert(identity_users).values(
                pool_id=user.pool_id,
                username=user.username,
                sub=user.sub,
                password_hash=user.password_hash,
                status=user.status.value,
                enabled=user.enabled,
                attributes=_dumps(user.attributes),
                created_at=utc(user.created_at),
                last_modified_at=utc(user.last_modified_at),
                signed_out_at=user.signed_out_at,
            )
        )

    def get_user(self, pool_id: str, username: str) -> User | None:
        """The user ``username`` of ``pool_id`` (the case must match), or ``None``."""
        return self._one(select(identity_users).where(_is_user(pool_id, username)), user_from_row)

    def user_by_sub(self, sub: str) -> User | None:
        """The user whose ``sub`` is ``sub``, whatever its pool, or ``None``."""
        return self._one(select(identity_users).where(identity_users.c.sub == sub), user_from_row)

    def list_users(
        self, pool_id: str, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[User], str | None]:
        """Up to ``limit`` users of ``pool_id`` by username, after ``after``; and the
        ``after`` of the next page, ``None`` on the last."""
        statement = select(identity_users).where(identity_users.c.pool_id == pool_id)
        return self._page(statement, identity_users.c.username, after, limit, user_from_row)

    def update_user(
        self,
        pool_id: str,
        username: str,
        *,
        password_hash: str | Keep | None = KEEP,
        status: UserStatus | Keep = KEEP,
        enabled: bool | Keep = KEEP,
        attributes: Mapping[str, str] | Keep = KEEP,
        signed_out_at: float | Keep | None = KEEP,
        now: datetime,
    ) -> User | None:
        """Change the fields given of the user ``username`` of ``pool_id``, and its
        ``last_modified_at`` to ``now``; the user as it now is, ``None`` if there is none.

        ``attributes`` replaces them all (merging is the caller's business); it must not
        hold a ``sub`` (:class:`ValueError`).
        """
        values: dict[str, Any] = {"last_modified_at": utc(now)}
        if not isinstance(password_hash, Keep):
            values["password_hash"] = password_hash
        if not isinstance(status, Keep):
            values["status"] = status.value
        if not isinstance(enabled, Keep):
            values["enabled"] = enabled
        if not isinstance(attributes, Keep):
            _check_attributes(attributes)
            values["attributes"] = _dumps(attributes)
        if not isinstance(signed_out_at, Keep):
            values["signed_out_at"] = signed_out_at
        with self._db.begin() as connection:
            result = connection.execute(
                update(identity_users).where(_is_user(pool_id, username)).values(**values)
            )
            if result.rowcount == 0:
                return None
            row = connection.execute(
                select(identity_users).where(_is_user(pool_id, username))
            ).one()
        return user_from_row(row)

    def delete_user(self, pool_id: str, username: str) -> bool:
        """Delete the user ``username`` of ``pool_id`` with its memberships, refresh tokens
        and access keys; ``False`` if there was none."""
        return self._change(delete(identity_users).where(_is_user(pool_id, username))) > 0

    # -- groups -----------------------------------------------------------------------------

    def add_group(self, group: Group) -> bool:
        """Add ``group``; ``False`` if its pool has a group of its name, or has gone."""
        return self._add(
            insert(identity_groups).values(
                pool_id=group.pool_id,
                name=group.name,
                description=group.description,
                precedence=group.precedence,
                role_arn=group.role_arn,
                created_at=utc(group.created_at),
                last_modified_at=utc(group.last_modified_at),
            )
        )

    def get_group(self, pool_id: str, name: str) -> Group | None:
        """The group ``name`` of ``pool_id``, or ``None``."""
        return self._one(select(identity_groups).where(_is_group(pool_id, name)), group_from_row)

    def list_groups(
        self, pool_id: str, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[Group], str | None]:
        """Up to ``limit`` groups of ``pool_id`` by name, after ``after``; and the ``after``
        of the next page, ``None`` on the last."""
        statement = select(identity_groups).where(identity_groups.c.pool_id == pool_id)
        return self._page(statement, identity_groups.c.name, after, limit, group_from_row)

    def delete_group(self, pool_id: str, name: str) -> bool:
        """Delete the group ``name`` of ``pool_id`` and its memberships (not its users);
        ``False`` if there was none."""
        return self._change(delete(identity_groups).where(_is_group(pool_id, name))) > 0

    # -- memberships ------------------------------------------------------------------------

    def add_to_group(self, pool_id: str, username: str, group: str) -> bool:
        """Put the user ``username`` in the group ``group`` (a no-op if it is there);
        ``False`` if either does not exist."""
        with self._db.begin() as connection:
            if insert_new(
                connection,
                insert(identity_memberships).values(
                    pool_id=pool_id, username=username, group_name=group
                ),
            ):
                return True
            # The key was taken (already a member) or a foreign key failed (no such user
            # or group): only the first leaves a row.
            found = connection.execute(
                select(identity_memberships.c.username).where(
                    _is_membership(pool_id, username, group)
                )
            ).first()
        return found is not None

    def remove_from_group(self, pool_id: str, username: str, group: str) -> bool:
        """Take the user ``username`` out of the group ``group``; ``False`` if it was not in."""
        statement = delete(identity_memberships).where(_is_membership(pool_id, username, group))
        return self._change(statement) > 0

    def groups_of(self, pool_id: str, username: str) -> list[Group]:
        """The groups the user ``username`` is in, by precedence (``None`` last), then name:
        the first is the one whose role its tokens carry."""
        members = identity_memberships.c
        statement = (
            select(identity_groups)
            .join(identity_memberships, _GROUP_OF_MEMBERSHIP)
            .where(members.pool_id == pool_id, members.username == username)
            # NULLS LAST spelled portably: false sorts before true on both databases.
            .order_by(
                identity_groups.c.precedence.is_(None),
                identity_groups.c.precedence,
                identity_groups.c.name,
            )
        )
        return self._all(statement, group_from_row)

    def users_in_group(
        self, pool_id: str, group: str, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[User], str | None]:
        """Up to ``limit`` users of the group ``group`` by username, after ``after``; and the
        ``after`` of the next page, ``None`` on the last (or if there is no such group)."""
        members = identity_memberships.c
        statement = (
            select(identity_users)
            .join(identity_memberships, _USER_OF_MEMBERSHIP)
            .where(members.pool_id == pool_id, members.group_name == group)
        )
        return self._page(statement, identity_users.c.username, after, limit, user_from_row)

    # -- refresh tokens ---------------------------------------------------------------------

    def add_refresh_token(self, token: RefreshToken) -> None:
        """Record ``token``, issued to an existing user through an existing app client.

        Raises :class:`~modelyard.errors.DatabaseError` if its hash is taken or its user or
        client does not exist: both are bugs (a hash is of a fresh random token).
        """
        with self._db.begin() as connection:
            connection.execute(
                insert(identity_refresh_tokens).values(
                    token_hash=token.token_hash,
                    pool_id=token.pool_id,
                    username=token.username,
                    client_id=token.client_id,
                    issued_at=token.issued_at,
                    expires_at=token.expires_at,
                    revoked=token.revoked,
                    origin_jti=token.origin_jti,
                )
            )

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """The refresh token whose hash is ``token_hash`` (revoked or expired too), or
        ``None``."""
        tokens = identity_refresh_tokens.c
        statement = select(identity_refresh_tokens).where(tokens.token_hash == token_hash)
        return self._one(statement, refresh_token_from_row)

    def adopt_origin_jti(self, token_hash: str, origin_jti: str) -> str | None:
        """The ``origin_jti`` of the refresh token whose hash is ``token_hash``, set to
        ``origin_jti`` first if it had none (a token issued before the store recorded
        them); ``None`` if there is no such token.

        Two processes adopting at once agree: the first write wins and both read it back.
        """
        tokens = identity_refresh_tokens.c
        with self._db.begin() as connection:
            connection.execute(
                update(identity_refresh_tokens)
                .where(tokens.token_hash == token_hash, tokens.origin_jti.is_(None))
                .values(origin_jti=origin_jti)
            )
            found: str | None = connection.execute(
                select(tokens.origin_jti).where(tokens.token_hash == token_hash)
            ).scalar_one_or_none()
        return found

    def is_origin_revoked(self, origin_jti: str) -> bool:
        """Whether a revoked refresh token has the ``origin_jti`` ``origin_jti``: the ID
        and access tokens carrying it are revoked with it."""
        tokens = identity_refresh_tokens.c
        statement = (
            select(tokens.token_hash)
            .where(tokens.origin_jti == origin_jti, tokens.revoked.is_(True))
            .limit(1)
        )
        with self._db.read() as connection:
            return connection.execute(statement).first() is not None

    def revoke_refresh_token(self, token_hash: str) -> bool:
        """Revoke the refresh token whose hash is ``token_hash`` (again, if it was);
        ``False`` if there is none."""
        tokens = identity_refresh_tokens.c
        statement = update(identity_refresh_tokens).where(tokens.token_hash == token_hash)
        return self._change(statement.values(revoked=True)) > 0

    def revoke_refresh_tokens_of(self, pool_id: str, username: str) -> int:
        """Revoke every refresh token of the user ``username``; how many were not yet."""
        tokens = identity_refresh_tokens.c
        statement = update(identity_refresh_tokens).where(
            tokens.pool_id == pool_id, tokens.username == username, tokens.revoked.is_(False)
        )
        return self._change(statement.values(revoked=True))

    # -- access keys ------------------------------------------------------------------------

    def add_access_key(self, key: AccessKey) -> bool:
        """Add ``key``; ``False`` if a key has its id or its user does not exist."""
        return self._add(
            insert(access_keys).values(
                access_key_id=key.access_key_id,
                secret=key.secret,
                pool_id=key.pool_id,
                username=key.username,
                status=key.status.value,
                created_at=utc(key.created_at),
            )
        )

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        """The access key ``access_key_id`` (active or not), or ``None``."""
        statement = select(access_keys).where(access_keys.c.access_key_id == access_key_id)
        return self._one(statement, access_key_from_row)

    def access_keys_of(self, pool_id: str, username: str) -> list[AccessKey]:
        """The access keys of the user ``username``, oldest first."""
        keys = access_keys.c
        statement = (
            select(access_keys)
            .where(keys.pool_id == pool_id, keys.username == username)
            .order_by(keys.created_at, keys.access_key_id)
        )
        return self._all(statement, access_key_from_row)

    def set_access_key_status(self, access_key_id: str, status: AccessKeyStatus) -> bool:
        """Make the access key ``access_key_id`` active or inactive; ``False`` if there is
        none."""
        statement = update(access_keys).where(access_keys.c.access_key_id == access_key_id)
        return self._change(statement.values(status=status.value)) > 0

    def delete_access_key(self, access_key_id: str) -> bool:
        """Delete the access key ``access_key_id``; ``False`` if there was none."""
        statement = delete(access_keys).where(access_keys.c.access_key_id == access_key_id)
        return self._change(statement) > 0

    # -- signing keys -----------------------------------------------------------------------

    def add_signing_key(self, key: SigningKey) -> None:
        """Add ``key``, unless a key has its id: two processes starting on a new database
        may both make one, and the first kept wins."""
        self._add(
            insert(signing_keys).values(
                kid=key.kid, private_pem=key.private_pem, created_at=utc(key.created_at)
            )
        )

    def signing_keys(self) -> list[SigningKey]:
        """Every signing key, oldest first."""
        statement = select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
        return self._all(statement, signing_key_from_row)


def _is_membership(pool_id: str, username: str, group: str) -> ColumnElement[bool]:
    members = identity_memberships.c
    return and_(
        members.pool_id == pool_id, members.username == username, members.group_name == group
    )


def _is_user(pool_id: str, username: str) -> ColumnElement[bool]:
    return and_(identity_users.c.pool_id == pool_id, identity_users.c.username == username)


def _is_group(pool_id: str, name: str) -> ColumnElement[bool]:
    return and_(identity_groups.c.pool_id == pool_id, identity_groups.c.name == name)


def _check_attributes(attributes: Mapping[str, str]) -> None:
    if "sub" in attributes:
        raise ValueError("a user's sub is a field of its own, not one of its attributes")


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(dict(document), sort_keys=True)
