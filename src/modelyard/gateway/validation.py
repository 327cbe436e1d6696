"""Request validation as API Gateway's request validators do it, before the integration.

A method names a request validator (``x-amazon-apigateway-request-validators``,
``requestValidatorId``) saying what to check: that the method's *required* request
parameters are present and not blank, that the body matches the JSON Schema (draft 4)
model of its content type, or both. A request that fails is answered by the
``BAD_REQUEST_PARAMETERS`` or ``BAD_REQUEST_BODY`` gateway response (400) with the
messages API Gateway uses::

    Missing required request parameters: [items, X-Api-Version]
    Invalid request body

Parameters are checked first; the body only when they pass. The body's model is the one
of the request's media type, else the ``$default`` one; with neither, the body is not
checked. Models may reference each other by their API Gateway URL
(``https://apigateway.amazonaws.com/restapis/{api_id}/models/{Name}``):
:func:`resolve_models` makes every model self-contained so that a schema alone validates.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jsonschema import Draft4Validator  # type: ignore[import-untyped]  # ships no type information
from jsonschema.exceptions import SchemaError, ValidationError  # type: ignore[import-untyped]
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4

from modelyard.errors import InvalidRequest
from modelyard.gateway.errors import BadRequest

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "InvalidModel",
    "InvalidRequestBody",
    "MissingRequestParameters",
    "RequestShape",
    "RequestValidationFailed",
    "Validator",
    "check_request",
    "model_url",
    "resolve_models",
    "select_model",
    "validation_error_string",
]

#: The model key that applies to any content type without a model of its own.
DEFAULT_CONTENT_TYPE: Final = "$default"

# API Gateway treats a request without Content-Type as JSON (as it does to pick a
# mapping template).
_ASSUMED_CONTENT_TYPE: Final = "application/json"

_MODEL_URL: Final = "https://apigateway.amazonaws.com/restapis/{api_id}/models/{name}"
_ANY_MODEL_URL: Final = re.compile(
    r"^https://apigateway\.amazonaws\.com/restapis/(?P<api_id>[^/]+)/models/(?P<name>[^/#]+)"
)
# Where resolve_models files the models a schema references, inside its "definitions".
_EMBEDDED_PREFIX: Final = "modelyard:model:"


class RequestValidationFailed(InvalidRequest):
    """The request does not pass the method's request validator."""

    def __init__(self, message: str | None = None, *, detail: str | None = None) -> None:
        super().__init__(message)
        #: What failed, in full: ``$context.error.validationErrorString`` and the access
        #: log, while the caller only sees :attr:`message`.
        self.detail = detail if detail is not None else self.message


class MissingRequestParameters(RequestValidationFailed):
    """Missing required request parameters."""

    def __init__(self, names: Sequence[str]) -> None:
        #: The missing parameters' names (``items``, ``X-Api-Version``), in the order the
        #: method declares them.
        self.names = tuple(names)
        super().__init__(f"Missing required request parameters: [{', '.join(self.names)}]")


class InvalidRequestBody(RequestValidationFailed):
    """Invalid request body"""


class InvalidModel(BadRequest):
    """Invalid model specified."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Validator:
    """A request validator: which of a request's parts a method checks."""

    #: The validator's name, unique in its API (``params-only``, ``all``).
    name: str
    #: Whether the body must match the model of its content type.
    validate_request_body: bool
    #: Whether the method's required request parameters must be present and non-blank.
    validate_request_parameters: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestShape:
    """What a method requires of its requests (its ``requestParameters`` and models).

    Example::

        RequestShape(
            parameters={
                "method.request.querystring.items": True,
                "method.request.header.X-Api-Version": True,
                "method.request.querystring.page": False,
            },
            models={"application/json": resolved["Order"]},
        )
    """

    #: ``method.request.{path|querystring|multivaluequerystring|header|multivalueheader}.name``
    #: → whether the parameter is required; only required ones are checked.
    parameters: Mapping[str, bool]
    #: Content type (or ``$default``) → the JSON Schema draft 4 document bodies of that
    #: type must match, self-contained (see :func:`resolve_models`). Treated as
    #: immutable: a compiled validator is kept per document.
    models: Mapping[str, Mapping[str, Any]]


def check_request(
    shape: RequestShape,
    validator: Validator,
    *,
    path: Mapping[str, str],
    querystring: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
    content_type: str | None,
    body: bytes,
) -> None:
    """Check a request against ``shape`` as ``validator`` says; return if it passes.

    ``headers`` may be any mapping: names are compared case-insensitively.
    ``querystring`` maps each name to all its values, in order.

    Raises :class:`MissingRequestParameters` (parameters are checked first), then
    :class:`InvalidRequestBody`; :class:`InvalidModel` if the body's model cannot be used.
    """
    if validator.validate_request_parameters:
        missing = _missing_parameters(shape.parameters, path, querystring, headers)
        if missing:
            raise MissingRequestParameters(missing)
    if validator.validate_request_body:
        schema = select_model(shape.models, content_type)
        if schema is not None:
            _check_body(schema, body)


