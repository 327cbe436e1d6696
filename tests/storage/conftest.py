"""Database fixtures of the storage tests: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelyard.storage import Database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'modelyard.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def empty_database(database_url: str) -> Iterator[Database]:
    """A database never migrated."""
    database = Database(database_url)
    yield database
    database.close()


@pytest.fixture
def database(empty_database: Database) -> Database:
    """A database migrated to the latest revision."""
    empty_database.migrate()
    return empty_database
