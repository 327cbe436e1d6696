"""REST API definitions read from OpenAPI documents, as ImportRestApi and PutRestApi do.

A Swagger 2.0 or OpenAPI 3.0.x document, with API Gateway's ``x-amazon-apigateway-*``
extensions, becomes a :class:`~modelyard.gateway.definitions.RestApi`: a resource per path
segment, a method per operation, a model per schema, an authorizer per security scheme that
names one, the validators, gateway responses and settings the extensions declare. What API
Gateway would not take is left out and said in ``RestApi.warnings``, or refused whole with
``fail_on_warnings``, as ``failonwarnings=true`` does. As with API Gateway's default
``basepath=ignore``, the document's ``basePath`` and ``servers`` do not prefix the paths.

This module parses the document and puts the API together; the parts are read by
:mod:`~modelyard.gateway.openapi_security` (security schemes),
:mod:`~modelyard.gateway.openapi_models` (schemas),
:mod:`~modelyard.gateway.openapi_extensions` (API-wide settings),
:mod:`~modelyard.gateway.openapi_resources` (paths) and
:mod:`~modelyard.gateway.openapi_methods` (operations), all through one
:class:`~modelyard.gateway.openapi_reader.DocumentReader`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]

from modelyard.gateway.definitions import Authorizer, Model, RestApi
from modelyard.gateway.errors import BadRequest
from modelyard.gateway.openapi_extensions import (
    GATEWAY_RESPONSE_TYPES,
    api_key_source,
    binary_media_types,
    disable_execute_api_endpoint,
    endpoint_configuration,
    gateway_responses,
    request_validators,
    warn_unsupported_extensions,
)
from modelyard.gateway.openapi_methods import MethodContext
from modelyard.gateway.openapi_models import MODEL_URL_PATTERN, model_url, read_models
from modelyard.gateway.openapi_reader import DocumentReader, optional_text
from modelyard.gateway.openapi_resources import (
    ANY_METHOD_EXTENSION,
    HTTP_METHODS,
    add_path,
    resource_tree,
)
from modelyard.gateway.openapi_security import security_schemes

__all__ = [
    "ANY_METHOD_EXTENSION",
    "GATEWAY_RESPONSE_TYPES",
    "HTTP_METHODS",
    "MODEL_URL_PATTERN",
    "InvalidApiDocument",
    "import_api",
    "model_url",
    "parse_document",
]

_MAX_DEPTH = 128
_MAX_NODES = 1_000_000


class InvalidApiDocument(BadRequest):
    """The API definition document is not valid."""


class _DocumentLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML read as JSON would be: a date stays the text its author wrote."""


