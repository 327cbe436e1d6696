"""The user pools' directory: pools, their app clients, users, groups and access keys.

:class:`Directory` is the administrative half of the identity facade (the Cognito
``Admin*`` operations and their kin); :class:`~modelyard.identity.service.IdentityService`
adds sign-in and tokens. Database calls and password hashing run off the event loop.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from modelyard.identity.errors import (
    GroupExists,
    GroupNotFound,
    InvalidParameter,
    UsernameExists,
    UserNotFound,
    UserPoolClientNotFound,
    UserPoolNotFound,
)
from modelyard.identity.passwords import (
    PasswordPolicy,
    Passwords,
    check_password,
    generate_password,
)
from modelyard.storage.database import Database
from modelyard.storage.identity import (
    AccessKey,
    AccessKeyStatus,
    Group,
    IdentityStore,
    User,
    UserPool,
    UserPoolClient,
    UserStatus,
)

__all__ = ["DEFAULT_AUTH_FLOWS", "Directory", "TokenValidity"]

T = TypeVar("T")

#: The flows a client allows when ExplicitAuthFlows is not given (Cognito's default).
DEFAULT_AUTH_FLOWS: Final = ("ALLOW_CUSTOM_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH")
#: Every value ExplicitAuthFlows may hold (the legacy names included).
AUTH_FLOWS: Final = frozenset(
    {
        "ADMIN_NO_SRP_AUTH",
        "CUSTOM_AUTH_FLOW_ONLY",
        "USER_PASSWORD_AUTH",
        "ALLOW_ADMIN_USER_PASSWORD_AUTH",
        "ALLOW_CUSTOM_AUTH",
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_USER_AUTH",
    }
)
_UNIT_SECONDS: Final = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_ALPHANUMERIC: Final = string.ascii_letters + string.digits
_LOWER_ALPHANUMERIC: Final = string.ascii_lowercase + string.digits


class TokenValidity:
    """A client's token lifetimes from CreateUserPoolClient's fields, in seconds.

    ``TokenValidity.of({"AccessTokenValidity": 5}, {"AccessToken": "minutes"})`` is five
    minutes; without units, access and ID tokens count in hours, refresh tokens in days,
    and the defaults are an hour, an hour and thirty days, as in Cognito.
    """

    @staticmethod
    def of(request: Mapping[str, Any], units: Mapping[str, str] | None) -> tuple[int, int, int]:
        """(access, id, refresh) seconds."""
        units = units or {}
        access = _seconds(request.get("AccessTokenValidity"), units.get("AccessToken", "hours"))
        id_token = _seconds(request.get("IdTokenValidity"), units.get("IdToken", "hours"))
        refresh = _seconds(request.get("RefreshTokenValidity"), units.get("RefreshToken", "days"))
        access = access or 3600
        id_token = id_token or 3600
        refresh = refresh or 30 * 86400
        if not 300 <= access <= 86400 or not 300 <= id_token <= 86400:
            raise InvalidParameter(
                "Access and ID tokens must be valid for between 5 minutes and 1 day"
            )
        if not 3600 <= refresh <= 3650 * 86400:
            raise InvalidParameter("Refresh tokens must be valid for between 1 hour and 10 years")
        return access, id_token, refresh


class Directory:
    """User pools, app clients, users, groups and access keys (see the module)."""

    def __init__(
        self,
        *,
        database: Database,
        region: str,
        account_id: str,
        passwords: Passwords | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.region = region
        self.account_id = account_id
        self._store = IdentityStore(database)
        self._passwords = passwords or Passwords()
        self._clock = clock

    # -- user pools -----------------------------------------------------------------------

    async def create_user_pool(
        self, name: str, password_policy: Mapping[str, Any] | None = None
    ) -> UserPool:
        """CreateUserPool: a new pool (names need not be unique, ids are)."""
        if not 1 <= len(name) <= 128:
            raise InvalidParameter("PoolName must be 1 to 128 characters long")
        policy = PasswordPolicy.from_cognito(password_policy or {})
        if not 6 <= policy.minimum_length <= 99:
            raise InvalidParameter("MinimumLength must be between 6 and 99")
        now = self._now()
        while True:
            pool = UserPool(
                id=f"{self.region}_{_random(_ALPHANUMERIC, 9)}",
                name=name,
                password_policy=policy.to_cognito(),
                created_at=now,
                last_modified_at=now,
            )
            if await self._db(self._store.add_pool, pool):
                return pool

    async def describe_user_pool(self, pool_id: str) -> UserPool:
        """DescribeUserPool."""
        pool = await self._db(self._store.get_pool, pool_id)
        if pool is None:
            raise UserPoolNotFound(f"User pool {pool_id} does not exist.")
        return pool

    async def list_user_pools(
        self, *, after: str | None, limit: int
    ) -> tuple[list[UserPool], str | None]:
        """ListUserPools: by id, after ``after``; and the next page's ``after``."""
        return await self._db(self._store.list_pools, after=after, limit=limit)

    async def ensure_user_pool(self, pool_id: str, name: str) -> UserPool:
        """The pool ``pool_id``, made with ``name`` and the default policy if missing.

        A fixed id (the platform's own pool) makes concurrent starts agree on one pool.
        """
        now = self._now()
        pool = UserPool(
            id=pool_id,
            name=name,
            password_policy=PasswordPolicy().to_cognito(),
            created_at=now,
            last_modified_at=now,
        )
        await self._db(self._store.add_pool, pool)
        return await self.describe_user_pool(pool_id)

    async def user_pool_named(self, name: str) -> UserPool | None:
        """The first pool (by id) of that name, if any."""
        return await self._db(self._store.pool_named, name)

    # -- app clients ----------------------------------------------------------------------

    async def create_user_pool_client(
        self,
        pool_id: str,
        name: str,
        *,
        generate_secret: bool = False,
        explicit_auth_flows: Sequence[str] | None = None,
        validity: tuple[int, int, int] = (3600, 3600, 30 * 86400),
    ) -> UserPoolClient:
        """CreateUserPoolClient."""
        await self.describe_user_pool(pool_id)
        if not 1 <= len(name) <= 128:
            raise InvalidParameter("ClientName must be 1 to 128 characters long")
        flows = tuple(explicit_auth_flows) if explicit_auth_flows else DEFAULT_AUTH_FLOWS
        unknown = sorted(set(flows) - AUTH_FLOWS)
        if unknown:
            raise InvalidParameter(f"Invalid ExplicitAuthFlows: {', '.join(unknown)}")
        now = self._now()
        while True:
            client = UserPoolClient(
                client_id=_random(_LOWER_ALPHANUMERIC, 26),
                pool_id=pool_id,
                name=name,
                secret=_random(_LOWER_ALPHANUMERIC, 51) if generate_secret else None,
                explicit_auth_flows=flows,
                access_token_validity_s=validity[0],
                id_token_validity_s=validity[1],
                refresh_token_validity_s=validity[2],
                created_at=now,
                last_modified_at=now,
            )
            if await self._db(self._store.add_client, client):
                return client

    async def ensure_user_pool_client(
        self, pool_id: str, client_id: str, *, name: str, explicit_auth_flows: Sequence[str]
    ) -> UserPoolClient:
        """The client ``client_id`` of the pool, made with these flows if missing."""
        now = self._now()
        client = UserPoolClient(
            client_id=client_id,
            pool_id=pool_id,
            name=name,
            secret=None,
            explicit_auth_flows=tuple(explicit_auth_flows),
            access_token_validity_s=3600,
            id_token_validity_s=3600,
            refresh_token_validity_s=30 * 86400,
            created_at=now,
            last_modified_at=now,
        )
        await self._db(self._store.add_client, client)
        return await self.describe_user_pool_client(pool_id, client_id)

    async def describe_user_pool_client(self, pool_id: str, client_id: str) -> UserPoolClient:
        """DescribeUserPoolClient."""
        client = await self._db(self._store.get_client, client_id)
        if client is None or client.pool_id != pool_id:
            raise UserPoolClientNotFound(f"User pool client {client_id} does not exist.")
        return client

    async def client(self, client_id: str) -> UserPoolClient:
        """The app client ``client_id``, whatever its pool."""
        client = await self._db(self._store.get_client, client_id)
        if client is None:
            raise UserPoolClientNotFound(f"User pool client {client_id} does not exist.")
        return client

    async def user_pool_clients(self, pool_id: str) -> list[UserPoolClient]:
        """Every app client of the pool."""
        found, _ = await self._db(self._store.list_clients, pool_id, after=None, limit=1000)
        return found

    # -- users ----------------------------------------------------------------------------

    async def admin_create_user(
        self,
        pool_id: str,
        username: str,
        *,
        attributes: Mapping[str, str] | None = None,
        temporary_password: str | None = None,
    ) -> tuple[User, str]:
        """AdminCreateUser: a user who must choose a password at first sign-in; the user and
        the temporary password (generated when not given)."""
        pool = await self.describe_user_pool(pool_id)
        _check_username(username)
        attributes = dict(attributes or {})
        attributes.pop("sub", None)
        policy = PasswordPolicy.from_cognito(pool.password_policy)
        if temporary_password is None:
            temporary_password = generate_password(policy)
        else:
            check_password(temporary_password, policy)
        password_hash = await asyncio.to_thread(self._passwords.hash, temporary_password)
        now = self._now()
        user = User(
            pool_id=pool_id,
            username=username,
            sub=str(uuid.uuid4()),
            password_hash=password_hash,
            status=UserStatus.FORCE_CHANGE_PASSWORD,
            enabled=True,
            attributes=attributes,
            created_at=now,
            last_modified_at=now,
            signed_out_at=None,
        )
        if not await self._db(self._store.add_user, user):
            raise UsernameExists("User account already exists")
        return user, temporary_password

    async def admin_set_user_password(
        self, pool_id: str, username: str, password: str, *, permanent: bool
    ) -> User:
        """AdminSetUserPassword: permanent → CONFIRMED, else FORCE_CHANGE_PASSWORD."""
        pool = await self.describe_user_pool(pool_id)
        check_password(password, PasswordPolicy.from_cognito(pool.password_policy))
        return await self.set_password(pool_id, username, password, permanent=permanent)

    async def set_password(
        self, pool_id: str, username: str, password: str, *, permanent: bool
    ) -> User:
        """Store ``password`` (already checked against the policy) for the user."""
        password_hash = await asyncio.to_thread(self._passwords.hash, password)
        status = UserStatus.CONFIRMED if permanent else UserStatus.FORCE_CHANGE_PASSWORD
        user = await self._db(
            self._store.update_user,
            pool_id,
            username,
            password_hash=password_hash,
            status=status,
            now=self._now(),
        )
        if user is None:
            raise UserNotFound("User does not exist.")
        return user

    async def admin_get_user(self, pool_id: str, username: str) -> User:
        """AdminGetUser."""
        await self.describe_user_pool(pool_id)
        user = await self._db(self._store.get_user, pool_id, username)
        if user is None:
            raise UserNotFound("User does not exist.")
        return user

    async def list_users(
        self, pool_id: str, *, after: str | None, limit: int
    ) -> tuple[list[User], str | None]:
        """ListUsers: by username, after ``after``; and the next page's ``after``."""
        await self.describe_user_pool(pool_id)
        return await self._db(self._store.list_users, pool_id, after=after, limit=limit)

    async def admin_delete_user(self, pool_id: str, username: str) -> None:
        """AdminDeleteUser: the user, their memberships, tokens and access keys."""
        self._identity_changed()
        await self.describe_user_pool(pool_id)
        if not await self._db(self._store.delete_user, pool_id, username):
            raise UserNotFound("User does not exist.")

    async def verify_password(self, user: User, password: str) -> bool:
        """Whether ``password`` is the user's."""
        if user.password_hash is None:
            return False
        return await asyncio.to_thread(self._passwords.verify, user.password_hash, password)

    # -- groups ---------------------------------------------------------------------------

    async def create_group(
        self,
        pool_id: str,
        name: str,
        *,
        description: str | None = None,
        precedence: int | None = None,
        role_arn: str | None = None,
    ) -> Group:
        """CreateGroup."""
        await self.describe_user_pool(pool_id)
        if not 1 <= len(name) <= 128:
            raise InvalidParameter("GroupName must be 1 to 128 characters long")
        if precedence is not None and precedence < 0:
            raise InvalidParameter("Precedence must be 0 or more")
        now = self._now()
        group = Group(
            pool_id=pool_id,
            name=name,
            description=description,
            precedence=precedence,
            role_arn=role_arn,
            created_at=now,
            last_modified_at=now,
        )
        if not await self._db(self._store.add_group, group):
            raise GroupExists("A group with the name already exists.")
        return group

    async def admin_add_user_to_group(self, pool_id: str, username: str, group: str) -> None:
        """AdminAddUserToGroup (adding a member again is no error)."""
        self._identity_changed()
        await self._check_member(pool_id, username, group)
        await self._db(self._store.add_to_group, pool_id, username, group)

    async def admin_remove_user_from_group(self, pool_id: str, username: str, group: str) -> None:
        """AdminRemoveUserFromGroup (removing a non-member is no error)."""
        self._identity_changed()
        await self._check_member(pool_id, username, group)
        await self._db(self._store.remove_from_group, pool_id, username, group)

    async def groups_of(self, pool_id: str, username: str) -> list[Group]:
        """The user's groups, by precedence."""
        return await self._db(self._store.groups_of, pool_id, username)

    # -- access keys ----------------------------------------------------------------------

    async def create_access_key(
        self,
        pool_id: str,
        username: str,
        *,
        access_key_id: str | None = None,
        secret: str | None = None,
    ) -> AccessKey:
        """A new access key pair of the user (for SigV4-signed AWS API calls)."""
        await self.admin_get_user(pool_id, username)
        while True:
            key = AccessKey(
                access_key_id=access_key_id
                or "AKIA" + _random(string.ascii_uppercase + string.digits, 16),
                secret=secret or _random(_ALPHANUMERIC + "/+", 40),
                pool_id=pool_id,
                username=username,
                status=AccessKeyStatus.ACTIVE,
                created_at=self._now(),
            )
            if await self._db(self._store.add_access_key, key):
                return key
            if access_key_id is not None:
                raise InvalidParameter(f"access key {access_key_id} exists")

    def access_key(self, access_key_id: str) -> AccessKey | None:
        """The access key ``access_key_id`` (a blocking read)."""
        return self._store.get_access_key(access_key_id)

    # -- helpers --------------------------------------------------------------------------

    def _identity_changed(self) -> None:
        """A user or a membership changed: what was derived from them is stale."""

    async def _check_member(self, pool_id: str, username: str, group: str) -> None:
        await self.admin_get_user(pool_id, username)
        if await self._db(self._store.get_group, pool_id, group) is None:
            raise GroupNotFound("Group not found.")

    def _now(self) -> datetime:
        now = datetime.fromtimestamp(self._clock(), UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    async def _db(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(query, *args, **kwargs)


def _seconds(value: Any, unit: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidParameter("token validity must be a positive integer")
    if unit not in _UNIT_SECONDS:
        raise InvalidParameter(f"TokenValidityUnits must be one of {', '.join(_UNIT_SECONDS)}")
    return value * _UNIT_SECONDS[unit]


def _check_username(username: str) -> None:
    if not 1 <= len(username) <= 128 or any(c.isspace() for c in username):
        raise InvalidParameter(
            "1 validation error detected: Value at 'username' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+"
        )


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))
