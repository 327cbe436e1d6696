"""The gateway's access log: ``$context`` formats rendered (unit), the writer's file and
logger (in process), and the lines of requests served by a real ``modelyard up`` platform
on 127.0.0.1, read back from ``<home>/logs/gateway-access.log``."""

from __future__ import annotations

import asyncio
import configparser
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from modelyard.errors import InvalidRequest
from modelyard.gateway.access_log import (
    DEFAULT_FORMAT,
    AccessEntry,
    AccessLog,
    AccessLogFormat,
    format_problem,
    render_line,
)
from modelyard.gateway.stages import apply_patch
from tests.servers import platform_server

API_KEY = "k" * 40
TOKEN = "Bearer eyJ-very-secret-token"

#: A request's ``$context`` as the runtime builds it, after an authorizer and an API key
#: check (refused at last).
CONTEXT: dict[str, Any] = {
    "requestId": "c0ffee00-0000-4000-8000-000000000001",
    "extendedRequestId": "c0ffee00-0000-4000-8000-000000000001",
    "accountId": "000000000000",
    "apiId": "a1b2c3",
    "stage": "prod",
    "httpMethod": "POST",
    "path": "/prod/pets/7",
    "resourcePath": "/pets/{id}",
    "resourceId": "r1",
    "protocol": "HTTP/1.1",
    "domainName": "127.0.0.1:8080",
    "requestTime": "05/Mar/2024:07:08:09 +0000",
    "requestTimeEpoch": 1709622489000,
    "isCanaryRequest": False,
    "identity": {
        "sourceIp": "10.1.2.3",
        "userAgent": "curl/8.5",
        "apiKey": API_KEY,
        "apiKeyId": "key123",
    },
    "authorizer": {"principalId": "user-1", "tier": "gold", "claims": {"sub": "abc"}},
    "error": {"message": "Too Many Requests", "responseType": "THROTTLED"},
}


def entry(fmt: str | None, context: dict[str, Any] = CONTEXT) -> AccessEntry:
    return AccessEntry(
        format=fmt,
        destination="arn:aws:logs:us-east-1:000000000000:log-group:access",
        context=context,
        integration={"status": 201, "integrationStatus": 201, "latency": 12},
        status=201,
        response_length=17,
        latency_ms=15,
    )


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("requestId", CONTEXT["requestId"]),
        ("extendedRequestId", CONTEXT["extendedRequestId"]),
        ("requestTime", "05/Mar/2024:07:08:09 +0000"),
        ("requestTimeEpoch", "1709622489000"),
        ("httpMethod", "POST"),
        ("resourcePath", "/pets/{id}"),
        ("resourceId", "r1"),
        ("path", "/prod/pets/7"),
        ("protocol", "HTTP/1.1"),
        ("status", "201"),
        ("responseLength", "17"),
        ("responseLatency", "15"),
        ("integrationLatency", "12"),
        ("integrationStatus", "201"),
        ("integration.status", "201"),
        ("integration.integrationStatus", "201"),
        ("integration.latency", "12"),
        ("identity.sourceIp", "10.1.2.3"),
        ("identity.userAgent", "curl/8.5"),
        ("identity.apiKeyId", "key123"),
        ("authorizer.principalId", "user-1"),
        ("authorizer.tier", "gold"),
        ("authorizer.claims.sub", "abc"),
        ("apiId", "a1b2c3"),
        ("accountId", "000000000000"),
        ("stage", "prod"),
        ("domainName", "127.0.0.1:8080"),
        ("isCanaryRequest", "false"),
        ("error.message", "Too Many Requests"),
        ("error.responseType", "THROTTLED"),
        # Secrets are never written, known or not.
        ("identity.apiKey", "-"),
        # Unknown, unset, or not a single value: "-", as API Gateway writes them.
        ("wafResponseCode", "-"),
        ("xrayTraceId", "-"),
        ("identity.caller", "-"),
        ("authorizer.claims", "-"),
        ("authorizer.claims.email", "-"),
        ("integration.error", "-"),
        ("requestId.more", "-"),
        pytest.param("authorizer" + ".deeper" * 5000, "-", id="deeper-than-any-variable"),
        ("noSuchVariable", "-"),
    ],
)
def test_each_context_variable_renders_its_value(variable: str, expected: str) -> None:
    assert AccessLogFormat(f"[$context.{variable}]").render(entry(None)) == f"[{expected}]"


