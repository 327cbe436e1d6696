"""The identity facade in-process: who a token stands for, kept between requests, and
never kept past what changes it here; RevokeToken revoking the tokens of one sign-in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from modelyard.identity import AuthResult, IdentityService, NotAuthorized
from modelyard.identity.passwords import Passwords
from modelyard.identity.tokens import hash_refresh_token, new_refresh_token
from modelyard.storage import Database
from modelyard.storage.identity import IdentityStore, RefreshToken, UserPoolClient

PASSWORD = "Correct-Horse-9"
#: Cognito's message for a token revoked by RevokeToken or GlobalSignOut.
REVOKED = "Access Token has been revoked"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    found = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    found.migrate()
    yield found
    found.close()


def test_a_token_s_principal_follows_group_changes_and_sign_out_at_once(
    database: Database,
) -> None:
    identity = IdentityService(
        database=database,
        region="us-east-1",
        account_id="000000000000",
        base_url="http://127.0.0.1:1",
        passwords=Passwords(time_cost=1, memory_cost_kib=8),
    )

    async def scenario() -> list[object]:
        await identity.start()
        pool = await identity.create_user_pool("p")
        client = await identity.create_user_pool_client(
            pool.id, "c", explicit_auth_flows=["ALLOW_USER_PASSWORD_AUTH"]
        )
        await identity.create_group(pool.id, "analysts")
        await identity.admin_create_user(pool.id, "ada")
        await identity.admin_set_user_password(pool.id, "ada", PASSWORD, permanent=True)
        await identity.admin_add_user_to_group(pool.id, "ada", "analysts")
        signed_in = await identity.initiate_auth(
            client.client_id, "USER_PASSWORD_AUTH", {"USERNAME": "ada", "PASSWORD": PASSWORD}
        )
        assert signed_in.id_token is not None and signed_in.access_token is not None
        seen: list[object] = []
        first = await identity.principal_of_token(signed_in.id_token)
        again = await identity.principal_of_token(signed_in.id_token)
        seen += [first.groups, again is first]
        await identity.admin_remove_user_from_group(pool.id, "ada", "analysts")
        seen.append((await identity.principal_of_token(signed_in.id_token)).groups)
        await identity.global_sign_out(signed_in.access_token)
        with pytest.raises(NotAuthorized):
            await identity.principal_of_token(signed_in.id_token)
        with pytest.raises(NotAuthorized):
            await identity.principal_of_token("not.a.token")
        return seen

    assert asyncio.run(scenario()) == [("analysts",), True, ()]


# -- RevokeToken -----------------------------------------------------------------------------


def new_identity(database: Database) -> IdentityService:
    return IdentityService(
        database=database,
        region="us-east-1",
        account_id="000000000000",
        base_url="http://127.0.0.1:1",
        passwords=Passwords(time_cost=1, memory_cost_kib=8),
    )


async def with_user(identity: IdentityService) -> UserPoolClient:
    """Start ``identity`` with a pool, a client that signs in and refreshes, and "ada"."""
    await identity.start()
    pool = await identity.create_user_pool("p")
    client = await identity.create_user_pool_client(
        pool.id, "c", explicit_auth_flows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    )
    await identity.admin_create_user(pool.id, "ada")
    await identity.admin_set_user_password(pool.id, "ada", PASSWORD, permanent=True)
    return client


async def sign_in(identity: IdentityService, client: UserPoolClient) -> AuthResult:
    return await identity.initiate_auth(
        client.client_id, "USER_PASSWORD_AUTH", {"USERNAME": "ada", "PASSWORD": PASSWORD}
    )


async def refresh(identity: IdentityService, client: UserPoolClient, token: str) -> AuthResult:
    return await identity.initiate_auth(
        client.client_id, "REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": token}
    )


def origin_of(token: str | None) -> str:
    assert token is not None
    origin = jwt.decode(token, options={"verify_signature": False})["origin_jti"]
    assert isinstance(origin, str)
    return origin


def test_tokens_refreshed_carry_the_origin_of_their_sign_in(database: Database) -> None:
    identity = new_identity(database)

    async def scenario() -> tuple[AuthResult, AuthResult, AuthResult]:
        client = await with_user(identity)
        first = await sign_in(identity, client)
        assert first.refresh_token is not None
        refreshed = await refresh(identity, client, first.refresh_token)
        return first, refreshed, await sign_in(identity, client)

    first, refreshed, other = asyncio.run(scenario())

    origin = origin_of(first.access_token)
    assert origin_of(first.id_token) == origin
    assert origin_of(refreshed.access_token) == origin_of(refreshed.id_token) == origin
    assert origin_of(other.access_token) != origin


def test_revoking_a_refresh_token_revokes_the_tokens_of_its_sign_in_only(
    database: Database,
) -> None:
    identity = new_identity(database)

    async def scenario() -> None:
        client = await with_user(identity)
        first = await sign_in(identity, client)
        other = await sign_in(identity, client)
        assert first.refresh_token is not None and first.id_token is not None
        refreshed = await refresh(identity, client, first.refresh_token)
        # Answered from memory from now on, until something changes it here.
        kept = await identity.principal_of_token(first.id_token)
        assert await identity.principal_of_token(first.id_token) is kept

        await identity.revoke_token(first.refresh_token, client.client_id, None)

        for token in (first.access_token, refreshed.access_token):
            assert token is not None
            with pytest.raises(NotAuthorized, match=REVOKED):
                await identity.get_user(token)
        for token in (first.id_token, refreshed.id_token, refreshed.access_token):
            assert token is not None
            with pytest.raises(NotAuthorized, match=REVOKED):
                await identity.principal_of_token(token)
        with pytest.raises(NotAuthorized, match="Invalid Refresh Token"):
            await refresh(identity, client, first.refresh_token)
        assert other.access_token is not None and other.id_token is not None
        assert (await identity.get_user(other.access_token)).username == "ada"
        assert (await identity.principal_of_token(other.id_token)).username == "ada"

    asyncio.run(scenario())


def test_a_refresh_token_stored_without_an_origin_adopts_one(database: Database) -> None:
    identity = new_identity(database)
    legacy = new_refresh_token()

    async def scenario() -> None:
        client = await with_user(identity)
        # As a token issued before the store kept origins (revision 0008) is stored.
        IdentityStore(database).add_refresh_token(
            RefreshToken(
                token_hash=hash_refresh_token(legacy),
                pool_id=client.pool_id,
                username="ada",
                client_id=client.client_id,
                issued_at=time.time(),
                expires_at=time.time() + 3600,
            )
        )
        tokens = [(await refresh(identity, client, legacy)).access_token for _ in range(2)]
        assert origin_of(tokens[0]) == origin_of(tokens[1])
        await identity.revoke_token(legacy, client.client_id, None)
        for token in tokens:
            assert token is not None
            with pytest.raises(NotAuthorized, match=REVOKED):
                await identity.get_user(token)

    asyncio.run(scenario())
