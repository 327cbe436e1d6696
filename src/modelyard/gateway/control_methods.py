"""The control plane's handlers of methods, their responses and integrations, and
TestInvokeMethod (the route table is :mod:`~modelyard.gateway.control`'s).

Each handler parses the request, calls the gateway service and renders its answer.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from modelyard.gateway.control_documents import (
    TestInvoke,
    given_fields,
    json,
    json_object,
    param,
    patch_operations,
)
from modelyard.gateway.definitions import (
    Integration,
    IntegrationResponse,
    Method,
    MethodResponse,
)
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.service import GatewayService

__all__ = ["MethodHandlers"]


def method_path(request: Request) -> tuple[str, str, str]:
    """The API, resource and HTTP method a method's route names."""
    return param(request, "api"), param(request, "id"), param(request, "verb").upper()


class MethodHandlers:
    """Methods, method responses, integrations and integration responses."""

    def __init__(self, gateway: GatewayService, test_invoke: TestInvoke | None) -> None:
        self._gateway = gateway
        self._test_invoke = test_invoke

    # -- methods --

    async def put_method(self, request: Request, body: bytes) -> Response:
        """PutMethod."""
        fields = given_fields(
            Method, {**json_object(body), "httpMethod": "GET"}, exclude={"http_method"}
        )
        method = await self._gateway.put_method(*method_path(request), **fields)
        return json(method.document(), 201)

    async def get_method(self, request: Request, body: bytes) -> Response:
        """GetMethod."""
        return json((await self._gateway.get_method(*method_path(request))).document())

    async def update_method(self, request: Request, body: bytes) -> Response:
        """UpdateMethod."""
        method = await self._gateway.update_method(*method_path(request), patch_operations(body))
        return json(method.document())

    async def delete_method(self, request: Request, body: bytes) -> Response:
        """DeleteMethod."""
        await self._gateway.delete_method(*method_path(request))
        return Response(status_code=204)

    async def test_invoke_method(self, request: Request, body: bytes) -> Response:
        """TestInvokeMethod: the method as defined now, deployed or not."""
        if self._test_invoke is None:
            raise BadRequest("TestInvokeMethod is not available here")
        api_id, resource_id, verb = method_path(request)
        document = json_object(body)
        api = await self._gateway.get_rest_api(api_id)
        resource = await self._gateway.get_resource(api_id, resource_id)
        path = document.get("pathWithQueryString") or resource.path
        text = document.get("body")
        started = time.perf_counter()
        answer = await self._test_invoke(
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

    # -- method responses --

    async def put_method_response(self, request: Request, body: bytes) -> Response:
        """PutMethodResponse."""
        status = param(request, "status")
        fields = given_fields(
            MethodResponse, {**json_object(body), "statusCode": status}, exclude={"status_code"}
        )
        response = await self._gateway.put_method_response(*method_path(request), status, **fields)
        return json(response.document(), 201)

    async def get_method_response(self, request: Request, body: bytes) -> Response:
        """GetMethodResponse."""
        response = await self._gateway.get_method_response(
            *method_path(request), param(request, "status")
        )
        return json(response.document())

    async def update_method_response(self, request: Request, body: bytes) -> Response:
        """UpdateMethodResponse (answered 201, as API Gateway does)."""
        response = await self._gateway.update_method_response(
            *method_path(request), param(request, "status"), patch_operations(body)
        )
        return json(response.document(), 201)

    # -- integrations and their responses --

    async def put_integration(self, request: Request, body: bytes) -> Response:
        """PutIntegration."""
        document = json_object(body)
        # The wire name of PutIntegration's integrationHttpMethod is httpMethod (the
        # method's own verb is in the path).
        if "integrationHttpMethod" in document:
            document["httpMethod"] = document.pop("integrationHttpMethod")
        integration = await self._gateway.put_integration(
            *method_path(request), **given_fields(Integration, document)
        )
        return json(integration.document(), 201)

    async def get_integration(self, request: Request, body: bytes) -> Response:
        """GetIntegration."""
        return json((await self._gateway.get_integration(*method_path(request))).document())

    async def update_integration(self, request: Request, body: bytes) -> Response:
        """UpdateIntegration."""
        integration = await self._gateway.update_integration(
            *method_path(request), patch_operations(body)
        )
        return json(integration.document())

    async def put_integration_response(self, request: Request, body: bytes) -> Response:
        """PutIntegrationResponse."""
        status = param(request, "status")
        fields = given_fields(
            IntegrationResponse,
            {**json_object(body), "statusCode": status},
            exclude={"status_code"},
        )
        response = await self._gateway.put_integration_response(
            *method_path(request), status, **fields
        )
        return json(response.document(), 201)

    async def get_integration_response(self, request: Request, body: bytes) -> Response:
        """GetIntegrationResponse."""
        response = await self._gateway.get_integration_response(
            *method_path(request), param(request, "status")
        )
        return json(response.document())

    async def update_integration_response(self, request: Request, body: bytes) -> Response:
        """UpdateIntegrationResponse."""
        response = await self._gateway.update_integration_response(
            *method_path(request), param(request, "status"), patch_operations(body)
        )
        return json(response.document())
