"""Migrations: an empty database upgrades to the latest schema, and upgrading is idempotent."""

from __future__ import annotations

import fcntl
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from modelyard.storage import Database, ModelRegistrations
from modelyard.storage.database import MIGRATIONS
from modelyard.storage.schema import metadata

#: Revisions an empty database goes through to the latest schema.
REVISIONS = 9


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
    assert empty_database.current_revision() == Database.head_revision() == "0009"


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


#: What each migrating process runs: build the Database, say "ready", wait for a line on
#: stdin (the starting signal, given to all at once), migrate. Alembic logs each revision
#: it applies ("Running upgrade") at INFO, so the test can count them.
MIGRATE = """
import logging, sys
from modelyard.storage import Database
logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
database = Database(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
database.migrate()
database.close()
"""

StartMigrating = Callable[[str, int], list[subprocess.Popen[str]]]


@pytest.fixture
def start_migrating() -> Iterator[StartMigrating]:
    """``start(url, count)``: ``count`` processes migrating ``url``, released together."""
    started: list[subprocess.Popen[str]] = []

    def start(url: str, count: int) -> list[subprocess.Popen[str]]:
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", MIGRATE, url],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        started.extend(processes)
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline() != "ready\n":
                _, err = process.communicate(timeout=60)
                raise AssertionError(f"a migrating process failed to start: {err}")
        # Imports done: one write each releases them within microseconds of each other.
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        return processes

    yield start
    for process in started:
        if process.poll() is None:  # left running by a failed test
            process.kill()
            process.communicate()


def test_processes_starting_together_migrate_once(
    database_url: str, start_migrating: StartMigrating
) -> None:
    processes = start_migrating(database_url, 4)

    logs = []
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        logs.append(err)

    # Each revision is applied once, by one of the processes.
    assert sum(log.count("Running upgrade") for log in logs) == REVISIONS, logs
    checker = Database(database_url)
    assert checker.current_revision() == Database.head_revision()
    checker.close()


def test_migrating_a_new_sqlite_file_waits_for_a_writer_holding_it(tmp_path: Path) -> None:
    # A new file is in rollback-journal mode until a first connection switches it to WAL.
    # Another connection holding the write lock meanwhile (in real life: the process that
    # won the race to switch it) made that switch fail at once with "database is locked",
    # busy timeout or not.
    path = tmp_path / "modelyard.db"
    held = threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(0.5)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    held.wait()
    database = Database(f"sqlite:///{path}")
    try:
        database.migrate()
    finally:
        holder.join()

    assert database.current_revision() == Database.head_revision()
    database.close()


def test_migrating_a_sqlite_file_waits_for_its_migration_lock(
    tmp_path: Path, start_migrating: StartMigrating
) -> None:
    path = tmp_path / "modelyard.db"

    with open(f"{path}.migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        [process] = start_migrating(f"sqlite:///{path}", 1)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)
        assert not path.exists()  # the lock is taken before the first connection
    _, err = process.communicate(timeout=60)

    assert process.returncode == 0, err
    checker = Database(f"sqlite:///{path}")
    assert checker.current_revision() == Database.head_revision()
    checker.close()


def test_the_migrations_ship_with_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert sorted(p.name for p in (MIGRATIONS / "versions").glob("*.py")) == [
        "0001_models.py",
        "0002_endpoints.py",
        "0003_functions.py",
        "0004_workflows.py",
        "0005_jobs.py",
        "0006_identity.py",
        "0007_gateway.py",
        "0008_refresh_token_origins.py",
        "0009_training_jobs.py",
    ]
