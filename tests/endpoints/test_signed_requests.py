"""With a management token, the AWS APIs take only requests signed with it (SigV4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]
from pydantic import SecretStr

from tests.endpoints.conftest import FAST_WAITER, Variant, build_home, create_config
from tests.servers import platform_server


def _client(service: str, url: str, secret: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="admin",
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_only_requests_signed_with_the_token_are_served(tmp_path: Path) -> None:
    home = build_home(tmp_path / "home")
    with platform_server(home, management_token=SecretStr("the-token")) as url:
        sagemaker = _client("sagemaker", url, "the-token")
        runtime = _client("sagemaker-runtime", url, "the-token")
        create_config(sagemaker, "guarded-config", [Variant("main", "sum.tar.gz")], "guarded")
        sagemaker.create_endpoint(EndpointName="guarded", EndpointConfigName="guarded-config")
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName="guarded", WaiterConfig=FAST_WAITER
        )
        answer = runtime.invoke_endpoint(
            EndpointName="guarded", Body=b"[1, 2]", ContentType="application/json"
        )
        assert answer["Body"].read() == b"[3.0]"

        for service in ("sagemaker", "sagemaker-runtime"):
            wrong = _client(service, url, "a-guess")
            with pytest.raises(ClientError) as refused:
                if service == "sagemaker":
                    wrong.list_endpoints()
                else:
                    wrong.invoke_endpoint(EndpointName="guarded", Body=b"[1]")
            assert refused.value.response["Error"]["Code"] == "InvalidSignatureException"
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

        unsigned = httpx.post(
            f"{url}/",
            headers={"X-Amz-Target": "SageMaker.ListEndpoints"},
            content=b"{}",
        )
        assert unsigned.status_code == 403
        assert unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
        assert httpx.post(f"{url}/endpoints/guarded/invocations", content=b"[1]").status_code == 403
