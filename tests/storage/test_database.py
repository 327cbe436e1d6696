"""The database wrapper: URLs, SQLite settings, transactions and error translation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from sqlalchemy import insert, select, text

from modelyard.errors import DatabaseError
from modelyard.storage import Database
from modelyard.storage.schema import models


def test_postgresql_urls_use_psycopg_3() -> None:
    database = Database("postgresql://user:secret@db.example:5432/modelyard")

    assert database.url.drivername == "postgresql+psycopg"
    assert "secret" not in repr(database)
    database.close()


def test_a_sqlite_file_gets_its_folder_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'deep' / 'er' / 'modelyard.db'}")

    with database.begin() as connection:
        journal_mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        busy_timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    database.close()

    assert (tmp_path / "deep" / "er" / "modelyard.db").is_file()
    assert journal_mode == "wal"
    assert busy_timeout is not None and busy_timeout > 0


@pytest.mark.parametrize(("setting", "pragma"), [(None, 1), ("NORMAL", 1), ("FULL", 2)])
def test_sqlite_commits_are_synchronous_as_set_normal_by_default(
    tmp_path: Path, setting: Literal["FULL", "NORMAL"] | None, pragma: int
) -> None:
    url = f"sqlite:///{tmp_path / 'modelyard.db'}"
    database = Database(url) if setting is None else Database(url, sqlite_synchronous=setting)

    with database.begin() as connection:
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    database.close()

    assert synchronous == pragma


def test_begin_commits_on_success(database: Database) -> None:
    with database.begin() as connection:
        connection.execute(insert(models).values(name="a", url="models/a"))

    with database.begin() as connection:
        assert connection.execute(select(models.c.name)).scalars().all() == ["a"]


def test_begin_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError, match="halfway"), database.begin() as connection:
        connection.execute(insert(models).values(name="a", url="models/a"))
        raise RuntimeError("halfway")

    with database.begin() as connection:
        assert connection.execute(select(models.c.name)).scalars().all() == []


def test_a_failing_query_raises_database_error(database: Database) -> None:
    with pytest.raises(DatabaseError, match="database operation failed"):  # noqa: SIM117
        with database.begin() as connection:
            connection.execute(text("SELECT * FROM no_such_table"))


def test_an_unreachable_postgresql_raises_database_error() -> None:
    # Nothing listens on port 9 here: the connection is refused at once.
    database = Database("postgresql://postgres@127.0.0.1:9/test")

    with pytest.raises(DatabaseError, match="OperationalError"):
        database.migrate()
    database.close()


def test_a_malformed_url_raises_database_error() -> None:
    with pytest.raises(DatabaseError, match="is not a database URL"):
        Database("not a url")
