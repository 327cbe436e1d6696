"""The platform's own user pool, and the administrator a new home starts with.

The first ``modelyard up`` on an empty home creates the pool ``modelyard`` (with the
groups ``admin`` and ``user`` and the app client ``modelyardcli``), an ``admin`` user with
a random password, and an access key pair for it, and writes them once to
``<home>/credentials`` (mode 0600) in the AWS shared-credentials format, so that boto3
signs with them through ``AWS_SHARED_CREDENTIALS_FILE``::

    [default]
    aws_access_key_id = AKIA...
    aws_secret_access_key = ...
    modelyard_username = admin
    modelyard_password = ...
    modelyard_user_pool_id = us-east-1_modelyard
    modelyard_client_id = modelyardcli

A home whose file already holds a key pair keeps it (the key is recorded again if the
database does not know it). The pool and client have fixed ids, so processes starting
together on one new database make them once.
"""

from __future__ import annotations

import configparser
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from modelyard.identity.directory import Directory
from modelyard.identity.errors import GroupExists, UsernameExists
from modelyard.identity.passwords import PasswordPolicy, generate_password
from modelyard.storage.identity import UserPool

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USERNAME",
    "CLIENT_ID",
    "CREDENTIALS_FILE",
    "USER_GROUP",
    "PlatformIdentity",
    "ensure_platform_identity",
]

#: The credentials file, in the home.
CREDENTIALS_FILE: Final = "credentials"
#: The groups of the platform's pool: administrators, and everyone else.
ADMIN_GROUP: Final = "admin"
USER_GROUP: Final = "user"
#: The first administrator.
ADMIN_USERNAME: Final = "admin"
#: The app client the CLI and the README use (password and refresh-token sign-in).
CLIENT_ID: Final = "modelyardcli"
_POOL_NAME: Final = "modelyard"
_CLIENT_FLOWS: Final = (
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
)


@dataclass(frozen=True, kw_only=True)
class PlatformIdentity:
    """The platform's pool and client, and where the administrator's credentials are."""

    #: The pool's id (``<region>_modelyard``) and its app client's id.
    pool_id: str
    client_id: str
    #: The credentials file.
    credentials: Path
    #: Whether this start wrote it.
    written: bool


async def ensure_platform_identity(identity: Directory, home: Path) -> PlatformIdentity:
    """Make the platform's pool, groups, client and administrator if they are missing."""
    pool = await _platform_pool(identity)
    for name, precedence in ((ADMIN_GROUP, 0), (USER_GROUP, 1)):
        # Made by an earlier start, or by another process just now, if it exists.
        with contextlib.suppress(GroupExists):
            await identity.create_group(pool.id, name, precedence=precedence)
    await identity.ensure_user_pool_client(
        pool.id, CLIENT_ID, name="modelyard", explicit_auth_flows=_CLIENT_FLOWS
    )
    path = home / CREDENTIALS_FILE
    existing = _read_credentials(path)
    if existing is not None:
        key_id, secret = existing
        if identity.access_key(key_id) is None:
            await _admin(identity, pool, password=None)
            await identity.create_access_key(
                pool.id, ADMIN_USERNAME, access_key_id=key_id, secret=secret
            )
        return PlatformIdentity(
            pool_id=pool.id, client_id=CLIENT_ID, credentials=path, written=False
        )
    password = await _admin(identity, pool, password=generate_password(_policy(pool)))
    key = await identity.create_access_key(pool.id, ADMIN_USERNAME)
    lines = [
        "[default]",
        f"aws_access_key_id = {key.access_key_id}",
        f"aws_secret_access_key = {key.secret}",
        f"modelyard_username = {ADMIN_USERNAME}",
    ]
    if password is not None:
        lines.append(f"modelyard_password = {password}")
    lines += [f"modelyard_user_pool_id = {pool.id}", f"modelyard_client_id = {CLIENT_ID}"]
    _write_private(path, "\n".join(lines) + "\n")
    return PlatformIdentity(pool_id=pool.id, client_id=CLIENT_ID, credentials=path, written=True)


async def _platform_pool(identity: Directory) -> UserPool:
    return await identity.ensure_user_pool(f"{identity.region}_{_POOL_NAME}", _POOL_NAME)


async def _admin(identity: Directory, pool: UserPool, *, password: str | None) -> str | None:
    """Create the administrator, in the admin group; the password it was given, or None
    if it existed already (its password is then not ours to know)."""
    try:
        await identity.admin_create_user(pool.id, ADMIN_USERNAME)
    except UsernameExists:
        await identity.admin_add_user_to_group(pool.id, ADMIN_USERNAME, ADMIN_GROUP)
        return None
    await identity.admin_add_user_to_group(pool.id, ADMIN_USERNAME, ADMIN_GROUP)
    if password is None:
        password = generate_password(_policy(pool))
    await identity.set_password(pool.id, ADMIN_USERNAME, password, permanent=True)
    return password


def _policy(pool: UserPool) -> PasswordPolicy:
    return PasswordPolicy.from_cognito(pool.password_policy)


def _read_credentials(path: Path) -> tuple[str, str] | None:
    """The ``[default]`` key pair of the file, if it has one."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text())
    except (FileNotFoundError, configparser.Error, UnicodeDecodeError):
        return None
    section = parser["default"] if parser.has_section("default") else None
    key_id = section.get("aws_access_key_id") if section is not None else None
    secret = section.get("aws_secret_access_key") if section is not None else None
    return (key_id, secret) if key_id and secret else None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(partial, path)
