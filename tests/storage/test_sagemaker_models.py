"""SageMaker models (CreateModel) and the listing every List operation shares, on both databases."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from modelyard.storage import Database
from modelyard.storage.listing import ListQuery
from modelyard.storage.sagemaker_models import (
    ContainerDefinition,
    ContainerMode,
    SageMakerModel,
    SageMakerModels,
)
from modelyard.storage.tags import ResourceType, Tag, Tags

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def models(database: Database) -> SageMakerModels:
    return SageMakerModels(database)


def model(name: str, created_at: datetime = T0, **container: object) -> SageMakerModel:
    return SageMakerModel(
        name=name,
        created_at=created_at,
        primary_container=ContainerDefinition(
            model_data_url=f"s3://bucket/{name}.tar.gz",
            **container,  # type: ignore[arg-type]
        ),
        execution_role_arn="arn:aws:iam::000000000000:role/x",
    )


def test_add_then_get_gives_the_same_model(models: SageMakerModels) -> None:
    added = model(
        "churn",
        image="123.dkr.ecr.us-east-1.amazonaws.com/sklearn:1",
        environment={"SAGEMAKER_PROGRAM": "inference.py"},
        mode=ContainerMode.MULTI_MODEL,
        container_hostname="primary",
    )

    assert models.add(added) is True

    assert models.get("churn") == added


def test_containers_instead_of_a_primary_container(models: SageMakerModels) -> None:
    added = SageMakerModel(
        name="pipeline",
        created_at=T0,
        containers=(ContainerDefinition(model_data_url="s3://b/a"),),
    )
    models.add(added)

    stored = models.get("pipeline")

    assert stored == added
    assert stored is not None and stored.container == ContainerDefinition(model_data_url="s3://b/a")


def test_names_are_unique_whatever_their_case(models: SageMakerModels) -> None:
    assert models.add(model("Churn")) is True

    assert models.add(model("churn")) is False
    found = models.get("CHURN")
    assert found is not None and found.name == "Churn"
    assert models.count() == 1


def test_remove_deletes_the_model_and_its_tags(database: Database, models: SageMakerModels) -> None:
    models.add(model("churn"), tags=[Tag(key="team", value="a")])

    assert models.remove("churn") is True

    assert models.get("churn") is None
    assert models.remove("churn") is False
    # A new model of that name starts without the old one's tags.
    models.add(model("churn"))
    assert Tags(database).list(ResourceType.MODEL, "churn") == []


def test_created_at_is_utc(models: SageMakerModels) -> None:
    models.add(model("a", datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(microseconds=7)))

    stored = models.get("a")

    assert stored is not None
    assert stored.created_at == datetime(2026, 1, 1, 12, 0, 0, 7, tzinfo=UTC)
    assert stored.created_at.utcoffset() == timedelta(0)


@pytest.fixture
def five(models: SageMakerModels) -> list[str]:
    # Created out of name order, one second apart: e, c, a, d, b.
    names = ["e-model", "c-model", "a-model", "d-other", "b-other"]
    for offset, name in enumerate(names):
        models.add(model(name, T0 + timedelta(seconds=offset)))
    return names


def every_page(models: SageMakerModels, query: ListQuery) -> list[list[str]]:
    pages = []
    while True:
        page = models.list(query)
        pages.append([m.name for m in page.items])
        if page.next is None:
            return pages
        query = dataclasses.replace(query, after=page.next)


@pytest.mark.usefixtures("five")
def test_pages_by_creation_time_cover_everything_once(models: SageMakerModels) -> None:
    pages = every_page(models, ListQuery(limit=2))

    assert pages == [["e-model", "c-model"], ["a-model", "d-other"], ["b-other"]]


@pytest.mark.usefixtures("five")
def test_pages_by_name_descending(models: SageMakerModels) -> None:
    pages = every_page(models, ListQuery(sort_by="name", descending=True, limit=3))

    assert pages == [["e-model", "d-other", "c-model"], ["b-other", "a-model"]]


@pytest.mark.usefixtures("five")
def test_filters_by_name_and_creation_time(models: SageMakerModels) -> None:
    by_name = models.list(ListQuery(name_contains="OTHER", sort_by="name"))
    by_time = models.list(
        ListQuery(
            created_after=T0 + timedelta(seconds=0.5),
            created_before=T0 + timedelta(seconds=3),
            sort_by="name",
        )
    )

    assert [m.name for m in by_name.items] == ["b-other", "d-other"]
    assert [m.name for m in by_time.items] == ["a-model", "c-model"]


def test_name_filter_treats_like_wildcards_literally(models: SageMakerModels) -> None:
    models.add(model("abc"))

    assert models.list(ListQuery(name_contains="%")).items == []
    assert models.list(ListQuery(name_contains="_")).items == []


@pytest.mark.usefixtures("five")
def test_a_page_ending_exactly_at_the_last_row_has_no_next(models: SageMakerModels) -> None:
    page = models.list(ListQuery(limit=5))

    assert len(page.items) == 5 and page.next is None


def test_rows_added_between_pages_neither_repeat_nor_shift(models: SageMakerModels) -> None:
    for offset, name in enumerate(["a", "b", "c", "d"]):
        models.add(model(name, T0 + timedelta(seconds=offset)))
    first = models.list(ListQuery(sort_by="name", limit=2))
    models.add(model("aa", T0))  # sorts into the first page, already read
    models.remove("a")

    second = models.list(ListQuery(sort_by="name", limit=2, after=first.next))

    assert [m.name for m in first.items] == ["a", "b"]
    assert [m.name for m in second.items] == ["c", "d"]
