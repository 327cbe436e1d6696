"""What one OpenAPI import shares: the document, its warnings, and how its references resolve.

:func:`~modelyard.gateway.openapi_import.import_api` reads a document in parts (security
schemes, models, extensions, paths and their operations), each in its own module; all of
them read through one :class:`DocumentReader`, which collects what was left out as warnings
instead of refusing the document, as API Gateway does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from modelyard.gateway.definitions import RestApi

__all__ = ["DocumentReader", "as_mapping", "optional_text", "unescape_token", "validation_problem"]


class DocumentReader:
    """One import: the document, where new ids come from, and the warnings so far."""

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        swagger: bool,
        api_id: str,
        new_id: Callable[[], str],
        base: RestApi | None,
        merging: bool,
    ) -> None:
        #: The Swagger 2.0 or OpenAPI 3.0 document.
        self.document = document
        #: Whether the document is Swagger 2.0 (else OpenAPI 3.0).
        self.swagger = swagger
        #: The id of the API the document defines (model URLs name it).
        self.api_id = api_id
        #: Names each new resource, authorizer, model and validator.
        self.new_id = new_id
        #: The existing API (PutRestApi), or None (ImportRestApi).
        self.base = base
        #: Whether the document is merged into ``base`` rather than replacing it.
        self.merging = merging
        #: What was left out, and why, in the order it was met.
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        """Note that part of the document was left out, and why."""
        self.warnings.append(message)

    def strings(self, value: Any, where: str) -> dict[str, str] | None:
        """A string map (templates, parameter mappings), scalars written as text."""
        if value is None:
            return None
        if not isinstance(value, Mapping) or not all(
            v is None or isinstance(v, str | int | float | bool) for v in value.values()
        ):
            self.warn(f"{where}: expected a map of strings; ignored.")
            return None
        # YAML reads `application/json:` with nothing after it as null: an empty template.
        return {
            str(k): "" if v is None else v if isinstance(v, str) else json.dumps(v)
            for k, v in value.items()
        }

    def resolve(self, value: Any, where: str) -> Mapping[str, Any] | None:
        """``value``, or what its local ``$ref`` (chain) points to; None, warned, if neither."""
        seen: set[str] = set()
        while isinstance(value, Mapping) and "$ref" in value:
            ref = value["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                self.warn(f"{where}: only local references (#/...) are supported, not {ref!r}.")
                return None
            if ref in seen:
                self.warn(f"{where}: the reference {ref!r} refers to itself.")
                return None
            seen.add(ref)
            target: Any = self.document
            for token in ref[2:].split("/"):
                token = unescape_token(token)
                if isinstance(target, Mapping) and token in target:
                    target = target[token]
                elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
                    target = target[int(token)]
                else:
                    self.warn(f"{where}: the reference {ref!r} leads nowhere.")
                    return None
            value = target
        if not isinstance(value, Mapping):
            self.warn(f"{where}: expected an object; ignored.")
            return None
        return value


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one (for optional sections)."""
    return value if isinstance(value, Mapping) else {}


def optional_text(value: Any) -> str | None:
    """``value`` as text, None staying None."""
    return None if value is None else str(value)


def unescape_token(token: str) -> str:
    """A JSON pointer token as the key it names."""
    return token.replace("~1", "/").replace("~0", "~")


def validation_problem(exc: ValidationError) -> str:
    """The first problem of ``exc``, where it is and what it is, for a warning."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
