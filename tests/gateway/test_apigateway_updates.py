"""API Gateway's Update* operations through boto3's ``apigateway`` client against a real
``modelyard up``: each part of an API, its keys and plans patched and read back; paths
and ops API Gateway refuses, unknown ids; and, over HTTP to the deployed stage, a key
disabled stops working, while a changed method waits for the next deployment."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.gateway.test_apigateway_api import RATING_URI, error_code, rating_api
from tests.workflows.test_stepfunctions_api import Server

#: Longest wait for a change to show in the serving of a stage (keys are kept 1 s).
SHOWS_WITHIN_S = 5.0


def replace(path: str, value: str) -> dict[str, str]:
    return {"op": "replace", "path": path, "value": value}


def without_metadata(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer as the service wrote it (botocore adds ``ResponseMetadata``)."""
    return {k: v for k, v in answer.items() if k != "ResponseMetadata"}


def refused(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    """(code, status, message) of an error botocore raised."""
    return (*error_code(raised), str(raised.value.response["Error"]["Message"]))


def test_update_rest_api_patches_its_settings(apigw: Any) -> None:
    api = apigw.create_rest_api(name="settings", binaryMediaTypes=["image/png"])
    api_id = api["id"]

    apigw.update_rest_api(
        restApiId=api_id,
        patchOperations=[
            replace("/name", "renamed"),
            replace("/description", "patched"),
            replace("/apiKeySource", "AUTHORIZER"),
            {"op": "add", "path": "/binaryMediaTypes/image~1gif"},
            replace("/binaryMediaTypes/image~1png", "image/jpeg"),
            replace("/minimumCompressionSize", "1024"),
            replace("/endpointConfiguration/types/0", "REGIONAL"),
            replace("/disableExecuteApiEndpoint", "true"),
            replace("/policy", '{"Version": "2012-10-17", "Statement": []}'),
        ],
    )
    patched = apigw.get_rest_api(restApiId=api_id)
    cleared = apigw.update_rest_api(
        restApiId=api_id,
        patchOperations=[
            {"op": "remove", "path": "/binaryMediaTypes/image~1gif"},
            {"op": "replace", "path": "/minimumCompressionSize", "value": ""},
        ],
    )
    with pytest.raises(ClientError) as bad_path:
        apigw.update_rest_api(restApiId=api_id, patchOperations=[replace("/nonsense", "1")])
    with pytest.raises(ClientError) as bad_op:
        apigw.update_rest_api(restApiId=api_id, patchOperations=[{"op": "remove", "path": "/name"}])
    with pytest.raises(ClientError) as bad_value:
        apigw.update_rest_api(
            restApiId=api_id, patchOperations=[replace("/minimumCompressionSize", "-1")]
        )
    with pytest.raises(ClientError) as unknown:
        apigw.update_rest_api(restApiId="nope", patchOperations=[replace("/name", "x")])

    assert patched["name"] == "renamed"
    assert patched["description"] == "patched"
    assert patched["apiKeySource"] == "AUTHORIZER"
    assert patched["binaryMediaTypes"] == ["image/gif", "image/jpeg"]
    assert patched["minimumCompressionSize"] == 1024
    assert patched["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert patched["disableExecuteApiEndpoint"] is True
    assert json.loads(patched["policy"]) == {"Version": "2012-10-17", "Statement": []}
    assert cleared["binaryMediaTypes"] == ["image/jpeg"]
    assert "minimumCompressionSize" not in cleared
    code, status, message = refused(bad_path)
    assert (code, status) == ("BadRequestException", 400)
    assert "'/nonsense'" in message and "/binaryMediaTypes/{item}" in message
    assert refused(bad_op)[:2] == ("BadRequestException", 400)
    assert "'/name' specified for op 'remove'" in refused(bad_op)[2]
    assert refused(bad_value)[:2] == ("BadRequestException", 400)
    assert error_code(unknown) == ("NotFoundException", 404)


def test_update_resource_renames_and_moves_it_with_what_is_under_it(apigw: Any) -> None:
    api_id, user_id = rating_api(apigw, "moved")
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api_id)["items"]}
    root, ratings = resources["/"]["id"], resources["/predicted-ratings"]["id"]
    other = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="other")

    renamed = apigw.update_resource(
        restApiId=api_id, resourceId=ratings, patchOperations=[replace("/pathPart", "ratings")]
    )
    user_after_rename = apigw.get_resource(restApiId=api_id, resourceId=user_id)
    apigw.update_resource(
        restApiId=api_id, resourceId=ratings, patchOperations=[replace("/parentId", other["id"])]
    )
    paths = sorted(r["path"] for r in apigw.get_resources(restApiId=api_id)["items"])
    apigw.create_resource(restApiId=api_id, parentId=root, pathPart="taken")
    with pytest.raises(ClientError) as taken:
        apigw.update_resource(
            restApiId=api_id,
            resourceId=other["id"],
            patchOperations=[replace("/pathPart", "taken")],
        )
    with pytest.raises(ClientError) as cyclical:
        apigw.update_resource(
            restApiId=api_id,
            resourceId=other["id"],
            patchOperations=[replace("/parentId", user_id)],
        )
    with pytest.raises(ClientError) as the_root:
        apigw.update_resource(
            restApiId=api_id, resourceId=root, patchOperations=[replace("/pathPart", "r")]
        )
    with pytest.raises(ClientError) as bad_path:
        apigw.update_resource(
            restApiId=api_id, resourceId=ratings, patchOperations=[replace("/path", "/x")]
        )
    with pytest.raises(ClientError) as unknown:
        apigw.update_resource(
            restApiId=api_id, resourceId="nope", patchOperations=[replace("/pathPart", "z")]
        )

    assert (renamed["pathPart"], renamed["path"]) == ("ratings", "/ratings")
    assert user_after_rename["path"] == "/ratings/{user_id}"
    assert paths == ["/", "/other", "/other/ratings", "/other/ratings/{user_id}"]
    assert error_code(taken) == ("ConflictException", 409)
    assert refused(cyclical)[:2] == ("BadRequestException", 400)
    assert refused(the_root) == (
        "BadRequestException",
        400,
        "Root resource cannot update its pathPart.",
    )
    code, status, message = refused(bad_path)
    assert (code, status) == ("BadRequestException", 400)
    assert "'/path'" in message and "[/parentId, /pathPart]" in message
    assert error_code(unknown) == ("NotFoundException", 404)


