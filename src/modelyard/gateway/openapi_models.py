"""API models read from an OpenAPI document's schemas, and the schemas bodies refer to.

Each named schema (Swagger's ``definitions``, OpenAPI 3's ``components.schemas``) becomes a
:class:`~modelyard.gateway.definitions.Model`, its local references to other schemas
rewritten to model URLs (:func:`model_url`), the form API Gateway stores. A request or
response body names its model by such a reference; inline schemas are not imported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from modelyard.gateway.definitions import Model
from modelyard.gateway.openapi_reader import DocumentReader, as_mapping, unescape_token

__all__ = ["MODEL_URL_PATTERN", "model_url", "read_models", "schema_model"]

#: A model reference inside a stored schema: API Gateway's form of ``#/definitions/Name``.
MODEL_URL_PATTERN = re.compile(
    r"https://apigateway\.amazonaws\.com/restapis/[^/]+/models/(?P<name>[^/#?]+)"
)

_LOCAL_MODEL_REF = re.compile(r"#/(?:definitions|components/schemas)/(?P<name>[^/]+)")


def model_url(api_id: str, name: str) -> str:
    """How a stored schema refers to the API's model ``name``."""
    return f"https://apigateway.amazonaws.com/restapis/{api_id}/models/{name}"


def read_models(reader: DocumentReader) -> tuple[dict[str, Model], set[str]]:
    """Model name → model, each schema's references rewritten to model URLs; and the
    names of the models body schemas may name (the base's too, when merging)."""
    if reader.swagger:
        schemas = reader.document.get("definitions", {})
    else:
        schemas = as_mapping(reader.document.get("components")).get("schemas", {})
    if not isinstance(schemas, Mapping):
        reader.warn("The schemas must be an object; ignored.")
        return {}, set()
    existing = {}
    if reader.merging and reader.base is not None:
        existing = {m.name: m for m in reader.base.models.values()}
    names = set(schemas) | set(existing)
    models: dict[str, Model] = {}
    for name, schema in schemas.items():
        where = f"Model '{name}'"
        if not isinstance(schema, Mapping):
            reader.warn(f"{where}: the schema must be an object; ignored.")
            continue
        rewritten = _rewrite_refs(reader, schema, names, where)
        try:
            text = json.dumps(rewritten)
        except (TypeError, ValueError) as exc:
            reader.warn(f"{where}: the schema is not JSON ({exc}); ignored.")
            continue
        kept = existing.get(name)
        models[name] = Model(id=kept.id if kept else reader.new_id(), name=name, schema=text)
    return models, set(models) | set(existing)


def schema_model(
    reader: DocumentReader, schema: Any, model_names: set[str], where: str
) -> str | None:
    """The model a body schema names, or None (warned about when it names none)."""
    if schema is None or schema == {}:
        return None
    ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    if not isinstance(ref, str):
        reader.warn(f"{where}: inline schemas are not imported; refer to a named schema.")
        return None
    match = _LOCAL_MODEL_REF.fullmatch(ref)
    name = unescape_token(match["name"]) if match else None
    if name is None or name not in model_names:
        reader.warn(f"{where}: the reference {ref!r} is to no model; ignored.")
        return None
    return name


def _rewrite_refs(reader: DocumentReader, value: Any, names: set[str], where: str) -> Any:
    if isinstance(value, Mapping):
        rewritten: dict[str, Any] = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                rewritten[key] = _model_ref(reader, item, names, where)
            else:
                rewritten[key] = _rewrite_refs(reader, item, names, where)
        return rewritten
    if isinstance(value, list):
        return [_rewrite_refs(reader, item, names, where) for item in value]
    return value


def _model_ref(reader: DocumentReader, ref: str, names: set[str], where: str) -> str:
    match = _LOCAL_MODEL_REF.fullmatch(ref)
    if match is None:
        reader.warn(f"{where}: the reference {ref!r} is not to a model; kept as it is.")
        return ref
    name = unescape_token(match["name"])
    if name not in names:
        reader.warn(f"{where}: the reference {ref!r} is to no model; kept as it is.")
        return ref
    return model_url(reader.api_id, name)