def test_a_format_keeps_its_text_around_the_variables() -> None:
    common = (
        '$context.identity.sourceIp - - [$context.requestTime] "$context.httpMethod '
        '$context.resourcePath $context.protocol" $context.status $context.responseLength '
        "$context.requestId\n"
    )

    line = render_line(entry(common))

    assert line == (
        '10.1.2.3 - - [05/Mar/2024:07:08:09 +0000] "POST /pets/{id} HTTP/1.1" 201 17 '
        "c0ffee00-0000-4000-8000-000000000001"
    )
    assert render_line(entry("no variables $ at $context all")) == "no variables $ at $context all"


def test_values_are_escaped_so_a_json_format_stays_one_json_line() -> None:
    context = {**CONTEXT, "identity": {"userAgent": 'evil"agent\n{"forged": 1}\\'}}
    fmt = '{"requestId":"$context.requestId","ua":"$context.identity.userAgent"}'

    line = render_line(entry(fmt, context))

    assert "\n" not in line
    assert json.loads(line) == {
        "requestId": CONTEXT["requestId"],
        "ua": 'evil"agent\n{"forged": 1}\\',
    }


def test_the_default_format_is_a_json_object_of_the_common_fields() -> None:
    assert render_line(entry(None)) == render_line(entry(DEFAULT_FORMAT))
    assert json.loads(render_line(entry(None))) == {
        "requestId": CONTEXT["requestId"],
        "ip": "10.1.2.3",
        "requestTime": "05/Mar/2024:07:08:09 +0000",
        "httpMethod": "POST",
        "resourcePath": "/pets/{id}",
        "status": "201",
        "protocol": "HTTP/1.1",
        "responseLength": "17",
        "responseLatency": "15",
        "apiId": "a1b2c3",
        "stage": "prod",
    }
    assert API_KEY not in render_line(entry(None))


@pytest.mark.parametrize(
    ("fmt", "problem"),
    [
        ('{"id":"$context.requestId"}', None),
        ("$context.extendedRequestId $context.status\n", None),
        ("$context.requestIdentity $context.status", "must contain at least one"),
        ("$context.status", "must contain at least one"),
        ("$context.requestId\n$context.status", "must be single line"),
    ],
)
def test_update_stage_checks_the_format_as_api_gateway_does(fmt: str, problem: str | None) -> None:
    found = format_problem(fmt)

    assert found is None if problem is None else problem in (found or "")


def test_update_stage_patches_the_access_log_settings() -> None:
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:access"
    fmt = '{"id":"$context.requestId"}'
    replace = [
        {"op": "replace", "path": "/accessLogSettings/format", "value": fmt},
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": arn},
    ]

    document = apply_patch({"stageName": "prod"}, replace)
    without_format = apply_patch(document, [{"op": "remove", "path": "/accessLogSettings/format"}])
    removed = apply_patch(document, [{"op": "remove", "path": "/accessLogSettings"}])

    assert document["accessLogSettings"] == {"format": fmt, "destinationArn": arn}
    assert without_format["accessLogSettings"] == {"destinationArn": arn}
    assert "accessLogSettings" not in removed
    for path, value in (
        ("/accessLogSettings/format", "$context.status"),
        ("/accessLogSettings/level", "x"),
    ):
        with pytest.raises(InvalidRequest):
            apply_patch(document, [{"op": "replace", "path": path, "value": value}])


