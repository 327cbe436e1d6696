"""Revision 0002 (the endpoints area's tables), on SQLite and PostgreSQL: an upgrade from
0001 keeps what was there, and the new tables are what the schema module says."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect

from modelyard.storage import Database, ModelRegistrations
from modelyard.storage.database import _alembic_config
from modelyard.storage.sagemaker_models import (
    ContainerDefinition,
    SageMakerModel,
    SageMakerModels,
)
from modelyard.storage.tags import ResourceType, Tag, Tags

NEW_TABLES = {"sagemaker_models", "endpoint_configs", "endpoints", "tags"}


def test_an_upgrade_from_0001_keeps_the_registrations(empty_database: Database) -> None:
    empty_database.migrate("0001")
    ModelRegistrations(empty_database).add("kept", "models/kept", {"a": 1})
    assert NEW_TABLES.isdisjoint(inspect(empty_database.engine).get_table_names())

    empty_database.migrate("0002")

    assert empty_database.current_revision() == "0002"
    assert set(inspect(empty_database.engine).get_table_names()) >= NEW_TABLES
    kept = ModelRegistrations(empty_database).get("kept")
    assert kept is not None and kept.settings == {"a": 1}
    models = SageMakerModels(empty_database)
    models.add(
        SageMakerModel(
            name="m",
            created_at=datetime.now(UTC),
            primary_container=ContainerDefinition(model_data_url="s3://b/m.tar.gz"),
        ),
        tags=[Tag(key="k", value="v")],
    )
    assert Tags(empty_database).list(ResourceType.MODEL, "m") == [Tag(key="k", value="v")]


def test_a_downgrade_to_0001_drops_only_the_new_tables(database: Database) -> None:
    ModelRegistrations(database).add("kept", "models/kept")
    config = _alembic_config()

    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")

    assert database.current_revision() == "0001"
    assert NEW_TABLES.isdisjoint(inspect(database.engine).get_table_names())
    assert ModelRegistrations(database).get("kept") is not None


def test_the_tags_index_serves_the_category_lookup(database: Database) -> None:
    indexes = inspect(database.engine).get_indexes("tags")

    assert [(i["name"], i["column_names"]) for i in indexes] == [
        ("ix_tags_resource_type_key", ["resource_type", "key"])
    ]
