"""Fixtures of the training tests: a migrated SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.storage import Database


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    database.migrate()
    return database
