"""Endpoint configurations (CreateEndpointConfig), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelyard.storage import Database
from modelyard.storage.endpoint_configs import EndpointConfig, EndpointConfigs, ProductionVariant
from modelyard.storage.listing import ListQuery
from modelyard.storage.tags import ResourceType, Tag, Tags

T0 = datetime(2026, 1, 1, tzinfo=UTC)

CAPTURE = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 50,
    "DestinationS3Uri": "s3://bucket/capture",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
}


@pytest.fixture
def configs(database: Database) -> EndpointConfigs:
    return EndpointConfigs(database)


def config(name: str, **extra: object) -> EndpointConfig:
    return EndpointConfig(
        name=name,
        created_at=T0,
        production_variants=(
            ProductionVariant(
                variant_name="blue",
                model_name="churn-a",
                initial_instance_count=2,
                initial_variant_weight=0.7,
                instance_type="ml.m5.large",
            ),
            ProductionVariant(variant_name="green", model_name="churn-b"),
        ),
        **extra,  # type: ignore[arg-type]
    )


def test_add_then_get_gives_the_same_config(configs: EndpointConfigs) -> None:
    added = config("ab-test", data_capture_config=CAPTURE)

    assert configs.add(added, tags=[Tag(key="k", value="v")]) is True

    assert configs.get("AB-test") == added


def test_data_capture_is_kept_as_given_and_optional(configs: EndpointConfigs) -> None:
    configs.add(config("with", data_capture_config=CAPTURE))
    configs.add(config("without"))

    with_capture = configs.get("with")
    without = configs.get("without")

    assert with_capture is not None and with_capture.data_capture_config == CAPTURE
    assert without is not None and without.data_capture_config is None


def test_a_taken_name_is_refused_and_the_first_config_stays(configs: EndpointConfigs) -> None:
    configs.add(config("ab"))

    assert configs.add(EndpointConfig(name="AB", created_at=T0, production_variants=())) is False
    stored = configs.get("ab")
    assert stored is not None and len(stored.production_variants) == 2


def test_list_count_and_remove(database: Database, configs: EndpointConfigs) -> None:
    for name in ["b", "a", "c"]:
        configs.add(config(name), tags=[Tag(key="k", value=name)])

    listed = configs.list(ListQuery(sort_by="name"))

    assert [c.name for c in listed.items] == ["a", "b", "c"]
    assert configs.count() == 3
    assert configs.remove("b") is True and configs.remove("b") is False
    assert configs.get("b") is None
    assert Tags(database).list(ResourceType.ENDPOINT_CONFIG, "b") is None
