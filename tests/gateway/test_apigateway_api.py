"""The API Gateway control plane through boto3's ``apigateway`` client against a real
``modelyard up``: an API built method by method, deployed to a stage, its stage settings
patched, exported; API keys and usage plans; errors as botocore parses them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

RATING_URI = "arn:aws:apigateway:us-east-1:runtime.sagemaker:path//endpoints/rating/invocations"
REQUEST_TEMPLATE = (
    "#set($items = $input.params('items').split(','))"
    '{"instances": [#foreach($item in $items)'
    '{"in0": ["$input.params(\'user_id\')"], "in1": ["$item"]}#if($foreach.hasNext),#end#end]}'
)


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = raised.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def rating_api(apigw: Any, name: str = "ratings") -> tuple[str, str]:
    """The seed's rating route built method by method: (api id, resource id)."""
    api = apigw.create_rest_api(name=name, description="rating predictions")
    root = api["rootResourceId"]
    ratings = apigw.create_resource(
        restApiId=api["id"], parentId=root, pathPart="predicted-ratings"
    )
    user = apigw.create_resource(restApiId=api["id"], parentId=ratings["id"], pathPart="{user_id}")
    apigw.put_method(
        restApiId=api["id"],
        resourceId=user["id"],
        httpMethod="GET",
        authorizationType="NONE",
        requestParameters={"method.request.querystring.items": True},
    )
    apigw.put_method_response(
        restApiId=api["id"], resourceId=user["id"], httpMethod="GET", statusCode="200"
    )
    apigw.put_integration(
        restApiId=api["id"],
        resourceId=user["id"],
        httpMethod="GET",
        type="AWS",
        integrationHttpMethod="POST",
        uri=RATING_URI,
        requestTemplates={"application/json": REQUEST_TEMPLATE},
    )
    apigw.put_integration_response(
        restApiId=api["id"],
        resourceId=user["id"],
        httpMethod="GET",
        statusCode="200",
        responseTemplates={"application/json": "$input.json('$')"},
    )
    return api["id"], user["id"]


def test_an_api_built_method_by_method_reads_back_as_built(apigw: Any) -> None:
    api_id, resource_id = rating_api(apigw)

    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api_id)["items"]}
    method = apigw.get_method(restApiId=api_id, resourceId=resource_id, httpMethod="GET")
    integration = apigw.get_integration(restApiId=api_id, resourceId=resource_id, httpMethod="GET")
    listed = [api["name"] for api in apigw.get_rest_apis()["items"]]

    assert set(resources) == {"/", "/predicted-ratings", "/predicted-ratings/{user_id}"}
    assert resources["/predicted-ratings/{user_id}"]["pathPart"] == "{user_id}"
    assert method["requestParameters"] == {"method.request.querystring.items": True}
    assert method["methodResponses"]["200"]["statusCode"] == "200"
    assert integration["type"] == "AWS"
    assert integration["httpMethod"] == "POST"
    assert integration["uri"] == RATING_URI
    assert integration["requestTemplates"]["application/json"] == REQUEST_TEMPLATE
    assert integration["integrationResponses"]["200"]["responseTemplates"] == {
        "application/json": "$input.json('$')"
    }
    assert "ratings" in listed


def test_authorizers_models_validators_and_gateway_responses(apigw: Any) -> None:
    api_id, resource_id = rating_api(apigw, "protected")

    authorizer = apigw.create_authorizer(
        restApiId=api_id,
        name="users",
        type="COGNITO_USER_POOLS",
        providerARNs=["arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_modelyard"],
        identitySource="method.request.header.Authorization",
    )
    model = apigw.create_model(
        restApiId=api_id,
        name="Rating",
        contentType="application/json",
        schema=json.dumps({"type": "object", "required": ["user"]}),
    )
    validator = apigw.create_request_validator(
        restApiId=api_id, name="params", validateRequestParameters=True
    )
    response = apigw.put_gateway_response(
        restApiId=api_id,
        responseType="THROTTLED",
        statusCode="429",
        responseTemplates={"application/json": '{"slow": "down"}'},
    )
    method = apigw.put_method(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="POST",
        authorizationType="COGNITO_USER_POOLS",
        authorizerId=authorizer["id"],
        requestValidatorId=validator["id"],
        requestModels={"application/json": "Rating"},
        apiKeyRequired=True,
    )
    with pytest.raises(ClientError) as unknown_authorizer:
        apigw.put_method(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="PUT",
            authorizationType="CUSTOM",
            authorizerId="nope",
        )
    with pytest.raises(ClientError) as same_model:
        apigw.create_model(restApiId=api_id, name="Rating", contentType="application/json")

    assert authorizer["providerARNs"][0].endswith("us-east-1_modelyard")
    assert model["name"] == "Rating"
    assert validator["validateRequestParameters"] is True
    assert response["statusCode"] == "429"
    assert method["authorizerId"] == authorizer["id"]
    assert method["apiKeyRequired"] is True
    assert error_code(unknown_authorizer) == ("BadRequestException", 400)
    assert error_code(same_model) == ("ConflictException", 409)


