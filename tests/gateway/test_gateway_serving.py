"""Deployed REST APIs served by a real ``modelyard up`` platform on 127.0.0.1: an API
imported with boto3's ``apigateway`` client, deployed, and called over HTTP — the seed's
rating route (VTL request and response templates in front of a SageMaker endpoint), MOCK
and HTTP integrations, a Lambda proxy function, Cognito, Lambda-token and API key
authorizers, request validation, throttling and quotas, gateway responses."""

from __future__ import annotations

import configparser
import json
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from tests.servers import platform_server

RATING_REQUEST = (
    "#set($items = $input.params('items').split(','))"
    '{"instances": [#foreach($item in $items)'
    '{"in0": ["$input.params(\'user_id\')"], "in1": ["$item"]}'
    "#if($foreach.hasNext),#end#end]}"
)
RATING_RESPONSE = (
    "#set($predictions = $input.path('$.predictions'))"
    '{"ratings": [#foreach($p in $predictions)$p.scores[0]#if($foreach.hasNext),#end#end]}'
)
RATING_MODEL = """
    import json


    def handle(data, context):
        if data is None:
            return None
        answers = []
        for request in data:
            document = json.loads(request.get("body") or request.get("data"))
            predictions = [
                {"scores": [len(i["in0"][0]) * 10 + len(i["in1"][0])]}
                for i in document["instances"]
            ]
            answers.append(json.dumps({"predictions": predictions}))
        return answers
"""


def mock(template: str, status: str = "200") -> dict[str, Any]:
    return {
        "type": "mock",
        "requestTemplates": {"application/json": '{"statusCode": ' + status + "}"},
        "responses": {
            "default": {
                "statusCode": status,
                "responseTemplates": {"application/json": template},
            }
        },
    }


