"""Where HTTP and HTTP_PROXY integrations may go (``GatewaySettings.allowed_integration_urls``):
a real ``modelyard up`` platform on 127.0.0.1 in front of a real backend on 127.0.0.1 that
counts what reaches it."""

from __future__ import annotations

import configparser
import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelyard.config import GatewaySettings
from modelyard.platform import build_platform
from tests.servers import serve_in_thread, settings_for

SECRET = "s3cr3t-query-value"


@pytest.fixture(scope="module")
def backend() -> Iterator[dict[str, Any]]:
    """A backend on 127.0.0.1 that answers every request and keeps its path."""
    received: list[str] = []

    async def answer(request: Request) -> JSONResponse:
        received.append(request.url.path)
        return JSONResponse({"backend": request.url.path})

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])
    with serve_in_thread(app) as url:
        yield {"url": url, "received": received}


@contextlib.contextmanager
def gateway(home: Path, backend_url: str, allowed: list[str] | None) -> Iterator[str]:
    """A platform with ``allowed`` integration URLs serving an API whose methods call the
    backend: ``/http`` (HTTP), ``/proxy`` (HTTP_PROXY), ``/allowed`` (HTTP, another path);
    yields the stage's base URL."""
    settings = settings_for(home)
    settings = settings.model_copy(
        update={"gateway": GatewaySettings(allowed_integration_urls=allowed)}
    )
    with serve_in_thread(build_platform(settings).app, settings.http) as url:
        credentials = configparser.ConfigParser(interpolation=None)
        credentials.read(home / "credentials")
        keys = credentials["default"]
        apigw = boto3.client(
            "apigateway",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=keys["aws_access_key_id"],
            aws_secret_access_key=keys["aws_secret_access_key"],
            config=Config(retries={"total_max_attempts": 1}),
        )
        ok = {"200": {"description": "ok"}}
        document = {
            "openapi": "3.0.1",
            "info": {"title": "outbound", "version": "1"},
            "paths": {
                "/http": {
                    "get": {
                        "responses": ok,
                        "x-amazon-apigateway-integration": {
                            "type": "http",
                            "httpMethod": "GET",
                            "uri": f"{backend_url}/http?token={SECRET}",
                            "responses": {"default": {"statusCode": "200"}},
                        },
                    }
                },
                "/proxy": {
                    "get": {
                        "responses": ok,
                        "x-amazon-apigateway-integration": {
                            "type": "http_proxy",
                            "httpMethod": "GET",
                            "uri": f"{backend_url}/proxy",
                        },
                    }
                },
                "/allowed": {
                    "get": {
                        "responses": ok,
                        "x-amazon-apigateway-integration": {
                            "type": "http_proxy",
                            "httpMethod": "GET",
                            "uri": f"{backend_url}/allowed",
                        },
                    }
                },
            },
        }
        api = apigw.import_rest_api(body=json.dumps(document).encode())
        apigw.create_deployment(restApiId=api["id"], stageName="prod")
        apigw.close()
        yield f"{url}/apis/{api['id']}/prod"


def test_by_default_an_integration_may_call_loopback(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    received: list[str] = backend["received"]
    received.clear()
    with gateway(tmp_path, backend["url"], allowed=None) as base:
        plain = httpx.get(f"{base}/http", timeout=30)
        proxied = httpx.get(f"{base}/proxy", timeout=30)

    assert (plain.status_code, plain.json()) == (200, {"backend": "/http"})
    assert (proxied.status_code, proxied.json()) == (200, {"backend": "/proxy"})
    assert received == ["/http", "/proxy"]


def test_a_url_outside_the_allowed_ones_is_refused_before_anything_is_sent(
    tmp_path: Path, backend: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    received: list[str] = backend["received"]
    received.clear()
    allowed = [r"https://api\.example\.com/.*", backend["url"].replace(".", r"\.") + "/allowed"]
    with (
        caplog.at_level(logging.WARNING, logger="modelyard.gateway"),
        gateway(tmp_path, backend["url"], allowed) as base,
    ):
        plain = httpx.get(f"{base}/http", timeout=30)
        proxied = httpx.get(f"{base}/proxy", timeout=30)
        permitted = httpx.get(f"{base}/allowed", timeout=30)

    assert (plain.status_code, plain.json()) == (500, {"message": "Internal server error"})
    assert (proxied.status_code, proxied.json()) == (502, {"message": "Internal server error"})
    assert plain.headers["x-amzn-RequestId"]
    assert (permitted.status_code, permitted.json()) == (200, {"backend": "/allowed"})
    assert received == ["/allowed"]
    warnings = [
        r.getMessage() for r in caplog.records if "allowed_integration_urls" in r.getMessage()
    ]
    assert len(warnings) == 2
    for warning in warnings:
        assert backend["url"] in warning  # scheme and host (with its port) ...
        assert SECRET not in warning and "/http" not in warning  # ... never path or query


def test_a_pattern_that_does_not_compile_is_refused_at_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path).model_copy(
        update={"gateway": GatewaySettings(allowed_integration_urls=["http://(unclosed"])}
    )

    with pytest.raises(ValueError, match="allowed_integration_urls"):
        build_platform(settings)
