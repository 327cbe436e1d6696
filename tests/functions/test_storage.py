"""Function registrations in the database, on SQLite and PostgreSQL: the repository's
queries, and revision 0003 (an upgrade from 0002 keeps what was there and makes the table
the schema module describes; a downgrade drops only that table)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from modelyard.storage import Database, ModelRegistrations, schema
from modelyard.storage.database import _alembic_config
from modelyard.storage.functions import FunctionRegistration, FunctionRegistrations

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database never migrated: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = Database(url)
    yield database
    database.close()


@pytest.fixture
def registrations(empty_database: Database) -> FunctionRegistrations:
    empty_database.migrate()
    return FunctionRegistrations(empty_database)


def registration(name: str, *, at: datetime = T0, **fields: object) -> FunctionRegistration:
    values: dict[str, object] = {
        "handler": "pkg.mod:handler",
        "timeout_s": 3.0,
        "environment": {},
        "description": "",
    }
    values.update(fields)
    return FunctionRegistration(name=name, created_at=at, updated_at=at, **values)  # type: ignore[arg-type]


def test_a_saved_registration_reads_back_whole_until_removed(
    registrations: FunctionRegistrations,
) -> None:
    saved = registration(
        "resize",
        handler="images.tasks:Resizer.run",
        timeout_s=12.5,
        environment={"BUCKET": "thumbnails", "GREETING": "héllo ✓"},
        description="Resizes images",
    )

    stored, created = registrations.save(saved)

    assert created is True
    assert stored == saved
    assert registrations.get("resize") == saved
    assert registrations.get("Resize") is None  # names are case-sensitive, as in Lambda
    assert registrations.page(limit=1) == ([saved], None)  # the last page says so
    assert registrations.remove("resize") is True
    assert registrations.remove("resize") is False
    assert registrations.get("resize") is None


def test_saving_a_taken_name_replaces_it_and_keeps_its_creation_time(
    registrations: FunctionRegistrations,
) -> None:
    registrations.save(registration("job", timeout_s=3.0))
    later = T0 + timedelta(hours=1)

    stored, created = registrations.save(
        registration("job", at=later, handler="pkg.other:run", environment={"STAGE": "prod"})
    )

    assert created is False
    assert stored.created_at == T0 and stored.updated_at == later
    assert registrations.get("job") == stored
    assert stored.handler == "pkg.other:run" and stored.environment == {"STAGE": "prod"}


def test_pages_follow_the_names_without_repeating_or_skipping(
    registrations: FunctionRegistrations,
) -> None:
    for name in ["delta", "alpha", "echo", "charlie", "bravo"]:
        registrations.save(registration(name))

    first, after = registrations.page(limit=2)
    registrations.save(registration("aardvark"))  # before the cursor: not seen
    registrations.remove("charlie")  # on the next page: not seen
    second, end = registrations.page(after=after, limit=2)

    assert [r.name for r in first] == ["alpha", "bravo"] and after == "bravo"
    assert [r.name for r in second] == ["delta", "echo"]
    assert end is None


def test_an_upgrade_from_0002_keeps_what_was_there(empty_database: Database) -> None:
    empty_database.migrate("0002")
    ModelRegistrations(empty_database).add("kept", "models/kept")
    assert "functions" not in inspect(empty_database.engine).get_table_names()

    empty_database.migrate("0003")

    assert empty_database.current_revision() == "0003"
    assert ModelRegistrations(empty_database).get("kept") is not None
    inspector = inspect(empty_database.engine)
    columns = {c["name"]: c for c in inspector.get_columns("functions")}
    assert set(columns) == {c.name for c in schema.functions.columns}
    assert not any(c["nullable"] for c in columns.values())
    assert inspector.get_pk_constraint("functions")["constrained_columns"] == ["name"]
    functions = FunctionRegistrations(empty_database)
    functions.save(registration("new"))
    assert functions.get("new") == registration("new")


def test_a_downgrade_to_0002_drops_only_the_functions_table(empty_database: Database) -> None:
    empty_database.migrate("0003")
    FunctionRegistrations(empty_database).save(registration("dropped"))
    ModelRegistrations(empty_database).add("kept", "models/kept")
    config = _alembic_config()

    with empty_database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")

    assert empty_database.current_revision() == "0002"
    assert "functions" not in inspect(empty_database.engine).get_table_names()
    assert ModelRegistrations(empty_database).get("kept") is not None
