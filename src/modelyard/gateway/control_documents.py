"""The control plane's wire format: requests read, documents and errors written.

:mod:`~modelyard.gateway.control` handlers parse with these, call the gateway service and
render with these, so each handler says only which operation it is. Bodies are the
camelCase JSON documents of boto3's ``apigateway`` client; dates are epoch seconds, as
API Gateway's REST JSON protocol writes them; errors are ``{"message": ...}`` with the
code in ``x-amzn-ErrorType``, which :func:`operations` answers every error with.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal, Protocol

import orjson
import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from modelyard import errors
from modelyard.aws.errors import INTERNAL_FAILURE, ErrorCode, ErrorTable
from modelyard.aws.json_protocol import verify_request
from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.gateway.definitions import Resource, RestApi
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.messages import GatewayAnswer
from modelyard.gateway.patches import PatchOperation, parse_operations
from modelyard.ids import uuid4_string
from modelyard.serving.protocols.body import read_body
from modelyard.storage.gateway import ApiKeyRecord, StoredDeployment, StoredStage, StoredUsagePlan

__all__ = [
    "Handler",
    "Operation",
    "TestInvoke",
    "api_document",
    "day_parameter",
    "deployment_document",
    "epoch",
    "error",
    "export_extensions",
    "export_response",
    "export_type",
    "fail_on_warnings",
    "given_fields",
    "json",
    "json_object",
    "key_document",
    "limit",
    "operations",
    "page",
    "param",
    "patch_operations",
    "plan_document",
    "plan_key_document",
    "resource_document",
    "rest_api_fields",
    "stage_document",
    "validation_message",
]

#: A control-plane operation: the request, and its body read in full → the response.
Operation = Callable[[Request, bytes], Awaitable[Response]]
#: A route's endpoint, as Starlette calls it.
Handler = Callable[[Request], Awaitable[Response]]


def operations(
    table: ErrorTable, verifier: SigV4Verifier | None, *, max_body: int, logger: logging.Logger
) -> Callable[[Operation], Handler]:
    """The decorator that makes an :data:`Operation` a route's endpoint.

    The endpoint reads the body (up to ``max_body`` bytes), checks its SigV4 signature when
    there is a ``verifier``, and answers with a request id; errors are answered in API
    Gateway's shape, their codes from ``table``, server-side ones logged to ``logger``.
    """

    def operation(handler: Operation) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            request_id = uuid4_string()
            try:
                body = await read_body(request, max_body)
                if verifier is not None:
                    verify_request(verifier, request, body)
                response = await handler(request, body)
            except ClientDisconnect:
                raise
            except ValidationError as exc:
                return error(table.code_for(BadRequest()), validation_message(exc), request_id)
            except errors.ModelyardError as exc:
                code = table.code_for(exc)
                if code.status >= 500:
                    logger.warning("%s %s: %s", request.method, request.url.path, exc.message)
                return error(code, exc.message, request_id)
            except Exception:  # a bug of ours: the client still gets API Gateway's shape
                logger.exception("%s %s failed", request.method, request.url.path)
                return error(INTERNAL_FAILURE, "Internal server error", request_id)
            response.headers["x-amzn-RequestId"] = request_id
            return response

        return wrapped

    return operation


# -- parsing ---------------------------------------------------------------------------------


def param(request: Request, name: str) -> str:
    """The path parameter ``name`` of ``request``."""
    return str(request.path_params[name])


def json_object(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body, ``{}`` for an empty one."""
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object")
    return value


def patch_operations(body: bytes) -> list[PatchOperation]:
    """The ``patchOperations`` of an Update* request's body."""
    return parse_operations(json_object(body).get("patchOperations"))


def given_fields(
    shape: type[BaseModel], document: Mapping[str, Any], *, exclude: set[str] | None = None
) -> dict[str, Any]:
    """The members of ``document`` given, as ``shape`` reads them, by Python name."""
    parsed = shape.model_validate(document)
    given = parsed.model_fields_set - (exclude or set())
    return {name: getattr(parsed, name) for name in given}


def rest_api_fields(document: Mapping[str, Any]) -> dict[str, Any]:
    """The members of a CreateRestApi body given, by Python name, its ``name`` apart.

    What only an import defines (resources, authorizers, models, validators, gateway
    responses, warnings) is left out.
    """
    draft = {**document, "id": "-", "createdDate": 0, "rootResourceId": "-"}
    fields = given_fields(
        RestApi, draft, exclude={"id", "name", "created_date", "root_resource_id"}
    )
    for internal in ("resources", "authorizers", "models", "request_validators", "warnings"):
        fields.pop(internal, None)
    fields.pop("gateway_responses", None)
    return fields


def fail_on_warnings(request: Request) -> bool:
    """Whether an import is to be refused when anything is left out (``failonwarnings``)."""
    return request.query_params.get("failonwarnings", "false").lower() == "true"


