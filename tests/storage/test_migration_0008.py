"""Revision 0008 (the origin_jti of refresh tokens), on SQLite and PostgreSQL: an upgrade
from 0007 keeps the refresh tokens, which have no origin until they adopt one, and a
downgrade gives back 0007's table with its tokens."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import inspect, text

from modelyard.storage import Database
from modelyard.storage.database import _alembic_config
from modelyard.storage.identity import IdentityStore
from tests.storage.test_identity_storage import POOL, make_client, make_pool, make_user

TABLE = "identity_refresh_tokens"
ORIGIN_INDEX = "ix_identity_refresh_tokens_origin_jti"


def add_token_as_0007_did(database: Database, token_hash: str) -> None:
    """A refresh token as revision 0007 stored it: without an origin_jti column."""
    with database.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {TABLE} (token_hash, pool_id, username, client_id, issued_at,"
                " expires_at, revoked) VALUES (:hash, :pool, 'alice', :client, 1.5, 2.5, :no)"
            ),
            {"hash": token_hash, "pool": POOL, "client": make_client().client_id, "no": False},
        )


def at_0007_with_a_token(database: Database) -> None:
    database.migrate("0007")
    store = IdentityStore(database)
    assert store.add_pool(make_pool())
    assert store.add_client(make_client())
    assert store.add_user(make_user())
    add_token_as_0007_did(database, "h1")


def shape(database: Database) -> dict[str, Any]:
    """What a migration could lose of the table: its columns, indexes and foreign keys."""
    inspector = inspect(database.engine)
    return {
        "columns": sorted(column["name"] for column in inspector.get_columns(TABLE)),
        "indexes": sorted(
            (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(TABLE)
        ),
        "foreign_keys": sorted(
            (tuple(fk["constrained_columns"]), fk["referred_table"], fk["options"].get("ondelete"))
            for fk in inspector.get_foreign_keys(TABLE)
        ),
    }


def test_an_upgrade_from_0007_keeps_the_tokens_without_an_origin(
    empty_database: Database,
) -> None:
    at_0007_with_a_token(empty_database)

    empty_database.migrate("0008")

    store = IdentityStore(empty_database)
    found = store.get_refresh_token("h1")
    assert found is not None and found.origin_jti is None and found.username == "alice"
    assert store.adopt_origin_jti("h1", "origin-1") == "origin-1"
    assert store.revoke_refresh_token("h1")
    assert store.is_origin_revoked("origin-1")
    assert (ORIGIN_INDEX, ("origin_jti",)) in shape(empty_database)["indexes"]


def test_a_downgrade_to_0007_gives_back_its_table_and_tokens(empty_database: Database) -> None:
    at_0007_with_a_token(empty_database)
    before = shape(empty_database)
    empty_database.migrate("0008")
    IdentityStore(empty_database).adopt_origin_jti("h1", "origin-1")
    config = _alembic_config()

    with empty_database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")

    assert empty_database.current_revision() == "0007"
    assert shape(empty_database) == before
    with empty_database.read() as connection:
        rows = connection.execute(text(f"SELECT token_hash, username FROM {TABLE}")).all()
    assert [tuple(row) for row in rows] == [("h1", "alice")]
