"""Endpoints and their status transitions, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from modelyard.storage import Database
from modelyard.storage.endpoints import (
    DeployedVariant,
    Deployment,
    Endpoint,
    Endpoints,
    EndpointStatus,
)
from modelyard.storage.listing import ListQuery
from modelyard.storage.sagemaker_models import ContainerMode
from modelyard.storage.tags import ResourceType, Tag, Tags

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def variant(name: str, weight: float = 1.0, count: int = 1, current: int = 0) -> DeployedVariant:
    return DeployedVariant(
        variant_name=name,
        model_name=f"model-{name}",
        model_data_url=f"s3://bucket/{name}.tar.gz",
        mode=ContainerMode.SINGLE_MODEL,
        instance_type="ml.m5.large",
        current_weight=weight,
        desired_weight=weight,
        current_instance_count=current,
        desired_instance_count=count,
    )


def creating(name: str, created_at: datetime = T0) -> Endpoint:
    return Endpoint(
        name=name,
        status=EndpointStatus.CREATING,
        current=Deployment(
            config_name="config-1",
            variants=(variant("blue", 0.7, 2), variant("green", 0.3)),
            data_capture_config={"EnableCapture": True},
        ),
        created_at=created_at,
        last_modified_at=created_at,
    )


@pytest.fixture
def endpoints(database: Database) -> Endpoints:
    return Endpoints(database)


def settled(endpoint: Endpoint) -> Deployment:
    return dataclasses.replace(
        endpoint.current, variants=tuple(v.settled() for v in endpoint.current.variants)
    )


def test_add_then_get_gives_the_same_endpoint(endpoints: Endpoints) -> None:
    added = creating("churn")

    assert endpoints.add(added) is True

    assert endpoints.get("CHURN") == added
    assert endpoints.add(creating("Churn")) is False


def test_creating_completes_into_service(endpoints: Endpoints) -> None:
    endpoint = creating("churn")
    endpoints.add(endpoint)

    done = endpoints.complete("churn", settled(endpoint))

    assert done is not None and done.status is EndpointStatus.IN_SERVICE
    assert [v.current_instance_count for v in done.current.variants] == [2, 1]
    assert done.last_modified_at > endpoint.last_modified_at
    assert done.failure_reason is None


def test_creating_fails_with_a_reason(endpoints: Endpoints) -> None:
    endpoints.add(creating("churn"))

    failed = endpoints.fail("churn", "model-blue: weights are corrupt")

    assert failed is not None and failed.status is EndpointStatus.FAILED
    assert failed.failure_reason == "model-blue: weights are corrupt"
    # Failed is final: a late completion changes nothing.
    assert endpoints.complete("churn", failed.current) is None
    assert endpoints.begin_update("churn", failed.current) is None


def test_an_update_keeps_the_current_variants_until_it_completes(endpoints: Endpoints) -> None:
    endpoint = creating("churn")
    endpoints.add(endpoint)
    serving = settled(endpoint)
    endpoints.complete("churn", serving)
    new = Deployment(config_name="config-2", variants=(variant("red", count=3),))

    updating = endpoints.begin_update("churn", new)

    assert updating is not None and updating.status is EndpointStatus.UPDATING
    assert updating.current == serving and updating.pending == new
    # A second update cannot start while one runs.
    assert endpoints.begin_update("churn", new) is None
    done = endpoints.complete("churn", new)
    assert done is not None and done.status is EndpointStatus.IN_SERVICE
    assert done.current == new and done.pending is None


def test_a_failed_update_rolls_back_with_a_reason(endpoints: Endpoints) -> None:
    endpoint = creating("churn")
    endpoints.add(endpoint)
    serving = settled(endpoint)
    endpoints.complete("churn", serving)
    endpoints.begin_update("churn", Deployment(config_name="config-2", variants=()))

    rolled_back = endpoints.roll_back("churn", "could not load model-red")

    assert rolled_back is not None and rolled_back.status is EndpointStatus.IN_SERVICE
    assert rolled_back.current == serving and rolled_back.pending is None
    assert rolled_back.failure_reason == "could not load model-red"
    assert endpoints.roll_back("churn", "again") is None


def test_delete_from_any_status_then_remove(database: Database, endpoints: Endpoints) -> None:
    endpoints.add(creating("churn"), tags=[Tag(key="category", value="a")])

    deleting = endpoints.begin_delete("churn")

    assert deleting is not None and deleting.status is EndpointStatus.DELETING
    assert endpoints.complete("churn", deleting.current) is None
    assert endpoints.remove("churn") is True
    assert endpoints.get("churn") is None
    assert endpoints.begin_delete("churn") is None
    assert Tags(database).list(ResourceType.ENDPOINT, "churn") is None


def test_with_status_finds_endpoints_to_resume(endpoints: Endpoints) -> None:
    for name in ["c", "a", "b"]:
        endpoints.add(creating(name))
    endpoints.fail("b", "broken")

    found = endpoints.with_status({EndpointStatus.CREATING, EndpointStatus.UPDATING})

    assert [e.name for e in found] == ["a", "c"]


def test_tagged_lists_endpoints_with_the_tag_value(endpoints: Endpoints) -> None:
    endpoints.add(creating("nlp-1"), tags=[Tag(key="category", value="nlp,text")])
    endpoints.add(creating("vision"), tags=[Tag(key="category", value="images")])
    endpoints.add(creating("plain"), tags=[Tag(key="team", value="x")])

    found = endpoints.tagged("category")

    assert [(e.name, value) for e, value in found] == [("nlp-1", "nlp,text"), ("vision", "images")]


def test_list_filters_by_status_and_modification_time(endpoints: Endpoints) -> None:
    for offset, name in enumerate(["a", "b", "c"]):
        endpoints.add(creating(name, T0 + timedelta(seconds=offset)))
    done = endpoints.complete("b", settled(creating("b")))
    assert done is not None

    in_service = endpoints.list(ListQuery(status=EndpointStatus.IN_SERVICE.value))
    recent = endpoints.list(ListQuery(modified_after=T0 + timedelta(days=1)))
    by_status = endpoints.list(ListQuery(sort_by="status", limit=2))

    assert [e.name for e in in_service.items] == ["b"]
    assert [e.name for e in recent.items] == ["b"]
    # "Creating" < "InService": a then c (by key), and b on the next page.
    assert [e.name for e in by_status.items] == ["a", "c"]
    assert by_status.next is not None
    rest = endpoints.list(ListQuery(sort_by="status", limit=2, after=by_status.next))
    assert [e.name for e in rest.items] == ["b"] and rest.next is None
