"""API Gateway's mapping templates: Velocity (VTL) with ``$input``, ``$util``, ``$context``
and ``$stageVariables``.

A route's request template turns the method request into the integration's payload; its
response template turns the integration's answer into the method response::

    #set($items = $input.params('items').split(','))
    {"instances": [#foreach($item in $items)
        {"in0": ["$input.params('user_id')"], "in1": ["$item"]}#if($foreach.hasNext),#end
    #end]}

Velocity itself is airspeed's (airspeed-ext); this module supplies API Gateway's
variables (:mod:`modelyard.gateway.vtl_input` holds ``$input``, ``$util`` and the Java-like
values), compiles each template once, and reads back what the template set in
``$context.requestOverride`` and ``$context.responseOverride``.

Two of API Gateway's departures from plain Velocity, which airspeed-ext reproduces (its
test suite records API Gateway's answers): a reference to something undefined or null
renders as nothing, where Velocity prints the reference itself; and such a reference is
*true* in ``#if($x)`` (only ``false`` is false), so templates test for a value with
``#if("$!x" != "")``.

Templates are authored by API owners, not by callers, yet they run inside the platform:
member names starting with ``__``, ``str.format`` calls and ``#evaluate`` (a template built
at run time) are refused, so that a template cannot climb from a value to Python's
internals. ``#include`` and ``#parse`` are refused too: a mapping template is one text.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import airspeed  # type: ignore[import-untyped]  # ships no type information
from airspeed.operators import (  # type: ignore[import-untyped]
    EvaluateDirective,
    IncludeDirective,
    ParseDirective,
    SubExpression,
    VariableExpression,
)

from modelyard.errors import InvalidRequest, ModelyardError
from modelyard.gateway.vtl_input import (
    JavaList,
    JavaMap,
    TemplateInput,
    TemplateUtil,
    java_text,
)

__all__ = [
    "MappingTemplateError",
    "MappingTemplateFailed",
    "Overrides",
    "Rendered",
    "RequestData",
    "check_template",
    "render",
]

# ModelyardError
# ├── InvalidRequest
# │   └── MappingTemplateError     the template does not parse, or uses what is refused
# └── MappingTemplateFailed        rendering failed (bad JSONPath, parseJson of non-JSON...)


class MappingTemplateError(InvalidRequest):
    """The mapping template is not valid."""

    def __init__(self, message: str | None = None, *, line: int | None = None) -> None:
        super().__init__(message)
        #: The template's line (from 1) where the problem is, when known.
        self.line = line


class MappingTemplateFailed(ModelyardError):
    """The mapping template failed while rendering."""

    def __init__(self, message: str | None = None, *, line: int | None = None) -> None:
        super().__init__(message)
        #: The template's line (from 1) that failed, when known.
        self.line = line


@dataclass(frozen=True, kw_only=True)
class RequestData:
    """The method request, as ``$input`` shows it to a template."""

    #: The request body (``$input.body``, and what ``$input.json``/``$input.path`` read).
    body: bytes
    #: Path parameters, by name.
    path: Mapping[str, str]
    #: Query string parameters, the first value of each name.
    querystring: Mapping[str, str]
    #: Every value of each query string parameter (for parameter mappings; ``$input``
    #: shows the first only, as ``querystring`` holds it).
    multi_querystring: Mapping[str, Sequence[str]]
    #: Request headers; ``$input.params(name)`` matches their names in any case.
    headers: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """What a template set in ``$context.requestOverride`` or ``$context.responseOverride``."""

    #: Headers to send instead of the mapped ones, by name.
    header: dict[str, str] = field(default_factory=dict)
    #: Query string parameters to send instead of the mapped ones (requests only).
    querystring: dict[str, str] = field(default_factory=dict)
    #: Path parameters to use instead of the mapped ones (requests only).
    path: dict[str, str] = field(default_factory=dict)
    #: The status code to answer with instead of the mapped one (responses only).
    status: int | None = None


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """A rendered template: its text and the overrides it set."""

    #: The template's output.
    text: str
    #: What ``$context.requestOverride.{header,querystring,path}`` were set to.
    request_override: Overrides
    #: What ``$context.responseOverride.{header,status}`` were set to.
    response_override: Overrides


def render(
    template: str,
    *,
    request: RequestData,
    context: Mapping[str, Any],
    stage_variables: Mapping[str, str],
    body: bytes | None = None,
) -> Rendered:
    """Render ``template`` for ``request``.

    ``context`` is ``$context`` (``requestId``, ``identity``, ``authorizer``...; nested
    mappings are reached with dots); ``stage_variables`` is ``$stageVariables``. ``body``,
    when given, is the payload ``$input`` reads instead of the request's body: an
    integration response template reads the integration's answer, while
    ``$input.params`` still gives the method request's parameters.

    :class:`MappingTemplateError` if the template does not parse (it is compiled once and
    kept, by its text, for the next call); :class:`MappingTemplateFailed` if it fails while
    rendering.
    """
    compiled, suffix = _compile(template)
    variables = _context_value(context)
    if not isinstance(variables, JavaMap):
        variables = JavaMap()
    # Fresh for every rendering: the template writes into them and we read them back.
    variables["requestOverride"] = JavaMap(header=JavaMap(), querystring=JavaMap(), path=JavaMap())
    variables["responseOverride"] = JavaMap(header=JavaMap(), status=None)
    namespace: dict[str, Any] = {
        "input": TemplateInput(
            request.body if body is None else body,
            path=request.path,
            querystring=request.querystring,
            headers=request.headers,
        ),
        "util": _UTIL,
        "context": variables,
        "stageVariables": JavaMap(stage_variables),
    }
    try:
        text = compiled.merge(namespace) + suffix
    except airspeed.TemplateExecutionError as exc:
        line = _line(template, exc.start)
        raise MappingTemplateFailed(
            f"The mapping template failed at line {line}: {_reason(exc)}", line=line
        ) from exc
    except (airspeed.TemplateError, RecursionError) as exc:
        raise MappingTemplateFailed(f"The mapping template failed: {exc}") from exc
    return Rendered(
        text=text,
        request_override=_overrides(dict.get(variables, "requestOverride"), with_status=False),
        response_override=_overrides(dict.get(variables, "responseOverride"), with_status=True),
    )


def check_template(template: str) -> None:
    """Raise :class:`MappingTemplateError` unless ``template`` is a valid mapping template
    (for the control plane, which refuses a bad template when it is put)."""
    _compile(template)


# -- compiling, once per template text --------------------------------------------------


class _Template(Protocol):
    def merge(self, namespace: dict[str, Any]) -> str: ...


#: Directives refused in mapping templates, with how templates spell them.
_REFUSED_DIRECTIVES = (
    (EvaluateDirective, "#evaluate"),
    (IncludeDirective, "#include"),
    (ParseDirective, "#parse"),
)
#: Methods that would let a template reach Python internals through a format string.
_FORMAT_METHODS = frozenset({"format", "format_map"})


@functools.lru_cache(maxsize=512)
def _compile(template: str) -> tuple[_Template, str]:
    """The compiled template, and text to add after its output.

    airspeed cannot parse a lone backslash at the very end of a template, which Velocity
    prints as it is: it is cut off before compiling and added back to the output.
    """
    suffix = ""
    if (len(template) - len(template.rstrip("\\"))) % 2:
        template, suffix = template[:-1], "\\"
    compiled = airspeed.Template(template)
    try:
        compiled.ensure_compiled()
    except airspeed.TemplateSyntaxError as exc:
        raise MappingTemplateError(
            f"The mapping template does not parse: {exc}", line=exc.line
        ) from exc
    except RecursionError:
        raise MappingTemplateError("The mapping template is nested too deeply.") from None
    _refuse_unsafe(compiled.root_element, template)
    checked: _Template = compiled
    return checked, suffix


def _refuse_unsafe(root: Any, template: str) -> None:
    """Walk the parsed template and refuse what could reach beyond template values."""
    pending = [root]
    seen: set[int] = set()
    while pending:
        element = pending.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        for kind, spelling in _REFUSED_DIRECTIVES:
            if isinstance(element, kind):
                line = _line(template, element.start)
                raise MappingTemplateError(
                    f"{spelling} is not supported in mapping templates (line {line}).", line=line
                )
        if isinstance(element, SubExpression) and isinstance(
            getattr(element, "expression", None), VariableExpression
        ):
            member = element.expression.part
            is_call = member.parameters is not None
            if member.name.startswith("__") or (is_call and member.name in _FORMAT_METHODS):
                line = _line(template, member.start)
                raise MappingTemplateError(
                    f"The member {member.name!r} is not allowed in mapping templates "
                    f"(line {line}).",
                    line=line,
                )
        pending.extend(_parts(vars(element)))


def _parts(value: Any) -> Iterator[Any]:
    """The parsed elements in an element's attribute ``value``."""
    if isinstance(value, airspeed._Element):
        yield value
    elif inspect.ismethod(value) and isinstance(value.__self__, airspeed._Element):
        # Some elements keep only a bound method of their sub-expression (``calculate``).
        yield value.__self__
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _parts(key)
            yield from _parts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _parts(item)


