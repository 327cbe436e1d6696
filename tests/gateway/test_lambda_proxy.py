"""Lambda proxy integration: the event (payload format 1.0) and the function's result."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import ModelyardError
from modelyard.gateway.lambda_proxy import (
    MalformedProxyResponse,
    ProxyResponse,
    parse_proxy_response,
    proxy_event,
    request_context,
)

# 2020-03-04T19:15:17.135Z
EPOCH_MS = 1583349317135


def context(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "account_id": "123456789012",
        "api_id": "a1b2c3d4e5",
        "stage": "prod",
        "resource_id": "r7x9k2",
        "resource_path": "/pets/{id}",
        "http_method": "GET",
        "path": "/prod/pets/7",
        "request_id": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "request_time_epoch_ms": EPOCH_MS,
        "source_ip": "203.0.113.9",
        "user_agent": "curl/8.5.0",
        "authorizer": None,
        "domain_name": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    }
    arguments.update(overrides)
    return request_context(**arguments)


def event(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "resource": "/pets/{id}",
        "path": "/pets/7",
        "http_method": "POST",
        "headers": {"Host": "example.com", "Accept": "text/csv"},
        "multi_value_headers": {"Host": ["example.com"], "Accept": ["text/html", "text/csv"]},
        "query": {"limit": "5", "tag": "b"},
        "multi_value_query": {"limit": ["5"], "tag": ["a", "b"]},
        "path_parameters": {"id": "7"},
        "stage_variables": {"alias": "live"},
        "request_context": {"requestId": "r-1"},
        "body": b'{"name": "Rex"}',
        "binary": False,
    }
    arguments.update(overrides)
    return proxy_event(**arguments)


# -- requestContext -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("accountId", "123456789012"),
        ("apiId", "a1b2c3d4e5"),
        ("domainName", "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"),
        ("domainPrefix", "a1b2c3d4e5"),
        ("extendedRequestId", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
        ("httpMethod", "GET"),
        ("path", "/prod/pets/7"),
        ("protocol", "HTTP/1.1"),
        ("requestId", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
        ("requestTime", "04/Mar/2020:19:15:17 +0000"),
        ("requestTimeEpoch", EPOCH_MS),
        ("resourceId", "r7x9k2"),
        ("resourcePath", "/pets/{id}"),
        ("stage", "prod"),
    ],
)
def test_request_context_members(member: str, expected: Any) -> None:
    assert context()[member] == expected


def test_request_context_has_exactly_the_documented_members() -> None:
    assert set(context()) == {
        "accountId",
        "apiId",
        "domainName",
        "domainPrefix",
        "extendedRequestId",
        "httpMethod",
        "identity",
        "path",
        "protocol",
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "resourceId",
        "resourcePath",
        "stage",
    }


@pytest.mark.parametrize(
    ("epoch_ms", "expected"),
    [
        (0, "01/Jan/1970:00:00:00 +0000"),
        (EPOCH_MS, "04/Mar/2020:19:15:17 +0000"),
        (1735689599999, "31/Dec/2024:23:59:59 +0000"),  # milliseconds are cut, not rounded
        (1717214405000, "01/Jun/2024:04:00:05 +0000"),
    ],
)
def test_request_time_is_utc_in_the_access_log_format(epoch_ms: int, expected: str) -> None:
    assert context(request_time_epoch_ms=epoch_ms)["requestTime"] == expected


def test_protocol_and_domain_prefix_follow_their_arguments() -> None:
    ctx = context(protocol="HTTP/2.0", domain_name="api.example.com")
    assert ctx["protocol"] == "HTTP/2.0"
    assert ctx["domainName"] == "api.example.com"
    assert ctx["domainPrefix"] == "api"


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("sourceIp", "203.0.113.9"),
        ("userAgent", "curl/8.5.0"),
        ("accessKey", None),
        ("accountId", None),
        ("apiKey", None),
        ("apiKeyId", None),
        ("caller", None),
        ("clientCert", None),
        ("cognitoAuthenticationProvider", None),
        ("cognitoAuthenticationType", None),
        ("cognitoIdentityId", None),
        ("cognitoIdentityPoolId", None),
        ("principalOrgId", None),
        ("user", None),
        ("userArn", None),
    ],
)
def test_identity_members_are_null_when_unknown(member: str, expected: Any) -> None:
    identity = context()["identity"]
    assert member in identity
    assert identity[member] == expected


def test_identity_extra_fills_in_what_is_known() -> None:
    identity = context(identity_extra={"apiKey": "k" * 40, "apiKeyId": "kid123"})["identity"]
    assert identity["apiKey"] == "k" * 40
    assert identity["apiKeyId"] == "kid123"
    assert identity["sourceIp"] == "203.0.113.9"
    assert identity["caller"] is None


def test_cognito_claims_pass_through() -> None:
    claims = {"sub": "1b7a-42", "cognito:groups": "admin", "email": "a@example.com"}
    ctx = context(authorizer={"claims": claims})
    assert ctx["authorizer"] == {"claims": claims}


def test_lambda_authorizer_context_and_principal_pass_through() -> None:
    authorizer = {"principalId": "user|a1", "tier": "gold", "integrationLatency": 3}
    ctx = context(authorizer=authorizer)
    assert ctx["authorizer"] == authorizer
    assert ctx["authorizer"] is not authorizer  # a copy: the event is the function's


def test_no_authorizer_leaves_the_member_out() -> None:
    assert "authorizer" not in context(authorizer=None)


# -- the event ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("resource", "/pets/{id}"),
        ("path", "/pets/7"),
        ("httpMethod", "POST"),
        ("headers", {"Host": "example.com", "Accept": "text/csv"}),
        ("multiValueHeaders", {"Host": ["example.com"], "Accept": ["text/html", "text/csv"]}),
        ("queryStringParameters", {"limit": "5", "tag": "b"}),
        ("multiValueQueryStringParameters", {"limit": ["5"], "tag": ["a", "b"]}),
        ("pathParameters", {"id": "7"}),
        ("stageVariables", {"alias": "live"}),
        ("requestContext", {"requestId": "r-1"}),
        ("body", '{"name": "Rex"}'),
        ("isBase64Encoded", False),
    ],
)
def test_event_members(member: str, expected: Any) -> None:
    assert event()[member] == expected


def test_event_has_exactly_the_documented_members() -> None:
    assert set(event()) == {
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
        "body",
        "isBase64Encoded",
    }


@pytest.mark.parametrize(
    ("argument", "member"),
    [
        ("query", "queryStringParameters"),
        ("multi_value_query", "multiValueQueryStringParameters"),
        ("path_parameters", "pathParameters"),
        ("stage_variables", "stageVariables"),
        ("headers", "headers"),
        ("multi_value_headers", "multiValueHeaders"),
    ],
)
def test_empty_collections_are_null(argument: str, member: str) -> None:
    assert event(**{argument: {}})[member] is None


def test_an_empty_body_is_null_and_not_base64() -> None:
    for binary in (False, True):
        sent = event(body=b"", binary=binary)
        assert sent["body"] is None
        assert sent["isBase64Encoded"] is False


def test_a_binary_body_is_base64() -> None:
    payload = bytes(range(256))
    sent = event(body=payload, binary=True)
    assert sent["isBase64Encoded"] is True
    assert sent["body"] == base64.b64encode(payload).decode("ascii")
    assert base64.b64decode(sent["body"]) == payload


def test_a_text_body_is_utf8_text() -> None:
    sent = event(body="Grüße, 世界".encode(), binary=False)
    assert sent["body"] == "Grüße, 世界"
    assert sent["isBase64Encoded"] is False


def test_bytes_that_are_not_utf8_in_a_text_body_become_replacement_characters() -> None:
    assert event(body=b"ok\xff", binary=False)["body"] == "ok\ufffd"


def test_the_event_is_json_and_owns_its_collections() -> None:
    multi = {"tag": ["a", "b"]}
    sent = event(
        multi_value_query=multi, request_context=context(authorizer={"claims": {"sub": "1"}})
    )
    assert json.loads(json.dumps(sent)) == sent
    multi["tag"].append("c")
    assert sent["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}


@given(st.binary(min_size=1))
def test_binary_bodies_survive_base64(payload: bytes) -> None:
    assert base64.b64decode(event(body=payload, binary=True)["body"]) == payload


# -- the function's result ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, 200), ("404", 404), (201.0, 201), ("599", 599), (100, 100)],
)
def test_status_code_is_an_integer_or_a_numeric_string(status: Any, expected: int) -> None:
    assert parse_proxy_response({"statusCode": status}).status == expected


def test_a_minimal_result_has_no_headers_and_no_body() -> None:
    assert parse_proxy_response({"statusCode": 204}) == ProxyResponse(status=204)
    nulls = {"statusCode": 204, "headers": None, "multiValueHeaders": None, "body": None}
    assert parse_proxy_response(nulls) == ProxyResponse(status=204)


@pytest.mark.parametrize(
    ("headers", "multi", "expected"),
    [
        # Only one of the two.
        ({"A": "1"}, None, {"A": ["1"]}),
        (None, {"A": ["1", "2"]}, {"A": ["1", "2"]}),
        # Different names: both kept.
        ({"A": "1"}, {"B": ["2"]}, {"B": ["2"], "A": ["1"]}),
        # Same name, different values: one list, multiValueHeaders' values first.
        (
            {"Set-Cookie": "c=3"},
            {"Set-Cookie": ["a=1", "b=2"]},
            {"Set-Cookie": ["a=1", "b=2", "c=3"]},
        ),
        # Same name and value in both: the value appears once.
        ({"X-Id": "7"}, {"X-Id": ["7", "8"]}, {"X-Id": ["7", "8"]}),
        # Names differ only in case: one header, spelled as in multiValueHeaders.
        (
            {"content-type": "text/csv"},
            {"Content-Type": ["text/csv"]},
            {"Content-Type": ["text/csv"]},
        ),
        ({"x-a": "2"}, {"X-A": ["1"]}, {"X-A": ["1", "2"]}),
        # Empty lists and null values say nothing.
        ({"A": None}, {"B": [], "C": None}, {}),
        # Numbers and booleans become their JSON text.
        (
            {"X-Count": 5, "X-On": True},
            {"X-Ratio": [0.5]},
            {"X-Ratio": ["0.5"], "X-Count": ["5"], "X-On": ["true"]},
        ),
    ],
)
def test_headers_and_multi_value_headers_merge(
    headers: Any, multi: Any, expected: dict[str, list[str]]
) -> None:
    parsed = parse_proxy_response(
        {"statusCode": 200, "headers": headers, "multiValueHeaders": multi}
    )
    assert parsed.multi_value_headers == expected
    assert parsed.headers == {name: values[-1] for name, values in expected.items()}


def test_headers_keep_the_last_of_several_values() -> None:
    parsed = parse_proxy_response(
        {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}}
    )
    assert parsed.headers == {"Set-Cookie": "b=2"}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"body": "hello"}, b"hello"),
        ({"body": "Grüße"}, "Grüße".encode()),
        ({"body": ""}, b""),
        ({"body": "aGVsbG8=", "isBase64Encoded": False}, b"aGVsbG8="),
        ({"body": "aGVsbG8=", "isBase64Encoded": True}, b"hello"),
        ({"body": "aGVsbG8=", "isBase64Encoded": "true"}, b"hello"),
        ({"body": "AP8=", "isBase64Encoded": True}, b"\x00\xff"),
        ({"body": "", "isBase64Encoded": True}, b""),
        ({"body": None, "isBase64Encoded": True}, b""),
        ({"body": "x", "isBase64Encoded": None}, b"x"),
        ({"body": "x", "isBase64Encoded": "false"}, b"x"),
    ],
)
def test_body(result: dict[str, Any], expected: bytes) -> None:
    assert parse_proxy_response({"statusCode": 200, **result}).body == expected


def test_members_api_gateway_does_not_know_are_ignored() -> None:
    parsed = parse_proxy_response({"statusCode": 200, "body": "x", "cookies": ["a=1"]})
    assert parsed == ProxyResponse(status=200, body=b"x")


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(None, id="null"),
        pytest.param("200", id="a string"),
        pytest.param([200], id="an array"),
        pytest.param(200, id="a number"),
        pytest.param({}, id="no statusCode"),
        pytest.param({"statusCode": None}, id="null statusCode"),
        pytest.param({"statusCode": "OK"}, id="statusCode not numeric"),
        pytest.param({"statusCode": "200 "}, id="statusCode with a space"),
        pytest.param({"statusCode": "2e2"}, id="statusCode in exponent form"),
        pytest.param({"statusCode": 200.5}, id="fractional statusCode"),
        pytest.param({"statusCode": True}, id="boolean statusCode"),
        pytest.param({"statusCode": 99}, id="statusCode below 100"),
        pytest.param({"statusCode": 600}, id="statusCode above 599"),
        pytest.param({"statusCode": {"code": 200}}, id="statusCode an object"),
        pytest.param({"statusCode": 200, "body": {"a": 1}}, id="body an object"),
        pytest.param({"statusCode": 200, "body": ["a"]}, id="body an array"),
        pytest.param({"statusCode": 200, "body": 5}, id="body a number"),
        pytest.param({"statusCode": 200, "body": True}, id="body a boolean"),
        pytest.param(
            {"statusCode": 200, "body": "not base64!", "isBase64Encoded": True}, id="bad base64"
        ),
        pytest.param(
            {"statusCode": 200, "body": "aGVsbG8", "isBase64Encoded": True}, id="no padding"
        ),
        pytest.param(
            {"statusCode": 200, "body": "é", "isBase64Encoded": True}, id="non-ASCII base64"
        ),
        pytest.param({"statusCode": 200, "isBase64Encoded": "yes"}, id="isBase64Encoded a word"),
        pytest.param({"statusCode": 200, "headers": ["A: 1"]}, id="headers an array"),
        pytest.param({"statusCode": 200, "headers": {"A": {"b": 1}}}, id="header an object"),
        pytest.param({"statusCode": 200, "headers": {"A": ["1"]}}, id="header an array"),
        pytest.param({"statusCode": 200, "multiValueHeaders": {"A": "1"}}, id="multi a string"),
        pytest.param({"statusCode": 200, "multiValueHeaders": ["A"]}, id="multi an array"),
        pytest.param(
            {"statusCode": 200, "multiValueHeaders": {"A": [{"b": 1}]}}, id="multi value object"
        ),
    ],
)
def test_malformed_results_raise(result: Any) -> None:
    with pytest.raises(MalformedProxyResponse) as raised:
        parse_proxy_response(result)
    assert isinstance(raised.value, ModelyardError)
    assert raised.value.message.startswith("Malformed Lambda proxy response")


def test_the_default_message_is_api_gateways() -> None:
    assert MalformedProxyResponse().message == "Malformed Lambda proxy response."


HEADER_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True)
HEADER_VALUES = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


def unique_case_insensitive(headers: dict[str, str]) -> bool:
    return len({name.lower() for name in headers}) == len(headers)


@given(
    status=st.integers(min_value=100, max_value=599),
    as_text=st.booleans(),
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6).filter(
        unique_case_insensitive
    ),
    body=st.text(),
)
def test_round_trip(status: int, as_text: bool, headers: dict[str, str], body: str) -> None:
    # Through JSON, as the function's result reaches API Gateway.
    result = json.loads(
        json.dumps(
            {"statusCode": str(status) if as_text else status, "headers": headers, "body": body}
        )
    )
    parsed = parse_proxy_response(result)
    assert parsed.status == status
    assert parsed.headers == headers
    assert parsed.multi_value_headers == {name: [value] for name, value in headers.items()}
    assert parsed.body == body.encode()


@given(
    multi=st.dictionaries(HEADER_NAMES, st.lists(HEADER_VALUES, min_size=1, unique=True)).filter(
        unique_case_insensitive
    ),
    payload=st.binary(),
)
def test_round_trip_of_multi_value_headers_and_binary_bodies(
    multi: dict[str, list[str]], payload: bytes
) -> None:
    result = {
        "statusCode": 200,
        "multiValueHeaders": multi,
        "body": base64.b64encode(payload).decode("ascii"),
        "isBase64Encoded": True,
    }
    parsed = parse_proxy_response(result)
    assert parsed.multi_value_headers == multi
    assert parsed.body == payload
