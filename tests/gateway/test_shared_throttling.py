"""Two ``modelyard up`` processes on one database and one Redis share a stage's throttle
and a usage plan's quota: what one process lets through, the other counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from tests.test_cli import MODELYARD, clean_env, free_port, wait_until_up

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/0"


def mock(template: str) -> dict[str, Any]:
    return {
        "type": "mock",
        "requestTemplates": {"application/json": '{"statusCode": 200}'},
        "responses": {
            "default": {"statusCode": "200", "responseTemplates": {"application/json": template}}
        },
    }


DOCUMENT = {
    "openapi": "3.0.1",
    "info": {"title": "shared", "version": "1"},
    "components": {
        "securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
    },
    "paths": {
        "/limited": {
            "get": {
                "responses": {"200": {"description": "ok"}},
                "x-amazon-apigateway-integration": mock('{"ok": true}'),
            }
        },
        "/metered": {
            "get": {
                "security": [{"api_key": []}],
                "responses": {"200": {"description": "ok"}},
                "x-amazon-apigateway-integration": mock('{"ok": true}'),
            }
        },
    },
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    shared = tmp_path_factory.mktemp("shared")
    settings = {
        "MODELYARD_DATABASE_URL": f"sqlite:///{shared / 'modelyard.db'}",
        "MODELYARD_STORE_URL": str(shared / "store"),
        "MODELYARD_REDIS_URL": REDIS_URL,
        "MODELYARD_SERVING__WORKERS": "1",
        "MODELYARD_AUTH": "off",  # tests/identity/test_access.py covers auth
    }
    processes: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for number in range(2):
            home = shared / f"home-{number}"
            home.mkdir()
            port = free_port()
            log = (home / "server.log").open("ab")
            process = subprocess.Popen(
                [MODELYARD, "up", "--home", str(home), "--port", str(port)],
                cwd=home,
                env=clean_env() | settings,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            processes.append(process)
            urls.append(f"http://127.0.0.1:{port}")
            wait_until_up(process, urls[-1])  # type: ignore[arg-type]
        yield urls
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def api(servers: list[str]) -> dict[str, str]:
    apigw = boto3.client(
        "apigateway",
        endpoint_url=servers[0],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )
    document = {**DOCUMENT, "info": {"title": f"shared-{uuid.uuid4().hex[:6]}", "version": "1"}}
    api_id = apigw.import_rest_api(body=json.dumps(document).encode())["id"]
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    apigw.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/~1limited/GET/throttling/rateLimit", "value": "5"},
            {"op": "replace", "path": "/~1limited/GET/throttling/burstLimit", "value": "5"},
        ],
    )
    key = apigw.create_api_key(name="shared", enabled=True)
    plan = apigw.create_usage_plan(
        name="six a day",
        apiStages=[{"apiId": api_id, "stage": "prod"}],
        quota={"limit": 6, "period": "DAY"},
    )
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    apigw.close()
    return {"id": api_id, "key": key["value"]}


def call(url: str, api_id: str, path: str, **options: Any) -> int:
    answer = httpx.get(f"{url}/restapis/{api_id}/prod/_user_request_{path}", timeout=30, **options)
    return answer.status_code


def test_a_stage_throttle_holds_across_two_processes(
    servers: list[str], api: dict[str, str]
) -> None:
    started = time.monotonic()
    deadline = started + 2.0

    def hammer(url: str) -> list[int]:
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(call(url, api["id"], "/limited"))
        return statuses

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(hammer, servers * 2))
    elapsed = time.monotonic() - started
    statuses = [status for result in results for status in result]

    allowed = statuses.count(200)
    expected = 5 + 5 * elapsed  # the burst, then the rate
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) > 0
    # One bucket for both: with one per process twice as many would pass.
    assert expected - 3 <= allowed <= expected + 2, (allowed, expected)


def test_a_usage_plan_quota_holds_across_two_processes(
    servers: list[str], api: dict[str, str]
) -> None:
    headers = {"x-api-key": api["key"]}

    statuses = [call(servers[n % 2], api["id"], "/metered", headers=headers) for n in range(10)]

    assert statuses == [200] * 6 + [429] * 4