def test_the_writer_appends_lines_and_hands_them_to_the_logger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "logs" / "gateway-access.log"
    log = AccessLog(path, flush_interval_s=60)

    async def scenario() -> None:
        log.record(entry(None))  # before start: not recorded
        await log.start()
        for _ in range(3):
            log.record(entry('{"id":"$context.requestId","status":$context.status}'))
        await log.stop()  # writes what is buffered, not waiting for the interval
        log.record(entry(None))  # after stop: not recorded

    with caplog.at_level(logging.INFO, logger="modelyard.gateway.access"):
        asyncio.run(scenario())

    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"id": CONTEXT["requestId"], "status": 201}] * 3
    records = [r for r in caplog.records if r.name == "modelyard.gateway.access"]
    assert [r.getMessage() for r in records] == lines
    assert records[0].destination_arn == "arn:aws:logs:us-east-1:000000000000:log-group:access"
    assert (records[0].api_id, records[0].stage) == ("a1b2c3", "prod")
    assert log.dropped == 0


def test_without_a_file_lines_go_to_the_logger_only_when_it_listens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    access = logging.getLogger("modelyard.gateway.access")
    log = AccessLog(None, flush_interval_s=60)
    listening: list[bool] = []

    async def scenario() -> None:
        await log.start()
        access.setLevel(logging.WARNING)
        listening.append(log.recording)
        log.record(entry(None))  # nobody listens: not even rendered
        access.setLevel(logging.INFO)
        listening.append(log.recording)
        log.record(entry(None))
        await log.stop()

    try:
        asyncio.run(scenario())
    finally:
        access.setLevel(logging.NOTSET)

    assert listening == [False, True]
    messages = [r.getMessage() for r in caplog.records if r.name == "modelyard.gateway.access"]
    assert messages == [render_line(entry(None))]


def test_the_writer_drops_and_counts_what_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    log = AccessLog(path, flush_interval_s=60, max_buffered=2)

    async def scenario() -> None:
        await log.start()
        for _ in range(5):
            log.record(entry(None))
        await log.stop()

    asyncio.run(scenario())

    assert len(path.read_text().splitlines()) == 2
    assert log.dropped == 3


# -- through the platform -------------------------------------------------------------------

CUSTOM_FORMAT = (
    '{"requestId":"$context.requestId","status":$context.status,'
    '"httpMethod":"$context.httpMethod","resourcePath":"$context.resourcePath",'
    '"apiKey":"$context.identity.apiKey","apiKeyId":"$context.identity.apiKeyId",'
    '"errorType":"$context.error.responseType","integrationStatus":"$context.integrationStatus",'
    '"ua":"$context.identity.userAgent"}'
)


def mock_method(template: str, *, key: bool = False) -> dict[str, Any]:
    method: dict[str, Any] = {
        "responses": {"200": {"description": "ok"}},
        "x-amazon-apigateway-integration": {
            "type": "mock",
            "requestTemplates": {"application/json": '{"statusCode": 200}'},
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseTemplates": {"application/json": template},
                }
            },
        },
    }
    if key:
        method["security"] = [{"api_key": []}]
    return method


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("access-log")
    with platform_server(home) as url:
        credentials = configparser.ConfigParser(interpolation=None)
        credentials.read(home / "credentials")
        keys = credentials["default"]
        apigw = boto3.client(
            "apigateway",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=keys["aws_access_key_id"],
            aws_secret_access_key=keys["aws_secret_access_key"],
            config=Config(retries={"total_max_attempts": 1}),
        )
        document = {
            "openapi": "3.0.1",
            "info": {"title": "logged", "version": "1"},
            "components": {
                "securitySchemes": {
                    "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}
                }
            },
            "paths": {
                "/pets": {"get": mock_method('{"pets": []}')},
                "/metered": {"post": mock_method('{"metered": true}', key=True)},
            },
        }
        api = apigw.import_rest_api(body=json.dumps(document).encode())
        for stage in ("prod", "plain"):
            apigw.create_deployment(restApiId=api["id"], stageName=stage)
        apigw.update_stage(
            restApiId=api["id"],
            stageName="prod",
            patchOperations=[
                {"op": "replace", "path": "/accessLogSettings/format", "value": CUSTOM_FORMAT},
                {
                    "op": "replace",
                    "path": "/accessLogSettings/destinationArn",
                    "value": "arn:aws:logs:us-east-1:000000000000:log-group:access",
                },
            ],
        )
        key = apigw.create_api_key(name="partner", value=API_KEY, enabled=True)
        plan = apigw.create_usage_plan(
            name="plan", apiStages=[{"apiId": api["id"], "stage": "prod"}]
        )
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        yield {
            "url": url,
            "api_id": api["id"],
            "key_id": key["id"],
            "log": home / "logs" / "gateway-access.log",
            "apigw": apigw,
        }
        apigw.close()


