"""The AWS JSON protocol, alone: X-Amz-Target dispatch, the error shape botocore parses,
request shapes checked against their constraints, and NextToken values."""

from __future__ import annotations

import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from botocore.parsers import create_parser  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field
from starlette.applications import Starlette

from modelyard.aws.errors import (
    ErrorCode,
    ErrorTable,
    InvalidPaginationToken,
    InvalidParameter,
    UnknownOperation,
)
from modelyard.aws.json_protocol import AwsJsonService, routes, split_target
from modelyard.aws.pagination import decode_token, encode_token
from modelyard.aws.shapes import EpochSeconds, Shape, matching, parse, render
from modelyard.errors import ModelNotFound, ModelyardError
from tests.servers import serve_in_thread

# -- X-Amz-Target ----------------------------------------------------------------------------

names = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=30)


@given(prefix=names, operation=names)
def test_a_target_splits_into_prefix_and_operation(prefix: str, operation: str) -> None:
    assert split_target(f"{prefix}.{operation}") == (prefix, operation)


def test_a_prefix_may_hold_dots_the_operation_may_not() -> None:
    assert split_target("com.amazonaws.Service.Op") == ("com.amazonaws.Service", "Op")


@given(st.text())
def test_any_target_splits_or_is_an_unknown_operation(target: str) -> None:
    try:
        prefix, operation = split_target(target)
    except UnknownOperation:
        return
    assert f"{prefix}.{operation}" == target.strip()


# -- dispatch --------------------------------------------------------------------------------


class Missing(ModelyardError):
    """It is not there."""


async def echo(body: dict[str, Any]) -> dict[str, Any]:
    return {"Echo": body}