def select_model(
    models: Mapping[str, Mapping[str, Any]], content_type: str | None
) -> Mapping[str, Any] | None:
    """The model a body of ``content_type`` must match: its media type's, else
    ``$default``'s, else ``None`` (the body is not validated)."""
    media_type = _media_type(content_type or _ASSUMED_CONTENT_TYPE)
    for key, schema in models.items():
        if key != DEFAULT_CONTENT_TYPE and _media_type(key) == media_type:
            return schema
    return models.get(DEFAULT_CONTENT_TYPE)


def model_url(api_id: str, name: str) -> str:
    """The URL by which the models of API ``api_id`` reference model ``name``."""
    return _MODEL_URL.format(api_id=api_id, name=name)


def resolve_models(
    models: Mapping[str, Mapping[str, Any]], api_id: str
) -> dict[str, dict[str, Any]]:
    """Make each of an API's models (name → schema) usable on its own.

    Each resolved schema gets its model URL as ``id`` and carries, in its
    ``definitions``, every model it references directly or not, each with its own URL as
    ``id``, so ``$ref``s to model URLs and each model's own ``#/definitions/...`` resolve
    without a registry. The given schemas are not changed.

    Raises :class:`InvalidModel` for a schema that is not valid draft 4, a reference to
    a model this API does not have, or a reference that resolves to nothing.
    """
    named = {name: _with_id(schema, model_url(api_id, name)) for name, schema in models.items()}
    for name, schema in named.items():
        try:
            Draft4Validator.check_schema(schema)
        except SchemaError as exc:
            raise InvalidModel(f"Invalid model specified: {name}: {exc.message}") from exc
    references = {name: _referenced_models(schema, api_id, named) for name, schema in named.items()}
    registry: Registry[Any] = Registry().with_resources(
        (schema["id"], DRAFT4.create_resource(schema)) for schema in named.values()
    )
    resolved: dict[str, dict[str, Any]] = {}
    for name, schema in named.items():
        _check_references(name, schema, registry)
        resolved[name] = _embed(name, schema, references, named)
    return resolved


def _with_id(schema: Mapping[str, Any], url: str) -> dict[str, Any]:
    # API Gateway addresses a model by its URL whatever "id" it declares, so the URL wins.
    copied = copy.deepcopy(dict(schema))
    copied["id"] = url
    return copied


def _referenced_models(
    schema: Mapping[str, Any], api_id: str, named: Mapping[str, Any]
) -> set[str]:
    found: set[str] = set()
    for ref in _refs(schema):
        match = _ANY_MODEL_URL.match(ref)
        if match is None:
            continue
        if match["api_id"] != api_id or match["name"] not in named:
            raise InvalidModel(f"Invalid model specified: unknown model reference {ref}")
        found.add(match["name"])
    return found


def _check_references(name: str, schema: Mapping[str, Any], registry: Registry[Any]) -> None:
    resolver = registry.resolver(base_uri=schema["id"])
    for ref in _refs(schema):
        try:
            resolver.lookup(ref)
        except Unresolvable as exc:
            raise InvalidModel(
                f"Invalid model specified: {name}: unresolvable reference {ref}"
            ) from exc


