"""InvokeEndpoint's errors as boto3's sagemaker-runtime client raises them, against a real
platform: ValidationError, ModelError (with the model's status), ServiceUnavailable,
ModelNotReadyException; each with ``x-amzn-errortype``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from starlette.applications import Starlette

from modelyard.aws import json_protocol
from modelyard.endpoints import Arns, EndpointService, control
from modelyard.endpoints.routes import routes as endpoint_routes
from modelyard.storage import Database
from tests.endpoints.conftest import (
    FAST_WAITER,
    N_FEATURES,
    Deploy,
    Variant,
    build_home,
    clients,
    create_config,
    deploy_endpoint,
)
from tests.endpoints.fakes import FakeInvoker
from tests.servers import platform_server, serve_in_thread


def invoke(runtime: Any, name: str, body: bytes = b"[1, 2, 3]", **headers: Any) -> Any:
    headers.setdefault("ContentType", "application/json")
    return runtime.invoke_endpoint(EndpointName=name, Body=body, **headers)


def error_of(raised: pytest.ExceptionInfo[ClientError], code: str, status: int) -> dict[str, Any]:
    """The parsed error, checked: its code (from x-amzn-errortype) and HTTP status."""
    response: dict[str, Any] = raised.value.response
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    assert response["Error"]["Message"]
    return response


def test_an_unknown_endpoint_is_a_validation_error(runtime: Any) -> None:
    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        invoke(runtime, "nobody-here")

    assert "nobody-here" in error_of(raised, "ValidationError", 400)["Error"]["Message"]


def test_an_unknown_variant_is_a_validation_error(runtime: Any, deploy: Deploy) -> None:
    name = deploy()

    with pytest.raises(runtime.exceptions.ValidationError) as raised:
        invoke(runtime, name, TargetVariant="nope")

    assert "nope" in error_of(raised, "ValidationError", 400)["Error"]["Message"]


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"InferenceId": "x" * 65}, "Inference id"),
        ({"TargetVariant": "not a name"}, "variant"),
        ({"CustomAttributes": "x" * 1025}, "custom-attributes"),
    ],
)
def test_bad_headers_are_validation_errors(
    runtime: Any, deploy: Deploy, headers: dict[str, str], problem: str
) -> None:
    name = deploy()

    with pytest.raises(runtime.exceptions.ValidationError, match=problem) as raised:
        invoke(runtime, name, **headers)

    error_of(raised, "ValidationError", 400)


def test_a_body_over_6_mib_is_a_validation_error(runtime: Any, deploy: Deploy) -> None:
    name = deploy()

    with pytest.raises(runtime.exceptions.ValidationError, match="exceeds the limit") as raised:
        invoke(runtime, name, body=b"1" * (6 * 2**20 + 1))

    error_of(raised, "ValidationError", 400)


def test_a_body_of_exactly_6_mib_is_served(runtime: Any, deploy: Deploy) -> None:
    name = deploy(Variant("main", "echo.tar.gz"))
    body = b'"' + b"x" * (6 * 2**20 - 2) + b'"'

    answer = invoke(runtime, name, body=body)

    assert answer["Body"].read() == body


def test_a_failing_model_is_a_model_error_with_status_500(runtime: Any, deploy: Deploy) -> None:
    name = deploy(Variant("main", "predict_error.tar.gz"))

    with pytest.raises(runtime.exceptions.ModelError) as raised:
        invoke(runtime, name)

    response = error_of(raised, "ModelError", 424)
    assert response["OriginalStatusCode"] == 500
    assert "cannot predict" in response["OriginalMessage"]
    assert response["LogStreamArn"] == (
        "arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/" + name
    )
    assert response["Error"]["Message"].startswith("Received server error (500) from model")


@pytest.mark.parametrize(
    ("archive", "body", "content_type", "status"),
    [
        # The scikit-learn runtime checks the row's width before the estimator.
        ("sklearn.tar.gz", b"1,2", "text/csv", 400),
        # The native model has no codec for this type.
        ("sum.tar.gz", b"\x00\x01", "application/x-unknown", 415),
        # The MMS handler answers 400 itself.
        ("headers.tar.gz", b"refuse", "text/plain", 400),
    ],
)
def test_input_the_model_refuses_is_a_model_error_with_its_4xx(
    runtime: Any, deploy: Deploy, archive: str, body: bytes, content_type: str, status: int
) -> None:
    name = deploy(Variant("main", archive))

    with pytest.raises(runtime.exceptions.ModelError) as raised:
        invoke(runtime, name, body=body, ContentType=content_type)

    response = error_of(raised, "ModelError", 424)
    assert response["OriginalStatusCode"] == status
    assert response["Error"]["Message"].startswith(f"Received client error ({status})")


def test_a_valid_row_is_still_answered_by_the_sklearn_model(runtime: Any, deploy: Deploy) -> None:
    name = deploy(Variant("main", "sklearn.tar.gz"))

    answer = invoke(
        runtime, name, body=",".join(["1"] * N_FEATURES).encode(), ContentType="text/csv"
    )

    assert answer["Body"].read().strip() in (b"[0]", b"[1]", b"0", b"1")


@pytest.fixture(scope="module")
def crashing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A platform of its own: a model that crashes its worker gets quarantined there."""
    home = build_home(tmp_path_factory.mktemp("crashing"))
    with platform_server(Path(home), workers=1, crash_window_s=60, quarantine_s=30) as url:
        yield url


