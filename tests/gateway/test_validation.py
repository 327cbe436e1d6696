"""Request validation: required parameters, body models, references between models."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidRequest
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.validation import (
    InvalidModel,
    InvalidRequestBody,
    MissingRequestParameters,
    RequestShape,
    RequestValidationFailed,
    Validator,
    check_request,
    model_url,
    resolve_models,
)

API = "a1b2c3"
ALL = Validator(name="all", validate_request_body=True, validate_request_parameters=True)
PARAMS_ONLY = Validator(
    name="params-only", validate_request_body=False, validate_request_parameters=True
)
BODY_ONLY = Validator(
    name="body-only", validate_request_body=True, validate_request_parameters=False
)
NOTHING = Validator(name="none", validate_request_body=False, validate_request_parameters=False)

ORDER = {
    "type": "object",
    "required": ["name", "quantity"],
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "quantity": {"type": "integer", "minimum": 1},
    },
}


def check(
    shape: RequestShape,
    validator: Validator = ALL,
    *,
    path: Mapping[str, str] | None = None,
    querystring: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    content_type: str | None = "application/json",
    body: bytes = b"",
) -> None:
    check_request(
        shape,
        validator,
        path=path or {},
        querystring=querystring or {},
        headers=headers or {},
        content_type=content_type,
        body=body,
    )


def params(**required: bool) -> RequestShape:
    return RequestShape(parameters=required, models={})


ITEMS = "method.request.querystring.items"
VERSION = "method.request.header.X-Api-Version"
USER = "method.request.path.user_id"


@pytest.mark.parametrize(
    ("parameters", "path", "querystring", "headers", "missing"),
    [
        # query strings
        ({ITEMS: True}, {}, {}, {}, ["items"]),
        ({ITEMS: True}, {}, {"items": [""]}, {}, ["items"]),  # blank
        ({ITEMS: True}, {}, {"items": ["  "]}, {}, ["items"]),  # only spaces is blank too
        ({ITEMS: True}, {}, {"items": []}, {}, ["items"]),
        ({ITEMS: True}, {}, {"items": ["a", ""]}, {}, ["items"]),  # the last value counts
        ({ITEMS: True}, {}, {"items": ["", "a"]}, {}, []),
        ({ITEMS: True}, {}, {"items": ["3"]}, {}, []),
        ({ITEMS: True}, {}, {"Items": ["3"]}, {}, ["items"]),  # query names are case-sensitive
        ({"method.request.multivaluequerystring.tag": True}, {}, {"tag": ["", "x"]}, {}, []),
        ({"method.request.multivaluequerystring.tag": True}, {}, {"tag": ["", ""]}, {}, ["tag"]),
        # headers
        ({VERSION: True}, {}, {}, {}, ["X-Api-Version"]),
        ({VERSION: True}, {}, {}, {"X-Api-Version": ""}, ["X-Api-Version"]),
        ({VERSION: True}, {}, {}, {"x-api-version": "2"}, []),  # names are case-insensitive
        ({VERSION: True}, {}, {}, {"X-API-VERSION": "2"}, []),
        ({"method.request.multivalueheader.X-Tag": True}, {}, {}, {"x-tag": "a"}, []),
        ({"method.request.multivalueheader.X-Tag": True}, {}, {}, {}, ["X-Tag"]),
        # path
        ({USER: True}, {}, {}, {}, ["user_id"]),
        ({USER: True}, {"user_id": ""}, {}, {}, ["user_id"]),
        ({USER: True}, {"user_id": "u1"}, {}, {}, []),
        # not required: never checked
        ({ITEMS: False, VERSION: False, USER: False}, {}, {}, {}, []),
        # the name of a parameter may hold dots
        ({"method.request.header.X.Trace": True}, {}, {}, {}, ["X.Trace"]),
        # combinations, in the order the method declares them
        ({ITEMS: True, VERSION: True}, {}, {}, {}, ["items", "X-Api-Version"]),
        ({VERSION: True, ITEMS: True}, {}, {}, {}, ["X-Api-Version", "items"]),
        (
            {USER: True, ITEMS: True, VERSION: True},
            {},
            {},
            {},
            ["user_id", "items", "X-Api-Version"],
        ),
        (
            {USER: True, ITEMS: True, VERSION: True},
            {"user_id": "u"},
            {},
            {},
            ["items", "X-Api-Version"],
        ),
        ({ITEMS: True, VERSION: True}, {}, {"items": ["1"]}, {}, ["X-Api-Version"]),
        ({ITEMS: True, VERSION: False}, {}, {}, {}, ["items"]),
        ({ITEMS: True, VERSION: True}, {}, {"items": ["1"]}, {"X-Api-Version": "1"}, []),
    ],
)
def test_required_parameters_must_be_present_and_not_blank(
    parameters: dict[str, bool],
    path: dict[str, str],
    querystring: dict[str, list[str]],
    headers: dict[str, str],
    missing: list[str],
) -> None:
    shape = RequestShape(parameters=parameters, models={})

    if not missing:
        check(shape, path=path, querystring=querystring, headers=headers)
        return
    with pytest.raises(MissingRequestParameters) as raised:
        check(shape, path=path, querystring=querystring, headers=headers)

    assert raised.value.names == tuple(missing)
    assert raised.value.message == f"Missing required request parameters: [{', '.join(missing)}]"


def test_the_missing_parameters_message_is_api_gateways() -> None:
    with pytest.raises(MissingRequestParameters) as raised:
        check(params(**{ITEMS: True, VERSION: True}))

    assert str(raised.value) == "Missing required request parameters: [items, X-Api-Version]"
    assert raised.value.detail == raised.value.message
    assert isinstance(raised.value, InvalidRequest)


BAD_BODY = b'{"name": "x"}'
GOOD_BODY = b'{"name": "xy", "quantity": 2}'


@pytest.mark.parametrize(
    ("validator", "query", "body", "raised"),
    [
        (ALL, {}, BAD_BODY, MissingRequestParameters),  # parameters are checked first
        (ALL, {"items": ["1"]}, BAD_BODY, InvalidRequestBody),
        (ALL, {}, GOOD_BODY, MissingRequestParameters),
        (ALL, {"items": ["1"]}, GOOD_BODY, None),
        (PARAMS_ONLY, {}, GOOD_BODY, MissingRequestParameters),
        (PARAMS_ONLY, {"items": ["1"]}, BAD_BODY, None),  # the body is not checked
        (PARAMS_ONLY, {"items": ["1"]}, b"not json", None),
        (BODY_ONLY, {}, BAD_BODY, InvalidRequestBody),  # parameters are not checked
        (BODY_ONLY, {}, GOOD_BODY, None),
        (NOTHING, {}, BAD_BODY, None),
        (NOTHING, {}, b"not json", None),
    ],
)
def test_a_validator_checks_only_what_it_says(
    validator: Validator,
    query: dict[str, list[str]],
    body: bytes,
    raised: type[Exception] | None,
) -> None:
    shape = RequestShape(parameters={ITEMS: True}, models={"application/json": ORDER})

    if raised is None:
        check(shape, validator, querystring=query, body=body)
    else:
        with pytest.raises(raised):
            check(shape, validator, querystring=query, body=body)


STRICT = {"type": "object", "required": ["strict"]}
LOOSE = {"type": "object"}


@pytest.mark.parametrize(
    ("models", "content_type", "body", "valid"),
    [
        ({"application/json": STRICT}, "application/json", b"{}", False),
        ({"application/json": STRICT}, "application/json; charset=utf-8", b"{}", False),
        ({"application/json": STRICT}, "Application/JSON", b"{}", False),
        ({"application/json": STRICT}, None, b"{}", False),  # no Content-Type: JSON
        ({"application/json": STRICT}, "text/plain", b"{}", True),  # no model: not validated
        ({"application/json": STRICT}, "text/plain", b"not json", True),
        ({"$default": STRICT}, "text/plain", b"{}", False),  # $default applies to any type
        ({"$default": STRICT}, None, b"{}", False),
        ({"$default": STRICT}, "application/xml", b"<a/>", False),
        ({"$default": STRICT, "application/json": LOOSE}, "application/json", b"{}", True),
        ({"$default": LOOSE, "application/json": STRICT}, "application/json", b"{}", False),
        ({"$default": LOOSE, "application/json": STRICT}, "text/csv", b"{}", True),
        ({"text/plain": STRICT}, None, b"{}", True),
        ({"application/vnd.order+json": STRICT}, "application/vnd.order+json", b"{}", False),
        ({"application/vnd.order+json": STRICT}, "application/json", b"{}", True),
        ({}, "application/json", b"not json", True),  # no models at all
    ],
)
def test_the_body_model_is_chosen_by_media_type_then_default(
    models: dict[str, dict[str, Any]], content_type: str | None, body: bytes, valid: bool
) -> None:
    shape = RequestShape(parameters={}, models=models)

    if valid:
        check(shape, content_type=content_type, body=body)
    else:
        with pytest.raises(InvalidRequestBody):
            check(shape, content_type=content_type, body=body)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"{", b'{"a": 1,}', b"NaN", b'{"a": Infinity}', b"\xff\xfe\xfa", b"  ", b"'x'"],
)
def test_a_body_that_is_not_json_fails_when_a_model_applies(body: bytes) -> None:
    shape = RequestShape(parameters={}, models={"application/json": LOOSE})

    with pytest.raises(InvalidRequestBody) as raised:
        check(shape, body=body)

    assert raised.value.message == "Invalid request body"
    assert raised.value.detail.startswith("[Unable to parse request body as JSON")


@pytest.mark.parametrize(
    ("schema", "valid"),
    [
        ({"type": "object"}, True),
        ({"type": "object", "required": ["name"]}, False),
        ({"type": "array"}, False),
        ({}, True),
    ],
)
def test_an_empty_body_is_validated_as_an_empty_object(schema: dict[str, Any], valid: bool) -> None:
    shape = RequestShape(parameters={}, models={"application/json": schema})

    if valid:
        check(shape, body=b"")
    else:
        with pytest.raises(InvalidRequestBody):
            check(shape, body=b"")


@pytest.mark.parametrize(
    ("schema", "body", "detail"),
    [
        (
            {"type": "object", "required": ["name", "price", "type"]},
            b'{"type": "dog"}',
            '[object has missing required properties (["name","price"])]',
        ),
        (
            {"properties": {"price": {"type": "integer"}}},
            b'{"price": "cheap"}',
            '[instance type (string) does not match any allowed primitive type (allowed: ["integer"])]',
        ),
        (
            {"properties": {"price": {"type": ["integer", "null"]}}},
            b'{"price": true}',
            '[instance type (boolean) does not match any allowed primitive type (allowed: ["integer","null"])]',
        ),
        (
            {"properties": {"type": {"enum": ["dog", "cat"]}}},
            b'{"type": "fish"}',
            '[instance value ("fish") not found in enum (possible values: ["dog","cat"])]',
        ),
        (
            {"properties": {"price": {"minimum": 10}}},
            b'{"price": 5}',
            "[numeric instance is lower than the required minimum (minimum: 10, found: 5)]",
        ),
        (
            {"properties": {"price": {"maximum": 500}}},
            b'{"price": 501}',
            "[numeric instance is greater than the required maximum (maximum: 500, found: 501)]",
        ),
        (
            {"properties": {"price": {"minimum": 10, "exclusiveMinimum": True}}},
            b'{"price": 10}',
            "[numeric instance is not strictly greater than the required minimum 10]",
        ),
        (
            {"properties": {"price": {"maximum": 10, "exclusiveMaximum": True}}},
            b'{"price": 10}',
            "[numeric instance is not strictly lower than the required maximum 10]",
        ),
        (
            {"properties": {"name": {"minLength": 3}}},
            b'{"name": "ab"}',
            '[string "ab" is too short (length: 2, required minimum: 3)]',
        ),
        (
            {"properties": {"name": {"maxLength": 3}}},
            b'{"name": "abcd"}',
            '[string "abcd" is too long (length: 4, maximum allowed: 3)]',
        ),
        (
            {"properties": {"name": {"pattern": "^[a-z]+$"}}},
            b'{"name": "A1"}',
            '[ECMA 262 regex "^[a-z]+$" does not match input string "A1"]',
        ),
        (
            {"properties": {"a": {}}, "additionalProperties": False},
            b'{"a": 1, "z": 2, "b": 3}',
            '[object instance has properties which are not allowed by the schema: ["b","z"]]',
        ),
        (
            {"properties": {"tags": {"minItems": 1}}},
            b'{"tags": []}',
            "[array is too short: must have at least 1 elements but instance has 0 elements]",
        ),
        (
            {"properties": {"tags": {"maxItems": 1}}},
            b'{"tags": [1, 2]}',
            "[array is too long: must have at most 1 elements but instance has 2 elements]",
        ),
        (
            {"properties": {"tags": {"uniqueItems": True}}},
            b'{"tags": [1, 1]}',
            "[array must not contain duplicate elements]",
        ),
        (
            {"minProperties": 2},
            b'{"a": 1}',
            "[object has too few properties (found 1 but schema requires at least 2)]",
        ),
        (
            {"maxProperties": 1},
            b'{"a": 1, "b": 2}',
            "[object has too many properties (found 2 but schema requires at most 1)]",
        ),
        (
            {
                "required": ["name"],
                "properties": {"quantity": {"type": "integer"}, "item": {"required": ["sku"]}},
            },
            b'{"quantity": 1.5, "item": {}}',
            '[object has missing required properties (["name"]), '
            'object has missing required properties (["sku"]), '
            'instance type (number) does not match any allowed primitive type (allowed: ["integer"])]',
        ),
    ],
)
def test_the_validation_error_string_reads_as_api_gateways(
    schema: dict[str, Any], body: bytes, detail: str
) -> None:
    shape = RequestShape(parameters={}, models={"application/json": schema})

    with pytest.raises(InvalidRequestBody) as raised:
        check(shape, body=body)

    assert raised.value.message == "Invalid request body"
    assert sorted(raised.value.detail[1:-1].split(", ")) == sorted(detail[1:-1].split(", "))


def test_formats_are_checked() -> None:
    schema = {"properties": {"email": {"type": "string", "format": "email"}}}
    shape = RequestShape(parameters={}, models={"application/json": schema})

    check(shape, body=b'{"email": "a@b.example"}')
    with pytest.raises(InvalidRequestBody):
        check(shape, body=b'{"email": "nobody"}')


def url(name: str) -> str:
    return model_url(API, name)


MODELS: dict[str, dict[str, Any]] = {
    "Order": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["customer", "lines"],
        "properties": {
            "customer": {"$ref": url("Customer")},
            "lines": {"type": "array", "minItems": 1, "items": {"$ref": url("Line")}},
            "note": {"$ref": "#/definitions/note"},
        },
        "definitions": {"note": {"type": "string", "maxLength": 5}},
    },
    "Customer": {
        "type": "object",
        "required": ["id"],
        "properties": {"id": {"$ref": "#/definitions/id"}, "address": {"$ref": url("Address")}},
        "definitions": {"id": {"type": "string", "pattern": "^c[0-9]+$"}},
    },
    "Address": {
        "type": "object",
        "required": ["country"],
        "properties": {"country": {"$ref": "#/definitions/country"}},
        "definitions": {"country": {"enum": ["DE", "FR"]}},
    },
    "Line": {
        "type": "object",
        "required": ["sku"],
        "properties": {
            "sku": {"$ref": url("Customer") + "#/definitions/id"},  # into another model
            "children": {"type": "array", "items": {"$ref": url("Line")}},  # recursive
        },
    },
}

VALID_ORDER = {
    "customer": {"id": "c1", "address": {"country": "DE"}},
    "lines": [{"sku": "c7", "children": [{"sku": "c8"}]}],
    "note": "hi",
}


def with_(path: Sequence[Any], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(VALID_ORDER)
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("order", "valid"),
    [
        (VALID_ORDER, True),
        (with_(["note"], "too long"), False),  # the model's own definitions
        (with_(["customer", "id"], "x1"), False),  # Customer's own definitions, from Order
        (with_(["customer", "address", "country"], "US"), False),  # Order → Customer → Address
        (with_(["customer", "address"], {}), False),
        (with_(["lines"], []), False),
        (with_(["lines", 0, "sku"], "nope"), False),  # a fragment of another model
        (with_(["lines", 0, "children", 0, "children"], [{"sku": 1}]), False),  # recursion
        (with_(["lines", 0, "children", 0, "children"], [{"sku": "c9"}]), True),
    ],
)
def test_models_reference_each_other_by_url(order: dict[str, Any], valid: bool) -> None:
    resolved = resolve_models(MODELS, API)
    shape = RequestShape(parameters={}, models={"application/json": resolved["Order"]})
    body = json.dumps(order).encode()

    if valid:
        check(shape, body=body)
    else:
        with pytest.raises(InvalidRequestBody):
            check(shape, body=body)


def test_every_resolved_model_validates_on_its_own() -> None:
    resolved = resolve_models(MODELS, API)
    shape = RequestShape(parameters={}, models={"$default": resolved["Customer"]})

    check(shape, body=b'{"id": "c1", "address": {"country": "FR"}}')
    with pytest.raises(InvalidRequestBody):
        check(shape, body=b'{"id": "c1", "address": {"country": "XX"}}')
    assert set(resolved) == set(MODELS)
    assert resolved["Address"]["id"] == url("Address")


def test_resolving_leaves_the_given_models_unchanged() -> None:
    before = copy.deepcopy(MODELS)

    resolve_models(MODELS, API)

    assert before == MODELS


@pytest.mark.parametrize(
    "models",
    [
        {"A": {"type": 5}},  # not a draft 4 schema
        {"A": {"type": "object", "required": []}},  # draft 4 wants at least one name
        {"A": {"properties": {"x": {"minLength": -1}}}},
        {"A": {"properties": {"x": {"$ref": url("Missing")}}}},  # no such model
        {"A": {"$ref": model_url("other-api", "A")}},  # another API's model
        {"A": {"$ref": "#/definitions/missing"}},  # resolves to nothing
        {"A": {"$ref": url("B")}, "B": {"$ref": url("B") + "#/definitions/missing"}},
        {"A": {"$ref": "http://example.com/schema.json"}},  # nothing is fetched
    ],
)
def test_a_model_that_cannot_be_used_is_refused(models: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(InvalidModel) as raised:
        resolve_models(models, API)

    assert isinstance(raised.value, BadRequest)
    assert raised.value.message.startswith("Invalid model specified")


def test_an_enum_of_reference_like_values_is_data() -> None:
    models = {"A": {"properties": {"x": {"enum": [{"$ref": url("Nowhere")}]}}}}

    resolved = resolve_models(models, API)

    check(
        RequestShape(parameters={}, models={"application/json": resolved["A"]}),
        body=b'{"x": {"$ref": "' + url("Nowhere").encode() + b'"}}',
    )


def test_a_shape_with_a_schema_that_is_not_draft_4_is_an_invalid_model() -> None:
    shape = RequestShape(parameters={}, models={"application/json": {"type": "nothing"}})

    with pytest.raises(InvalidModel):
        check(shape, body=b"{}")


def test_a_shape_with_an_unresolvable_reference_is_an_invalid_model() -> None:
    shape = RequestShape(parameters={}, models={"application/json": {"$ref": url("Gone")}})

    with pytest.raises(InvalidModel):
        check(shape, body=b"{}")


def test_one_schema_validates_many_requests_alike() -> None:
    resolved = resolve_models(MODELS, API)
    shape = RequestShape(parameters={}, models={"application/json": resolved["Address"]})

    for _ in range(3):
        check(shape, body=b'{"country": "DE"}')
        with pytest.raises(InvalidRequestBody):
            check(shape, body=b'{"country": "US"}')


@given(st.binary(max_size=64))
def test_any_body_either_passes_or_fails_validation(body: bytes) -> None:
    shape = RequestShape(parameters={}, models={"application/json": ORDER})

    try:
        check(shape, body=body)
    except RequestValidationFailed as failed:
        assert failed.message == "Invalid request body"
        assert failed.detail.startswith("[")
