"""The gateway area's part of the OpenAPI document: the API Gateway control plane routes.

Each operation is listed with API Gateway's own name; bodies are the camelCase documents
of the ``apigateway`` service model (given here as open JSON objects: the service model
is their full description), errors ``{"message"}`` with ``x-amzn-ErrorType``.
"""

from __future__ import annotations

from typing import Final

from modelyard.openapi import JsonObject, OpenApiPart, json_content

__all__ = ["OPERATIONS", "part"]

_TAG = "apigateway"

#: (method, path, operation, success status), in control.py's order.
OPERATIONS: Final = (
    ("post", "/restapis", "CreateRestApi", 201),
    ("get", "/restapis", "GetRestApis", 200),
    ("get", "/restapis/{api}", "GetRestApi", 200),
    ("put", "/restapis/{api}", "PutRestApi", 200),
    ("patch", "/restapis/{api}", "UpdateRestApi", 200),
    ("delete", "/restapis/{api}", "DeleteRestApi", 202),
    ("get", "/restapis/{api}/resources", "GetResources", 200),
    ("get", "/restapis/{api}/resources/{id}", "GetResource", 200),
    ("post", "/restapis/{api}/resources/{id}", "CreateResource", 201),
    ("patch", "/restapis/{api}/resources/{id}", "UpdateResource", 200),
    ("delete", "/restapis/{api}/resources/{id}", "DeleteResource", 202),
    ("put", "/restapis/{api}/resources/{id}/methods/{verb}", "PutMethod", 201),
    ("get", "/restapis/{api}/resources/{id}/methods/{verb}", "GetMethod", 200),
    ("patch", "/restapis/{api}/resources/{id}/methods/{verb}", "UpdateMethod", 200),
    ("delete", "/restapis/{api}/resources/{id}/methods/{verb}", "DeleteMethod", 204),
    ("post", "/restapis/{api}/resources/{id}/methods/{verb}", "TestInvokeMethod", 200),
    (
        "put",
        "/restapis/{api}/resources/{id}/methods/{verb}/responses/{status}",
        "PutMethodResponse",
        201,
    ),
    (
        "get",
        "/restapis/{api}/resources/{id}/methods/{verb}/responses/{status}",
        "GetMethodResponse",
        200,
    ),
    (
        "patch",
        "/restapis/{api}/resources/{id}/methods/{verb}/responses/{status}",
        "UpdateMethodResponse",
        201,
    ),
    ("put", "/restapis/{api}/resources/{id}/methods/{verb}/integration", "PutIntegration", 201),
    ("get", "/restapis/{api}/resources/{id}/methods/{verb}/integration", "GetIntegration", 200),
    (
        "patch",
        "/restapis/{api}/resources/{id}/methods/{verb}/integration",
        "UpdateIntegration",
        200,
    ),
    (
        "put",
        "/restapis/{api}/resources/{id}/methods/{verb}/integration/responses/{status}",
        "PutIntegrationResponse",
        201,
    ),
    (
        "get",
        "/restapis/{api}/resources/{id}/methods/{verb}/integration/responses/{status}",
        "GetIntegrationResponse",
        200,
    ),
    (
        "patch",
        "/restapis/{api}/resources/{id}/methods/{verb}/integration/responses/{status}",
        "UpdateIntegrationResponse",
        200,
    ),
    ("post", "/restapis/{api}/authorizers", "CreateAuthorizer", 201),
    ("get", "/restapis/{api}/authorizers/{id}", "GetAuthorizer", 200),
    ("patch", "/restapis/{api}/authorizers/{id}", "UpdateAuthorizer", 200),
    ("post", "/restapis/{api}/models", "CreateModel", 201),
    ("get", "/restapis/{api}/models/{name}", "GetModel", 200),
    ("patch", "/restapis/{api}/models/{name}", "UpdateModel", 200),
    ("post", "/restapis/{api}/requestvalidators", "CreateRequestValidator", 201),
    ("get", "/restapis/{api}/requestvalidators/{id}", "GetRequestValidator", 200),
    ("patch", "/restapis/{api}/requestvalidators/{id}", "UpdateRequestValidator", 200),
    ("put", "/restapis/{api}/gatewayresponses/{type}", "PutGatewayResponse", 201),
    ("get", "/restapis/{api}/gatewayresponses/{type}", "GetGatewayResponse", 200),
    ("patch", "/restapis/{api}/gatewayresponses/{type}", "UpdateGatewayResponse", 200),
    ("post", "/restapis/{api}/deployments", "CreateDeployment", 201),
    ("get", "/restapis/{api}/deployments", "GetDeployments", 200),
    ("get", "/restapis/{api}/deployments/{id}", "GetDeployment", 200),
    ("patch", "/restapis/{api}/deployments/{id}", "UpdateDeployment", 200),
    ("post", "/restapis/{api}/stages", "CreateStage", 201),
    ("get", "/restapis/{api}/stages", "GetStages", 200),
    ("get", "/restapis/{api}/stages/{name}", "GetStage", 200),
    ("patch", "/restapis/{api}/stages/{name}", "UpdateStage", 200),
    ("delete", "/restapis/{api}/stages/{name}", "DeleteStage", 202),
    ("get", "/restapis/{api}/stages/{name}/exports/{type}", "GetExport", 200),
    ("post", "/apikeys", "CreateApiKey", 201),
    ("get", "/apikeys", "GetApiKeys", 200),
    ("get", "/apikeys/{id}", "GetApiKey", 200),
    ("patch", "/apikeys/{id}", "UpdateApiKey", 200),
    ("delete", "/apikeys/{id}", "DeleteApiKey", 202),
    ("post", "/usageplans", "CreateUsagePlan", 201),
    ("get", "/usageplans", "GetUsagePlans", 200),
    ("get", "/usageplans/{id}", "GetUsagePlan", 200),
    ("patch", "/usageplans/{id}", "UpdateUsagePlan", 200),
    ("delete", "/usageplans/{id}", "DeleteUsagePlan", 202),
    ("post", "/usageplans/{id}/keys", "CreateUsagePlanKey", 201),
    ("get", "/usageplans/{id}/keys", "GetUsagePlanKeys", 200),
    ("delete", "/usageplans/{id}/keys/{key}", "DeleteUsagePlanKey", 202),
    ("get", "/usageplans/{id}/usage", "GetUsage", 200),
)

