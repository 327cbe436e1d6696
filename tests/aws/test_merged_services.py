"""Two areas' AWS JSON services under one target prefix (``aws.json_protocol.merged``):
every operation answers, and each one's errors go through its own area's table."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from modelyard.aws.errors import ErrorCode, ErrorTable
from modelyard.aws.json_protocol import AwsJsonService, merged, routes
from modelyard.errors import ModelyardError


class Taken(ModelyardError):
    """The name is taken."""


def service(operation: str, code: str, **changes: Any) -> AwsJsonService:
    """A service whose one operation raises :class:`Taken`, which its table calls ``code``."""

    async def handler(body: dict[str, Any]) -> dict[str, Any]:
        if body.get("fail"):
            raise Taken()
        return {"answered": operation}

    fields: dict[str, Any] = {
        "target_prefix": "SageMaker",
        "operations": {operation: handler},
        "errors": ErrorTable({Taken: ErrorCode(code=code, status=400)}),
    }
    return AwsJsonService(**(fields | changes))


def call(app: Starlette, operation: str, body: bytes) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelyard") as client:
            return await client.post(
                "/",
                content=body,
                headers={
                    "X-Amz-Target": f"SageMaker.{operation}",
                    "Content-Type": "application/x-amz-json-1.1",
                },
            )

    return asyncio.run(send())


def test_each_operation_answers_with_its_own_areas_error_codes() -> None:
    endpoints = service("CreateEndpoint", "ValidationException")
    training = service("CreateTrainingJob", "ResourceInUse")
    app = Starlette(routes=routes([merged(endpoints, training)]))

    assert call(app, "CreateEndpoint", b"{}").json() == {"answered": "CreateEndpoint"}
    assert call(app, "CreateTrainingJob", b"{}").json() == {"answered": "CreateTrainingJob"}
    failed_endpoint = call(app, "CreateEndpoint", b'{"fail": true}')
    failed_job = call(app, "CreateTrainingJob", b'{"fail": true}')
    assert failed_endpoint.headers["x-amzn-errortype"] == "ValidationException"
    assert failed_job.headers["x-amzn-errortype"] == "ResourceInUse"
    unknown = call(app, "DeleteEverything", b"{}")
    assert unknown.headers["x-amzn-errortype"] == "UnknownOperationException"


def test_the_merged_service_lists_every_table_once() -> None:
    endpoints = service("CreateEndpoint", "ValidationException")
    training = service("CreateTrainingJob", "ResourceInUse")

    joined = merged(endpoints, training)

    assert joined.error_tables() == [endpoints.errors, training.errors]
    assert joined.errors_for("CreateTrainingJob") is training.errors
    assert joined.errors_for(None) is endpoints.errors


@pytest.mark.parametrize(
    "other",
    [
        service("CreateEndpoint", "ResourceInUse"),
        service("StartExecution", "ResourceInUse", target_prefix="AWSStepFunctions"),
        service("DescribeJob", "ResourceInUse", json_version="1.0"),
    ],
)
def test_services_that_cannot_share_a_prefix_are_refused(other: AwsJsonService) -> None:
    with pytest.raises(ValueError):
        merged(service("CreateEndpoint", "ValidationException"), other)