def _embed(
    name: str,
    schema: dict[str, Any],
    references: Mapping[str, set[str]],
    named: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    needed: set[str] = set()
    pending = list(references[name])
    while pending:
        other = pending.pop()
        if other in needed or other == name:
            continue
        needed.add(other)
        pending.extend(references[other])
    if not needed:
        return schema
    definitions = dict(schema.get("definitions") or {})
    for other in sorted(needed):
        # Each embedded model keeps its own id: its "#/definitions/..." stay its own.
        definitions[_EMBEDDED_PREFIX + other] = named[other]
    return {**schema, "definitions": definitions}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif not (key == "enum" and isinstance(value, list)):  # enum values are data
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _missing_parameters(
    parameters: Mapping[str, bool],
    path: Mapping[str, str],
    querystring: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
) -> list[str]:
    lowered = {key.lower(): value for key, value in headers.items()}
    missing: list[str] = []
    for key, required in parameters.items():
        if not required:
            continue
        parts = key.split(".", 3)
        if len(parts) != 4 or parts[:2] != ["method", "request"]:
            continue
        location, name = parts[2], parts[3]
        value: str | None
        if location == "path":
            value = path.get(name)
        elif location == "querystring":
            values = querystring.get(name) or ()
            # The single-valued parameter is the last value, as mapping sees it.
            value = values[-1] if values else None
        elif location == "multivaluequerystring":
            value = next((v for v in querystring.get(name) or () if not _blank(v)), None)
        elif location in ("header", "multivalueheader"):
            value = lowered.get(name.lower())
        else:
            continue
        if value is None or _blank(value):
            missing.append(name)
    return missing


def _blank(value: str) -> bool:
    return not value.strip()


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _check_body(schema: Mapping[str, Any], body: bytes) -> None:
    try:
        # An absent body is validated as an empty object, as API Gateway does.
        instance = json.loads(body, parse_constant=_reject_constant) if body else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestBody(detail=f"[Unable to parse request body as JSON: {exc}]") from exc
    validator = _compiled(schema)
    try:
        errors = list(validator.iter_errors(instance))
    except Unresolvable as exc:
        raise InvalidModel(f"Invalid model specified: unresolvable reference: {exc}") from exc
    if errors:
        raise InvalidRequestBody(detail=validation_error_string(errors))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Schema identity → (schema, compiled validator). The schema is kept so its id is never
# reused by another object while the entry lives.
_COMPILED: dict[int, tuple[Mapping[str, Any], Draft4Validator]] = {}
_COMPILED_MAX: Final = 4096
_COMPILED_LOCK = threading.Lock()  # requests are checked from many threads


def _compiled(schema: Mapping[str, Any]) -> Draft4Validator:
    entry = _COMPILED.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    try:
        Draft4Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidModel(f"Invalid model specified: {exc.message}") from exc
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    with _COMPILED_LOCK:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))  # the oldest
        _COMPILED[id(schema)] = (schema, validator)
    return validator


def validation_error_string(errors: Sequence[ValidationError]) -> str:
    """``$context.error.validationErrorString`` for ``errors``, in the words of the
    validator API Gateway uses: ``[object has missing required properties (["name"])]``.
    """
    messages: list[str] = []
    seen: set[tuple[tuple[Any, ...], int, str]] = set()
    for error in errors:
        key = (tuple(error.absolute_path), id(error.schema), str(error.validator))
        if key in seen:
            continue  # one message per keyword and object, not one per property
        seen.add(key)
        messages.append(_describe(error))
    return "[" + ", ".join(messages) + "]"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _describe(error: ValidationError) -> str:
    keyword = error.validator
    expected: Any = error.validator_value
    instance: Any = error.instance
    schema: Any = error.schema
    if keyword == "required" and isinstance(instance, Mapping):
        missing = [name for name in expected if name not in instance]
        return f"object has missing required properties ({_json(missing)})"
    if keyword == "type":
        allowed = expected if isinstance(expected, list) else [expected]
        return (
            f"instance type ({_type_name(instance)}) does not match any allowed primitive "
            f"type (allowed: {_json(allowed)})"
        )
    if keyword == "enum":
        return f"instance value ({_json(instance)}) not found in enum (possible values: {_json(expected)})"
    if keyword == "minimum":
        if isinstance(schema, Mapping) and schema.get("exclusiveMinimum"):
            return f"numeric instance is not strictly greater than the required minimum {expected}"
        return f"numeric instance is lower than the required minimum (minimum: {expected}, found: {instance})"
    if keyword == "maximum":
        if isinstance(schema, Mapping) and schema.get("exclusiveMaximum"):
            return f"numeric instance is not strictly lower than the required maximum {expected}"
        return f"numeric instance is greater than the required maximum (maximum: {expected}, found: {instance})"
    if keyword == "minLength":
        return f"string {_json(instance)} is too short (length: {len(instance)}, required minimum: {expected})"
    if keyword == "maxLength":
        return f"string {_json(instance)} is too long (length: {len(instance)}, maximum allowed: {expected})"
    if keyword == "pattern":
        return f"ECMA 262 regex {_json(expected)} does not match input string {_json(instance)}"
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        declared = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        patterns = schema.get("patternProperties", {}) if isinstance(schema, Mapping) else {}
        extra = sorted(
            name
            for name in instance
            if name not in declared and not any(re.search(p, name) for p in patterns)
        )
        return f"object instance has properties which are not allowed by the schema: {_json(extra)}"
    if keyword == "minItems":
        return f"array is too short: must have at least {expected} elements but instance has {len(instance)} elements"
    if keyword == "maxItems":
        return f"array is too long: must have at most {expected} elements but instance has {len(instance)} elements"
    if keyword == "uniqueItems":
        return "array must not contain duplicate elements"
    if keyword == "minProperties":
        return f"object has too few properties (found {len(instance)} but schema requires at least {expected})"
    if keyword == "maxProperties":
        return f"object has too many properties (found {len(instance)} but schema requires at most {expected})"
    return str(error.message)
