"""The identity facade in-process: who a token stands for, kept between requests, and
never kept past what changes it here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.identity import IdentityService, NotAuthorized
from modelyard.identity.passwords import Passwords
from modelyard.storage import Database

PASSWORD = "Correct-Horse-9"


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
