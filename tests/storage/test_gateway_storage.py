"""The gateway area's storage, on SQLite and PostgreSQL: REST APIs, deployments, stages,
API keys and usage plans."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect

from modelyard.errors import InvalidRequest
from modelyard.gateway.definitions import (
    Integration,
    IntegrationResponse,
    IntegrationType,
    Method,
    Resource,
    RestApi,
)
from modelyard.storage import Database
from modelyard.storage.database import _alembic_config
from modelyard.storage.gateway import (
    ApiKeyRecord,
    DeploymentInUse,
    GatewayStore,
    StoredApi,
    StoredDeployment,
    StoredStage,
    StoredUsagePlan,
)

#: Microseconds included: they must survive the round trip too.
NOW = datetime(2026, 12, 20, 9, 30, 15, 123456, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
API = "a1b2c3d4e5"
OTHER_API = "z9y8x7w6v5"

NEW_TABLES = {
    "rest_apis",
    "api_deployments",
    "api_stages",
    "api_keys",
    "usage_plans",
    "usage_plan_keys",
}


def make_definition(api_id: str = API, *, name: str = "pets") -> RestApi:
    """A small API: ``GET /pets`` answered by a MOCK integration with a template."""
    method = Method(
        http_method="GET",
        api_key_required=True,
        request_parameters={"method.request.querystring.limit": False},
        method_integration=Integration(
            type=IntegrationType.MOCK,
            request_templates={"application/json": '{"statusCode": 200}'},
            integration_responses={
                "200": IntegrationResponse(
                    status_code="200",
                    response_templates={"application/json": '#set($x = 1)\n[ $x, "ü" ]'},
                )
            },
        ),
    )
    return RestApi(
        id=api_id,
        name=name,
        description="Pets, with ünïcödé",
        created_date=NOW,
        root_resource_id="root",
        resources={
            "root": Resource(id="root", path="/"),
            "pets": Resource(
                id="pets",
                parent_id="root",
                path_part="pets",
                path="/pets",
                resource_methods={"GET": method},
            ),
        },
        tags={"team": "ml"},
    )


def make_api(api_id: str = API, *, name: str = "pets") -> StoredApi:
    definition = make_definition(api_id, name=name)
    return StoredApi(
        id=api_id, name=name, created_at=NOW, version=1, document=definition.document()
    )


def make_deployment(
    deployment_id: str = "dep1", *, api_id: str = API, description: str | None = "first"
) -> StoredDeployment:
    return StoredDeployment(
        api_id=api_id,
        id=deployment_id,
        description=description,
        created_at=NOW,
        document=make_definition(api_id).document(),
    )


def make_stage(
    name: str = "prod",
    *,
    api_id: str = API,
    deployment_id: str = "dep1",
    document: Mapping[str, Any] | None = None,
) -> StoredStage:
    return StoredStage(
        api_id=api_id,
        name=name,
        deployment_id=deployment_id,
        created_at=NOW,
        last_updated_at=NOW,
        document=document
        if document is not None
        else {
            "stageName": name,
            "variables": {"model": "churn"},
            "methodSettings": {"*/*": {"throttlingRateLimit": 10.5, "cachingEnabled": False}},
            "tags": {},
        },
    )


def make_key(key_id: str = "key1", *, value: str | None = None) -> ApiKeyRecord:
    value = value if value is not None else f"value-of-{key_id}"
    return ApiKeyRecord(
        id=key_id,
        value_hash=hashlib.sha256(value.encode()).hexdigest(),
        name=f"name of {key_id}",
        description="for the mobile app",
        enabled=True,
        customer_id=None,
        created_at=NOW,
        last_updated_at=NOW,
    )


def make_plan(plan_id: str = "plan1", *, name: str = "gold") -> StoredUsagePlan:
    return StoredUsagePlan(
        id=plan_id,
        name=name,
        created_at=NOW,
        document={
            "apiStages": [{"apiId": API, "stage": "prod"}],
            "throttle": {"rateLimit": 100.0, "burstLimit": 200},
            "quota": {"limit": 5000, "period": "MONTH", "offset": 0},
        },
    )


@pytest.fixture
def store(database: Database) -> GatewayStore:
    return GatewayStore(database)


@pytest.fixture
def api(store: GatewayStore) -> StoredApi:
    """The API ``API``, with the deployment ``dep1``."""
    api = make_api()
    assert store.add_api(api)
    assert store.add_deployment(make_deployment())
    return api


@pytest.fixture
def key(store: GatewayStore) -> ApiKeyRecord:
    key = make_key()
    assert store.add_api_key(key)
    return key


@pytest.fixture
def plan(store: GatewayStore) -> StoredUsagePlan:
    plan = make_plan()
    assert store.add_usage_plan(plan)
    return plan


# -- REST APIs -----------------------------------------------------------------------------


def test_an_api_round_trips_its_definition(store: GatewayStore) -> None:
    api = make_api()

    assert store.add_api(api)

    found = store.get_api(API)
    assert found == api
    assert found is not None and found.created_at.tzinfo is not None
    assert RestApi.model_validate(found.document) == make_definition()


def test_a_document_keeps_the_order_of_its_members(store: GatewayStore) -> None:
    document = {"z": 1, "a": {"y": 2, "b": 3}, "m": [3, 1, 2]}
    assert store.add_api(replace(make_api(), document=document))

    found = store.get_api(API)

    assert found is not None
    assert list(found.document) == ["z", "a", "m"]
    assert list(found.document["a"]) == ["y", "b"]


def test_an_api_id_is_added_once(store: GatewayStore) -> None:
    assert store.add_api(make_api())

    assert not store.add_api(make_api(name="another"))
    found = store.get_api(API)
    assert found is not None and found.name == "pets"


def test_a_missing_api_is_none(store: GatewayStore) -> None:
    assert store.get_api("nothere") is None


def test_times_come_back_in_utc_whatever_zone_they_were_given_in(store: GatewayStore) -> None:
    paris = timezone(timedelta(hours=1))
    assert store.add_api(replace(make_api(), created_at=NOW.astimezone(paris)))

    found = store.get_api(API)

    assert found is not None
    assert found.created_at == NOW
    assert found.created_at.utcoffset() == timedelta(0)


def test_apis_are_listed_in_pages_by_id(store: GatewayStore) -> None:
    for api_id in ["c", "a", "e", "b", "d"]:
        assert store.add_api(make_api(api_id))

    first, after = store.list_apis(limit=2)
    second, after_second = store.list_apis(after=after, limit=2)
    third, end = store.list_apis(after=after_second, limit=2)

    assert [a.id for a in first] == ["a", "b"] and after == "b"
    assert [a.id for a in second] == ["c", "d"] and after_second == "d"
    assert [a.id for a in third] == ["e"] and end is None


def test_a_page_that_holds_the_rest_exactly_is_the_last(store: GatewayStore) -> None:
    for api_id in ["a", "b"]:
        assert store.add_api(make_api(api_id))

    assert store.list_apis(limit=2) == (store.list_apis()[0], None)
    assert [a.id for a in store.list_apis()[0]] == ["a", "b"]


def test_a_page_of_no_records_is_refused(store: GatewayStore) -> None:
    with pytest.raises(ValueError, match="at least one"):
        store.list_apis(limit=0)


def test_replacing_an_api_moves_it_to_the_next_version(store: GatewayStore) -> None:
    assert store.add_api(make_api())
    renamed = make_definition(name="animals").model_copy(update={"description": "renamed"})

    replaced = store.replace_api(
        API, expected_version=1, name="animals", document=renamed.document()
    )

    assert replaced is not None
    assert replaced.version == 2
    assert replaced.name == "animals"
    assert replaced.created_at == NOW
    assert RestApi.model_validate(replaced.document) == renamed
    assert store.get_api(API) == replaced


def test_a_replace_of_a_version_already_replaced_is_refused(store: GatewayStore) -> None:
    assert store.add_api(make_api())
    first = store.replace_api(API, expected_version=1, name="first", document={"n": 1})

    second = store.replace_api(API, expected_version=1, name="second", document={"n": 2})

    assert first is not None and first.version == 2
    assert second is None
    found = store.get_api(API)
    assert found is not None
    assert (found.name, found.version, found.document) == ("first", 2, {"n": 1})


def test_replacing_a_missing_api_is_none(store: GatewayStore) -> None:
    assert store.replace_api("nothere", expected_version=1, name="x", document={}) is None


def test_of_replaces_racing_from_one_version_exactly_one_wins(store: GatewayStore) -> None:
    assert store.add_api(make_api())
    racers = 4
    start = threading.Barrier(racers)
    results: dict[int, StoredApi | None] = {}

    def race(n: int) -> None:
        start.wait()
        results[n] = store.replace_api(
            API, expected_version=1, name=f"racer {n}", document={"racer": n}
        )

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [result for result in results.values() if result is not None]
    assert len(results) == racers
    assert len(winners) == 1
    assert store.get_api(API) == winners[0]
    assert winners[0].version == 2


def test_retrying_replaces_lose_no_change(store: GatewayStore) -> None:
    assert store.add_api(replace(make_api(), document={"added": []}))
    writers = 4

    def add(n: int) -> None:
        while True:
            current = store.get_api(API)
            assert current is not None
            document = {"added": [*current.document["added"], n]}
            written = store.replace_api(
                API, expected_version=current.version, name="pets", document=document
            )
            if written is not None:
                return

    threads = [threading.Thread(target=add, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    found = store.get_api(API)
    assert found is not None
    assert sorted(found.document["added"]) == list(range(writers))
    assert found.version == 1 + writers


def test_deleting_an_api_deletes_its_deployments_and_stages(
    store: GatewayStore, api: StoredApi
) -> None:
    assert store.add_stage(make_stage())
    assert store.add_api(make_api(OTHER_API))
    assert store.add_deployment(make_deployment(api_id=OTHER_API))
    assert store.add_stage(make_stage(api_id=OTHER_API))

    assert store.delete_api(API)

    assert store.get_api(API) is None
    assert store.get_deployment(API, "dep1") is None
    assert store.list_deployments(API) == ([], None)
    assert store.list_stages(API) == []
    # The other API keeps everything.
    assert store.get_deployment(OTHER_API, "dep1") is not None
    assert [s.name for s in store.list_stages(OTHER_API)] == ["prod"]


def test_deleting_a_missing_api_is_false(store: GatewayStore) -> None:
    assert not store.delete_api("nothere")


# -- deployments ---------------------------------------------------------------------------


def test_a_deployment_round_trips_its_frozen_document(store: GatewayStore) -> None:
    assert store.add_api(make_api())
    deployment = make_deployment()

    assert store.add_deployment(deployment)

    found = store.get_deployment(API, "dep1")
    assert found == deployment
    assert found is not None
    assert RestApi.model_validate(found.document) == make_definition()


def test_a_deployment_keeps_its_document_when_the_api_changes(
    store: GatewayStore, api: StoredApi
) -> None:
    assert store.replace_api(API, expected_version=1, name="pets", document={"changed": True})

    found = store.get_deployment(API, "dep1")

    assert found is not None
    assert found.document == make_definition().document()


def test_a_deployment_without_a_description_round_trips(store: GatewayStore) -> None:
    assert store.add_api(make_api())
    deployment = make_deployment(description=None)

    assert store.add_deployment(deployment)

    assert store.get_deployment(API, "dep1") == deployment


def test_a_deployment_id_is_added_once_per_api(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_api(make_api(OTHER_API))

    assert not store.add_deployment(make_deployment(description="again"))
    assert store.add_deployment(make_deployment(api_id=OTHER_API))
    found = store.get_deployment(API, "dep1")
    assert found is not None and found.description == "first"


def test_a_deployment_of_a_missing_api_is_not_added(store: GatewayStore) -> None:
    assert not store.add_deployment(make_deployment())


def test_a_deployment_of_another_api_is_not_found(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_api(make_api(OTHER_API))

    assert store.get_deployment(OTHER_API, "dep1") is None


def test_deployments_are_listed_by_api_in_pages(store: GatewayStore, api: StoredApi) -> None:
    for deployment_id in ["dep3", "dep2"]:
        assert store.add_deployment(make_deployment(deployment_id))
    assert store.add_api(make_api(OTHER_API))
    assert store.add_deployment(make_deployment("dep0", api_id=OTHER_API))

    first, after = store.list_deployments(API, limit=2)
    rest, end = store.list_deployments(API, after=after, limit=2)

    assert [d.id for d in first] == ["dep1", "dep2"] and after == "dep2"
    assert [d.id for d in rest] == ["dep3"] and end is None
    assert [d.id for d in store.list_deployments(OTHER_API)[0]] == ["dep0"]


def test_deleting_a_deployment_no_stage_serves(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_deployment(make_deployment("dep2"))

    assert store.delete_deployment(API, "dep2")

    assert store.get_deployment(API, "dep2") is None
    assert not store.delete_deployment(API, "dep2")
    assert store.get_deployment(API, "dep1") is not None


def test_a_deployment_a_stage_serves_is_not_deleted(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_stage(make_stage("prod"))
    assert store.add_stage(make_stage("beta"))

    with pytest.raises(DeploymentInUse) as raised:
        store.delete_deployment(API, "dep1")

    assert isinstance(raised.value, InvalidRequest)
    assert raised.value.stages == ("beta", "prod")
    assert "must be moved or deleted" in raised.value.message
    assert store.get_deployment(API, "dep1") is not None


def test_a_deployment_a_canary_serves_is_not_deleted(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_deployment(make_deployment("dep2"))
    canary = {"stageName": "prod", "canarySettings": {"deploymentId": "dep2", "percent": 10}}
    assert store.add_stage(make_stage("prod", document=canary))

    with pytest.raises(DeploymentInUse) as raised:
        store.delete_deployment(API, "dep2")

    assert raised.value.stages == ("prod",)
    assert store.get_deployment(API, "dep2") is not None


def test_a_deployment_is_deleted_once_its_stage_moved_on(
    store: GatewayStore, api: StoredApi
) -> None:
    assert store.add_deployment(make_deployment("dep2"))
    assert store.add_stage(make_stage())
    assert store.update_stage(API, "prod", deployment_id="dep2", now=LATER) is not None

    assert store.delete_deployment(API, "dep1")

    assert store.get_deployment(API, "dep1") is None


def test_a_stage_of_another_api_does_not_hold_a_deployment(
    store: GatewayStore, api: StoredApi
) -> None:
    assert store.add_api(make_api(OTHER_API))
    assert store.add_deployment(make_deployment(api_id=OTHER_API))
    assert store.add_stage(make_stage(api_id=OTHER_API))

    assert store.delete_deployment(API, "dep1")

    assert store.get_deployment(OTHER_API, "dep1") is not None


# -- stages --------------------------------------------------------------------------------


def test_a_stage_round_trips_its_settings(store: GatewayStore, api: StoredApi) -> None:
    stage = make_stage()

    assert store.add_stage(stage)

    found = store.get_stage(API, "prod")
    assert found == stage
    assert found is not None and found.last_updated_at.tzinfo is not None
    assert found.document["methodSettings"]["*/*"]["throttlingRateLimit"] == 10.5


def test_a_stage_name_is_added_once_per_api(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_stage(make_stage())

    assert not store.add_stage(make_stage(document={"stageName": "prod", "again": True}))
    found = store.get_stage(API, "prod")
    assert found is not None and "again" not in found.document


def test_stage_names_are_case_sensitive(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_stage(make_stage("prod"))

    assert store.add_stage(make_stage("Prod"))
    assert store.get_stage(API, "PROD") is None
    assert [s.name for s in store.list_stages(API)] == ["Prod", "prod"]


def test_a_stage_of_a_missing_deployment_is_not_added(store: GatewayStore, api: StoredApi) -> None:
    assert not store.add_stage(make_stage(deployment_id="nothere"))
    assert store.get_stage(API, "prod") is None


def test_a_stage_of_a_deployment_of_another_api_is_not_added(
    store: GatewayStore, api: StoredApi
) -> None:
    assert store.add_api(make_api(OTHER_API))

    assert not store.add_stage(make_stage(api_id=OTHER_API, deployment_id="dep1"))


def test_a_stage_of_a_missing_api_is_not_added(store: GatewayStore) -> None:
    assert not store.add_stage(make_stage())


def test_stages_are_listed_by_api_and_name(store: GatewayStore, api: StoredApi) -> None:
    for name in ["prod", "beta", "dev"]:
        assert store.add_stage(make_stage(name))
    assert store.add_api(make_api(OTHER_API))

    assert [s.name for s in store.list_stages(API)] == ["beta", "dev", "prod"]
    assert store.list_stages(OTHER_API) == []


def test_update_stage_changes_only_its_time_when_nothing_is_given(
    store: GatewayStore, api: StoredApi
) -> None:
    stage = make_stage()
    assert store.add_stage(stage)

    updated = store.update_stage(API, "prod", now=LATER)

    assert updated == replace(stage, last_updated_at=LATER)
    assert store.get_stage(API, "prod") == updated


def test_update_stage_changes_what_is_given(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_deployment(make_deployment("dep2"))
    stage = make_stage()
    assert store.add_stage(stage)
    document = {"stageName": "prod", "variables": {"model": "fraud"}, "cacheClusterEnabled": True}

    moved = store.update_stage(API, "prod", deployment_id="dep2", now=LATER)
    redone = store.update_stage(API, "prod", document=document, now=LATER + timedelta(1))

    assert moved == replace(stage, deployment_id="dep2", last_updated_at=LATER)
    assert redone == replace(
        stage, deployment_id="dep2", document=document, last_updated_at=LATER + timedelta(1)
    )
    assert redone is not None and redone.created_at == NOW


def test_update_stage_to_a_missing_deployment_changes_nothing(
    store: GatewayStore, api: StoredApi
) -> None:
    stage = make_stage()
    assert store.add_stage(stage)

    assert store.update_stage(API, "prod", deployment_id="nothere", document={}, now=LATER) is None
    assert store.get_stage(API, "prod") == stage


def test_updating_a_missing_stage_is_none(store: GatewayStore, api: StoredApi) -> None:
    assert store.update_stage(API, "nothere", document={}, now=LATER) is None


def test_deleting_a_stage(store: GatewayStore, api: StoredApi) -> None:
    assert store.add_stage(make_stage("prod"))
    assert store.add_stage(make_stage("beta"))

    assert store.delete_stage(API, "prod")

    assert store.get_stage(API, "prod") is None
    assert not store.delete_stage(API, "prod")
    assert [s.name for s in store.list_stages(API)] == ["beta"]


# -- API keys ------------------------------------------------------------------------------


def test_an_api_key_round_trips(store: GatewayStore) -> None:
    key = replace(make_key(), customer_id="cust-7", enabled=False, description=None)

    assert store.add_api_key(key)

    found = store.get_api_key("key1")
    assert found == key
    assert found is not None and found.created_at.tzinfo is not None


def test_an_api_key_is_found_by_the_hash_of_its_value(store: GatewayStore) -> None:
    key = make_key(value="s3cr3t-value-of-forty-characters-or-so")
    assert store.add_api_key(key)
    assert store.add_api_key(make_key("key2"))

    digest = hashlib.sha256(b"s3cr3t-value-of-forty-characters-or-so").hexdigest()
    assert store.api_key_by_hash(digest) == key
    assert store.api_key_by_hash(hashlib.sha256(b"other").hexdigest()) is None


def test_an_api_key_id_is_added_once(store: GatewayStore, key: ApiKeyRecord) -> None:
    assert not store.add_api_key(make_key("key1", value="another value"))
    assert store.get_api_key("key1") == key


def test_an_api_key_value_is_added_once(store: GatewayStore, key: ApiKeyRecord) -> None:
    assert not store.add_api_key(make_key("key2", value="value-of-key1"))
    assert store.get_api_key("key2") is None


def test_a_missing_api_key_is_none(store: GatewayStore) -> None:
    assert store.get_api_key("nothere") is None


def test_api_keys_are_listed_in_pages_by_id(store: GatewayStore) -> None:
    for key_id in ["k3", "k1", "k2"]:
        assert store.add_api_key(make_key(key_id))

    first, after = store.list_api_keys(limit=2)
    rest, end = store.list_api_keys(after=after, limit=2)

    assert [k.id for k in first] == ["k1", "k2"] and after == "k2"
    assert [k.id for k in rest] == ["k3"] and end is None


def test_update_api_key_changes_only_what_is_given(store: GatewayStore, key: ApiKeyRecord) -> None:
    disabled = store.update_api_key("key1", enabled=False, now=LATER)

    assert disabled == replace(key, enabled=False, last_updated_at=LATER)
    assert store.get_api_key("key1") == disabled


def test_update_api_key_changes_every_field_given(store: GatewayStore, key: ApiKeyRecord) -> None:
    updated = store.update_api_key(
        "key1", name="renamed", description=None, enabled=False, customer_id="cust", now=LATER
    )

    assert updated == replace(
        key,
        name="renamed",
        description=None,
        enabled=False,
        customer_id="cust",
        last_updated_at=LATER,
    )
    assert store.get_api_key("key1") == updated


def test_updating_a_missing_api_key_is_none(store: GatewayStore) -> None:
    assert store.update_api_key("nothere", name="x", now=LATER) is None


def test_deleting_an_api_key_takes_it_out_of_its_plans(
    store: GatewayStore, key: ApiKeyRecord, plan: StoredUsagePlan
) -> None:
    assert store.add_usage_plan_key("plan1", "key1")

    assert store.delete_api_key("key1")

    assert store.get_api_key("key1") is None
    assert store.api_key_by_hash(key.value_hash) is None
    assert store.usage_plan_keys("plan1") == []
    assert store.get_usage_plan("plan1") == plan
    assert not store.delete_api_key("key1")


# -- usage plans ---------------------------------------------------------------------------


def test_a_usage_plan_round_trips(store: GatewayStore) -> None:
    plan = make_plan()

    assert store.add_usage_plan(plan)

    found = store.get_usage_plan("plan1")
    assert found == plan
    assert found is not None and found.document["quota"]["period"] == "MONTH"


def test_a_usage_plan_id_is_added_once(store: GatewayStore, plan: StoredUsagePlan) -> None:
    assert not store.add_usage_plan(make_plan(name="silver"))
    assert store.get_usage_plan("plan1") == plan


def test_a_missing_usage_plan_is_none(store: GatewayStore) -> None:
    assert store.get_usage_plan("nothere") is None


def test_usage_plans_are_listed_in_pages_by_id(store: GatewayStore) -> None:
    for plan_id in ["p3", "p1", "p2"]:
        assert store.add_usage_plan(make_plan(plan_id))

    first, after = store.list_usage_plans(limit=2)
    rest, end = store.list_usage_plans(after=after, limit=2)

    assert [p.id for p in first] == ["p1", "p2"] and after == "p2"
    assert [p.id for p in rest] == ["p3"] and end is None


def test_usage_plans_of_a_key_are_listed_in_pages(store: GatewayStore, key: ApiKeyRecord) -> None:
    assert store.add_api_key(make_key("key2"))
    for plan_id in ["p1", "p2", "p3", "p4"]:
        assert store.add_usage_plan(make_plan(plan_id))
    for plan_id in ["p4", "p1", "p3"]:
        assert store.add_usage_plan_key(plan_id, "key1")
    assert store.add_usage_plan_key("p2", "key2")

    first, after = store.list_usage_plans(limit=2, key_id="key1")
    rest, end = store.list_usage_plans(after=after, limit=2, key_id="key1")

    assert [p.id for p in first] == ["p1", "p3"] and after == "p3"
    assert [p.id for p in rest] == ["p4"] and end is None
    assert store.list_usage_plans(key_id="nothere") == ([], None)


def test_replacing_a_usage_plan(store: GatewayStore, plan: StoredUsagePlan) -> None:
    document = {"apiStages": [], "throttle": {"rateLimit": 1.0, "burstLimit": 2}}

    replaced = store.replace_usage_plan("plan1", name="bronze", document=document)

    assert replaced == replace(plan, name="bronze", document=document)
    assert store.get_usage_plan("plan1") == replaced


def test_replacing_a_missing_usage_plan_is_none(store: GatewayStore) -> None:
    assert store.replace_usage_plan("nothere", name="x", document={}) is None


def test_deleting_a_usage_plan_keeps_its_keys(
    store: GatewayStore, key: ApiKeyRecord, plan: StoredUsagePlan
) -> None:
    assert store.add_usage_plan_key("plan1", "key1")

    assert store.delete_usage_plan("plan1")

    assert store.get_usage_plan("plan1") is None
    assert store.get_api_key("key1") == key
    assert store.plans_of_key("key1") == []
    assert not store.delete_usage_plan("plan1")


def test_keys_are_put_in_plans_once(
    store: GatewayStore, key: ApiKeyRecord, plan: StoredUsagePlan
) -> None:
    assert store.add_usage_plan_key("plan1", "key1")

    assert not store.add_usage_plan_key("plan1", "key1")
    assert store.usage_plan_keys("plan1") == [key]


def test_a_missing_key_or_plan_is_not_linked(
    store: GatewayStore, key: ApiKeyRecord, plan: StoredUsagePlan
) -> None:
    assert not store.add_usage_plan_key("plan1", "nothere")
    assert not store.add_usage_plan_key("nothere", "key1")

    assert store.usage_plan_keys("plan1") == []
    assert store.plans_of_key("key1") == []


def test_the_keys_of_a_plan_and_the_plans_of_a_key(store: GatewayStore) -> None:
    keys = [make_key(key_id) for key_id in ["k2", "k1", "k3"]]
    plans = [make_plan(plan_id) for plan_id in ["p2", "p1"]]
    for key in keys:
        assert store.add_api_key(key)
    for plan in plans:
        assert store.add_usage_plan(plan)
    for plan_id, key_id in [("p1", "k2"), ("p1", "k1"), ("p2", "k2")]:
        assert store.add_usage_plan_key(plan_id, key_id)

    assert [k.id for k in store.usage_plan_keys("p1")] == ["k1", "k2"]
    assert store.usage_plan_keys("p2") == [keys[0]]
    assert store.plans_of_key("k2") == [plans[1], plans[0]]
    assert store.plans_of_key("k3") == []


def test_removing_a_key_from_a_plan(
    store: GatewayStore, key: ApiKeyRecord, plan: StoredUsagePlan
) -> None:
    assert store.add_usage_plan_key("plan1", "key1")

    assert store.remove_usage_plan_key("plan1", "key1")

    assert store.usage_plan_keys("plan1") == []
    assert not store.remove_usage_plan_key("plan1", "key1")
    assert store.get_api_key("key1") == key
    assert store.get_usage_plan("plan1") == plan


# -- migration -----------------------------------------------------------------------------


def test_the_gateway_migration_adds_the_gateway_tables(empty_database: Database) -> None:
    empty_database.migrate("0006")
    assert NEW_TABLES.isdisjoint(inspect(empty_database.engine).get_table_names())

    empty_database.migrate("0007")

    assert set(inspect(empty_database.engine).get_table_names()) >= NEW_TABLES
    store = GatewayStore(empty_database)
    assert store.add_api(make_api())
    assert store.add_deployment(make_deployment())


def test_a_downgrade_to_0006_drops_only_the_gateway_tables(database: Database) -> None:
    store = GatewayStore(database)
    assert store.add_api(make_api())
    assert store.add_deployment(make_deployment())
    assert store.add_stage(make_stage())
    assert store.add_api_key(make_key())
    assert store.add_usage_plan(make_plan())
    assert store.add_usage_plan_key("plan1", "key1")
    config = _alembic_config()

    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")

    assert database.current_revision() == "0006"
    tables = set(inspect(database.engine).get_table_names())
    assert NEW_TABLES.isdisjoint(tables)
    assert {"user_pools", "jobs", "executions", "functions", "models"} <= tables