def test_update_method_patches_authorization_parameters_and_models(apigw: Any) -> None:
    api_id, resource_id = rating_api(apigw, "methods")
    authorizer = apigw.create_authorizer(
        restApiId=api_id,
        name="users",
        type="COGNITO_USER_POOLS",
        providerARNs=["arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_x"],
        identitySource="method.request.header.Authorization",
    )
    validator = apigw.create_request_validator(
        restApiId=api_id, name="params", validateRequestParameters=True
    )
    where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": "GET"}

    answered = apigw.update_method(
        **where,
        patchOperations=[
            replace("/authorizationType", "COGNITO_USER_POOLS"),
            replace("/authorizerId", authorizer["id"]),
            replace("/apiKeyRequired", "true"),
            replace("/requestValidatorId", validator["id"]),
            replace("/operationName", "GetRatings"),
            {"op": "add", "path": "/requestParameters/method.request.header.x-trace"},
            replace("/requestParameters/method.request.querystring.items", "false"),
            {"op": "add", "path": "/requestModels/application~1json", "value": "Empty"},
            {"op": "add", "path": "/authorizationScopes", "value": "ratings/read"},
            {"op": "add", "path": "/authorizationScopes", "value": "ratings/write"},
            {"op": "remove", "path": "/authorizationScopes", "value": "ratings/write"},
        ],
    )
    method = apigw.get_method(**where)
    removed = apigw.update_method(
        **where,
        patchOperations=[
            {"op": "remove", "path": "/requestParameters/method.request.header.x-trace"},
            {"op": "remove", "path": "/requestParameters/method.request.querystring.items"},
            replace("/requestValidatorId", ""),
        ],
    )
    with pytest.raises(ClientError) as bad_path:
        apigw.update_method(**where, patchOperations=[replace("/httpMethod", "POST")])
    with pytest.raises(ClientError) as no_such_authorizer:
        apigw.update_method(**where, patchOperations=[replace("/authorizerId", "nope")])
    with pytest.raises(ClientError) as unknown:
        apigw.update_method(
            **{**where, "httpMethod": "DELETE"}, patchOperations=[replace("/operationName", "x")]
        )

    assert without_metadata(answered) == without_metadata(method)
    assert method["authorizationType"] == "COGNITO_USER_POOLS"
    assert method["authorizerId"] == authorizer["id"]
    assert method["apiKeyRequired"] is True
    assert method["requestValidatorId"] == validator["id"]
    assert method["operationName"] == "GetRatings"
    assert method["requestParameters"] == {
        "method.request.querystring.items": False,
        "method.request.header.x-trace": False,
    }
    assert method["requestModels"] == {"application/json": "Empty"}
    assert method["authorizationScopes"] == ["ratings/read"]
    assert method["methodIntegration"]["uri"] == RATING_URI  # the rest left as it was
    assert "requestParameters" not in removed
    assert "requestValidatorId" not in removed
    code, status, message = refused(bad_path)
    assert (code, status) == ("BadRequestException", 400) and "'/httpMethod'" in message
    assert error_code(no_such_authorizer) == ("BadRequestException", 400)
    assert error_code(unknown) == ("NotFoundException", 404)


