"""Tags of SageMaker resources, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelyard.storage import Database
from modelyard.storage.sagemaker_models import ContainerDefinition, SageMakerModel, SageMakerModels
from modelyard.storage.tags import ResourceType, Tag, Tags


@pytest.fixture
def tags(database: Database) -> Tags:
    SageMakerModels(database).add(
        SageMakerModel(
            name="Churn",
            created_at=datetime.now(UTC),
            primary_container=ContainerDefinition(model_data_url="s3://b/k"),
        ),
        tags=[Tag(key="team", value="risk")],
    )
    return Tags(database)


def test_tags_given_at_creation_are_listed(tags: Tags) -> None:
    assert tags.list(ResourceType.MODEL, "churn") == [Tag(key="team", value="risk")]


def test_add_sets_new_keys_and_overwrites_existing_ones(tags: Tags) -> None:
    count = tags.add(
        ResourceType.MODEL,
        "CHURN",
        [Tag(key="team", value="growth"), Tag(key="stage", value="")],
        max_tags=50,
    )

    assert count == 2
    assert tags.list(ResourceType.MODEL, "churn") == [
        Tag(key="stage", value=""),
        Tag(key="team", value="growth"),
    ]


def test_a_repeated_key_in_one_request_keeps_the_last_value(tags: Tags) -> None:
    tags.add(
        ResourceType.MODEL, "churn", [Tag(key="a", value="1"), Tag(key="a", value="2")], max_tags=50
    )

    assert Tag(key="a", value="2") in (tags.list(ResourceType.MODEL, "churn") or [])


def test_keys_are_case_sensitive(tags: Tags) -> None:
    tags.add(ResourceType.MODEL, "churn", [Tag(key="Team", value="x")], max_tags=50)

    listed = tags.list(ResourceType.MODEL, "churn") or []
    assert {t.key for t in listed} == {"Team", "team"}


def test_past_the_limit_nothing_is_written(tags: Tags) -> None:
    count = tags.add(
        ResourceType.MODEL, "churn", [Tag(key=f"k{i}", value="v") for i in range(3)], max_tags=3
    )

    assert count == 4
    assert tags.list(ResourceType.MODEL, "churn") == [Tag(key="team", value="risk")]


def test_remove_deletes_the_keys_given_and_ignores_missing_ones(tags: Tags) -> None:
    tags.add(ResourceType.MODEL, "churn", [Tag(key="stage", value="prod")], max_tags=50)

    assert tags.remove(ResourceType.MODEL, "churn", ["team", "nothing"]) is True

    assert tags.list(ResourceType.MODEL, "churn") == [Tag(key="stage", value="prod")]


def test_a_missing_resource_is_told_apart_from_an_untagged_one(tags: Tags) -> None:
    assert tags.list(ResourceType.ENDPOINT, "churn") is None
    assert tags.add(ResourceType.ENDPOINT, "churn", [Tag(key="a", value="b")], max_tags=50) is None
    assert tags.remove(ResourceType.ENDPOINT_CONFIG, "churn", ["a"]) is False
