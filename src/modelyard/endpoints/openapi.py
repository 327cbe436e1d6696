"""The endpoints area's part of the OpenAPI document: InvokeEndpoint and the admin route.

The SageMaker control plane is documented with the AWS JSON route (``aws/openapi.py``).
InvokeEndpoint's error answers list the codes of ``invocations.ERRORS``, the table the
route renders with, so a change of the table changes the document.
"""

from __future__ import annotations

from modelyard.endpoints.invocations import ERRORS, MAX_BODY_BYTES, ModelErrorCode
from modelyard.openapi import JsonObject, OpenApiPart, json_content

__all__ = ["part"]

_RUNTIME = "sagemaker-runtime"
_ADMIN = "admin"


def _codes_by_status() -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {400: ["ValidationError"], 500: ["InternalFailure"]}
    for code in ERRORS.codes():
        names = grouped.setdefault(code.status, [])
        if code.code not in names:
            names.append(code.code)
    return dict(sorted(grouped.items()))


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _header(name: str, description: str, schema: JsonObject) -> JsonObject:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _invocations() -> JsonObject:
    errors: dict[str, JsonObject] = {}
    for status, codes in _codes_by_status().items():
        model_error = any(
            isinstance(c, ModelErrorCode) for c in ERRORS.codes() if c.status == status
        )
        errors[str(status)] = {
            "description": ", ".join(codes),
            "headers": {
                "x-amzn-errortype": {
                    "description": "The error code, as SageMaker Runtime sends it.",
                    "required": True,
                    "schema": {"type": "string", "enum": codes},
                }
            },
            "content": json_content(
                _ref("EndpointsModelError" if model_error else "EndpointsError")
            ),
        }
    printable = {"type": "string", "pattern": r"^\S[\x20-\x7e]*$"}
    return {
        "post": {
            "operationId": "invokeEndpoint",
            "summary": "InvokeEndpoint: the endpoint's model answers the request",
            "description": (
                "SageMaker Runtime's InvokeEndpoint, as boto3's sagemaker-runtime client sends "
                "it. The variant is chosen by weight unless X-Amzn-SageMaker-Target-Variant "
                f"names one. The body is at most {MAX_BODY_BYTES} bytes."
            ),
            "tags": [_RUNTIME],
            "parameters": [
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "description": "The endpoint's name.",
                    "schema": {
                        "type": "string",
                        "maxLength": 63,
                        "pattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$",
                    },
                },
                _header(
                    "X-Amzn-SageMaker-Custom-Attributes",
                    "Passed to the model verbatim.",
                    {"type": "string", "maxLength": 1024},
                ),
                _header(
                    "X-Amzn-SageMaker-Target-Model",
                    "The model of a multi-model variant: its path under the ModelDataUrl.",
                    {**printable, "maxLength": 1024},
                ),
                _header(
                    "X-Amzn-SageMaker-Target-Variant",
                    "The variant to invoke, instead of the weighted choice.",
                    {"type": "string", "maxLength": 63, "pattern": "^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"},
                ),
                _header(
                    "X-Amzn-SageMaker-Inference-Id",
                    "The caller's id of this inference (kept with captured data).",
                    {**printable, "maxLength": 64},
                ),
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {}, "example": [[1, 2, 3]]},
                    "text/csv": {"schema": {"type": "string"}, "example": "1,2,3"},
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
            },
            "responses": {
                "200": {
                    "description": "The model's answer, in the content type it chose.",
                    "headers": {
                        "x-Amzn-Invoked-Production-Variant": {
                            "description": "The variant that answered.",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        "X-Amzn-SageMaker-Custom-Attributes": {
                            "description": "Custom attributes the model set on its answer.",
                            "schema": {"type": "string"},
                        },
                    },
                    "content": {"*/*": {"schema": {}}},
                },
                **errors,
            },
        }
    }


def _admin() -> JsonObject:
    return {
        "get": {
            "operationId": "listEndpoints",
            "summary": "The endpoint metadata registry: endpoints, their variants and categories",
            "tags": [_ADMIN],
            "parameters": [
                {
                    "name": "category",
                    "in": "query",
                    "required": False,
                    "description": "Only endpoints whose `category` tag lists this (any case).",
                    "schema": {"type": "string", "minLength": 1},
                }
            ],
            "responses": {
                "200": {
                    "description": "The endpoints, by name.",
                    "content": json_content(_ref("EndpointsList")),
                },
                "400": {
                    "description": "An empty category.",
                    "content": json_content(_ref("EndpointsAdminError")),
                },
                "503": {
                    "description": "The database failed.",
                    "content": json_content(_ref("EndpointsAdminError")),
                },
            },
        }
    }


def _schemas() -> dict[str, JsonObject]:
    text = {"type": "string"}
    return {
        "EndpointsError": {
            "type": "object",
            "required": ["message"],
            "properties": {"message": text, "Message": text},
        },
        "EndpointsModelError": {
            "type": "object",
            "required": ["Message", "OriginalStatusCode", "OriginalMessage", "LogStreamArn"],
            "properties": {
                "ErrorCode": text,
                "Message": text,
                "OriginalStatusCode": {"type": "integer"},
                "OriginalMessage": text,
                "LogStreamArn": text,
            },
        },
        "EndpointsAdminError": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": text},
        },
        "EndpointsList": {
            "type": "object",
            "required": ["endpoints"],
            "properties": {
                "endpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "EndpointName",
                            "EndpointArn",
                            "EndpointStatus",
                            "EndpointConfigName",
                            "Categories",
                            "Variants",
                        ],
                        "properties": {
                            "EndpointName": text,
                            "EndpointArn": text,
                            "EndpointStatus": text,
                            "EndpointConfigName": text,
                            "Categories": {"type": "array", "items": text},
                            "CreationTime": {"type": "string", "format": "date-time"},
                            "LastModifiedTime": {"type": "string", "format": "date-time"},
                            "FailureReason": {"type": ["string", "null"]},
                            "Variants": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                }
            },
        },
    }


def part() -> OpenApiPart:
    """InvokeEndpoint and ``GET /admin/endpoints``."""
    return OpenApiPart(
        paths={"/endpoints/{name}/invocations": _invocations(), "/admin/endpoints": _admin()},
        components={"schemas": _schemas()},
        tags=[
            {"name": _RUNTIME, "description": "SageMaker Runtime: invoke an endpoint."},
            {"name": _ADMIN, "description": "Operators' routes."},
        ],
    )