def test_update_integration_and_the_responses(apigw: Any) -> None:
    api_id, resource_id = rating_api(apigw, "integrations")
    where = {"restApiId": api_id, "resourceId": resource_id, "httpMethod": "GET"}
    apigw.put_method_response(**where, statusCode="404")

    apigw.update_integration(
        **where,
        patchOperations=[
            replace("/uri", RATING_URI.replace("rating", "rating-v2")),
            replace("/timeoutInMillis", "5000"),
            replace("/passthroughBehavior", "NEVER"),
            replace("/contentHandling", "CONVERT_TO_TEXT"),
            {"op": "add", "path": "/cacheKeyParameters/method.request.path.user_id"},
            {
                "op": "add",
                "path": "/requestParameters/integration.request.header.x-user",
                "value": "method.request.path.user_id",
            },
            {"op": "add", "path": "/requestTemplates/text~1plain", "value": "$input.body"},
            {"op": "remove", "path": "/requestTemplates/application~1json"},
        ],
    )
    integration = apigw.get_integration(**where)
    apigw.update_integration_response(
        **where,
        statusCode="200",
        patchOperations=[
            replace("/selectionPattern", "2\\d{2}"),
            replace("/responseTemplates/application~1json", '{"ok": true}'),
            {
                "op": "add",
                "path": "/responseParameters/method.response.header.x-served-by",
                "value": "'modelyard'",
            },
        ],
    )
    integration_response = apigw.get_integration_response(**where, statusCode="200")
    method_response = apigw.update_method_response(
        **where,
        statusCode="404",
        patchOperations=[
            {"op": "add", "path": "/responseParameters/method.response.header.x-served-by"},
            {"op": "add", "path": "/responseModels/application~1json", "value": "Error"},
        ],
    )
    read_back = apigw.get_method_response(**where, statusCode="404")
    with pytest.raises(ClientError) as too_slow:
        apigw.update_integration(**where, patchOperations=[replace("/timeoutInMillis", "60000")])
    with pytest.raises(ClientError) as bad_path:
        apigw.update_integration(**where, patchOperations=[replace("/nonsense", "x")])
    with pytest.raises(ClientError) as no_response:
        apigw.update_integration_response(
            **where, statusCode="500", patchOperations=[replace("/selectionPattern", "5")]
        )
    apigw.put_method(
        restApiId=api_id, resourceId=resource_id, httpMethod="POST", authorizationType="NONE"
    )
    with pytest.raises(ClientError) as no_integration:
        apigw.update_integration(
            **{**where, "httpMethod": "POST"}, patchOperations=[replace("/uri", "x")]
        )

    assert integration["uri"].endswith("/endpoints/rating-v2/invocations")
    assert integration["timeoutInMillis"] == 5000
    assert integration["passthroughBehavior"] == "NEVER"
    assert integration["contentHandling"] == "CONVERT_TO_TEXT"
    assert integration["cacheKeyParameters"] == ["method.request.path.user_id"]
    assert integration["requestParameters"] == {
        "integration.request.header.x-user": "method.request.path.user_id"
    }
    assert integration["requestTemplates"] == {"text/plain": "$input.body"}
    assert integration_response["selectionPattern"] == "2\\d{2}"
    assert integration_response["responseTemplates"] == {"application/json": '{"ok": true}'}
    assert integration_response["responseParameters"] == {
        "method.response.header.x-served-by": "'modelyard'"
    }
    assert method_response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert read_back["responseParameters"] == {"method.response.header.x-served-by": False}
    assert read_back["responseModels"] == {"application/json": "Error"}
    assert error_code(too_slow) == ("BadRequestException", 400)
    assert error_code(bad_path) == ("BadRequestException", 400)
    assert error_code(no_response) == ("NotFoundException", 404)
    assert error_code(no_integration) == ("NotFoundException", 404)