def test_a_crashing_model_is_unavailable_then_not_ready(crashing: str) -> None:
    sagemaker, runtime = clients(crashing)
    create_config(sagemaker, "crash-config", [Variant("main", "crash.tar.gz")], "crash")
    sagemaker.create_endpoint(EndpointName="crash", EndpointConfigName="crash-config")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="crash", WaiterConfig=FAST_WAITER)
    assert invoke(runtime, "crash", body=b'"fine"')["Body"].read() == b'"fine"'

    with pytest.raises(runtime.exceptions.ServiceUnavailable) as first:
        invoke(runtime, "crash", body=b'"crash"')
    with pytest.raises(ClientError) as second:
        invoke(runtime, "crash", body=b'"crash"')
    with pytest.raises(runtime.exceptions.ModelNotReadyException) as quarantined:
        invoke(runtime, "crash", body=b'"fine"')

    error_of(first, "ServiceUnavailable", 503)
    assert second.value.response["Error"]["Code"] in (
        "ServiceUnavailable",
        "ModelNotReadyException",
    )
    error_of(quarantined, "ModelNotReadyException", 429)
    sagemaker.close()
    runtime.close()


def test_errors_have_sagemaker_runtimes_raw_shape(platform_url: str) -> None:
    answer = httpx.post(
        f"{platform_url}/endpoints/nobody/invocations",
        content=b"{}",
        headers={"Content-Type": "application/json"},
    )

    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "ValidationError"
    assert answer.json()["message"] == "Endpoint nobody not found."


def test_an_invalid_endpoint_name_in_the_path_is_a_validation_error(platform_url: str) -> None:
    answer = httpx.post(f"{platform_url}/endpoints/bad_name!/invocations", content=b"{}")

    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == "ValidationError"


def test_a_bug_of_ours_is_an_internal_failure(tmp_path: Path) -> None:
    # The area over a serving facade that fails as no domain error does: the caller
    # still gets SageMaker Runtime's InternalFailure, without the bug's details.
    database = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    database.migrate()
    invoker = FakeInvoker()
    service = EndpointService(
        database=database, invoker=invoker, arns=Arns(region="us-east-1", account_id="0" * 12)
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        yield
        await service.stop()

    app = Starlette(
        routes=[*json_protocol.routes([control.service(service)]), *endpoint_routes(service)],
        lifespan=lifespan,
    )
    with serve_in_thread(app) as url:
        sagemaker, runtime = clients(url)
        deploy_endpoint(sagemaker, "buggy")
        invoker.failure = RuntimeError("a bug")
        with pytest.raises(runtime.exceptions.InternalFailure) as raised:
            invoke(runtime, "buggy")
        sagemaker.close()
        runtime.close()
    database.close()

    response = error_of(raised, "InternalFailure", 500)
    assert "a bug" not in response["Error"]["Message"]
