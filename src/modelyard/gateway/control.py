"""The API Gateway control plane over REST JSON, as boto3's ``apigateway`` client calls it.

Routes, in the order of the API reference's groups (REST APIs, resources, methods and
integrations, authorizers/models/validators/gateway responses, deployments and stages,
exports, API keys, usage plans)::

    POST /restapis[?mode=import]          CreateRestApi | ImportRestApi (body: OpenAPI)
    GET  /restapis, GET|PUT|DELETE /restapis/{api}     (PUT: PutRestApi ?mode=merge|overwrite)
    GET  /restapis/{api}/resources, GET|DELETE /restapis/{api}/resources/{id}
    POST /restapis/{api}/resources/{parent}            CreateResource
    PUT|GET|DELETE .../resources/{id}/methods/{verb}   PutMethod, GetMethod, DeleteMethod
    PUT  .../methods/{verb}/responses/{status}         PutMethodResponse
    PUT|GET .../methods/{verb}/integration             PutIntegration, GetIntegration
    PUT  .../integration/responses/{status}            PutIntegrationResponse
    POST /restapis/{api}/authorizers | models | requestvalidators
    PUT  /restapis/{api}/gatewayresponses/{type}
    POST|GET /restapis/{api}/deployments, GET /restapis/{api}/deployments/{id}
    POST|GET /restapis/{api}/stages, GET|PATCH|DELETE /restapis/{api}/stages/{name}
    GET  /restapis/{api}/stages/{name}/exports/{type}  GetExport (oas30, swagger)
    POST|GET /apikeys, GET|DELETE /apikeys/{id}
    POST|GET /usageplans, GET|DELETE /usageplans/{id}, POST|GET /usageplans/{id}/keys,
    DELETE /usageplans/{id}/keys/{key}, GET /usageplans/{id}/usage     GetUsage

Errors are answered as API Gateway answers them: ``{"message": ...}`` with the code in
``x-amzn-ErrorType`` (:data:`ERRORS`). With a verifier, every route needs SigV4.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard import errors
from modelyard.aws.errors import ErrorCode, ErrorTable
from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.gateway.control_documents import (
    TestInvoke,
    api_document,
    day_parameter,
    deployment_document,
    export_extensions,
    export_response,
    export_type,
    fail_on_warnings,
    given_fields,
    json,
    json_object,
    key_document,
    limit,
    operations,
    page,
    param,
    plan_document,
    plan_key_document,
    resource_document,
    rest_api_fields,
    stage_document,
)
from modelyard.gateway.definitions import (
    Authorizer,
    Integration,
    IntegrationResponse,
    Method,
    MethodResponse,
    Model,
    RequestValidator,
)
from modelyard.gateway.errors import BadRequest, Conflict, GatewayNotFound
from modelyard.gateway.quotas import QuotaCounters
from modelyard.gateway.service import GatewayService
from modelyard.storage.gateway import DeploymentInUse

__all__ = ["ERRORS", "routes"]

logger = logging.getLogger(__name__)

#: Largest control-plane body (an imported OpenAPI document may be large).
_MAX_BODY = 8 * 2**20

#: Domain errors → API Gateway's error codes.
ERRORS = ErrorTable(
    {
        errors.InvalidRequest: ErrorCode(code="BadRequestException", status=400),
        BadRequest: ErrorCode(code="BadRequestException", status=400),
        Conflict: ErrorCode(code="ConflictException", status=409),
        DeploymentInUse: ErrorCode(code="BadRequestException", status=400),
        GatewayNotFound: ErrorCode(code="NotFoundException", status=404),
        errors.DatabaseError: ErrorCode(code="ServiceUnavailableException", status=503),
    },
    json_protocol=False,
)


def routes(
    gateway: GatewayService,
    verifier: SigV4Verifier | None = None,
    *,
    server_url: str,
    quotas: QuotaCounters | None = None,
    test_invoke: TestInvoke | None = None,
) -> list[Route]:
    """The control plane's routes, bound to ``gateway`` (``quotas``: the counters the
    serving of stages keeps, which GetUsage reports)."""

    operation = operations(ERRORS, verifier, max_body=_MAX_BODY, logger=logger)

    # -- REST APIs --

    @operation
    async def create_rest_api(request: Request, body: bytes) -> Response:
        if request.query_params.get("mode") == "import":
            api = await gateway.import_rest_api(body, fail_on_warnings=fail_on_warnings(request))
            return json(api_document(api), 201)
        document = json_object(body)
        name = document.get("name")
        if not isinstance(name, str):
            raise BadRequest("name is required")
        api = await gateway.create_rest_api(name, **rest_api_fields(document))
        return json(api_document(api), 201)

    @operation
    async def get_rest_apis(request: Request, body: bytes) -> Response:
        found, more = await gateway.get_rest_apis(
            after=request.query_params.get("position"), limit=limit(request)
        )
        return json(page([api_document(api) for api in found], more))

    @operation
    async def get_rest_api(request: Request, body: bytes) -> Response:
        return json(api_document(await gateway.get_rest_api(param(request, "api"))))

    @operation
    async def put_rest_api(request: Request, body: bytes) -> Response:
        api = await gateway.put_rest_api(
            param(request, "api"),
            body,
            mode=request.query_params.get("mode", "merge"),
            fail_on_warnings=fail_on_warnings(request),
        )
        return json(api_document(api))

    @operation
    async def delete_rest_api(request: Request, body: bytes) -> Response:
        await gateway.delete_rest_api(param(request, "api"))
        return Response(status_code=202)

    # -- resources --

    @operation
    async def get_resources(request: Request, body: bytes) -> Response:
        resources = await gateway.get_resources(param(request, "api"))
        return json({"item": [resource_document(r) for r in resources]})

    @operation
    async def get_resource(request: Request, body: bytes) -> Response:
        resource = await gateway.get_resource(param(request, "api"), param(request, "id"))
        return json(resource_document(resource))

    @operation
    async def create_resource(request: Request, body: bytes) -> Response:
        path_part = json_object(body).get("pathPart")
        if not isinstance(path_part, str):
            raise BadRequest("pathPart is required")
        resource = await gateway.create_resource(
            param(request, "api"), param(request, "id"), path_part
        )
        return json(resource_document(resource), 201)

    @operation
    async def delete_resource(request: Request, body: bytes) -> Response:
        await gateway.delete_resource(param(request, "api"), param(request, "id"))
        return Response(status_code=202)

    # -- methods, responses, integrations --

    def method_path(request: Request) -> tuple[str, str, str]:
        return param(request, "api"), param(request, "id"), param(request, "verb").upper()

    @operation
    async def put_method(request: Request, body: bytes) -> Response:
        fields = given_fields(
            Method, {**json_object(body), "httpMethod": "GET"}, exclude={"http_method"}
        )
        method = await gateway.put_method(*method_path(request), **fields)
        return json(method.document(), 201)

    @operation
    async def get_method(request: Request, body: bytes) -> Response:
        return json((await gateway.get_method(*method_path(request))).document())

    @operation
    async def delete_method(request: Request, body: bytes) -> Response:
        await gateway.delete_method(*method_path(request))
        return Response(status_code=204)

    @operation
    async def test_invoke_method(request: Request, body: bytes) -> Response:
        if test_invoke is None:
            raise BadRequest("TestInvokeMethod is not available here")
        api_id, resource_id, verb = method_path(request)
        document = json_object(body)
        api = await gateway.get_rest_api(api_id)
        resource = await gateway.get_resource(api_id, resource_id)
        path = document.get("pathWithQueryString") or resource.path
        text = document.get("body")
        started = time.perf_counter()
        answer = await test_invoke(
            api,
            verb,
            str(path),
            headers={str(k): str(v) for k, v in (document.get("headers") or {}).items()},
            body=text.encode() if isinstance(text, str) else b"",
            stage_variables={
                str(k): str(v) for k, v in (document.get("stageVariables") or {}).items()
            },
        )
        latency = round((time.perf_counter() - started) * 1000)
        return json(
            {
                "status": answer.status,
                "body": answer.body.decode("utf-8", errors="replace"),
                "headers": dict(answer.headers),
                "multiValueHeaders": {k: [v] for k, v in answer.headers.items()},
                "log": f"Execution log for request {answer.headers.get('x-amzn-RequestId', '')}",
                "latency": latency,
            }
        )

    @operation
    async def put_method_response(request: Request, body: bytes) -> Response:
        status = param(request, "status")
        fields = given_fields(
            MethodResponse, {**json_object(body), "statusCode": status}, exclude={"status_code"}
        )
        response = await gateway.put_method_response(*method_path(request), status, **fields)
        return json(response.document(), 201)

    @operation
    async def put_integration(request: Request, body: bytes) -> Response:
        document = json_object(body)
        # The wire name of PutIntegration's integrationHttpMethod is httpMethod (the
        # method's own verb is in the path).
        if "integrationHttpMethod" in document:
            document["httpMethod"] = document.pop("integrationHttpMethod")
        integration = await gateway.put_integration(
            *method_path(request), **given_fields(Integration, document)
        )
        return json(integration.document(), 201)

    @operation
    async def get_integration(request: Request, body: bytes) -> Response:
        return json((await gateway.get_integration(*method_path(request))).document())

    @operation
    async def put_integration_response(request: Request, body: bytes) -> Response:
        status = param(request, "status")
        fields = given_fields(
            IntegrationResponse,
            {**json_object(body), "statusCode": status},
            exclude={"status_code"},
        )
        response = await gateway.put_integration_response(*method_path(request), status, **fields)
        return json(response.document(), 201)

    # -- authorizers, models, validators, gateway responses --

    @operation
    async def create_authorizer(request: Request, body: bytes) -> Response:
        fields = given_fields(Authorizer, {**json_object(body), "id": "-"}, exclude={"id"})
        authorizer = await gateway.create_authorizer(param(request, "api"), **fields)
        return json(authorizer.document(), 201)

    @operation
    async def create_model(request: Request, body: bytes) -> Response:
        fields = given_fields(Model, {**json_object(body), "id": "-"}, exclude={"id"})
        model = await gateway.create_model(param(request, "api"), **fields)
        return json(model.document(), 201)

    @operation
    async def create_request_validator(request: Request, body: bytes) -> Response:
        fields = given_fields(RequestValidator, {**json_object(body), "id": "-"}, exclude={"id"})
        validator = await gateway.create_request_validator(param(request, "api"), **fields)
        return json(validator.document(), 201)

    @operation
    async def put_gateway_response(request: Request, body: bytes) -> Response:
        document = json_object(body)
        response = await gateway.put_gateway_response(
            param(request, "api"),
            param(request, "type"),
            status_code=document.get("statusCode"),
            response_parameters=document.get("responseParameters"),
            response_templates=document.get("responseTemplates"),
        )
        return json(response.document(), 201)

    # -- deployments and stages --

    @operation
    async def create_deployment(request: Request, body: bytes) -> Response:
        document = json_object(body)
        deployment = await gateway.create_deployment(
            param(request, "api"),
            description=document.get("description"),
            stage_name=document.get("stageName"),
            stage_description=document.get("stageDescription"),
            variables=document.get("variables"),
            canary_settings=document.get("canarySettings"),
        )
        return json(deployment_document(deployment), 201)

    @operation
    async def get_deployments(request: Request, body: bytes) -> Response:
        found = await gateway.stages.get_deployments(param(request, "api"))
        return json({"item": [deployment_document(d) for d in found]})

    @operation
    async def get_deployment(request: Request, body: bytes) -> Response:
        found = await gateway.stages.get_deployment(param(request, "api"), param(request, "id"))
        return json(deployment_document(found))

    @operation
    async def create_stage(request: Request, body: bytes) -> Response:
        document = json_object(body)
        name, deployment = document.get("stageName"), document.get("deploymentId")
        if not isinstance(name, str) or not isinstance(deployment, str):
            raise BadRequest("stageName and deploymentId are required")
        stage = await gateway.stages.create_stage(
            param(request, "api"),
            name,
            deployment,
            description=document.get("description"),
            variables=document.get("variables"),
            cache_cluster_enabled=bool(document.get("cacheClusterEnabled", False)),
            cache_cluster_size=document.get("cacheClusterSize"),
            canary_settings=document.get("canarySettings"),
            tracing_enabled=bool(document.get("tracingEnabled", False)),
            tags=document.get("tags"),
        )
        return json(stage_document(stage), 201)

    @operation
    async def get_stages(request: Request, body: bytes) -> Response:
        found = await gateway.stages.get_stages(param(request, "api"))
        return json({"item": [stage_document(stage) for stage in found]})

    @operation
    async def get_stage(request: Request, body: bytes) -> Response:
        stage = await gateway.stages.get_stage(param(request, "api"), param(request, "name"))
        return json(stage_document(stage))

    @operation
    async def update_stage(request: Request, body: bytes) -> Response:
        operations = json_object(body).get("patchOperations") or []
        if not isinstance(operations, list):
            raise BadRequest("patchOperations must be a list")
        stage = await gateway.stages.update_stage(
            param(request, "api"), param(request, "name"), operations
        )
        return json(stage_document(stage))

    @operation
    async def delete_stage(request: Request, body: bytes) -> Response:
        await gateway.stages.delete_stage(param(request, "api"), param(request, "name"))
        return Response(status_code=202)

    @operation
    async def get_export(request: Request, body: bytes) -> Response:
        kind = export_type(request)
        document = await gateway.get_export(
            param(request, "api"),
            param(request, "name"),
            kind,
            extensions=export_extensions(request),
            server_url=server_url,
        )
        return export_response(request, document)

    # -- API keys --

    @operation
    async def create_api_key(request: Request, body: bytes) -> Response:
        document = json_object(body)
        created = await gateway.keys.create_api_key(
            name=document.get("name"),
            description=document.get("description"),
            enabled=bool(document.get("enabled", False)),
            value=document.get("value"),
            customer_id=document.get("customerId"),
        )
        return json({**key_document(created.record), "value": created.value}, 201)

    @operation
    async def get_api_keys(request: Request, body: bytes) -> Response:
        found, more = await gateway.keys.get_api_keys(
            after=request.query_params.get("position"), limit=limit(request)
        )
        return json(page([key_document(key) for key in found], more))

    @operation
    async def get_api_key(request: Request, body: bytes) -> Response:
        return json(key_document(await gateway.keys.get_api_key(param(request, "id"))))

    @operation
    async def delete_api_key(request: Request, body: bytes) -> Response:
        await gateway.keys.delete_api_key(param(request, "id"))
        return Response(status_code=202)

    # -- usage plans --

    @operation
    async def create_usage_plan(request: Request, body: bytes) -> Response:
        document = json_object(body)
        plan = await gateway.keys.create_usage_plan(
            name=str(document.get("name") or ""),
            description=document.get("description"),
            api_stages=document.get("apiStages") or [],
            throttle=document.get("throttle"),
            quota=document.get("quota"),
            tags=document.get("tags"),
        )
        return json(plan_document(plan), 201)

    @operation
    async def get_usage_plans(request: Request, body: bytes) -> Response:
        found, more = await gateway.keys.get_usage_plans(
            after=request.query_params.get("position"),
            limit=limit(request),
            key_id=request.query_params.get("keyId"),
        )
        return json(page([plan_document(plan) for plan in found], more))

    @operation
    async def get_usage_plan(request: Request, body: bytes) -> Response:
        return json(plan_document(await gateway.keys.get_usage_plan(param(request, "id"))))

    @operation
    async def delete_usage_plan(request: Request, body: bytes) -> Response:
        await gateway.keys.delete_usage_plan(param(request, "id"))
        return Response(status_code=202)

    @operation
    async def create_usage_plan_key(request: Request, body: bytes) -> Response:
        document = json_object(body)
        key = await gateway.keys.create_usage_plan_key(
            param(request, "id"), str(document.get("keyId") or ""), str(document.get("keyType"))
        )
        return json(plan_key_document(key), 201)

    @operation
    async def get_usage_plan_keys(request: Request, body: bytes) -> Response:
        keys = await gateway.keys.get_usage_plan_keys(param(request, "id"))
        return json({"item": [plan_key_document(key) for key in keys]})

    @operation
    async def get_usage(request: Request, body: bytes) -> Response:
        start, end = day_parameter(request, "startDate"), day_parameter(request, "endDate")
        usage = await gateway.keys.usage(
            param(request, "id"), start, end, request.query_params.get("keyId"), quotas
        )
        return json(
            {
                "usagePlanId": param(request, "id"),
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
                "values": usage,
            }
        )

    @operation
    async def delete_usage_plan_key(request: Request, body: bytes) -> Response:
        await gateway.keys.delete_usage_plan_key(param(request, "id"), param(request, "key"))
        return Response(status_code=202)

    api = "/restapis/{api}"
    method = api + "/resources/{id}/methods/{verb}"
    return [
        Route("/restapis", create_rest_api, methods=["POST"]),
        Route("/restapis", get_rest_apis, methods=["GET"]),
        Route(api, get_rest_api, methods=["GET"]),
        Route(api, put_rest_api, methods=["PUT"]),
        Route(api, delete_rest_api, methods=["DELETE"]),
        Route(api + "/resources", get_resources, methods=["GET"]),
        Route(api + "/resources/{id}", get_resource, methods=["GET"]),
        Route(api + "/resources/{id}", create_resource, methods=["POST"]),
        Route(api + "/resources/{id}", delete_resource, methods=["DELETE"]),
        Route(method, put_method, methods=["PUT"]),
        Route(method, get_method, methods=["GET"]),
        Route(method, delete_method, methods=["DELETE"]),
        Route(method, test_invoke_method, methods=["POST"]),
        Route(method + "/responses/{status}", put_method_response, methods=["PUT"]),
        Route(method + "/integration", put_integration, methods=["PUT"]),
        Route(method + "/integration", get_integration, methods=["GET"]),
        Route(
            method + "/integration/responses/{status}", put_integration_response, methods=["PUT"]
        ),
        Route(api + "/authorizers", create_authorizer, methods=["POST"]),
        Route(api + "/models", create_model, methods=["POST"]),
        Route(api + "/requestvalidators", create_request_validator, methods=["POST"]),
        Route(api + "/gatewayresponses/{type}", put_gateway_response, methods=["PUT"]),
        Route(api + "/deployments", create_deployment, methods=["POST"]),
        Route(api + "/deployments", get_deployments, methods=["GET"]),
        Route(api + "/deployments/{id}", get_deployment, methods=["GET"]),
        Route(api + "/stages", create_stage, methods=["POST"]),
        Route(api + "/stages", get_stages, methods=["GET"]),
        Route(api + "/stages/{name}", get_stage, methods=["GET"]),
        Route(api + "/stages/{name}", update_stage, methods=["PATCH"]),
        Route(api + "/stages/{name}", delete_stage, methods=["DELETE"]),
        Route(api + "/stages/{name}/exports/{type}", get_export, methods=["GET"]),
        Route("/apikeys", create_api_key, methods=["POST"]),
        Route("/apikeys", get_api_keys, methods=["GET"]),
        Route("/apikeys/{id}", get_api_key, methods=["GET"]),
        Route("/apikeys/{id}", delete_api_key, methods=["DELETE"]),
        Route("/usageplans", create_usage_plan, methods=["POST"]),
        Route("/usageplans", get_usage_plans, methods=["GET"]),
        Route("/usageplans/{id}", get_usage_plan, methods=["GET"]),
        Route("/usageplans/{id}", delete_usage_plan, methods=["DELETE"]),
        Route("/usageplans/{id}/keys", create_usage_plan_key, methods=["POST"]),
        Route("/usageplans/{id}/keys", get_usage_plan_keys, methods=["GET"]),
        Route("/usageplans/{id}/keys/{key}", delete_usage_plan_key, methods=["DELETE"]),
        Route("/usageplans/{id}/usage", get_usage, methods=["GET"]),
    ]
