"""The endpoint metadata registry: endpoints filed under categories by their ``category``
tag, listed by ``GET /admin/endpoints`` and ``modelyard endpoints list``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from modelyard.cli import app
from tests.endpoints.conftest import Deploy, Variant, deploy_endpoint, fresh


@pytest.fixture(scope="module")
def filed(sagemaker: Any) -> dict[str, str]:
    """Three endpoints: one under nlp and text, one under vision, one under nothing."""

    def deploy(*variants: Variant, tags: list[dict[str, str]]) -> str:
        return deploy_endpoint(sagemaker, fresh("filed"), *variants, tags=tags)

    return {
        "nlp": deploy(tags=[{"Key": "category", "Value": "nlp, Text"}]),
        "vision": deploy(
            Variant("a", "sum.tar.gz", weight=2),
            Variant("b", "echo.tar.gz"),
            tags=[{"Key": "category", "Value": "vision"}],
        ),
        "plain": deploy(tags=[{"Key": "team", "Value": "nlp"}]),
    }


def listed(url: str, **params: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/admin/endpoints", params=params)
    assert answer.status_code == 200, answer.text
    endpoints: list[dict[str, Any]] = answer.json()["endpoints"]
    return endpoints


def test_the_admin_route_lists_the_endpoints_of_a_category(
    platform_url: str, filed: dict[str, str]
) -> None:
    nlp = listed(platform_url, category="nlp")
    text = listed(platform_url, category="TEXT")
    vision = listed(platform_url, category="vision")

    assert [e["EndpointName"] for e in nlp] == [filed["nlp"]]
    assert [e["EndpointName"] for e in text] == [filed["nlp"]]
    assert vision == [
        {
            "EndpointName": filed["vision"],
            "EndpointArn": f"arn:aws:sagemaker:us-east-1:000000000000:endpoint/{filed['vision']}",
            "EndpointStatus": "InService",
            "EndpointConfigName": f"{filed['vision']}-config",
            "Categories": ["vision"],
            "CreationTime": vision[0]["CreationTime"],
            "LastModifiedTime": vision[0]["LastModifiedTime"],
            "FailureReason": None,
            "Variants": [
                {
                    "VariantName": "a",
                    "ModelName": f"{filed['vision']}-a",
                    "Mode": "SingleModel",
                    "Weight": 2.0,
                    "InstanceCount": 1,
                },
                {
                    "VariantName": "b",
                    "ModelName": f"{filed['vision']}-b",
                    "Mode": "SingleModel",
                    "Weight": 1.0,
                    "InstanceCount": 1,
                },
            ],
        }
    ]
    assert listed(platform_url, category="audio") == []


def test_without_a_category_every_endpoint_is_listed(
    platform_url: str, filed: dict[str, str]
) -> None:
    everything = {e["EndpointName"]: e["Categories"] for e in listed(platform_url)}

    assert everything[filed["nlp"]] == ["nlp", "Text"]
    assert everything[filed["plain"]] == []


def test_an_empty_category_is_refused(platform_url: str) -> None:
    answer = httpx.get(f"{platform_url}/admin/endpoints", params={"category": " "})

    assert answer.status_code == 400
    assert "category" in answer.json()["error"]


def test_retagging_moves_an_endpoint_to_another_category(
    platform_url: str, sagemaker: Any, deploy: Deploy
) -> None:
    name = deploy(tags=[{"Key": "category", "Value": "drafts"}])
    endpoint_arn = f"arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name}"

    sagemaker.add_tags(ResourceArn=endpoint_arn, Tags=[{"Key": "category", "Value": "released"}])

    assert name not in {e["EndpointName"] for e in listed(platform_url, category="drafts")}
    assert name in {e["EndpointName"] for e in listed(platform_url, category="released")}
    sagemaker.delete_tags(ResourceArn=endpoint_arn, TagKeys=["category"])
    assert name not in {e["EndpointName"] for e in listed(platform_url, category="released")}


def test_the_cli_lists_the_endpoints_of_a_category(
    platform_url: str, filed: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        app,
        ["endpoints", "list", "--category", "vision", "--server", platform_url],
        env={"COLUMNS": "250"},
    )

    assert result.exit_code == 0, result.output
    assert filed["vision"] in result.output
    assert filed["nlp"] not in result.output
    assert "InService" in result.output
    assert "a (" in result.output and "weight 2" in result.output


def test_the_cli_lists_every_endpoint_without_a_category(
    platform_url: str, filed: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        app, ["endpoints", "list", "--server", platform_url], env={"COLUMNS": "250"}
    )

    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in filed.values())


def test_the_cli_says_when_the_server_is_not_there() -> None:
    result = CliRunner().invoke(app, ["endpoints", "list", "--server", "http://127.0.0.1:9"])

    assert result.exit_code == 1
    assert "cannot reach" in result.output
