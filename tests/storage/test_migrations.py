"""Migrations: an empty database upgrades to the latest schema, and upgrading is idempotent."""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from modelyard.storage import Database, ModelRegistrations
from modelyard.storage.database import MIGRATIONS
from modelyard.storage.schema import metadata


def test_an_empty_database_has_no_revision(empty_database: Database) -> None:
    assert empty_database.current_revision() is None


def test_migrate_creates_the_models_table(empty_database: Database) -> None:
    empty_database.migrate()

    inspector = inspect(empty_database.engine)
    columns = {column["name"]: column for column in inspector.get_columns("models")}
    assert sorted(columns) == ["created_at", "name", "settings", "url"]
    assert inspector.get_pk_constraint("models")["constrained_columns"] == ["name"]
    assert columns["url"]["nullable"] is False
    assert columns["settings"]["nullable"] is True
    assert empty_database.current_revision() == Database.head_revision() == "0001"


def test_migrating_twice_changes_nothing(empty_database: Database) -> None:
    empty_database.migrate()
    ModelRegistrations(empty_database).add("kept", "models/kept")

    empty_database.migrate()

    assert empty_database.current_revision() == Database.head_revision()
    assert [r.name for r in ModelRegistrations(empty_database).list()] == ["kept"]


def test_the_schema_module_matches_the_migrated_database(database: Database) -> None:
    with database.begin() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)

    assert differences == []


def test_processes_starting_together_migrate_once(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(4)]
    errors: list[BaseException] = []

    def migrate(database: Database) -> None:
        try:
            database.migrate()
        except BaseException as exc:  # reported below, where pytest sees it
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for database in databases:
        database.close()

    assert errors == []
    checker = Database(database_url)
    assert checker.current_revision() == Database.head_revision()
    checker.close()


def test_the_migrations_ship_with_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py")) == ["0001_models.py"]
