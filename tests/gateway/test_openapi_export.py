"""REST API definitions as OpenAPI documents (GetExport), and back again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from openapi_spec_validator import validate

from modelyard.gateway.definitions import RestApi
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.openapi_export import export_api
from tests.gateway.test_openapi_import import (
    OAS30,
    SAGEMAKER,
    SWAGGER,
    canonical,
    counter,
    imported,
    load,
    minimal,
    ok,
    path_sets,
)

SERVER = "https://abc123defg.execute-api.us-east-1.amazonaws.com"


def exported(
    api: RestApi, export_type: str = "oas30", extensions: tuple[str, ...] = ("apigateway",)
) -> dict[str, Any]:
    return export_api(
        api,
        stage="prod",
        stage_variables={"endpoint": "rating"},
        server_url=SERVER,
        export_type=export_type,  # type: ignore[arg-type]
        extensions=extensions,
    )


def extension_keys(value: Any) -> Iterator[str]:
    """Every ``x-amazon-apigateway-*`` key anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("x-amazon-apigateway-"):
                yield key
            yield from extension_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from extension_keys(item)


def test_an_oas30_export_is_shaped_as_api_gateway_writes_it() -> None:
    document = exported(imported(load(OAS30)))

    validate(document)
    assert document["openapi"] == "3.0.1"
    assert document["info"] == {
        "title": "RatingApi",
        "description": "Predicted ratings from the rating model.",
        "version": "2024-05-01T10:00:00Z",
    }
    assert document["servers"] == [
        {"url": f"{SERVER}/{{basePath}}", "variables": {"basePath": {"default": "/prod"}}}
    ]
    assert list(document["paths"]) == [
        "/",
        "/models/{proxy+}",
        "/predicted-ratings/{user_id}",
        "/ratings",
    ]
    rating = document["paths"]["/predicted-ratings/{user_id}"]["get"]
    assert rating["parameters"] == [
        {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "item_id", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
    ]
    assert rating["security"] == [{"ratings-users": ["ratings/read"]}]
    assert rating["responses"]["200"] == {
        "description": "200 response",
        "headers": {"Access-Control-Allow-Origin": {"schema": {"type": "string"}}},
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictedRating"}}
        },
    }
    assert rating["x-amazon-apigateway-request-validator"] == "params-only"
    integration = rating["x-amazon-apigateway-integration"]
    assert (integration["type"], integration["httpMethod"], integration["uri"]) == (
        "aws",
        "POST",
        SAGEMAKER,
    )
    assert (integration["passthroughBehavior"], integration["timeoutInMillis"]) == ("never", 10_000)
    assert list(integration["responses"]) == ["default", r"4\d{2}", r"5\d{2}"]
    assert integration["responses"][r"4\d{2}"]["statusCode"] == "400"

    score = document["paths"]["/ratings"]["post"]
    assert score["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/RatingRequest"}}
    }
    assert score["security"] == [{"api_key": []}]
    assert "x-amazon-apigateway-any-method" in document["paths"]["/models/{proxy+}"]
    assert document["paths"]["/models/{proxy+}"]["x-amazon-apigateway-any-method"]["security"] == [
        {"sigv4": []}
    ]

    components = document["components"]
    assert components["schemas"]["RatingRequest"]["properties"]["ratings"]["items"] == {
        "$ref": "#/components/schemas/Rating"
    }
    assert components["securitySchemes"] == {
        "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4",
        },
        "ratings-users": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "x-amazon-apigateway-authtype": "cognito_user_pools",
            "x-amazon-apigateway-authorizer": {
                "type": "cognito_user_pools",
                "providerARNs": [
                    "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Ab12Cd34E"
                ],
                "identitySource": "method.request.header.Authorization",
            },
        },
    }
    assert set(document["x-amazon-apigateway-request-validators"]) == {
        "all",
        "params-only",
        "body-only",
    }
    assert document["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"]["statusCode"] == "401"
    assert document["x-amazon-apigateway-api-key-source"] == "HEADER"
    assert document["x-amazon-apigateway-binary-media-types"] == [
        "application/x-recordio-protobuf",
        "image/png",
    ]