def export_type(request: Request) -> Literal["oas30", "swagger"]:
    """The document GetExport is asked for: OpenAPI 3 (``oas30``) or Swagger 2."""
    requested = param(request, "type")
    if requested not in ("oas30", "swagger"):
        raise BadRequest(f"Export type {requested!r} is not supported: oas30 or swagger")
    return "oas30" if requested == "oas30" else "swagger"


def export_extensions(request: Request) -> set[str]:
    """The extensions GetExport is asked to write (its comma-separated ``extensions``)."""
    return {
        part.strip()
        for part in request.query_params.get("extensions", "").split(",")
        if part.strip()
    }


def limit(request: Request) -> int:
    """The page size a list operation asks for (``limit``, 1 to 500, 25 if not given)."""
    raw = request.query_params.get("limit", "25")
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid limit {raw!r}") from None
    if not 1 <= value <= 500:
        raise BadRequest("limit must be between 1 and 500")
    return value


def validation_message(exc: ValidationError) -> str:
    """The message of a BadRequestException for a body that does not validate."""
    problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return "Invalid request input: " + "; ".join(problems)


# -- rendering -------------------------------------------------------------------------------


def epoch(moment: datetime) -> float:
    """``moment`` as epoch seconds, to the millisecond."""
    return round(moment.timestamp(), 3)


def api_document(api: RestApi) -> dict[str, Any]:
    """A REST API as GetRestApi answers it: without its resources and definitions."""
    document = api.document()
    for member in ("resources", "authorizers", "models", "requestValidators", "gatewayResponses"):
        document.pop(member, None)
    document["createdDate"] = epoch(api.created_date)
    return document


def resource_document(resource: Resource) -> dict[str, Any]:
    """A resource as GetResource answers it."""
    return resource.document()


def deployment_document(deployment: StoredDeployment) -> dict[str, Any]:
    """A deployment as GetDeployment answers it."""
    document: dict[str, Any] = {"id": deployment.id, "createdDate": epoch(deployment.created_at)}
    if deployment.description is not None:
        document["description"] = deployment.description
    return document


def stage_document(stage: StoredStage) -> dict[str, Any]:
    """A stage as GetStage answers it."""
    return {
        **stage.document,
        "stageName": stage.name,
        "deploymentId": stage.deployment_id,
        "createdDate": epoch(stage.created_at),
        "lastUpdatedDate": epoch(stage.last_updated_at),
    }


def key_document(key: ApiKeyRecord) -> dict[str, Any]:
    """An API key as GetApiKey answers it (without its value)."""
    document: dict[str, Any] = {
        "id": key.id,
        "name": key.name,
        "enabled": key.enabled,
        "createdDate": epoch(key.created_at),
        "lastUpdatedDate": epoch(key.last_updated_at),
        "stageKeys": [],
    }
    if key.description is not None:
        document["description"] = key.description
    if key.customer_id is not None:
        document["customerId"] = key.customer_id
    return document


def plan_document(plan: StoredUsagePlan) -> dict[str, Any]:
    """A usage plan as GetUsagePlan answers it."""
    return {**plan.document, "id": plan.id, "name": plan.name}


def plan_key_document(key: ApiKeyRecord) -> dict[str, Any]:
    """A usage plan's key as GetUsagePlanKey answers it."""
    return {"id": key.id, "type": "API_KEY", "name": key.name}


def page(items: list[dict[str, Any]], more: str | None) -> dict[str, Any]:
    """One page of a list operation; ``more`` is where the next page starts, if any."""
    document: dict[str, Any] = {"item": items}
    if more is not None:
        document["position"] = more
    return document


def export_response(request: Request, document: Mapping[str, Any]) -> Response:
    """An exported document, in YAML if the request accepts it, else JSON."""
    if "yaml" in request.headers.get("accept", ""):
        text = yaml.safe_dump(document, sort_keys=False).encode()
        return Response(text, media_type="application/yaml")
    return Response(orjson.dumps(document), media_type="application/json")


def json(body: Mapping[str, Any], status: int = 200) -> Response:
    """A JSON response of ``body``."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error(code: ErrorCode, message: str, request_id: str) -> Response:
    """An error response as API Gateway writes it: ``{"message"}``, the code in a header."""
    return Response(
        orjson.dumps({"message": message}),
        status_code=code.status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": code.code, "x-amzn-RequestId": request_id},
    )


class TestInvoke(Protocol):
    """The serving of stages' TestInvokeMethod (``GatewayRuntime.test_invoke``)."""

    async def __call__(
        self,
        api: RestApi,
        http_method: str,
        path_with_query: str,
        *,
        headers: Mapping[str, str],
        body: bytes,
        stage_variables: Mapping[str, str],
    ) -> GatewayAnswer: ...


def day_parameter(request: Request, name: str) -> date:
    """The query parameter ``name`` as a date (``YYYY-MM-DD``); BadRequest otherwise."""
    raw = request.query_params.get(name)
    if raw is None:
        raise BadRequest(f"{name} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date, YYYY-MM-DD: {raw!r}") from None