# ``info.version: 2024-05-01`` must stay a string, not become a ``date``.
_DocumentLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_document(body: bytes | str) -> dict[str, Any]:
    """The JSON or YAML object of an import body; mapping keys become strings.

    Raises :class:`InvalidApiDocument`, naming the problem, for anything that is not one
    object (and for YAML whose aliases would expand it past a million values).
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidApiDocument("The API definition is not UTF-8 text.") from exc
    else:
        text = body.removeprefix("\ufeff")
    if not text.strip():
        raise InvalidApiDocument("The API definition is empty.")
    try:
        loaded = json.loads(text)
    except RecursionError as exc:
        raise InvalidApiDocument("The API definition is nested too deeply.") from exc
    except ValueError:
        try:
            loaded = yaml.load(text, Loader=_DocumentLoader)
        except RecursionError as exc:
            raise InvalidApiDocument("The API definition is nested too deeply.") from exc
        except yaml.YAMLError as exc:
            raise InvalidApiDocument(f"The API definition is neither JSON nor YAML: {exc}") from exc
    # Depth first: how deep a parser may nest before RecursionError depends on the
    # interpreter's recursion limit, which the caller may have raised.
    plain = _plain(loaded, 0, [0])
    if not isinstance(plain, dict):
        raise InvalidApiDocument(
            f"The API definition must be a JSON or YAML object, not {type(loaded).__name__}."
        )
    return plain


def _plain(value: Any, depth: int, count: list[int]) -> Any:
    """``value`` with string keys, walked in full so YAML aliases cannot hide a bomb."""
    count[0] += 1
    if count[0] > _MAX_NODES:
        raise InvalidApiDocument("The API definition is too large (or its aliases recur).")
    if depth > _MAX_DEPTH:
        raise InvalidApiDocument("The API definition is nested too deeply.")
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1, count) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, depth + 1, count) for v in value]
    return value


def import_api(
    document: Mapping[str, Any],
    *,
    api_id: str,
    created: datetime,
    new_id: Callable[[], str],
    base: RestApi | None = None,
    mode: Literal["overwrite", "merge"] = "overwrite",
    fail_on_warnings: bool = False,
) -> RestApi:
    """The REST API ``document`` defines.

    ``new_id`` names each new resource, authorizer, model and validator. With ``base`` (an
    existing API, PutRestApi), ``merge`` keeps its resources, ids and definitions and
    adds or replaces those the document names (methods by resource path and HTTP method,
    the rest by name); ``overwrite`` replaces everything but the API's id, creation date,
    root resource, tags and endpoint settings. Raises :class:`InvalidApiDocument` when the
    document is not a Swagger 2.0 / OpenAPI 3.0 definition, and when ``fail_on_warnings``
    and anything of it was left out.
    """
    if not isinstance(document, Mapping):
        raise InvalidApiDocument("The API definition must be an object.")
    reader = DocumentReader(
        document,
        swagger=_is_swagger(document),
        api_id=api_id,
        new_id=new_id,
        base=base,
        merging=base is not None and mode == "merge",
    )
    api = _build(reader, created)
    if fail_on_warnings and api.warnings:
        raise InvalidApiDocument("Warnings found during import: " + "; ".join(api.warnings))
    return api


def _is_swagger(document: Mapping[str, Any]) -> bool:
    """Whether ``document`` is Swagger 2.0 (else OpenAPI 3.0); raises for other versions."""
    if "swagger" in document:
        if str(document["swagger"]) != "2.0":
            raise InvalidApiDocument(
                f"Swagger version {document['swagger']!r} is not supported; use 2.0."
            )
        return True
    version = document.get("openapi")
    if version is None:
        raise InvalidApiDocument(
            "The API definition names no version: 'swagger: \"2.0\"' or 'openapi: 3.0.x'."
        )
    if not isinstance(version, str) or not re.fullmatch(r"3\.0(\.[0-9]+)?", version):
        raise InvalidApiDocument(
            f"OpenAPI version {version!r} is not supported; use 3.0.x or Swagger 2.0."
        )
    return False


def _build(reader: DocumentReader, created: datetime) -> RestApi:
    """The API of the document ``reader`` reads."""
    # Schemes, validators and models are read before the paths, whose methods refer to
    # them; the order also fixes which new id each part gets, and the warnings' order.
    document, base = reader.document, reader.base
    info = document.get("info")
    info = info if isinstance(info, Mapping) else {}
    title = info.get("title")
    if not isinstance(title, str) or not title:
        if base is None:
            raise InvalidApiDocument("The API definition has no info.title to name it.")
        title = base.name
    paths = document.get("paths", {})
    if not isinstance(paths, Mapping):
        raise InvalidApiDocument("The API definition's 'paths' must be an object.")

    root_id = base.root_resource_id if base is not None else reader.new_id()
    authorizers = _by_name(reader, base.authorizers if base else {})
    schemes = security_schemes(reader, authorizers)
    validators = request_validators(reader)
    models, model_names = read_models(reader)
    nodes = resource_tree(reader, root_id)
    context = MethodContext(schemes=schemes, validators=validators, model_names=model_names)
    for raw_path, item in paths.items():
        add_path(reader, str(raw_path), item, nodes, context)
    warn_unsupported_extensions(reader)

    kept = base if reader.merging else None
    description = info.get("description")
    return RestApi(
        id=reader.api_id,
        name=title,
        description=description if isinstance(description, str) else None,
        created_date=base.created_date if base is not None else created,
        version=optional_text(info.get("version")) or (kept.version if kept else None),
        binary_media_types=binary_media_types(reader),
        api_key_source=api_key_source(reader),
        endpoint_configuration=endpoint_configuration(reader),
        tags=base.tags if base is not None else None,
        disable_execute_api_endpoint=disable_execute_api_endpoint(reader),
        root_resource_id=root_id,
        resources={node.id: node.resource() for node in nodes.values()},
        authorizers={a.id: a for a in authorizers.values()},
        models={m.id: m for m in _merged(reader, models, base.models if base else {})},
        request_validators={v.id: v for v in validators.values()},
        gateway_responses=gateway_responses(reader),
        warnings=reader.warnings or None,
    )


def _by_name(reader: DocumentReader, existing: Mapping[str, Authorizer]) -> dict[str, Authorizer]:
    """The base's authorizers by name when merging (their ids kept), else none."""
    return {a.name: a for a in existing.values()} if reader.merging else {}


def _merged(
    reader: DocumentReader, models: dict[str, Model], existing: Mapping[str, Model]
) -> list[Model]:
    """The API's models: the document's, with the base's it does not replace when merging."""
    if not reader.merging:
        return list(models.values())
    kept = {m.name: m for m in existing.values()}
    kept.update(models)
    return list(kept.values())
