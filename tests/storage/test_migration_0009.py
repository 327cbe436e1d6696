"""Revision 0009 (training jobs), on SQLite and PostgreSQL: an upgrade from 0008 adds the
table and its listing indexes, and a downgrade removes them, leaving 0008's tables."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from modelyard.storage import Database
from modelyard.storage.database import _alembic_config
from modelyard.storage.training_jobs import TrainingJobs
from tests.storage.test_training_jobs import job

TABLE = "training_jobs"


def tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names()) - {"alembic_version"}


def test_an_upgrade_from_0008_adds_the_table_and_its_indexes(empty_database: Database) -> None:
    empty_database.migrate("0008")
    before = tables(empty_database)

    empty_database.migrate("0009")

    assert tables(empty_database) == before | {TABLE}
    indexes = {
        (i["name"], tuple(i["column_names"]))
        for i in inspect(empty_database.engine).get_indexes(TABLE)
    }
    assert indexes == {
        ("ix_training_jobs_created_at_key", ("created_at", "key")),
        ("ix_training_jobs_name_key", ("name", "key")),
        ("ix_training_jobs_status_key", ("status", "key")),
    }
    assert TrainingJobs(empty_database).add(job("churn"))


def test_a_downgrade_to_0008_removes_the_table(empty_database: Database) -> None:
    empty_database.migrate("0008")
    before = tables(empty_database)
    empty_database.migrate("0009")
    TrainingJobs(empty_database).add(job("churn"))
    config = _alembic_config()

    with empty_database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")

    assert empty_database.current_revision() == "0008"
    assert tables(empty_database) == before