_OBJECT: JsonObject = {"type": "object"}
_ERROR: JsonObject = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}


def part() -> OpenApiPart:
    """Every control-plane route."""
    paths: dict[str, JsonObject] = {}
    for method, path, operation, status in OPERATIONS:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_names(path)
        ]
        spec: JsonObject = {
            "tags": [_TAG],
            "operationId": f"apigateway{operation}",
            "summary": f"API Gateway {operation}.",
            "responses": {
                str(status): (
                    {"description": "Done."}
                    if status in (202, 204) and method == "delete"
                    else {"description": "The answer.", "content": json_content(_OBJECT)}
                ),
                "400": {"description": "Bad request.", "content": json_content(_ERROR)},
                "404": {"description": "Not found.", "content": json_content(_ERROR)},
                "409": {"description": "Conflict.", "content": json_content(_ERROR)},
                "403": {
                    "description": "The request is not signed (SigV4), or not rightly.",
                    "content": json_content(_ERROR),
                },
                "503": {"description": "The database failed.", "content": json_content(_ERROR)},
            },
        }
        if parameters:
            spec["parameters"] = parameters
        if method in ("post", "put", "patch"):
            spec["requestBody"] = {"required": False, "content": json_content(_OBJECT)}
        paths.setdefault(path, {})[method] = spec
    for path in _SERVED:
        names = _path_names(path)
        item: JsonObject = {}
        for method in ("get", "post", "put", "patch", "delete", "options"):
            item[method] = {
                "tags": ["deployed APIs"],
                "operationId": f"deployed{method.capitalize()}{len(names)}{path.split('/')[1]}",
                "summary": "A request to a deployed REST API's stage.",
                "parameters": [
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                    for name in names
                ],
                "responses": {
                    "200": {"description": "What the API's method answers (any status)."},
                    "403": {
                        "description": "No such API, stage, resource or method.",
                        "content": json_content(_ERROR),
                    },
                    "404": {"description": "A path that cannot be a resource's."},
                },
            }
        paths[path] = item
    return OpenApiPart(
        paths=paths,
        tags=[
            {"name": _TAG, "description": "API Gateway's control plane (boto3 apigateway)."},
            {"name": "deployed APIs", "description": "Stages of deployed REST APIs."},
        ],
    )


#: The URLs deployed APIs are served at (serving.py).
_SERVED: Final = (
    "/restapis/{api}/{stage}/_user_request_",
    "/restapis/{api}/{stage}/_user_request_/{path}",
    "/apis/{api}/{stage}",
    "/apis/{api}/{stage}/{path}",
)


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