async def boom(body: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("a bug")


async def missing(body: dict[str, Any]) -> dict[str, Any]:
    raise Missing("Could not find it.")


async def not_found(body: dict[str, Any]) -> dict[str, Any]:
    raise ModelNotFound("no such model")


SERVICE = AwsJsonService(
    target_prefix="Demo_20240101",
    operations={"Echo": echo, "Boom": boom, "Missing": missing, "NotFound": not_found},
    errors=ErrorTable({Missing: ErrorCode(code="ResourceNotFoundException", status=400)}),
    json_version="1.0",
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """A client of the AWS JSON route serving SERVICE, on a real listener."""
    with (
        serve_in_thread(Starlette(routes=routes([SERVICE]))) as url,
        httpx.Client(base_url=url) as http,
    ):
        yield http


def call(client: httpx.Client, target: str | None, body: bytes = b"{}") -> httpx.Response:
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target is not None:
        headers["X-Amz-Target"] = target
    return client.post("/", content=body, headers=headers)


def botocore_error(response: httpx.Response) -> dict[str, Any]:
    """The error as botocore's JSON parser reads the response."""
    parsed: dict[str, Any] = create_parser("json").parse(
        {
            "status_code": response.status_code,
            "headers": dict(response.headers),
            "body": response.content,
        },
        None,
    )
    return parsed["Error"]


def test_an_operation_answers_its_json(client: httpx.Client) -> None:
    answer = call(client, "Demo_20240101.Echo", b'{"A": [1, 2]}')

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-amz-json-1.0"
    assert answer.json() == {"Echo": {"A": [1, 2]}}
    assert answer.headers["x-amzn-requestid"]


def test_the_authorization_boto3_sends_is_accepted(client: httpx.Client) -> None:
    answer = client.post(
        "/",
        content=b"{}",
        headers={
            "X-Amz-Target": "Demo_20240101.Echo",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/demo/aws4_request, "
            "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0123",
            "X-Amz-Date": "20240101T000000Z",
        },
    )

    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("target", "body", "status", "code"),
    [
        ("Demo_20240101.Nothing", b"{}", 400, "UnknownOperationException"),
        ("Other.Echo", b"{}", 400, "UnknownOperationException"),
        ("Echo", b"{}", 400, "UnknownOperationException"),
        (None, b"{}", 400, "UnknownOperationException"),
        ("Demo_20240101.Echo", b"[]", 400, "SerializationException"),
        ("Demo_20240101.Echo", b"null", 400, "SerializationException"),
        ("Demo_20240101.Echo", b"{", 400, "SerializationException"),
        ("Demo_20240101.Missing", b"{}", 400, "ResourceNotFoundException"),
        ("Demo_20240101.NotFound", b"{}", 500, "InternalFailure"),
        ("Demo_20240101.Boom", b"{}", 500, "InternalFailure"),
    ],
)
def test_errors_have_the_shape_botocore_parses(
    client: httpx.Client, target: str | None, body: bytes, status: int, code: str
) -> None:
    answer = call(client, target, body)

    assert answer.status_code == status
    assert answer.headers["x-amzn-errortype"] == code
    assert answer.json()["__type"] == code
    parsed = botocore_error(answer)
    assert parsed["Code"] == code
    assert parsed["Message"] == answer.json()["message"]


def test_a_bug_does_not_leak_its_details(client: httpx.Client) -> None:
    assert "a bug" not in call(client, "Demo_20240101.Boom").text


@given(
    # HTTP cannot carry a header value's leading or trailing spaces.
    target=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(str.strip),
    body=st.binary(max_size=64),
)
def test_no_target_nor_body_gets_a_5xx(client: httpx.Client, target: str, body: bytes) -> None:
    answer = call(client, target, body)

    assert answer.status_code in (200, 400)
    if answer.status_code == 400:
        assert answer.json()["__type"] in ("UnknownOperationException", "SerializationException")


# -- shapes ------------------------------------------------------------------------------


class Item(Shape):
    item_name: Annotated[str, matching(r"[a-z]+(-[a-z]+)*", max_length=10)]
    count: Annotated[int, Field(ge=1, le=5)] = 1


class Request(Shape):
    resource_name: Annotated[str, matching(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", max_length=63)]
    items: Annotated[list[Item], Field(min_length=1)] = [Item(item_name="x")]
    created_after: EpochSeconds | None = None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Value null at 'resourceName' failed to satisfy constraint: Member must not be null"),
        (
            {"ResourceName": "a b"},
            "Value 'a b' at 'resourceName' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
        ),
        (
            {"ResourceName": "a" * 64},
            "failed to satisfy constraint: Member must have length less than or equal to 63",
        ),
        (
            {"ResourceName": "a", "Items": [{"ItemName": "ok"}, {"ItemName": "ok", "Count": 9}]},
            "Value '9' at 'items.2.member.count' failed to satisfy constraint: Member must have "
            "value less than or equal to 5",
        ),
        (
            {"ResourceName": "a", "Items": []},
            "at 'items' failed to satisfy constraint: Member must have length greater than or "
            "equal to 1",
        ),
    ],
)
def test_a_broken_constraint_is_named_as_aws_names_it(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        parse(Request, body)

    assert raised.value.message.startswith("1 validation error detected: ")
    assert message in raised.value.message


def test_every_broken_constraint_is_counted() -> None:
    with pytest.raises(InvalidParameter, match="^2 validation errors detected: "):
        parse(Request, {"ResourceName": "a b", "Items": [{"ItemName": "UPPER"}]})


def test_members_not_in_the_shape_are_ignored() -> None:
    assert parse(Request, {"ResourceName": "a", "VpcConfig": {"Subnets": []}}).resource_name == "a"


def test_timestamps_are_epoch_seconds_to_the_millisecond() -> None:
    parsed = parse(Request, {"ResourceName": "a", "CreatedAfter": 1_700_000_000.123})

    assert parsed.created_after == datetime(2023, 11, 14, 22, 13, 20, 123_000, tzinfo=UTC)
    assert render(parsed)["CreatedAfter"] == 1_700_000_000.123


# -- pagination tokens -------------------------------------------------------------------

positions = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.none(),
        st.datetimes(timezones=st.just(UTC)),
    ),
    max_size=4,
)


@given(position=positions, scope=st.text(max_size=40))
def test_a_token_gives_back_its_position(position: list[Any], scope: str) -> None:
    token = encode_token(position, scope)

    assert decode_token(token, scope) == tuple(position)
    assert token.isascii() and "=" not in token


@given(position=positions)
def test_a_token_is_refused_for_another_query(position: list[Any]) -> None:
    with pytest.raises(InvalidPaginationToken):
        decode_token(encode_token(position, "ListModels|name"), "ListModels|created_at")


@given(st.text(max_size=200))
def test_anything_but_a_token_of_ours_is_refused(text: str) -> None:
    with pytest.raises(InvalidPaginationToken, match="Invalid pagination token"):
        decode_token(text, "ListModels")


def test_a_datetime_keeps_its_microseconds() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=1)

    assert decode_token(encode_token([moment, "key"], "q"), "q") == (moment, "key")