def test_update_authorizer_validator_model_gateway_response_and_deployment(apigw: Any) -> None:
    api_id, _ = rating_api(apigw, "parts")
    authorizer = apigw.create_authorizer(
        restApiId=api_id,
        name="tokens",
        type="TOKEN",
        authorizerUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/f/invocations",
        identitySource="method.request.header.Authorization",
    )
    validator = apigw.create_request_validator(restApiId=api_id, name="body")
    apigw.create_model(
        restApiId=api_id, name="Rating", contentType="application/json", schema='{"type": "object"}'
    )
    deployment = apigw.create_deployment(restApiId=api_id, stageName="prod", description="first")

    apigw.update_authorizer(
        restApiId=api_id,
        authorizerId=authorizer["id"],
        patchOperations=[
            replace("/name", "bearer"),
            replace("/authorizerResultTtlInSeconds", "60"),
            replace("/identityValidationExpression", "^Bearer .+$"),
        ],
    )
    apigw.update_request_validator(
        restApiId=api_id,
        requestValidatorId=validator["id"],
        patchOperations=[replace("/validateRequestBody", "true"), replace("/name", "bodies")],
    )
    schema = {"type": "object", "required": ["user"]}
    apigw.update_model(
        restApiId=api_id,
        modelName="Rating",
        patchOperations=[replace("/schema", json.dumps(schema)), replace("/description", "one")],
    )
    default = apigw.get_gateway_response(restApiId=api_id, responseType="THROTTLED")
    apigw.update_gateway_response(
        restApiId=api_id,
        responseType="THROTTLED",
        patchOperations=[
            replace("/statusCode", "503"),
            {
                "op": "add",
                "path": "/responseTemplates/application~1json",
                "value": '{"slow": "down"}',
            },
        ],
    )
    described = apigw.update_deployment(
        restApiId=api_id,
        deploymentId=deployment["id"],
        patchOperations=[replace("/description", "v1")],
    )
    read = {
        "authorizer": apigw.get_authorizer(restApiId=api_id, authorizerId=authorizer["id"]),
        "validator": apigw.get_request_validator(
            restApiId=api_id, requestValidatorId=validator["id"]
        ),
        "model": apigw.get_model(restApiId=api_id, modelName="Rating"),
        "response": apigw.get_gateway_response(restApiId=api_id, responseType="THROTTLED"),
        "deployment": apigw.get_deployment(restApiId=api_id, deploymentId=deployment["id"]),
    }
    with pytest.raises(ClientError) as bad_schema:
        apigw.update_model(
            restApiId=api_id, modelName="Rating", patchOperations=[replace("/schema", "{not")]
        )
    with pytest.raises(ClientError) as bad_path:
        apigw.update_request_validator(
            restApiId=api_id,
            requestValidatorId=validator["id"],
            patchOperations=[replace("/x", "1")],
        )
    missing = [
        lambda: apigw.update_authorizer(
            restApiId=api_id, authorizerId="nope", patchOperations=[replace("/name", "x")]
        ),
        lambda: apigw.update_request_validator(
            restApiId=api_id, requestValidatorId="nope", patchOperations=[replace("/name", "x")]
        ),
        lambda: apigw.update_model(
            restApiId=api_id, modelName="Nope", patchOperations=[replace("/description", "x")]
        ),
        lambda: apigw.update_deployment(
            restApiId=api_id, deploymentId="nope", patchOperations=[replace("/description", "x")]
        ),
    ]
    statuses = []
    for call in missing:
        with pytest.raises(ClientError) as raised:
            call()
        statuses.append(error_code(raised))

    assert read["authorizer"]["name"] == "bearer"
    assert read["authorizer"]["authorizerResultTtlInSeconds"] == 60
    assert read["authorizer"]["identityValidationExpression"] == "^Bearer .+$"
    assert read["validator"]["name"] == "bodies"
    assert read["validator"]["validateRequestBody"] is True
    assert json.loads(read["model"]["schema"]) == schema
    assert read["model"]["description"] == "one"
    assert default["defaultResponse"] is True
    assert default["statusCode"] == "429"
    assert read["response"]["statusCode"] == "503"
    assert read["response"]["responseTemplates"] == {"application/json": '{"slow": "down"}'}
    assert read["response"]["defaultResponse"] is False
    assert described["description"] == "v1"
    assert read["deployment"]["description"] == "v1"
    assert error_code(bad_schema) == ("BadRequestException", 400)
    assert error_code(bad_path) == ("BadRequestException", 400)
    assert statuses == [("NotFoundException", 404)] * 4


