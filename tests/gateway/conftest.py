"""Fixtures of the API Gateway control-plane tests: a platform per module, and boto3's
``apigateway`` client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from tests.workflows.test_stepfunctions_api import Server


@pytest.fixture(scope="module")
def apigateway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``modelyard up``'s platform, one per test module."""
    with Server.running(tmp_path_factory.mktemp("apigateway")) as found:
        yield found


@pytest.fixture(scope="module")
def apigw(apigateway_server: Server) -> Iterator[Any]:
    """boto3's ``apigateway`` client of that platform, never retrying."""
    client = boto3.client(
        "apigateway",
        endpoint_url=apigateway_server.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )
    try:
        yield client
    finally:
        client.close()
