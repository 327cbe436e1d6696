"""Integration: ``modelyard up``'s platform on 127.0.0.1, its functions registered over
``POST /functions`` and called with boto3's ``lambda`` client, as a user's code calls AWS.

The server runs in this process (a thread), so its workers import the toy functions from
this test session's ``sys.path``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.functions.conftest import handler
from tests.servers import platform_server

#: The functions every test may call: name -> registration body.
FUNCTIONS: dict[str, dict[str, Any]] = {
    "add": {"handler": handler("add"), "description": "Adds a and b"},
    "fail": {"handler": handler("fail")},
    "sleep": {"handler": handler("sleep"), "timeout_s": 0.3},
    "staged": {"handler": handler("environment"), "environment": {"STAGE": "test"}},
}


@pytest.fixture(scope="module")
def platform_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with platform_server(tmp_path_factory.mktemp("home")) as url:
        for name, body in FUNCTIONS.items():
            response = httpx.post(f"{url}/functions", json={"name": name, **body}, timeout=30)
            assert response.status_code == 201, response.text
        yield url


@pytest.fixture(scope="module")
def client(platform_url: str) -> Iterator[Any]:
    lambda_client = boto3.client(
        "lambda",
        endpoint_url=platform_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    yield lambda_client
    lambda_client.close()


def test_invoke_answers_the_functions_result(client: Any) -> None:
    answer = client.invoke(FunctionName="add", Payload=json.dumps({"a": 2, "b": 3}))

    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"sum": 5}


def test_invoke_by_arn_sees_the_functions_environment(client: Any) -> None:
    answer = client.invoke(
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:staged",
        Payload=json.dumps({"names": ["STAGE", "AWS_LAMBDA_FUNCTION_NAME"]}),
    )

    assert json.loads(answer["Payload"].read()) == {
        "STAGE": "test",
        "AWS_LAMBDA_FUNCTION_NAME": "staged",
    }


def test_a_function_error_is_answered_200_with_the_error_as_payload(client: Any) -> None:
    answer = client.invoke(FunctionName="fail", Payload=b'{"reason": "tests"}')

    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "cannot do it: tests"
    assert error["requestId"] == answer["ResponseMetadata"]["RequestId"]
    assert any(", in fail\n" in frame for frame in error["stackTrace"])


def test_a_timeout_is_an_unhandled_sandbox_timeout(client: Any) -> None:
    answer = client.invoke(FunctionName="sleep", Payload=b'{"seconds": 30}')

    assert answer["FunctionError"] == "Unhandled"
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert json.loads(answer["Payload"].read()) == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 0.30 seconds",
        "errorType": "Sandbox.Timedout",
    }


def test_an_unknown_function_is_a_resource_not_found(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.invoke(FunctionName="nope", Payload=b"{}")

    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Error"]["Message"] == (
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"
    )


def test_a_payload_that_is_not_json_is_invalid_request_content(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidRequestContentException) as raised:
        client.invoke(FunctionName="add", Payload=b"{not json")

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "Could not parse request body into json" in str(raised.value)


def test_dry_run_and_event_invocations_answer_at_once(client: Any) -> None:
    dry = client.invoke(FunctionName="add", InvocationType="DryRun")
    event = client.invoke(FunctionName="add", InvocationType="Event", Payload=b'{"a":1,"b":1}')

    assert dry["StatusCode"] == 204
    assert event["StatusCode"] == 202
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nope", InvocationType="Event", Payload=b"{}")


def test_get_function_describes_its_configuration(client: Any) -> None:
    configuration = client.get_function(FunctionName="add")["Configuration"]

    assert configuration["FunctionName"] == "add"
    assert configuration["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:add"
    assert configuration["Handler"] == handler("add")
    assert configuration["Description"] == "Adds a and b"
    assert configuration["Timeout"] == 3
    assert configuration["Version"] == "$LATEST"
    assert configuration["State"] == "Active"
    staged = client.get_function(FunctionName="staged")["Configuration"]
    assert staged["Environment"] == {"Variables": {"STAGE": "test"}}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="add", Qualifier="7")


def test_list_functions_pages_with_markers(client: Any) -> None:
    pages = list(client.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1}))

    names = [f["FunctionName"] for page in pages for f in page["Functions"]]
    assert names == sorted(names)  # by name, none twice
    assert len(names) == len(set(names))
    assert set(FUNCTIONS) <= set(names)
    assert all(len(page["Functions"]) <= 1 for page in pages)
    with pytest.raises(ClientError) as raised:
        client.list_functions(Marker="made-up")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_delete_function_forgets_it(client: Any, platform_url: str) -> None:
    response = httpx.post(
        f"{platform_url}/functions", json={"name": "doomed", "handler": handler("echo")}
    )
    assert response.status_code == 201

    deleted = client.delete_function(FunctionName="doomed")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_function(FunctionName="doomed")


def test_registration_over_http_checks_the_handler_and_replaces(platform_url: str) -> None:
    broken = httpx.post(
        f"{platform_url}/functions", json={"name": "broken", "handler": "tests.nothing:here"}
    )
    malformed = httpx.post(f"{platform_url}/functions", json={"name": "x", "handler": 3})
    body = {"name": "again", "handler": handler("echo"), "timeout_s": 2.5}
    created = httpx.post(f"{platform_url}/functions", json=body)
    replaced = httpx.post(f"{platform_url}/functions", json={**body, "description": "v2"})
    listed = httpx.get(f"{platform_url}/functions").json()["functions"]
    deleted = httpx.delete(f"{platform_url}/functions/again")
    missing = httpx.delete(f"{platform_url}/functions/again")

    assert broken.status_code == 400
    assert broken.json()["type"] == "HandlerNotUsable"
    assert "Unable to import module 'tests.nothing'" in broken.json()["message"]
    assert malformed.status_code == 400 and "handler" in malformed.json()["message"]
    assert (created.status_code, replaced.status_code) == (201, 200)
    assert replaced.json()["timeout_s"] == 2.5 and replaced.json()["description"] == "v2"
    assert {f["name"]: f["description"] for f in listed}["again"] == "v2"
    assert deleted.status_code == 200
    assert missing.status_code == 404
    assert missing.headers["x-modelyard-error-type"] == "FunctionNotFound"


def test_the_openapi_document_lists_the_routes(platform_url: str) -> None:
    paths = httpx.get(f"{platform_url}/openapi.json").json()["paths"]

    assert {"post"} <= paths["/2015-03-31/functions/{name}/invocations"].keys()
    assert {"get", "delete"} <= paths["/2015-03-31/functions/{name}"].keys()
    assert {"get", "post"} <= paths["/functions"].keys()