def test_update_stage_copies_the_canary_deployment_to_promote_it(apigw: Any) -> None:
    api_id, _ = rating_api(apigw, "canaried")
    first = apigw.create_deployment(restApiId=api_id, stageName="prod")
    canary = apigw.create_deployment(
        restApiId=api_id, stageName="prod", canarySettings={"percentTraffic": 10.0}
    )

    promoted = apigw.update_stage(
        restApiId=api_id,
        stageName="prod",
        patchOperations=[
            {"op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId"},
            {"op": "remove", "path": "/canarySettings"},
        ],
    )
    with pytest.raises(ClientError) as bad_op:
        apigw.update_stage(
            restApiId=api_id,
            stageName="prod",
            patchOperations=[{"op": "move", "from": "/description", "path": "/deploymentId"}],
        )

    assert canary["id"] != first["id"]
    assert promoted["deploymentId"] == canary["id"]
    assert "canarySettings" not in promoted
    assert error_code(bad_op) == ("BadRequestException", 400)


def test_update_api_key_and_usage_plan(apigw: Any) -> None:
    api_id, _ = rating_api(apigw, "keyed")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    apigw.create_deployment(restApiId=api_id, stageName="beta")
    key = apigw.create_api_key(name="partner", enabled=True)
    plan = apigw.create_usage_plan(name="basic", apiStages=[{"apiId": api_id, "stage": "prod"}])

    apigw.update_api_key(
        apiKey=key["id"],
        patchOperations=[
            replace("/name", "partner-2"),
            replace("/description", "the partner's key"),
            replace("/customerId", "c-42"),
            replace("/enabled", "false"),
        ],
    )
    fetched = apigw.get_api_key(apiKey=key["id"])
    patched = apigw.update_usage_plan(
        usagePlanId=plan["id"],
        patchOperations=[
            replace("/name", "gold"),
            replace("/description", "more"),
            replace("/throttle/rateLimit", "50.5"),
            replace("/throttle/burstLimit", "20"),
            replace("/quota/limit", "5000"),
            replace("/quota/period", "MONTH"),
            {"op": "add", "path": "/apiStages", "value": f"{api_id}:beta"},
            {"op": "remove", "path": "/apiStages", "value": f"{api_id}:prod"},
        ],
    )
    read_back = apigw.get_usage_plan(usagePlanId=plan["id"])
    unthrottled = apigw.update_usage_plan(
        usagePlanId=plan["id"], patchOperations=[{"op": "remove", "path": "/throttle"}]
    )
    with pytest.raises(ClientError) as bad_period:
        apigw.update_usage_plan(
            usagePlanId=plan["id"], patchOperations=[replace("/quota/period", "YEAR")]
        )
    with pytest.raises(ClientError) as bad_path:
        apigw.update_api_key(apiKey=key["id"], patchOperations=[replace("/value", "x" * 30)])
    with pytest.raises(ClientError) as unknown_key:
        apigw.update_api_key(apiKey="nope", patchOperations=[replace("/name", "x")])
    with pytest.raises(ClientError) as unknown_plan:
        apigw.update_usage_plan(usagePlanId="nope", patchOperations=[replace("/name", "x")])

    assert fetched["name"] == "partner-2"
    assert fetched["description"] == "the partner's key"
    assert fetched["customerId"] == "c-42"
    assert fetched["enabled"] is False
    assert fetched["lastUpdatedDate"] >= fetched["createdDate"]
    assert without_metadata(read_back) == without_metadata(patched)
    assert read_back["name"] == "gold"
    assert read_back["description"] == "more"
    assert read_back["throttle"] == {"rateLimit": 50.5, "burstLimit": 20}
    assert read_back["quota"] == {"limit": 5000, "period": "MONTH"}
    assert read_back["apiStages"] == [{"apiId": api_id, "stage": "beta"}]
    assert "throttle" not in unthrottled
    assert error_code(bad_period) == ("BadRequestException", 400)
    code, status, message = refused(bad_path)
    assert (code, status) == ("BadRequestException", 400) and "'/value'" in message
    assert error_code(unknown_key) == ("NotFoundException", 404)
    assert error_code(unknown_plan) == ("NotFoundException", 404)