def document(pool_arn: str) -> dict[str, Any]:
    ok = {"200": {"description": "ok"}}
    return {
        "openapi": "3.0.1",
        "info": {"title": "served", "version": "1"},
        "x-amazon-apigateway-request-validators": {
            "params": {"validateRequestParameters": True, "validateRequestBody": False}
        },
        "components": {
            "securitySchemes": {
                "users": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "cognito_user_pools",
                    "x-amazon-apigateway-authorizer": {
                        "type": "cognito_user_pools",
                        "providerARNs": [pool_arn],
                    },
                },
                "tokens": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "custom",
                    "x-amazon-apigateway-authorizer": {
                        "type": "token",
                        "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/"
                        "functions/arn:aws:lambda:us-east-1:000000000000:function:authorize/"
                        "invocations",
                        "authorizerResultTtlInSeconds": 0,
                    },
                },
                "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
            }
        },
        "paths": {
            "/": {
                "get": {
                    "responses": ok,
                    "x-amazon-apigateway-integration": mock('{"hello": "$context.stage"}'),
                }
            },
            "/predicted-ratings/{user_id}": {
                "get": {
                    "parameters": [
                        {
                            "name": "user_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "items",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "x-amazon-apigateway-request-validator": "params",
                    "responses": ok,
                    "x-amazon-apigateway-integration": {
                        "type": "aws",
                        "httpMethod": "POST",
                        "uri": "arn:aws:apigateway:us-east-1:runtime.sagemaker:"
                        "path//endpoints/rating/invocations",
                        "requestTemplates": {"application/json": RATING_REQUEST},
                        "passthroughBehavior": "never",
                        "responses": {
                            "default": {
                                "statusCode": "200",
                                "responseTemplates": {"application/json": RATING_RESPONSE},
                            }
                        },
                    },
                }
            },
            "/secure": {
                "get": {
                    "security": [{"users": []}],
                    "responses": ok,
                    "x-amazon-apigateway-integration": mock(
                        '{"user": "$context.authorizer.claims[\'cognito:username\']"}'
                    ),
                }
            },
            "/custom": {
                "get": {
                    "security": [{"tokens": []}],
                    "responses": ok,
                    "x-amazon-apigateway-integration": mock(
                        '{"principal": "$context.authorizer.principalId", '
                        '"tier": "$context.authorizer.tier"}'
                    ),
                }
            },
            "/clock": {
                "get": {
                    "security": [{"users": []}],
                    "responses": ok,
                    "x-amazon-apigateway-integration": mock('{"request": "$context.requestId"}'),
                }
            },
            "/version": {
                "get": {
                    "responses": ok,
                    "x-amazon-apigateway-integration": mock('{"version": "one"}'),
                }
            },
            "/metered": {
                "get": {
                    "security": [{"api_key": []}],
                    "responses": ok,
                    "x-amazon-apigateway-integration": mock('{"metered": true}'),
                }
            },
            "/ping": {
                "get": {
                    "responses": ok,
                    "x-amazon-apigateway-integration": {
                        "type": "http_proxy",
                        "httpMethod": "GET",
                        "uri": "${stageVariables.base}/ping",
                    },
                }
            },
            "/proxy/{thing}": {
                "post": {
                    "responses": ok,
                    "x-amazon-apigateway-integration": {
                        "type": "aws_proxy",
                        "httpMethod": "POST",
                        "uri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                        "arn:aws:lambda:us-east-1:000000000000:function:${stageVariables.proxy}/"
                        "invocations",
                    },
                }
            },
        },
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("gateway")
    model = home / "rating-model"
    model.mkdir()
    (model / "model_handler.py").write_text(textwrap.dedent(RATING_MODEL).lstrip())
    with platform_server(home) as url:
        credentials = configparser.ConfigParser(interpolation=None)
        credentials.read(home / "credentials")
        keys = credentials["default"]
        options = {
            "endpoint_url": url,
            "region_name": "us-east-1",
            "aws_access_key_id": keys["aws_access_key_id"],
            "aws_secret_access_key": keys["aws_secret_access_key"],
            "config": Config(retries={"total_max_attempts": 1}),
        }
        sagemaker, apigw = (
            boto3.client("sagemaker", **options),
            boto3.client("apigateway", **options),
        )
        for name, handler in (
            ("proxy", "tests.gateway.handlers:proxy"),
            ("broken", "tests.gateway.handlers:broken_proxy"),
            ("authorize", "tests.gateway.handlers:token_authorizer"),
        ):
            response = httpx.post(
                f"{url}/functions", json={"name": name, "handler": handler}, timeout=30
            )
            assert response.status_code == 201, response.text
        sagemaker.create_model(
            ModelName="rating",
            PrimaryContainer={"Image": "modelyard", "ModelDataUrl": str(model)},
            ExecutionRoleArn="arn:aws:iam::000000000000:role/r",
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="rating",
            ProductionVariants=[
                {"VariantName": "main", "ModelName": "rating", "InitialInstanceCount": 1}
            ],
        )
        sagemaker.create_endpoint(EndpointName="rating", EndpointConfigName="rating")
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName="rating", WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
        )
        pool_id = keys["modelyard_user_pool_id"]
        pool_arn = f"arn:aws:cognito-idp:us-east-1:000000000000:userpool/{pool_id}"
        api = apigw.import_rest_api(body=json.dumps(document(pool_arn)).encode())
        apigw.create_deployment(
            restApiId=api["id"], stageName="prod", variables={"base": url, "proxy": "proxy"}
        )
        key = apigw.create_api_key(name="partner", enabled=True)
        plan = apigw.create_usage_plan(
            name="small",
            apiStages=[{"apiId": api["id"], "stage": "prod"}],
            throttle={"rateLimit": 0.01, "burstLimit": 2},
            quota={"limit": 100, "period": "DAY"},
        )
        apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
        idp = boto3.client("cognito-idp", **options)
        tokens = idp.initiate_auth(
            ClientId=keys["modelyard_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "admin", "PASSWORD": keys["modelyard_password"]},
        )["AuthenticationResult"]
        idp.admin_create_user(UserPoolId=pool_id, Username="bob", MessageAction="SUPPRESS")
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username="bob", Password="Bob-Pass-1234", Permanent=True
        )
        bob = idp.initiate_auth(
            ClientId=keys["modelyard_client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "bob", "PASSWORD": "Bob-Pass-1234"},
        )["AuthenticationResult"]
        yield {
            "bob_token": bob["IdToken"],
            "url": url,
            "base": f"{url}/restapis/{api['id']}/prod/_user_request_",
            "short": f"{url}/apis/{api['id']}/prod",
            "api_id": api["id"],
            "api_key": key["value"],
            "key_id": key["id"],
            "plan_id": plan["id"],
            "id_token": tokens["IdToken"],
            "access_token": tokens["AccessToken"],
            "apigw": apigw,
        }
        for client in (sagemaker, apigw, idp):
            client.close()


def get(served: dict[str, Any], path: str, **options: Any) -> httpx.Response:
    return httpx.get(served["base"] + path, timeout=30, **options)


def test_the_seed_rating_route_maps_the_request_and_the_answer(served: dict[str, Any]) -> None:
    answer = get(served, "/predicted-ratings/u42?items=i1,item22,x")
    short = httpx.get(served["short"] + "/predicted-ratings/u42?items=i1", timeout=30)

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ratings": [32, 36, 31]}
    assert short.json() == {"ratings": [32]}
    assert answer.headers["x-amzn-RequestId"]


def test_a_mock_integration_answers_from_its_template(served: dict[str, Any]) -> None:
    answer = get(served, "/")

    assert (answer.status_code, answer.json()) == (200, {"hello": "prod"})


def test_unknown_paths_and_methods_are_missing_authentication_token(served: dict[str, Any]) -> None:
    for answer in (get(served, "/nowhere"), httpx.delete(served["base"] + "/", timeout=30)):
        assert answer.status_code == 403
        assert answer.json() == {"message": "Missing Authentication Token"}
    unknown = httpx.get(f"{served['url']}/restapis/nope/prod/_user_request_/", timeout=30)
    assert unknown.status_code == 403


def test_required_parameters_are_validated(served: dict[str, Any]) -> None:
    answer = get(served, "/predicted-ratings/u1")

    assert answer.status_code == 400
    assert answer.json() == {"message": "Missing required request parameters: [items]"}


def test_the_cognito_authorizer_wants_a_valid_id_token(served: dict[str, Any]) -> None:
    missing = get(served, "/secure")
    garbage = get(served, "/secure", headers={"Authorization": "Bearer not.a.token"})
    bare = get(served, "/secure", headers={"Authorization": served["id_token"]})
    bearer = get(served, "/secure", headers={"Authorization": f"Bearer {served['id_token']}"})

    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    assert garbage.status_code == 401
    assert (bare.status_code, bare.json()) == (200, {"user": "admin"})
    assert bearer.status_code == 200


def test_a_lambda_token_authorizer_allows_denies_and_passes_its_context(
    served: dict[str, Any],
) -> None:
    allowed = get(served, "/custom", headers={"Authorization": "let-me-in"})
    denied = get(served, "/custom", headers={"Authorization": "deny"})
    unknown = get(served, "/custom", headers={"Authorization": "who?"})

    assert (allowed.status_code, allowed.json()) == (200, {"principal": "user-1", "tier": "gold"})
    assert denied.status_code == 403
    assert unknown.status_code == 401


def test_an_api_key_is_required_and_throttled_by_its_usage_plan(served: dict[str, Any]) -> None:
    without = get(served, "/metered")
    wrong = get(served, "/metered", headers={"x-api-key": "x" * 40})
    answers = [get(served, "/metered", headers={"x-api-key": served["api_key"]}) for _ in range(4)]

    assert (without.status_code, without.json()) == (403, {"message": "Forbidden"})
    assert wrong.status_code == 403
    statuses = [answer.status_code for answer in answers]
    assert statuses[:2] == [200, 200]  # the plan's burst
    assert statuses[2:] == [429, 429]
    assert answers[-1].json() == {"message": "Too Many Requests"}
    today = datetime.now(UTC).date().isoformat()
    usage = served["apigw"].get_usage(usagePlanId=served["plan_id"], startDate=today, endDate=today)
    # What passed counts against the day's quota of 100; what was throttled does not.
    assert usage["items"] == {served["key_id"]: [[2, 98]]}


def test_an_http_proxy_integration_passes_the_backend_through(served: dict[str, Any]) -> None:
    answer = get(served, "/ping")

    assert answer.status_code == 200
    assert answer.content == httpx.get(served["url"] + "/ping", timeout=30).content


def test_a_lambda_proxy_function_gets_the_event_and_shapes_the_answer(
    served: dict[str, Any],
) -> None:
    answer = httpx.post(served["base"] + "/proxy/abc?x=1", content=b"hello", timeout=30)

    assert answer.status_code == 201, answer.text
    assert answer.headers["X-Handled-By"] == "proxy"
    assert answer.json() == {
        "resource": "/proxy/{thing}",
        "path": "/proxy/abc",
        "method": "POST",
        "query": {"x": "1"},
        "pathParameters": {"thing": "abc"},
        "stage": "prod",
        "body": "hello",
    }


def test_a_malformed_proxy_answer_is_a_502(served: dict[str, Any]) -> None:
    apigw = served["apigw"]
    apigw.update_stage(
        restApiId=served["api_id"],
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/variables/proxy", "value": "broken"}],
    )
    try:
        answer = httpx.post(served["base"] + "/proxy/abc", content=b"{}", timeout=30)
    finally:
        apigw.update_stage(
            restApiId=served["api_id"],
            stageName="prod",
            patchOperations=[{"op": "replace", "path": "/variables/proxy", "value": "proxy"}],
        )

    assert (answer.status_code, answer.json()) == (502, {"message": "Internal server error"})


def test_a_customised_gateway_response_is_used(served: dict[str, Any]) -> None:
    apigw = served["apigw"]
    apigw.put_gateway_response(
        restApiId=served["api_id"],
        responseType="MISSING_AUTHENTICATION_TOKEN",
        statusCode="404",
        responseTemplates={
            "application/json": '{"error": "no such route", "id": "$context.requestId"}'
        },
    )
    apigw.create_deployment(restApiId=served["api_id"], stageName="prod")

    answer = get(served, "/nowhere")

    assert answer.status_code == 404
    assert answer.json() == {"error": "no such route", "id": answer.headers["x-amzn-RequestId"]}


def test_the_stage_cache_serves_repeats_and_only_an_admin_refreshes_it(
    served: dict[str, Any],
) -> None:
    apigw = served["apigw"]
    apigw.update_stage(
        restApiId=served["api_id"],
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/cacheClusterEnabled", "value": "true"},
            {"op": "replace", "path": "/~1clock/GET/caching/enabled", "value": "true"},
        ],
    )
    admin = {"Authorization": served["id_token"]}
    bob = {"Authorization": served["bob_token"]}
    try:
        first = get(served, "/clock", headers=admin)
        repeat = get(served, "/clock", headers=bob)
        refused = get(served, "/clock", headers={**bob, "Cache-Control": "max-age=0"})
        refreshed = get(served, "/clock", headers={**admin, "Cache-Control": "max-age=0"})
        after = get(served, "/clock", headers=bob)
    finally:
        apigw.update_stage(
            restApiId=served["api_id"],
            stageName="prod",
            patchOperations=[{"op": "replace", "path": "/cacheClusterEnabled", "value": "false"}],
        )

    assert first.status_code == 200
    assert repeat.json() == first.json()  # served from the cache: the first request's id
    assert refused.json() == first.json() and "Warning" in refused.headers
    assert refreshed.json() != first.json()
    assert refreshed.json() == {"request": refreshed.headers["x-amzn-RequestId"]}
    assert after.json() == refreshed.json()


def test_a_canary_takes_its_share_of_the_traffic_and_is_promoted(
    served: dict[str, Any],
) -> None:
    apigw = served["apigw"]
    api_id = served["api_id"]
    resource = next(
        r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/version"
    )
    apigw.put_integration_response(
        restApiId=api_id,
        resourceId=resource,
        httpMethod="GET",
        statusCode="200",
        responseTemplates={"application/json": '{"version": "two"}'},
    )
    canary = apigw.create_deployment(
        restApiId=api_id, stageName="prod", canarySettings={"percentTraffic": 50.0}
    )
    versions = [get(served, "/version").json()["version"] for _ in range(400)]
    apigw.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/deploymentId", "value": canary["id"]},
            {"op": "remove", "path": "/canarySettings"},
        ],
    )
    promoted = {get(served, "/version").json()["version"] for _ in range(20)}

    # 400 draws at 50 %: within four standard deviations (10) of 200.
    assert 160 <= versions.count("two") <= 240
    assert set(versions) == {"one", "two"}
    assert promoted == {"two"}
