"""The functions area's part of the OpenAPI document: the Lambda API and ``/functions``.

The Lambda API's error answers list the codes of ``lambda_api.ERRORS`` and modelyard's
own routes the statuses of ``admin.ERROR_STATUS``, the tables the routes render with, so
a change of a table changes the document.
"""

from __future__ import annotations

from modelyard.functions import admin, lambda_api
from modelyard.functions.service import MAX_DESCRIPTION, MAX_TIMEOUT_S
from modelyard.openapi import JsonObject, OpenApiPart, json_content

__all__ = ["part"]

_LAMBDA = "lambda"
_FUNCTIONS = "functions"
_PREFIX = lambda_api.API_PREFIX

_TEXT: JsonObject = {"type": "string"}
_REQUEST_ID: JsonObject = {
    "x-amzn-RequestId": {"description": "The request's id.", "schema": _TEXT}
}


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _lambda_errors() -> dict[str, JsonObject]:
    grouped: dict[int, list[str]] = {}
    for code in lambda_api.ERRORS.codes():
        names = grouped.setdefault(code.status, [])
        if code.code not in names:
            names.append(code.code)
    return {
        str(status): {
            "description": ", ".join(codes),
            "headers": {
                "x-amzn-ErrorType": {
                    "description": "The error code, as Lambda sends it.",
                    "required": True,
                    "schema": {"type": "string", "enum": codes},
                },
                **_REQUEST_ID,
            },
            "content": json_content(_ref("FunctionsLambdaError")),
        }
        for status, codes in sorted(grouped.items())
    }


def _admin_errors(*statuses: int) -> dict[str, JsonObject]:
    unknown = set(statuses) - set(admin.ERROR_STATUS.values())
    if unknown:  # the routes could never answer it: the table and the document disagree
        raise ValueError(f"statuses {sorted(unknown)} are not in admin.ERROR_STATUS")
    kinds = {
        400: "The request is invalid (body, name, handler, timeout, environment), or the "
        "handler does not import or is not callable.",
        401: "No management token was given (one is set).",
        403: "The management token is not valid.",
        404: "No function of that name.",
        503: "The database or the function workers are unavailable.",
    }
    return {
        str(status): {
            "description": kinds[status],
            "content": json_content(_ref("FunctionsAdminError")),
        }
        for status in statuses
    }


def _function_name() -> JsonObject:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "The function's name, ARN or partial ARN (``<account>:function:<name>``).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
    }


def _qualifier() -> JsonObject:
    return {
        "name": "Qualifier",
        "in": "query",
        "required": False,
        "description": "A version or alias: only $LATEST exists.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 128},
    }


def _header(name: str, description: str, schema: JsonObject) -> JsonObject:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _function_path() -> JsonObject:
    return {
        "get": {
            "operationId": "lambdaGetFunction",
            "summary": "GetFunction: a function's configuration",
            "tags": [_LAMBDA],
            "parameters": [_function_name(), _qualifier()],
            "responses": {
                "200": {
                    "description": "The function's configuration.",
                    "headers": _REQUEST_ID,
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["Configuration"],
                            "properties": {"Configuration": _ref("FunctionsConfiguration")},
                        }
                    ),
                },
                **_lambda_errors(),
            },
        },
        "delete": {
            "operationId": "lambdaDeleteFunction",
            "summary": "DeleteFunction: forget a function",
            "tags": [_LAMBDA],
            "parameters": [_function_name(), _qualifier()],
            "responses": {
                "204": {"description": "The function was deleted.", "headers": _REQUEST_ID},
                **_lambda_errors(),
            },
        },
    }


def _invocations() -> JsonObject:
    return {
        "post": {
            "operationId": "lambdaInvoke",
            "summary": "Invoke: call a function with an event",
            "description": (
                "Lambda's Invoke, as boto3's lambda client sends it. The body is the event "
                "(JSON; empty is {}). A failing function answers 200 with "
                "X-Amz-Function-Error: Unhandled and the error as payload."
            ),
            "tags": [_LAMBDA],
            "parameters": [
                _function_name(),
                _qualifier(),
                _header(
                    "X-Amz-Invocation-Type",
                    "RequestResponse (wait for the result), Event (run in the background) or "
                    "DryRun (check only).",
                    {"type": "string", "enum": ["RequestResponse", "Event", "DryRun"]},
                ),
                _header(
                    "X-Amz-Log-Type",
                    "Accepted; no log tail is returned.",
                    {"type": "string", "enum": ["None", "Tail"]},
                ),
            ],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {}, "example": {"a": 1, "b": 2}}},
            },
            "responses": {
                "200": {
                    "description": "The function's result, or its error (X-Amz-Function-Error).",
                    "headers": {
                        "X-Amz-Executed-Version": {
                            "description": "The version that ran: $LATEST.",
                            "required": True,
                            "schema": {"type": "string", "enum": ["$LATEST"]},
                        },
                        "X-Amz-Function-Error": {
                            "description": "Set when the function failed: Unhandled.",
                            "schema": {"type": "string", "enum": ["Unhandled"]},
                        },
                        **_REQUEST_ID,
                    },
                    "content": json_content({}),
                },
                "202": {"description": "Event: the call was started.", "headers": _REQUEST_ID},
                "204": {"description": "DryRun: the call would run.", "headers": _REQUEST_ID},
                **_lambda_errors(),
            },
        }
    }


