"""The API Gateway control plane over REST JSON, as boto3's ``apigateway`` client calls it.

This module holds the error table and the one route table, in the order of the API
reference's groups; the handlers are grouped by what they manage:
:mod:`~modelyard.gateway.control_apis` (REST APIs, resources, authorizers, models,
validators, gateway responses), :mod:`~modelyard.gateway.control_methods` (methods,
integrations and their responses), :mod:`~modelyard.gateway.control_stages` (deployments,
stages, exports) and :mod:`~modelyard.gateway.control_keys` (API keys, usage plans).
The Update* operations (PATCH) take ``patchOperations`` (:mod:`~modelyard.gateway.patches`).

Errors are answered as API Gateway answers them: ``{"message": ...}`` with the code in
``x-amzn-ErrorType`` (:data:`ERRORS`). With a verifier, every route needs SigV4.
"""

from __future__ import annotations

import logging

from starlette.routing import Route

from modelyard import errors
from modelyard.aws.errors import ErrorCode, ErrorTable
from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.gateway.control_apis import RestApiHandlers
from modelyard.gateway.control_documents import Operation, TestInvoke, operations
from modelyard.gateway.control_keys import KeyHandlers
from modelyard.gateway.control_methods import MethodHandlers
from modelyard.gateway.control_stages import StageHandlers
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
    serving of stages keeps, which GetUsage reports; ``test_invoke``: what runs
    TestInvokeMethod; ``server_url``: where exported documents say the API is)."""
    apis = RestApiHandlers(gateway)
    methods = MethodHandlers(gateway, test_invoke)
    stages = StageHandlers(gateway, server_url)
    keys = KeyHandlers(gateway, quotas)

    api = "/restapis/{api}"
    resource = api + "/resources/{id}"
    method = resource + "/methods/{verb}"
    integration = method + "/integration"
    table: list[tuple[str, str, Operation]] = [
        # REST APIs (POST /restapis?mode=import: ImportRestApi)
        ("POST", "/restapis", apis.create_rest_api),
        ("GET", "/restapis", apis.get_rest_apis),
        ("GET", api, apis.get_rest_api),
        ("PUT", api, apis.put_rest_api),
        ("PATCH", api, apis.update_rest_api),
        ("DELETE", api, apis.delete_rest_api),
        # resources (POST: CreateResource under {id})
        ("GET", api + "/resources", apis.get_resources),
        ("GET", resource, apis.get_resource),
        ("POST", resource, apis.create_resource),
        ("PATCH", resource, apis.update_resource),
        ("DELETE", resource, apis.delete_resource),
        # methods (POST: TestInvokeMethod)
        ("PUT", method, methods.put_method),
        ("GET", method, methods.get_method),
        ("PATCH", method, methods.update_method),
        ("DELETE", method, methods.delete_method),
        ("POST", method, methods.test_invoke_method),
        ("PUT", method + "/responses/{status}", methods.put_method_response),
        ("GET", method + "/responses/{status}", methods.get_method_response),
        ("PATCH", method + "/responses/{status}", methods.update_method_response),
        # integrations
        ("PUT", integration, methods.put_integration),
        ("GET", integration, methods.get_integration),
        ("PATCH", integration, methods.update_integration),
        ("PUT", integration + "/responses/{status}", methods.put_integration_response),
        ("GET", integration + "/responses/{status}", methods.get_integration_response),
        ("PATCH", integration + "/responses/{status}", methods.update_integration_response),
        # authorizers, models, request validators, gateway responses
        ("POST", api + "/authorizers", apis.create_authorizer),
        ("GET", api + "/authorizers/{id}", apis.get_authorizer),
        ("PATCH", api + "/authorizers/{id}", apis.update_authorizer),
        ("POST", api + "/models", apis.create_model),
        ("GET", api + "/models/{name}", apis.get_model),
        ("PATCH", api + "/models/{name}", apis.update_model),
        ("POST", api + "/requestvalidators", apis.create_request_validator),
        ("GET", api + "/requestvalidators/{id}", apis.get_request_validator),
        ("PATCH", api + "/requestvalidators/{id}", apis.update_request_validator),
        ("PUT", api + "/gatewayresponses/{type}", apis.put_gateway_response),
        ("GET", api + "/gatewayresponses/{type}", apis.get_gateway_response),
        ("PATCH", api + "/gatewayresponses/{type}", apis.update_gateway_response),
        # deployments and stages
        ("POST", api + "/deployments", stages.create_deployment),
        ("GET", api + "/deployments", stages.get_deployments),
        ("GET", api + "/deployments/{id}", stages.get_deployment),
        ("PATCH", api + "/deployments/{id}", stages.update_deployment),
        ("POST", api + "/stages", stages.create_stage),
        ("GET", api + "/stages", stages.get_stages),
        ("GET", api + "/stages/{name}", stages.get_stage),
        ("PATCH", api + "/stages/{name}", stages.update_stage),
        ("DELETE", api + "/stages/{name}", stages.delete_stage),
        ("GET", api + "/stages/{name}/exports/{type}", stages.get_export),
        # API keys
        ("POST", "/apikeys", keys.create_api_key),
        ("GET", "/apikeys", keys.get_api_keys),
        ("GET", "/apikeys/{id}", keys.get_api_key),
        ("PATCH", "/apikeys/{id}", keys.update_api_key),
        ("DELETE", "/apikeys/{id}", keys.delete_api_key),
        # usage plans, their keys and usage
        ("POST", "/usageplans", keys.create_usage_plan),
        ("GET", "/usageplans", keys.get_usage_plans),
        ("GET", "/usageplans/{id}", keys.get_usage_plan),
        ("PATCH", "/usageplans/{id}", keys.update_usage_plan),
        ("DELETE", "/usageplans/{id}", keys.delete_usage_plan),
        ("POST", "/usageplans/{id}/keys", keys.create_usage_plan_key),
        ("GET", "/usageplans/{id}/keys", keys.get_usage_plan_keys),
        ("DELETE", "/usageplans/{id}/keys/{key}", keys.delete_usage_plan_key),
        ("GET", "/usageplans/{id}/usage", keys.get_usage),
    ]
    operation = operations(ERRORS, verifier, max_body=_MAX_BODY, logger=logger)
    return [Route(path, operation(handler), methods=[verb]) for verb, path, handler in table]
