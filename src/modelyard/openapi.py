"""The OpenAPI 3.1 document of every HTTP route the platform serves, at ``GET /openapi.json``.

The document is assembled from *parts*: each area documents its own routes next to them,
in an ``openapi.py`` beside its route modules, and the platform mounts one
``/openapi.json`` route over the parts of the areas it serves. ``tests/test_openapi.py``
compares the document with the application's route table both ways (a route without a
path fails it, and so does a path no route serves), and ``tests/test_openapi_fuzz.py``
runs schemathesis against a real server to check that answers match what is documented.

How an area adds its part (the serving one, ``serving/protocols/openapi.py``, is the
example to follow):

1. Write ``src/modelyard/<area>/openapi.py`` with ``def part() -> OpenApiPart``: one Path
   Item Object per route path, spelled as the route spells it (``/endpoints/{name}/...``),
   with every method the route answers, its parameters and request body, and every
   status it can answer with its body schema. Shared shapes go in ``components`` (name
   them after the area, e.g. ``EndpointsError``, so parts do not collide; a component two
   parts define identically is fine, a different one under one name is an error).
2. In ``platform.py``, pass it to :func:`routes` beside the area's routes, in every
   builder that mounts them::

       routes=_routes(
           serving_routes.routes(serving),
           endpoint_routes.routes(endpoints),
           openapi.routes(serving_openapi.part(), endpoints_openapi.part()),
       )

3. Run ``tests/test_openapi.py`` (quick) and ``tests/test_openapi_fuzz.py`` (slow), which
   sends schema-generated requests to the area's routes and checks the answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelyard import __version__

__all__ = [
    "OPENAPI_PATH",
    "JsonObject",
    "OpenApiPart",
    "json_content",
    "openapi_document",
    "part",
    "routes",
]

#: Where the document is served.
OPENAPI_PATH = "/openapi.json"

#: An OpenAPI object (Path Item, Operation, Schema, ...) as plain JSON data.
JsonObject = dict[str, Any]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True, kw_only=True)
class OpenApiPart:
    """One area's share of the document: the paths it serves and what they refer to."""

    #: Path Item Objects by path template, spelled as the routes spell them.
    paths: Mapping[str, JsonObject]
    #: Component Objects by kind (``schemas``, ``headers``, ...), then by name.
    components: Mapping[str, Mapping[str, JsonObject]] = field(default_factory=dict)
    #: Tag Objects for the tags its operations use, in the order to list them.
    tags: Sequence[JsonObject] = ()


def json_content(schema: JsonObject, example: object = None) -> JsonObject:
    """The ``content`` of a JSON request body or response, with an optional example."""
    media: JsonObject = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def openapi_document(parts: Iterable[OpenApiPart]) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of ``parts``; ValueError when two parts contradict."""
    paths: dict[str, JsonObject] = {}
    components: dict[str, dict[str, JsonObject]] = {}
    tags: dict[str, JsonObject] = {}
    for piece in parts:
        for path, item in piece.paths.items():
            merged = paths.setdefault(path, {})
            for key, value in item.items():
                if key in merged and (key in _METHODS or merged[key] != value):
                    raise ValueError(f"two parts document {key.upper()} {path}")
                merged[key] = value
        for kind, named in piece.components.items():
            existing = components.setdefault(kind, {})
            for name, value in named.items():
                if name in existing and existing[name] != value:
                    raise ValueError(f"two parts define components/{kind}/{name} differently")
                existing[name] = value
        for tag in piece.tags:
            tags.setdefault(tag["name"], tag)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "modelyard",
            "version": __version__,
            "summary": "Many ML models behind one API.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": list(tags.values()),
        "paths": paths,
    }
    if components:
        document["components"] = components
    return document


def part() -> OpenApiPart:
    """The document's own route."""
    return OpenApiPart(
        paths={
            OPENAPI_PATH: {
                "get": {
                    "operationId": "getOpenApiDocument",
                    "summary": "This document",
                    "tags": ["meta"],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document of every route served.",
                            "content": json_content({"type": "object"}),
                        }
                    },
                }
            }
        },
        tags=[{"name": "meta", "description": "About the API itself."}],
    )


def routes(*parts: OpenApiPart) -> list[Route]:
    """``GET /openapi.json``: the document of ``parts`` and of this route, built once."""
    body = orjson.dumps(openapi_document([*parts, part()]))

    async def document(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return [Route(OPENAPI_PATH, document, methods=["GET"])]
