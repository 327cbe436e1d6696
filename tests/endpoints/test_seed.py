"""The endpoint seed: ``<home>/seed/endpoints.json``, its missing endpoints created at start.

Two starts of ``modelyard up``'s platform over the same home: the first creates what the
file declares; between them a user deletes one endpoint and re-tags another; the second
brings the deleted one back and leaves the changed one as it is.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelyard.endpoints.seed import SEED_FILE, InvalidSeed, read_seed
from tests.endpoints.conftest import FAST_WAITER, clients
from tests.fixtures import models
from tests.servers import platform_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def endpoints_of(url: str, timeout: float = 60) -> dict[str, dict[str, Any]]:
    """Every endpoint of the registry by name, once none is Creating any more."""
    deadline = time.monotonic() + timeout
    while True:
        found = httpx.get(f"{url}/admin/endpoints", timeout=10).json()["endpoints"]
        if all(endpoint["EndpointStatus"] != "Creating" for endpoint in found):
            return {endpoint["EndpointName"]: endpoint for endpoint in found}
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


def write_seed(home: Path, endpoints: list[dict[str, Any]]) -> Path:
    seed = home / SEED_FILE
    seed.parent.mkdir(parents=True, exist_ok=True)
    seed.write_text(json.dumps({"endpoints": endpoints}))
    return seed


def test_missing_endpoints_are_created_at_every_start_and_existing_ones_never_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    models.sum_model(home / "store" / "models")
    write_seed(
        home,
        [
            {"name": "adder", "model_data_url": "s3://models/sum", "categories": ["math"]},
            {
                "name": "counter",
                "model_data_url": "s3://models/sum",
                "categories": ["math", "counting things"],
                "instance_count": 1,
            },
            # Not an allowed model URL: skipped with a warning, the others still created.
            {"name": "outsider", "model_data_url": "http://example.com/m", "categories": ["x"]},
        ],
    )

    with caplog.at_level(logging.WARNING, logger="modelyard.endpoints.seed"):
        with platform_server(home) as url:
            first = endpoints_of(url)
            sagemaker, runtime = clients(url)
            answer = runtime.invoke_endpoint(
                EndpointName="adder", ContentType="application/json", Body="[1, 2, 3]"
            )
            assert json.loads(answer["Body"].read()) == [6.0]
            # What a user does between two starts.
            sagemaker.delete_endpoint(EndpointName="counter")
            sagemaker.get_waiter("endpoint_deleted").wait(
                EndpointName="counter", WaiterConfig=FAST_WAITER
            )
            arn = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/adder"
            sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "category", "Value": "mine"}])

        with platform_server(home) as url:
            second = endpoints_of(url)

    assert set(first) == {"adder", "counter"}
    assert first["adder"]["EndpointStatus"] == "InService"
    assert first["adder"]["Categories"] == ["math"]
    assert first["counter"]["Categories"] == ["math", "counting things"]
    assert first["adder"]["Variants"] == [
        {
            "VariantName": "main",
            "ModelName": "adder",
            "Mode": "SingleModel",
            "Weight": 1.0,
            "InstanceCount": 1,
        }
    ]
    assert first["adder"]["EndpointConfigName"] == "adder"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("seed endpoint outsider not created: ") for m in warnings), warnings

    assert set(second) == {"adder", "counter"}
    assert second["counter"]["EndpointStatus"] == "InService"  # deleted, so created again
    assert second["counter"]["CreationTime"] != first["counter"]["CreationTime"]
    assert second["adder"]["Categories"] == ["mine"]  # changed, so left alone
    assert second["adder"]["CreationTime"] == first["adder"]["CreationTime"]


def test_the_example_seed_file_declares_the_example_endpoints() -> None:
    seed = read_seed(EXAMPLES / "endpoints.json")

    assert seed is not None
    declared = {
        entry.name: (entry.model_data_url, entry.mode.value, entry.categories)
        for entry in seed.endpoints
    }
    assert declared == {
        "iris-sklearn": ("s3://models/iris", "SingleModel", ["iris"]),
        "iris-toolkit": ("s3://models/iris-toolkit", "SingleModel", ["iris"]),
        "text-stats": ("s3://models/text-stats", "SingleModel", ["text"]),
        # The two trained by the example pipelines of `make run`.
        "rating": ("s3://models/ratings/RatingPrediction", "SingleModel", ["rating"]),
        "factchecks": ("s3://models/factchecks", "MultiModel", ["factchecks"]),
    }


def test_a_multi_model_entry_serves_every_model_under_its_prefix(tmp_path: Path) -> None:
    home = tmp_path / "home"
    models.sum_model(home / "store" / "models" / "trained", name="adder")
    write_seed(
        home,
        [
            {
                "name": "many",
                "model_data_url": "s3://models/trained",
                "mode": "MultiModel",
                "categories": ["math"],
            }
        ],
    )

    with platform_server(home) as url:
        found = endpoints_of(url)
        sagemaker, runtime = clients(url)
        answer = runtime.invoke_endpoint(
            EndpointName="many", TargetModel="adder", ContentType="application/json", Body="[2, 3]"
        )
        model = sagemaker.describe_model(ModelName="many")

    assert found["many"]["EndpointStatus"] == "InService"
    assert json.loads(answer["Body"].read()) == [5.0]
    assert model["PrimaryContainer"]["Mode"] == "MultiModel"
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://models/trained"


def test_without_a_seed_file_there_is_nothing_to_do(tmp_path: Path) -> None:
    assert read_seed(tmp_path / SEED_FILE) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "file: Invalid JSON"),
        ('{"endpoints": [{"name": "a"}]}', "endpoints.0.model_data_url: Field required"),
        ('{"endpoint": []}', "endpoint: Extra inputs are not permitted"),
        (
            '{"endpoints": [{"name": "a", "model_data_url": "s3://m/a", "categories": []}]}',
            "endpoints.0.categories: List should have at least 1 item",
        ),
        (
            '{"endpoints": [{"name": "a", "model_data_url": "s3://m/a", "categories": ["a,b"]}]}',
            "endpoints.0.categories.0: String should match pattern",
        ),
        (
            '{"endpoints": [{"name": "a_b", "model_data_url": "s3://m/a", "categories": ["a"]}]}',
            "endpoints.0.name: String should match pattern",
        ),
        (
            '{"endpoints": [{"name": "a", "model_data_url": "s3://m/a", "categories": ["a"], '
            '"instance_count": 0}]}',
            "endpoints.0.instance_count: Input should be greater than or equal to 1",
        ),
        (
            json.dumps(
                {
                    "endpoints": [
                        {"name": "a", "model_data_url": "s3://m/a", "categories": ["c" * 100] * 3}
                    ]
                }
            ),
            "exceed 256 characters",
        ),
    ],
)
def test_a_seed_file_that_is_not_valid_is_refused_naming_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / SEED_FILE
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(InvalidSeed) as raised:
        read_seed(path)

    assert raised.value.message.startswith(f"{path}: ")
    assert problem in raised.value.message
