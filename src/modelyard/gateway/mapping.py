"""How a request is mapped to its integration, and the backend's answer back.

Parameter mappings name a target (``integration.request.header.X``,
``method.response.header.Y``) and a source: ``method.request.{path|querystring|header}.n``
(and their ``multivalue`` forms), ``method.request.body``, ``stageVariables.n``,
``context.a.b``, ``integration.response.header.n``, ``integration.response.body`` or a
``'quoted literal'``. Templates are chosen by content type under the integration's
passthrough behaviour; an integration response by its ``selectionPattern``, a regular
expression matched against the backend's status code (HTTP) or error message (AWS,
functions), the default one (no pattern) when none matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.gateway.definitions import IntegrationResponse, PassthroughBehavior

__all__ = [
    "Sources",
    "TemplateChoice",
    "choose_request_template",
    "map_parameters",
    "media_type",
    "parameter_value",
    "select_integration_response",
]


@dataclass(frozen=True, kw_only=True)
class Sources:
    """What parameter mappings may read."""

    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Request headers, by lower-case name.
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    body: bytes = b""
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    #: The backend's answer (response mappings only); headers by lower-case name.
    response_headers: Mapping[str, str] = field(default_factory=dict)
    response_body: bytes = b""


@dataclass(frozen=True, kw_only=True)
class TemplateChoice:
    """The request template to render (None: pass the body through), or a refusal."""

    template: str | None
    #: The content type whose template was chosen.
    content_type: str | None = None
    #: The request must be refused with 415 (passthrough forbidden for its type).
    unsupported: bool = False


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` → ``application/json``; none is JSON."""
    return (content_type or "application/json").split(";")[0].strip().lower() or "application/json"


def parameter_value(source: str, sources: Sources) -> str | None:
    """The value ``source`` names, or None when the request (or answer) lacks it."""
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    parts = source.split(".")
    if source.startswith("method.request.") and len(parts) >= 3:
        kind = parts[2]
        name = ".".join(parts[3:])
        if kind == "body" and not name:
            return sources.body.decode("utf-8", errors="replace")
        if kind == "path":
            return sources.path.get(name)
        if kind in ("querystring", "multivaluequerystring"):
            values = sources.query.get(name)
            if not values:
                return None
            return values[-1] if kind == "querystring" else ",".join(values)
        if kind in ("header", "multivalueheader"):
            values = sources.headers.get(name.lower())
            if not values:
                return None
            return values[-1] if kind == "header" else ",".join(values)
        return None
    if source.startswith("stageVariables."):
        return sources.stage_variables.get(source.removeprefix("stageVariables."))
    if source.startswith("context."):
        value: Any = sources.context
        for part in parts[1:]:
            value = value.get(part) if isinstance(value, Mapping) else None
        return None if value is None or isinstance(value, Mapping) else str(value)
    if source.startswith("integration.response.header."):
        return sources.response_headers.get(
            source.removeprefix("integration.response.header.").lower()
        )
    if source == "integration.response.body":
        return sources.response_body.decode("utf-8", errors="replace")
    return None


def map_parameters(
    mappings: Mapping[str, str] | None, prefix: str, sources: Sources
) -> dict[str, dict[str, str]]:
    """The targets under ``prefix`` (``integration.request.`` or ``method.response.``),
    by kind (``header``, ``querystring``, ``path``) then name; unset sources left out."""
    found: dict[str, dict[str, str]] = {"header": {}, "querystring": {}, "path": {}}
    for target, source in (mappings or {}).items():
        if not target.startswith(prefix):
            continue
        kind, _, name = target.removeprefix(prefix).partition(".")
        value = parameter_value(source, sources)
        if kind in found and name and value is not None:
            found[kind][name] = value
    return found


def choose_request_template(
    templates: Mapping[str, str] | None,
    passthrough: PassthroughBehavior | None,
    content_type: str | None,
) -> TemplateChoice:
    """The template for a request of ``content_type``, under the passthrough behaviour."""
    templates = templates or {}
    wanted = media_type(content_type)
    for declared, template in templates.items():
        if media_type(declared) == wanted:
            return TemplateChoice(template=template, content_type=declared)
    behaviour = passthrough or PassthroughBehavior.WHEN_NO_MATCH
    if behaviour is PassthroughBehavior.WHEN_NO_MATCH:
        return TemplateChoice(template=None)
    if behaviour is PassthroughBehavior.WHEN_NO_TEMPLATES and not templates:
        return TemplateChoice(template=None)
    # NEVER, or WHEN_NO_TEMPLATES with templates for other types.
    return TemplateChoice(template=None, unsupported=True)


def select_integration_response(
    responses: Mapping[str, IntegrationResponse] | None, key: str
) -> IntegrationResponse | None:
    """The integration response whose pattern matches ``key`` in full, else the default."""
    default: IntegrationResponse | None = None
    for status in sorted(responses or {}):
        response = (responses or {})[status]
        pattern = response.selection_pattern
        if not pattern:
            default = default or response
            continue
        try:
            if re.fullmatch(pattern, key, flags=re.DOTALL):
                return response
        except re.error:
            continue
    return default