def test_a_swagger_export_has_host_base_path_definitions_and_body_parameters() -> None:
    document = exported(imported(load(OAS30)), "swagger")

    validate(document)
    assert (document["swagger"], document["host"], document["basePath"], document["schemes"]) == (
        "2.0",
        "abc123defg.execute-api.us-east-1.amazonaws.com",
        "/prod",
        ["https"],
    )
    score = document["paths"]["/ratings"]["post"]
    assert score["consumes"] == ["application/json"]
    assert score["produces"] == ["application/json"]
    assert score["parameters"] == [
        {
            "in": "body",
            "name": "RatingRequest",
            "required": True,
            "schema": {"$ref": "#/definitions/RatingRequest"},
        }
    ]
    assert score["responses"]["200"]["schema"] == {"$ref": "#/definitions/RatingResponse"}
    assert document["definitions"]["RatingResponse"]["properties"]["predictions"]["items"] == {
        "$ref": "#/definitions/PredictedRating"
    }
    assert set(document["securityDefinitions"]) == {"api_key", "sigv4", "ratings-users"}


def test_extensions_are_written_only_as_asked() -> None:
    api = imported(load(OAS30))

    plain = exported(api, extensions=())
    integrations = exported(api, extensions=("integrations",))
    authorizers = exported(api, extensions=("authorizers", "postman"))

    assert set(extension_keys(plain)) == {"x-amazon-apigateway-any-method"}
    assert set(extension_keys(integrations)) == {
        "x-amazon-apigateway-any-method",
        "x-amazon-apigateway-integration",
    }
    assert set(extension_keys(authorizers)) == {
        "x-amazon-apigateway-any-method",
        "x-amazon-apigateway-authtype",
        "x-amazon-apigateway-authorizer",
    }
    validate(plain)


@pytest.mark.parametrize(("export_type", "extensions"), [("oas31", ()), ("oas30", ("everything",))])
def test_an_unknown_export_type_or_extension_is_a_bad_request(
    export_type: str, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(BadRequest):
        exported(imported(load(OAS30)), export_type, extensions)


@pytest.mark.parametrize("source", [OAS30, SWAGGER], ids=["oas30", "swagger"])
@pytest.mark.parametrize("export_type", ["oas30", "swagger"])
def test_import_of_the_export_is_the_import(source: Path, export_type: str) -> None:
    first = imported(load(source))

    again = imported(exported(first, export_type), new_id=counter("again"))

    assert again.warnings is None
    assert canonical(again) == canonical(first)


def test_a_method_without_responses_and_a_leaf_without_methods_survive_the_round_trip() -> None:
    first = imported(
        minimal(
            {
                "/bare": {"post": {"responses": {}}},
                "/empty/leaf": {},
            }
        )
    )

    document = exported(first)
    again = imported(document)

    validate(document)
    assert canonical(again) == canonical(first)
    assert {r.path for r in again.resources.values()} == {"/", "/bare", "/empty", "/empty/leaf"}


def test_token_and_request_authorizers_round_trip_beside_an_api_key() -> None:
    uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:auth/invocations"
    scheme = {"type": "apiKey", "in": "header"}
    first = imported(
        minimal(
            {
                "/a": {"get": {**ok(), "security": [{"api_key": []}]}},
                "/b": {"get": {**ok(), "security": [{"request": [], "keys": []}]}},
            },
            components={
                "securitySchemes": {
                    # An authorizer may have the name exports give the API key scheme.
                    "api_key": {
                        **scheme,
                        "name": "X-Token",
                        "x-amazon-apigateway-authorizer": {
                            "type": "token",
                            "authorizerUri": uri,
                            "authorizerResultTtlInSeconds": 0,
                        },
                    },
                    "request": {
                        **scheme,
                        "name": "Unused",
                        "x-amazon-apigateway-authorizer": {
                            "type": "request",
                            "authorizerUri": uri,
                            "identitySource": "method.request.header.A, method.request.querystring.b",
                        },
                    },
                    "keys": {**scheme, "name": "x-api-key"},
                }
            },
        )
    )

    for export_type in ("oas30", "swagger"):
        document = exported(first, export_type)
        again = imported(document)

        validate(document)
        assert document["paths"]["/b"]["get"]["security"] == [{"request": []}, {"api_key_2": []}]
        assert again.warnings is None
        assert canonical(again) == canonical(first)


@settings(max_examples=40, deadline=None)
@given(path_sets())
def test_any_resource_tree_survives_export_and_import(paths: dict[str, set[str]]) -> None:
    first = imported(
        minimal({path: {method: ok() for method in methods} for path, methods in paths.items()})
    )

    for export_type in ("oas30", "swagger"):
        again = imported(exported(first, export_type), new_id=counter("again"))

        assert canonical(again) == canonical(first)
