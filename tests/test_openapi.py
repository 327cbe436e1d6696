"""The OpenAPI document is true to the route table: every route has its path, and back.

Both applications are walked (``modelyard up``'s platform and ``modelyard serve``'s model
server), Mounts included; the document is the one the application itself serves at
``GET /openapi.json``, and it must be a valid OpenAPI 3.1 document.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from modelyard import __version__
from modelyard.openapi import OpenApiPart, openapi_document
from modelyard.platform import build_model_server, build_platform
from tests.servers import settings_for

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
#: Starlette's ``{name:convertor}``: OpenAPI spells it ``{name}``.
_CONVERTOR = re.compile(r"\{([^}:]+):[^}]+\}")


def served_operations(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(METHOD, path) of every HTTP route, through Mounts."""
    for route in routes:
        if isinstance(route, Mount):
            yield from served_operations(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            assert route.methods is not None, f"{route.path} answers every method: name them"
            methods = set(route.methods)
            if "GET" in methods:
                methods.discard("HEAD")  # Starlette adds HEAD to every GET route
            path = _CONVERTOR.sub(r"{\1}", prefix + route.path)
            for method in methods:
                yield method, path
        else:
            raise AssertionError(f"a route the parity test does not know: {route!r}")


def documented_operations(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(METHOD, path) of every operation of an OpenAPI document."""
    for path, item in document["paths"].items():
        for method in item.keys() & _METHODS:
            yield method.upper(), path


def mismatches(app: Starlette, document: dict[str, Any]) -> list[str]:
    """What the route table and the document disagree on, both ways."""
    served = set(served_operations(app.routes))
    documented = set(documented_operations(document))
    return [f"not documented: {m} {p}" for m, p in sorted(served - documented)] + [
        f"documented but not served: {m} {p}" for m, p in sorted(documented - served)
    ]


def served_document(app: Starlette) -> dict[str, Any]:
    # In process, without the lifespan: workers and runners are not needed to read it.
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelyard") as client:
            return await client.get("/openapi.json")

    response = asyncio.run(get())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(params=["platform", "model_server"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Starlette:
    settings = settings_for(tmp_path / "home")
    if request.param == "platform":
        return build_platform(settings).app
    store = tmp_path / "store"
    store.mkdir()
    return build_model_server(settings, store).app


def test_every_route_is_documented_and_every_path_served(app: Starlette) -> None:
    assert mismatches(app, served_document(app)) == []


def test_the_document_is_valid_openapi_3_1(app: Starlette) -> None:
    document = served_document(app)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__
    validate(document)


def test_every_operation_has_a_unique_id_and_a_success_answer(app: Starlette) -> None:
    document = served_document(app)
    ids = []
    for path, item in document["paths"].items():
        for method in item.keys() & _METHODS:
            operation = item[method]
            ids.append(operation["operationId"])
            statuses = operation["responses"].keys()
            assert any(s.startswith("2") for s in statuses), f"{method.upper()} {path}"
    assert len(ids) == len(set(ids))


def test_the_parity_check_sees_a_route_without_a_path_and_a_path_without_a_route(
    tmp_path: Path,
) -> None:
    async def endpoint(request: Any) -> Any:
        raise NotImplementedError

    app = Starlette(
        routes=[
            Route("/a", endpoint, methods=["GET", "POST"]),
            Mount("/m", routes=[Route("/b/{name:path}", endpoint, methods=["PUT"])]),
        ]
    )
    document = openapi_document(
        [
            OpenApiPart(
                paths={
                    "/a": {"get": {"responses": {}}},
                    "/m/b/{name}": {"put": {"responses": {}}},
                    "/c": {"delete": {"responses": {}}},
                }
            )
        ]
    )
    assert mismatches(app, document) == [
        "not documented: POST /a",
        "documented but not served: DELETE /c",
    ]


def test_parts_that_contradict_each_other_are_refused() -> None:
    get = {"get": {"responses": {"200": {"description": "ok"}}}}
    schema = {"type": "string"}
    with pytest.raises(ValueError, match="GET /x"):
        openapi_document([OpenApiPart(paths={"/x": get}), OpenApiPart(paths={"/x": get})])
    with pytest.raises(ValueError, match="components/schemas/S"):
        openapi_document(
            [
                OpenApiPart(paths={}, components={"schemas": {"S": schema}}),
                OpenApiPart(paths={}, components={"schemas": {"S": {"type": "integer"}}}),
            ]
        )
    # The same component twice, and two methods of one path from two parts, are fine.
    merged = openapi_document(
        [
            OpenApiPart(paths={"/x": get}, components={"schemas": {"S": schema}}),
            OpenApiPart(paths={"/x": {"post": get["get"]}}, components={"schemas": {"S": schema}}),
        ]
    )
    assert set(merged["paths"]["/x"]) == {"get", "post"}