def test_a_deployment_makes_a_stage_whose_settings_patch(apigw: Any) -> None:
    api_id, _ = rating_api(apigw, "staged")

    deployment = apigw.create_deployment(
        restApiId=api_id, stageName="prod", variables={"endpoint": "rating"}
    )
    patched = apigw.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/variables/endpoint", "value": "rating-v2"},
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "50"},
            {
                "op": "replace",
                "path": "/~1predicted-ratings~1{user_id}/GET/caching/enabled",
                "value": "true",
            },
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "10"},
            {"op": "replace", "path": "/canarySettings/deploymentId", "value": deployment["id"]},
        ],
    )
    stages = apigw.get_stages(restApiId=api_id)["item"]
    with pytest.raises(ClientError) as bad_path:
        apigw.update_stage(
            restApiId=api_id,
            stageName="prod",
            patchOperations=[{"op": "replace", "path": "/nonsense", "value": "1"}],
        )
    with pytest.raises(ClientError) as missing:
        apigw.get_stage(restApiId=api_id, stageName="nope")

    assert patched["deploymentId"] == deployment["id"]
    assert patched["variables"] == {"endpoint": "rating-v2"}
    assert patched["methodSettings"]["*/*"] == {
        "throttlingRateLimit": 100.0,
        "throttlingBurstLimit": 50,
    }
    assert patched["methodSettings"]["predicted-ratings/{user_id}/GET"] == {"cachingEnabled": True}
    assert patched["canarySettings"]["percentTraffic"] == 10.0
    assert [stage["stageName"] for stage in stages] == ["prod"]
    assert error_code(bad_path) == ("BadRequestException", 400)
    assert error_code(missing) == ("NotFoundException", 404)


def test_api_keys_and_usage_plans(apigw: Any) -> None:
    api_id, _ = rating_api(apigw, "metered")
    apigw.create_deployment(restApiId=api_id, stageName="prod")

    key = apigw.create_api_key(name="partner", enabled=True)
    plan = apigw.create_usage_plan(
        name="basic",
        apiStages=[{"apiId": api_id, "stage": "prod"}],
        throttle={"rateLimit": 10.0, "burstLimit": 5},
        quota={"limit": 1000, "period": "DAY"},
    )
    member = apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    members = apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    fetched = apigw.get_api_key(apiKey=key["id"])
    plans_of_key = apigw.get_usage_plans(keyId=key["id"])["items"]
    apigw.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    with pytest.raises(ClientError) as bad_quota:
        apigw.create_usage_plan(name="bad", quota={"limit": 10, "period": "YEAR"})

    assert len(key["value"]) >= 20
    assert "value" not in fetched  # shown once, never stored
    assert member["id"] == key["id"]
    assert [m["id"] for m in members] == [key["id"]]
    assert [p["id"] for p in plans_of_key] == [plan["id"]]
    assert plan["quota"] == {"limit": 1000, "period": "DAY"}
    assert apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []
    assert error_code(bad_quota) == ("BadRequestException", 400)


def test_deleting_an_api_removes_it(apigw: Any) -> None:
    api_id, _ = rating_api(apigw, "doomed")

    apigw.delete_rest_api(restApiId=api_id)
    with pytest.raises(ClientError) as gone:
        apigw.get_rest_api(restApiId=api_id)

    assert error_code(gone) == ("NotFoundException", 404)


APIS = Path(__file__).parent / "apis"


@pytest.mark.parametrize("document", ["rating-api.oas30.yaml", "rating-api.swagger.json"])
def test_an_exported_api_imports_runs_through_export_and_imports_again(
    apigw: Any, document: str
) -> None:
    imported = apigw.import_rest_api(body=(APIS / document).read_bytes(), failOnWarnings=False)
    api_id = imported["id"]
    paths = sorted(r["path"] for r in apigw.get_resources(restApiId=api_id)["items"])
    apigw.create_deployment(restApiId=api_id, stageName="prod")

    exported = apigw.get_export(
        restApiId=api_id,
        stageName="prod",
        exportType="oas30",
        parameters={"extensions": "apigateway"},
        accepts="application/json",
    )["body"].read()
    again = apigw.put_rest_api(restApiId=api_id, mode="overwrite", body=exported)
    paths_again = sorted(r["path"] for r in apigw.get_resources(restApiId=api_id)["items"])
    rating = next(
        r
        for r in apigw.get_resources(restApiId=api_id)["items"]
        if r["path"] == "/predicted-ratings/{user_id}"
    )
    integration = apigw.get_integration(restApiId=api_id, resourceId=rating["id"], httpMethod="GET")

    assert imported["name"] == "RatingApi"
    assert "/predicted-ratings/{user_id}" in paths
    assert json.loads(exported)["openapi"].startswith("3.0")
    assert again["id"] == api_id
    assert paths_again == paths
    assert integration["uri"].endswith("runtime.sagemaker:path//endpoints/rating/invocations")


def test_a_document_that_is_not_openapi_is_refused(apigw: Any) -> None:
    with pytest.raises(ClientError) as raised:
        apigw.import_rest_api(body=b"not: [an, api")

    assert error_code(raised) == ("BadRequestException", 400)


def test_test_invoke_method_runs_the_undeployed_method(apigw: Any) -> None:
    api = apigw.create_rest_api(name="tried")
    hello = apigw.create_resource(
        restApiId=api["id"], parentId=api["rootResourceId"], pathPart="hello"
    )
    apigw.put_method(
        restApiId=api["id"], resourceId=hello["id"], httpMethod="GET", authorizationType="NONE"
    )
    apigw.put_integration(
        restApiId=api["id"],
        resourceId=hello["id"],
        httpMethod="GET",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    apigw.put_integration_response(
        restApiId=api["id"],
        resourceId=hello["id"],
        httpMethod="GET",
        statusCode="200",
        responseTemplates={
            "application/json": '{"hello": "$input.params(\'name\')", "on": "$stageVariables.on"}'
        },
    )

    tried = apigw.test_invoke_method(
        restApiId=api["id"],
        resourceId=hello["id"],
        httpMethod="GET",
        pathWithQueryString="/hello?name=ada",
        stageVariables={"on": "test"},
    )

    assert tried["status"] == 200
    assert json.loads(tried["body"]) == {"hello": "ada", "on": "test"}
    assert tried["latency"] >= 0