# -- the deployed stage, over HTTP -----------------------------------------------------------


def mock_api(apigw: Any, name: str, *, api_key_required: bool) -> tuple[str, str]:
    """An API whose ``GET /hello`` a MOCK integration answers: (api id, resource id)."""
    api = apigw.create_rest_api(name=name)
    hello = apigw.create_resource(
        restApiId=api["id"], parentId=api["rootResourceId"], pathPart="hello"
    )
    where = {"restApiId": api["id"], "resourceId": hello["id"], "httpMethod": "GET"}
    apigw.put_method(**where, authorizationType="NONE", apiKeyRequired=api_key_required)
    apigw.put_method_response(**where, statusCode="200")
    apigw.put_integration(
        **where, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'}
    )
    apigw.put_integration_response(
        **where, statusCode="200", responseTemplates={"application/json": '{"hello": "world"}'}
    )
    return api["id"], hello["id"]


def answer_when(
    url: str, headers: dict[str, str], status: int, within_s: float = SHOWS_WITHIN_S
) -> httpx.Response:
    """The stage's answer, asked until it has ``status`` (or the time is up)."""
    deadline = time.monotonic() + within_s
    while True:
        answer = httpx.get(url, headers=headers, timeout=30)
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_a_key_disabled_by_update_api_key_is_refused_by_the_stage(
    apigw: Any, apigateway_server: Server
) -> None:
    api_id, _ = mock_api(apigw, "keyed-mock", api_key_required=True)
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    key = apigw.create_api_key(name="caller", enabled=True)
    plan = apigw.create_usage_plan(name="callers", apiStages=[{"apiId": api_id, "stage": "prod"}])
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    url = f"{apigateway_server.url}/restapis/{api_id}/prod/_user_request_/hello"
    headers = {"x-api-key": key["value"]}

    before = answer_when(url, headers, 200)
    apigw.update_api_key(apiKey=key["id"], patchOperations=[replace("/enabled", "false")])
    after = answer_when(url, headers, 403)
    apigw.update_api_key(apiKey=key["id"], patchOperations=[replace("/enabled", "true")])
    again = answer_when(url, headers, 200)

    assert (before.status_code, before.json()) == (200, {"hello": "world"})
    assert (after.status_code, after.json()) == (403, {"message": "Forbidden"})
    assert again.status_code == 200


def test_update_method_shows_in_the_stage_only_after_a_new_deployment(
    apigw: Any, apigateway_server: Server
) -> None:
    api_id, resource_id = mock_api(apigw, "redeployed", api_key_required=False)
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    url = f"{apigateway_server.url}/restapis/{api_id}/prod/_user_request_/hello"

    apigw.update_method(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="GET",
        patchOperations=[replace("/apiKeyRequired", "true")],
    )
    # Past the time a stage is kept by the serving: what it serves is still the old method.
    time.sleep(1.2)
    undeployed = httpx.get(url, timeout=30)
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    deployed = answer_when(url, {}, 403)

    assert (undeployed.status_code, undeployed.json()) == (200, {"hello": "world"})
    assert (deployed.status_code, deployed.json()) == (403, {"message": "Forbidden"})
