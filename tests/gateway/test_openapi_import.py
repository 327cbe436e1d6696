"""REST API definitions from OpenAPI documents (ImportRestApi, PutRestApi)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import InvalidRequest
from modelyard.gateway.definitions import (
    ApiKeySource,
    AuthorizationType,
    AuthorizerType,
    IntegrationType,
    PassthroughBehavior,
    RestApi,
)
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.openapi_import import (
    InvalidApiDocument,
    import_api,
    model_url,
    parse_document,
)

APIS = Path(__file__).parent / "apis"
OAS30 = APIS / "rating-api.oas30.yaml"
SWAGGER = APIS / "rating-api.swagger.json"
CREATED = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
SAGEMAKER = "arn:aws:apigateway:us-east-1:runtime.sagemaker:path//endpoints/rating/invocations"


def counter(prefix: str = "id") -> Callable[[], str]:
    """Ids as a deterministic ``new_id``: id1, id2, ..."""
    numbers = itertools.count(1)
    return lambda: f"{prefix}{next(numbers)}"


def load(path: Path) -> dict[str, Any]:
    return parse_document(path.read_bytes())


def imported(document: dict[str, Any], **options: Any) -> RestApi:
    options.setdefault("new_id", counter())
    return import_api(document, api_id="rating1", created=CREATED, **options)


def canonical(api: RestApi) -> dict[str, Any]:
    """The API with every id replaced by what it names (path, authorizer, validator), so
    two imports of one definition compare equal whatever ids they were given."""
    paths = {r.id: r.path for r in api.resources.values()}
    authorizers = {a.id: a.name for a in api.authorizers.values()}
    validators = {v.id: v.name for v in api.request_validators.values()}

    def method(document: dict[str, Any]) -> dict[str, Any]:
        if "authorizerId" in document:
            document["authorizerId"] = authorizers.get(document["authorizerId"], "?")
        if "requestValidatorId" in document:
            document["requestValidatorId"] = validators.get(document["requestValidatorId"], "?")
        return document

    def without_id(document: dict[str, Any]) -> dict[str, Any]:
        document.pop("id")
        if "schema" in document:
            document["schema"] = json.loads(document["schema"])
        return document

    whole = api.document()
    for key in ("id", "rootResourceId", "resources", "authorizers", "models", "requestValidators"):
        whole.pop(key, None)
    whole["resources"] = {
        r.path: {
            "parent": paths.get(r.parent_id or ""),
            "pathPart": r.path_part,
            "methods": {
                name: method(m.document()) for name, m in (r.resource_methods or {}).items()
            },
        }
        for r in api.resources.values()
    }
    whole["root"] = paths[api.root_resource_id]
    whole["authorizers"] = {a.name: without_id(a.document()) for a in api.authorizers.values()}
    whole["models"] = {m.name: without_id(m.document()) for m in api.models.values()}
    whole["requestValidators"] = {
        v.name: without_id(v.document()) for v in api.request_validators.values()
    }
    return whole


def minimal(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.1", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def ok(description: str = "ok") -> dict[str, Any]:
    return {"responses": {"200": {"description": description}}}


# -- parse_document ------------------------------------------------------------------------


def test_a_yaml_document_keeps_dates_as_text_and_status_codes_as_strings() -> None:
    document = parse_document(
        b"openapi: 3.0.1\ninfo: {title: t, version: 2024-05-01}\n"
        b"paths: {/: {get: {responses: {200: {description: ok}}}}}\n"
    )

    assert document["info"]["version"] == "2024-05-01"
    assert list(document["paths"]["/"]["get"]["responses"]) == ["200"]


def test_a_json_document_with_a_byte_order_mark_parses() -> None:
    assert parse_document('\ufeff{"swagger": "2.0"}'.encode()) == {"swagger": "2.0"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[1, 2]", "not list"),
        (b"just text", "not str"),
        (b"{unclosed: [", "neither JSON nor YAML"),
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c]\n"
            b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e]\n"
            b"g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            "too large",
        ),
    ],
)
def test_what_is_not_one_object_is_refused_with_its_reason(body: bytes, problem: str) -> None:
    with pytest.raises(InvalidApiDocument, match=problem) as caught:
        parse_document(body)

    assert isinstance(caught.value, BadRequest) and isinstance(caught.value, InvalidRequest)


# -- the example API -----------------------------------------------------------------------


def test_the_example_imports_with_every_part_in_place() -> None:
    api = imported(load(OAS30))

    assert api.warnings is None
    assert (api.id, api.name, api.version) == ("rating1", "RatingApi", "2024-05-01T10:00:00Z")
    assert api.description == "Predicted ratings from the rating model."
    assert api.created_date == CREATED
    assert api.api_key_source is ApiKeySource.HEADER
    assert api.binary_media_types == ["application/x-recordio-protobuf", "image/png"]

    by_path = {r.path: r for r in api.resources.values()}
    assert sorted(by_path) == [
        "/",
        "/models",
        "/models/{proxy+}",
        "/predicted-ratings",
        "/predicted-ratings/{user_id}",
        "/ratings",
    ]
    assert by_path["/"].id == api.root_resource_id and by_path["/"].parent_id is None
    assert by_path["/predicted-ratings/{user_id}"].parent_id == by_path["/predicted-ratings"].id
    assert by_path["/predicted-ratings/{user_id}"].path_part == "{user_id}"
    assert by_path["/predicted-ratings"].resource_methods is None
    assert len({r.id for r in api.resources.values()}) == 6

    validators = {v.name: v for v in api.request_validators.values()}
    assert {
        n: (v.validate_request_body, v.validate_request_parameters) for n, v in validators.items()
    } == {
        "all": (True, True),
        "params-only": (False, True),
        "body-only": (True, False),
    }
    [authorizer] = api.authorizers.values()
    assert authorizer.name == "ratings-users"
    assert authorizer.type is AuthorizerType.COGNITO_USER_POOLS
    assert authorizer.provider_arns == [
        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Ab12Cd34E"
    ]
    assert authorizer.identity_source == "method.request.header.Authorization"
    assert authorizer.auth_type == "cognito_user_pools"

    rating = by_path["/predicted-ratings/{user_id}"].resource_methods["GET"]  # type: ignore[index]
    assert rating.operation_name == "GetPredictedRating"
    assert rating.request_parameters == {
        "method.request.path.user_id": True,
        "method.request.querystring.item_id": True,
        "method.request.header.X-Request-Id": False,
    }
    assert rating.authorization_type is AuthorizationType.COGNITO_USER_POOLS
    assert rating.authorizer_id == authorizer.id
    assert rating.authorization_scopes == ["ratings/read"]
    assert rating.api_key_required is False
    assert rating.request_validator_id == validators["params-only"].id  # the document's default
    assert rating.method_responses is not None
    assert rating.method_responses["200"].response_parameters == {
        "method.response.header.Access-Control-Allow-Origin": False
    }
    assert rating.method_responses["200"].response_models == {"application/json": "PredictedRating"}
    assert rating.method_responses["500"].response_models == {"application/json": "Error"}

    integration = rating.method_integration
    assert integration is not None
    assert (integration.type, integration.http_method, integration.uri) == (
        IntegrationType.AWS,
        "POST",
        SAGEMAKER,
    )
    assert integration.credentials == "arn:aws:iam::123456789012:role/RatingApiInvokeSageMaker"
    assert integration.passthrough_behavior is PassthroughBehavior.NEVER
    assert integration.timeout_in_millis == 10_000
    assert integration.request_parameters == {
        "integration.request.header.Content-Type": "'application/json'",
        "integration.request.header.X-Amzn-SageMaker-Custom-Attributes": (
            "method.request.header.X-Request-Id"
        ),
    }
    assert integration.request_templates is not None
    assert "$input.params('user_id')" in integration.request_templates["application/json"]
    responses = integration.integration_responses
    assert responses is not None
    assert {s: r.selection_pattern for s, r in responses.items()} == {
        "200": None,
        "400": r"4\d{2}",
        "500": r"5\d{2}",
    }
    assert responses["200"].response_parameters == {
        "method.response.header.Access-Control-Allow-Origin": "'*'"
    }
    assert responses["200"].response_templates is not None
    assert "$prediction.score" in responses["200"].response_templates["application/json"]

    score = by_path["/ratings"].resource_methods["POST"]  # type: ignore[index]
    assert score.api_key_required is True
    assert score.authorization_type is AuthorizationType.NONE
    assert score.request_models == {"application/json": "RatingRequest"}
    assert score.request_validator_id == validators["body-only"].id  # the operation's own

    proxy = by_path["/models/{proxy+}"].resource_methods["ANY"]  # type: ignore[index]
    assert proxy.authorization_type is AuthorizationType.AWS_IAM
    assert proxy.method_integration is not None
    assert proxy.method_integration.type is IntegrationType.HTTP_PROXY
    assert proxy.method_integration.cache_key_parameters == ["method.request.path.proxy"]
    assert proxy.method_integration.cache_namespace == "models"

    root = by_path["/"].resource_methods["GET"]  # type: ignore[index]
    assert root.method_integration is not None
    assert root.method_integration.type is IntegrationType.MOCK

    models = {m.name: m for m in api.models.values()}
    assert sorted(models) == [
        "Error",
        "PredictedRating",
        "Rating",
        "RatingRequest",
        "RatingResponse",
    ]
    request_schema = json.loads(models["RatingRequest"].schema_ or "")
    assert request_schema["properties"]["ratings"]["items"] == {
        "$ref": "https://apigateway.amazonaws.com/restapis/rating1/models/Rating"
    }
    assert (
        model_url("rating1", "Rating") == request_schema["properties"]["ratings"]["items"]["$ref"]
    )

    unauthorized = api.gateway_responses["UNAUTHORIZED"]
    assert unauthorized.status_code == "401"
    assert unauthorized.response_parameters is not None
    assert (
        unauthorized.response_parameters["gatewayresponse.header.Access-Control-Allow-Origin"]
        == "'*'"
    )
    assert unauthorized.response_templates is not None
    assert "$context.error.messageString" in unauthorized.response_templates["application/json"]
    assert api.gateway_responses["DEFAULT_4XX"].status_code is None


def test_swagger_2_and_openapi_3_forms_of_the_example_import_alike() -> None:
    swagger, oas30 = imported(load(SWAGGER)), imported(load(OAS30))

    assert canonical(swagger) == canonical(oas30)


def test_ids_come_from_new_id_and_repeat_for_the_same_document() -> None:
    first = imported(load(OAS30), new_id=counter("x"))
    second = imported(load(OAS30), new_id=counter("x"))

    ids = [*first.resources, *first.authorizers, *first.models, *first.request_validators]
    assert all(i.startswith("x") for i in ids) and len(set(ids)) == len(ids)
    assert first == second


# -- warnings and refusals -----------------------------------------------------------------


def test_what_api_gateway_would_not_take_is_left_out_and_warned_about() -> None:
    document = minimal(
        {
            "/pets/{id}": {"get": ok()},
            "/pets/{petId}/toys": {"get": ok()},  # a second parameter name at one level
            "/a{b}": {"get": ok()},
            "/files/{path+}/more": {"get": ok()},
            "/things": {
                "trace": ok(),
                "get": {
                    **ok(),
                    "parameters": [{"name": "session", "in": "cookie"}],
                    "security": [{"oauth": []}, {"nobody": []}],
                    "x-amazon-apigateway-request-validator": "missing",
                    "requestBody": {
                        "content": {"application/json": {"schema": {"type": "object"}}}
                    },
                    "x-amazon-apigateway-integration": {"type": "http", "timeoutInMillis": 90000},
                },
            },
        },
        components={"securitySchemes": {"oauth": {"type": "oauth2", "flows": {}}}},
        **{"x-amazon-apigateway-policy": {"Version": "2012-10-17"}},
    )

    api = imported(document)

    warnings = "\n".join(api.warnings or [])
    for expected in [
        "'{petId}' conflicts with '{id}'",
        "'a{b}' is not a path parameter",
        "greedy parameter must be the last",
        "no TRACE method",
        "cookie parameter 'session'",
        "Security scheme 'oauth'",
        "no security scheme named 'nobody'",
        "no request validator named 'missing'",
        "inline schemas are not imported",
        "timeout_in_millis",
        "x-amazon-apigateway-policy",
    ]:
        assert expected in warnings
    paths = {r.path for r in api.resources.values()}
    assert paths == {"/", "/pets", "/pets/{id}", "/things"}
    things = next(r for r in api.resources.values() if r.path == "/things")
    assert things.resource_methods is not None and set(things.resource_methods) == {"GET"}
    get = things.resource_methods["GET"]
    assert get.method_integration is None  # its timeout is out of range
    assert get.authorization_type is AuthorizationType.NONE and get.request_models is None

    with pytest.raises(InvalidApiDocument, match="no TRACE method"):
        imported(document, fail_on_warnings=True)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"openapi": "3.1.0", "info": {"title": "t"}, "paths": {}}, "3.1.0"),
        ({"swagger": "1.2", "info": {"title": "t"}, "paths": {}}, "1.2"),
        ({"info": {"title": "t"}, "paths": {}}, "names no version"),
        ({"openapi": "3.0.3", "info": {}, "paths": {}}, "info.title"),
        ({"openapi": "3.0.3", "info": {"title": "t"}, "paths": []}, "'paths' must be an object"),
    ],
)
def test_what_is_no_api_definition_is_refused(document: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidApiDocument, match=problem):
        imported(document)


def test_references_to_shared_parameters_responses_and_bodies_are_followed() -> None:
    document = minimal(
        {
            "/items/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "put": {
                    "parameters": [{"$ref": "#/components/parameters/Trace"}],
                    "requestBody": {"$ref": "#/components/requestBodies/Item"},
                    "responses": {"200": {"$ref": "#/components/responses/Saved"}},
                },
            }
        },
        components={
            "schemas": {"Item": {"type": "object"}},
            "parameters": {
                "Id": {"name": "id", "in": "path", "required": True},
                "Trace": {"name": "X-Trace", "in": "header", "required": True},
            },
            "requestBodies": {
                "Item": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}
                    }
                }
            },
            "responses": {
                "Saved": {
                    "description": "saved",
                    "headers": {"ETag": {"required": True, "schema": {"type": "string"}}},
                }
            },
        },
    )

    api = imported(document)

    assert api.warnings is None
    [put] = [m for r in api.resources.values() for m in (r.resource_methods or {}).values()]
    assert put.request_parameters == {
        "method.request.path.id": True,
        "method.request.header.X-Trace": True,
    }
    assert put.request_models == {"application/json": "Item"}
    assert put.method_responses is not None
    assert put.method_responses["200"].response_parameters == {"method.response.header.ETag": True}


def test_token_and_request_authorizers_are_read_with_their_settings() -> None:
    uri = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations"
    document = {
        "swagger": "2.0",
        "info": {"title": "t"},
        "paths": {
            "/a": {"get": {**ok(), "security": [{"token-auth": []}]}},
            "/b": {"get": {**ok(), "security": [{"request-auth": []}]}},
            "/c": {"get": {**ok(), "x-amazon-apigateway-auth": {"type": "aws_iam"}}},
        },
        "securityDefinitions": {
            "token-auth": {
                "type": "apiKey",
                "name": "X-Token",
                "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": {
                    "type": "token",
                    "authorizerUri": uri,
                    "authorizerCredentials": "arn:aws:iam::123456789012:role/auth",
                    "identityValidationExpression": "^x-[a-z]+",
                    "authorizerResultTtlInSeconds": 60,
                },
            },
            "request-auth": {
                "type": "apiKey",
                "name": "Unused",
                "in": "header",
                "x-amazon-apigateway-authorizer": {
                    "type": "request",
                    "authorizerUri": uri,
                    "identitySource": "method.request.header.Auth, method.request.querystring.user",
                },
            },
        },
    }

    api = imported(document)

    assert api.warnings is None
    authorizers = {a.name: a for a in api.authorizers.values()}
    token, request = authorizers["token-auth"], authorizers["request-auth"]
    assert (token.type, token.identity_source) == (
        AuthorizerType.TOKEN,
        "method.request.header.X-Token",
    )
    assert (token.authorizer_result_ttl_in_seconds, token.identity_validation_expression) == (
        60,
        "^x-[a-z]+",
    )
    assert token.authorizer_credentials == "arn:aws:iam::123456789012:role/auth"
    assert (request.type, request.auth_type) == (AuthorizerType.REQUEST, "custom")
    assert request.identity_source == "method.request.header.Auth, method.request.querystring.user"
    methods = {
        r.path: (r.resource_methods or {})["GET"]
        for r in api.resources.values()
        if r.resource_methods
    }
    assert (methods["/a"].authorization_type, methods["/a"].authorizer_id) == (
        AuthorizationType.CUSTOM,
        token.id,
    )
    assert methods["/a"].authorization_scopes is None
    assert methods["/b"].authorizer_id == request.id
    assert methods["/c"].authorization_type is AuthorizationType.AWS_IAM


# -- merge and overwrite -------------------------------------------------------------------

UPDATE = minimal(
    {
        "/ratings": {
            "post": {
                **ok("scored"),
                "x-amazon-apigateway-integration": {
                    "type": "mock",
                    "responses": {"default": {"statusCode": "200"}},
                },
            }
        },
        "/ratings/{rating_id}": {
            "get": {
                **ok(),
                "parameters": [{"name": "rating_id", "in": "path", "required": True}],
                "security": [{"ratings-users": []}],
                "x-amazon-apigateway-request-validator": "all",
            }
        },
    },
    info={"title": "RatingApi v2", "version": "2"},
    components={
        "schemas": {
            "Rating": {"type": "object", "description": "changed"},
            "Extra": {"type": "string"},
        },
        "securitySchemes": {
            "ratings-users": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": [
                        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_New"
                    ],
                },
            }
        },
    },
    **{
        "x-amazon-apigateway-request-validators": {
            "all": {"validateRequestBody": False, "validateRequestParameters": True}
        }
    },
)


def test_merge_keeps_what_the_document_does_not_name_and_replaces_what_it_does() -> None:
    base = imported(load(OAS30))

    merged = imported(UPDATE, base=base, mode="merge", new_id=counter("new"))

    assert merged.warnings is None
    assert (merged.id, merged.created_date, merged.name, merged.version) == (
        "rating1",
        CREATED,
        "RatingApi v2",
        "2",
    )
    before = {r.path: r for r in base.resources.values()}
    after = {r.path: r for r in merged.resources.values()}
    assert set(after) == set(before) | {"/ratings/{rating_id}"}
    for path, resource in before.items():
        assert after[path].id == resource.id
    assert after["/ratings/{rating_id}"].id.startswith("new")
    assert after["/ratings/{rating_id}"].parent_id == before["/ratings"].id
    # A method the document names is replaced; the others stay as they were.
    post = (after["/ratings"].resource_methods or {})["POST"]
    assert (
        post.method_integration is not None and post.method_integration.type is IntegrationType.MOCK
    )
    assert post.api_key_required is False
    assert (
        after["/predicted-ratings/{user_id}"].resource_methods
        == before["/predicted-ratings/{user_id}"].resource_methods
    )
    # Definitions are matched by name: ids kept, contents replaced, new ones added.
    assert merged.authorizers.keys() == base.authorizers.keys()
    [authorizer] = merged.authorizers.values()
    assert authorizer.provider_arns == [
        "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_New"
    ]
    new_get = (after["/ratings/{rating_id}"].resource_methods or {})["GET"]
    assert new_get.authorizer_id == authorizer.id
    validators = {v.name: v for v in merged.request_validators.values()}
    assert len(validators) == 3 and validators["all"].validate_request_body is False
    assert new_get.request_validator_id == validators["all"].id
    assert validators["all"].id in base.request_validators
    models = {m.name: m for m in merged.models.values()}
    assert set(models) == {
        "Error",
        "PredictedRating",
        "Rating",
        "RatingRequest",
        "RatingResponse",
        "Extra",
    }
    assert models["Rating"].id in base.models
    assert json.loads(models["Rating"].schema_ or "") == {
        "type": "object",
        "description": "changed",
    }
    assert merged.gateway_responses == base.gateway_responses
    assert merged.binary_media_types == base.binary_media_types


def test_overwrite_replaces_everything_but_the_api_itself() -> None:
    base = imported(load(OAS30)).model_copy(update={"tags": {"team": "ratings"}})

    replaced = imported(UPDATE, base=base, mode="overwrite", new_id=counter("new"))

    assert (replaced.id, replaced.created_date, replaced.root_resource_id, replaced.tags) == (
        "rating1",
        CREATED,
        base.root_resource_id,
        {"team": "ratings"},
    )
    paths = {r.path: r for r in replaced.resources.values()}
    assert set(paths) == {"/", "/ratings", "/ratings/{rating_id}"}
    assert paths["/"].resource_methods is None  # the old root GET is gone
    assert all(r.id.startswith("new") for r in replaced.resources.values() if r.path != "/")
    assert {m.name for m in replaced.models.values()} == {"Rating", "Extra"}
    assert {v.name for v in replaced.request_validators.values()} == {"all"}
    assert not set(replaced.authorizers) & set(base.authorizers)
    assert replaced.gateway_responses == {}
    assert replaced.binary_media_types is None
    assert replaced.description is None


# -- the resource tree, for any set of paths -----------------------------------------------

LITERALS = st.sampled_from(["a", "b", "pets", "v1"])
METHODS = st.sets(
    st.sampled_from(["get", "post", "delete", "x-amazon-apigateway-any-method"]), min_size=1
)


@st.composite
def path_sets(draw: st.DrawFn) -> dict[str, set[str]]:
    """Paths of up to four segments, one parameter name per depth (siblings never clash),
    each with a few methods."""
    paths: dict[str, set[str]] = {}
    for _ in range(draw(st.integers(1, 8))):
        depth = draw(st.integers(0, 4))
        segments = [draw(st.one_of(LITERALS, st.just(f"{{p{level}}}"))) for level in range(depth)]
        paths["/" + "/".join(segments)] = draw(METHODS)
    return paths


def prefixes(path: str) -> set[str]:
    segments = [s for s in path.split("/") if s]
    return {"/" + "/".join(segments[:n]) for n in range(len(segments) + 1)}


@settings(max_examples=60, deadline=None)
@given(path_sets())
def test_the_tree_has_one_resource_per_prefix_and_every_method_on_its_path(
    paths: dict[str, set[str]],
) -> None:
    document = minimal(
        {path: {method: ok() for method in methods} for path, methods in paths.items()}
    )

    api = imported(document)

    assert api.warnings is None
    by_path = {r.path: r for r in api.resources.values()}
    assert len(by_path) == len(api.resources)
    assert set(by_path) == set().union(*(prefixes(path) for path in paths))
    for resource in api.resources.values():
        if resource.parent_id is None:
            assert (resource.path, resource.id) == ("/", api.root_resource_id)
        else:
            parent = api.resources[resource.parent_id]
            assert resource.path == parent.path.rstrip("/") + "/" + (resource.path_part or "")
    for path, resource in by_path.items():
        expected = {"ANY" if m.startswith("x-") else m.upper() for m in paths.get(path, set())}
        assert set(resource.resource_methods or {}) == expected