def logged(path: Path, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The access log's lines of ``request_ids``, by request id, once all are written (the
    writer flushes every 0.25 s)."""
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        found = {line["requestId"]: line for line in map(json.loads, lines)}
        if all(request_id in found for request_id in request_ids):
            return {request_id: found[request_id] for request_id in request_ids}
        assert time.monotonic() < deadline, f"not logged: {request_ids} in {lines}"
        time.sleep(0.05)


def test_each_request_is_logged_in_its_stage_format_with_its_request_id(
    served: dict[str, Any],
) -> None:
    base = f"{served['url']}/restapis/{served['api_id']}/prod/_user_request_"
    secrets = {"Authorization": TOKEN, "User-Agent": 'tester "one"'}
    ok = httpx.post(f"{base}/metered", headers={**secrets, "x-api-key": API_KEY}, timeout=30)
    refused = httpx.post(f"{base}/metered", headers=secrets, timeout=30)
    unknown = httpx.get(f"{base}/nowhere", timeout=30)

    answers = (ok, refused, unknown)
    assert [answer.status_code for answer in answers] == [200, 403, 403]
    ids = [answer.headers["x-amzn-RequestId"] for answer in answers]
    lines = logged(served["log"], ids)
    assert lines[ids[0]] == {
        "requestId": ids[0],
        "status": 200,
        "httpMethod": "POST",
        "resourcePath": "/metered",
        "apiKey": "-",
        "apiKeyId": served["key_id"],
        "errorType": "-",
        "integrationStatus": "200",
        "ua": 'tester "one"',
    }
    assert (lines[ids[1]]["status"], lines[ids[1]]["errorType"]) == (403, "INVALID_API_KEY")
    assert (lines[ids[2]]["resourcePath"], lines[ids[2]]["errorType"]) == (
        "-",
        "MISSING_AUTHENTICATION_TOKEN",
    )
    text = served["log"].read_text()
    assert API_KEY not in text
    assert "very-secret-token" not in text


def test_a_stage_without_a_format_is_logged_as_the_default_json(served: dict[str, Any]) -> None:
    answer = httpx.get(
        f"{served['url']}/apis/{served['api_id']}/plain/pets",
        headers={"Authorization": TOKEN, "x-api-key": API_KEY},
        timeout=30,
    )
    missing_stage = httpx.get(f"{served['url']}/apis/{served['api_id']}/nostage/pets", timeout=30)

    assert (answer.status_code, missing_stage.status_code) == (200, 403)
    ids = [answer.headers["x-amzn-RequestId"], missing_stage.headers["x-amzn-RequestId"]]
    lines = logged(served["log"], ids)
    line = lines[ids[0]]
    assert set(line) == {
        "requestId",
        "ip",
        "requestTime",
        "httpMethod",
        "resourcePath",
        "status",
        "protocol",
        "responseLength",
        "responseLatency",
        "apiId",
        "stage",
    }
    assert (line["status"], line["httpMethod"], line["resourcePath"]) == ("200", "GET", "/pets")
    assert (line["ip"], line["protocol"], line["stage"]) == ("127.0.0.1", "HTTP/1.1", "plain")
    assert line["responseLength"] == str(len(answer.content))
    assert (lines[ids[1]]["status"], lines[ids[1]]["stage"]) == ("403", "nostage")
    text = served["log"].read_text()
    assert API_KEY not in text
    assert "very-secret-token" not in text


def test_get_stage_shows_the_access_log_settings(served: dict[str, Any]) -> None:
    stage = served["apigw"].get_stage(restApiId=served["api_id"], stageName="prod")

    assert stage["accessLogSettings"] == {
        "format": CUSTOM_FORMAT,
        "destinationArn": "arn:aws:logs:us-east-1:000000000000:log-group:access",
    }