def _list_functions(operation_id: str) -> JsonObject:
    return {
        "get": {
            "operationId": operation_id,
            "summary": "ListFunctions: functions by name, a page at a time",
            "tags": [_LAMBDA],
            "parameters": [
                {
                    "name": "Marker",
                    "in": "query",
                    "required": False,
                    "description": "The NextMarker of the previous page.",
                    "schema": _TEXT,
                },
                {
                    "name": "MaxItems",
                    "in": "query",
                    "required": False,
                    "description": f"Functions per page (at most {lambda_api.MAX_ITEMS} given).",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 10_000},
                },
            ],
            "responses": {
                "200": {
                    "description": "A page of functions.",
                    "headers": _REQUEST_ID,
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["Functions"],
                            "properties": {
                                "Functions": {
                                    "type": "array",
                                    "items": _ref("FunctionsConfiguration"),
                                },
                                "NextMarker": _TEXT,
                            },
                        }
                    ),
                },
                **_lambda_errors(),
            },
        }
    }


def _functions() -> JsonObject:
    return {
        "post": {
            "operationId": "registerFunction",
            "summary": "Register a function (or replace the registration of its name)",
            "tags": [_FUNCTIONS],
            "requestBody": {
                "required": True,
                "content": json_content(
                    _ref("FunctionsRegistration"),
                    example={
                        "name": "add",
                        "handler": "mypackage.tasks:add",
                        "timeout_s": 10,
                        "environment": {"STAGE": "test"},
                        "description": "Adds a and b",
                    },
                ),
            },
            "responses": {
                "200": {
                    "description": "The registration replaced the previous one.",
                    "content": json_content(_ref("FunctionsFunction")),
                },
                "201": {
                    "description": "The function was registered.",
                    "content": json_content(_ref("FunctionsFunction")),
                },
                **_admin_errors(400, 401, 403, 503),
            },
        },
        "get": {
            "operationId": "listRegisteredFunctions",
            "summary": "Every registered function, by name",
            "tags": [_FUNCTIONS],
            "responses": {
                "200": {
                    "description": "The functions.",
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["functions"],
                            "properties": {
                                "functions": {"type": "array", "items": _ref("FunctionsFunction")}
                            },
                        }
                    ),
                },
                **_admin_errors(401, 403, 503),
            },
        },
    }


def _function() -> JsonObject:
    return {
        "delete": {
            "operationId": "deleteRegisteredFunction",
            "summary": "Forget a function",
            "tags": [_FUNCTIONS],
            "parameters": [_function_name()],
            "responses": {
                "200": {
                    "description": "The function was deleted.",
                    "content": json_content(
                        {"type": "object", "required": ["status"], "properties": {"status": _TEXT}}
                    ),
                },
                **_admin_errors(400, 401, 403, 404, 503),
            },
        }
    }


def _schemas() -> dict[str, JsonObject]:
    variables = {"type": "object", "additionalProperties": _TEXT}
    return {
        "FunctionsLambdaError": {
            "type": "object",
            "required": ["message"],
            "properties": {"Type": _TEXT, "message": _TEXT, "Message": _TEXT},
        },
        "FunctionsAdminError": {
            "type": "object",
            "required": ["code", "type", "message"],
            "properties": {"code": {"type": "integer"}, "type": _TEXT, "message": _TEXT},
        },
        "FunctionsConfiguration": {
            "type": "object",
            "required": ["FunctionName", "FunctionArn", "Handler", "Timeout", "Version"],
            "properties": {
                "FunctionName": _TEXT,
                "FunctionArn": _TEXT,
                "Runtime": _TEXT,
                "Handler": _TEXT,
                "CodeSize": {"type": "integer"},
                "Description": _TEXT,
                "Timeout": {"type": "integer"},
                "MemorySize": {"type": "integer"},
                "LastModified": _TEXT,
                "CodeSha256": _TEXT,
                "Version": _TEXT,
                "RevisionId": _TEXT,
                "State": _TEXT,
                "LastUpdateStatus": _TEXT,
                "PackageType": _TEXT,
                "Architectures": {"type": "array", "items": _TEXT},
                "Environment": {"type": "object", "properties": {"Variables": variables}},
            },
        },
        "FunctionsRegistration": {
            "type": "object",
            "required": ["name", "handler"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                "handler": {
                    "type": "string",
                    "description": "package.module:attr, importable by the server.",
                },
                "timeout_s": {
                    "type": ["number", "null"],
                    "exclusiveMinimum": 0,
                    "maximum": MAX_TIMEOUT_S,
                },
                "environment": variables,
                "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
            },
        },
        "FunctionsFunction": {
            "type": "object",
            "required": [
                "name",
                "arn",
                "handler",
                "timeout_s",
                "environment",
                "description",
                "created_at",
                "updated_at",
            ],
            "properties": {
                "name": _TEXT,
                "arn": _TEXT,
                "handler": _TEXT,
                "timeout_s": {"type": "number"},
                "environment": variables,
                "description": _TEXT,
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        },
    }


def part() -> OpenApiPart:
    """The Lambda API's four operations and ``/functions``."""
    return OpenApiPart(
        paths={
            f"{_PREFIX}/{{name}}": _function_path(),
            f"{_PREFIX}/{{name}}/invocations": _invocations(),
            f"{_PREFIX}/": _list_functions("lambdaListFunctions"),
            _PREFIX: _list_functions("lambdaListFunctionsWithoutSlash"),
            "/functions": _functions(),
            "/functions/{name}": _function(),
        },
        components={"schemas": _schemas()},
        tags=[
            {"name": _LAMBDA, "description": "AWS Lambda: call and see functions (boto3)."},
            {"name": _FUNCTIONS, "description": "Register Python callables as functions."},
        ],
    )