# -- values in, overrides out ------------------------------------------------------------

_UTIL = TemplateUtil()


#: Values a template cannot change in place: kept as they are, without a call per value
#: (the context of a request with claims holds dozens; this runs for every template).
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def _context_value(value: Any) -> Any:
    """``$context`` from the caller's mapping: a copy the template may change freely."""
    if isinstance(value, Mapping):
        return JavaMap(
            {
                str(key): item if type(item) in _IMMUTABLE else _context_value(item)
                for key, item in value.items()
            }
        )
    if isinstance(value, list | tuple):
        return JavaList(
            item if type(item) in _IMMUTABLE else _context_value(item) for item in value
        )
    return value


#: What a template that sets no override leaves: most templates.
_NO_OVERRIDES = Overrides()


def _overrides(value: Any, *, with_status: bool) -> Overrides:
    if not isinstance(value, dict) or not any(dict.values(value)):
        return _NO_OVERRIDES
    return Overrides(
        header=_texts(dict.get(value, "header")),
        querystring=_texts(dict.get(value, "querystring")),
        path=_texts(dict.get(value, "path")),
        status=_status(dict.get(value, "status")) if with_status else None,
    )


def _texts(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        java_text(name): java_text(item) for name, item in dict.items(value) if item is not None
    }


def _status(value: Any) -> int | None:
    if value is None or value == "":
        return None
    status: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        status = value
    elif (isinstance(value, str) and value.strip().isdigit()) or (
        isinstance(value, float) and value.is_integer()
    ):
        status = int(value)
    if status is None or not 100 <= status <= 599:
        raise MappingTemplateFailed(
            f"$context.responseOverride.status must be an HTTP status code, not {value!r}."
        )
    return status


def _line(template: str, offset: int) -> int:
    return template.count("\n", 0, offset) + 1


def _reason(error: Any) -> str:
    cause = error.__cause__
    if cause is None:
        return str(error)
    return f"{type(cause).__name__}: {cause}"
