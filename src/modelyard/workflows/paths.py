"""JSONPath as ASL uses it: paths, reference paths, ResultPath and payload templates.

A *path* in a JSONPath-mode state starts with ``$`` (the state's input, or whatever value
the field applies to), ``$$`` (the context object) or ``$name`` (the workflow variable
``name``)::

    $.order.items[0]          a reference path: names and indices only, one value
    $$.Execution.Id           the context object
    $total.count              a field of the variable ``total``
    $.items[?(@.price > 10)]  a general path (filters, wildcards, slices, ``..``): a list

Reference paths, by far the most common, are compiled into a tuple of steps and selected
with plain dict and list look-ups; general paths go through jsonpath-ng. A definite path
(one value) that selects nothing raises :class:`PathMissing`; an indefinite one answers a
list, empty when nothing matched, as Step Functions' Jayway-based paths do.
"""

from __future__ import annotations

import enum
import functools
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath
from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This

from modelyard.workflows import intrinsics
from modelyard.workflows.errors import (
    RESULT_PATH_MATCH_FAILURE,
    RUNTIME,
    InvalidDefinition,
    PathMissing,
    StatesError,
)

__all__ = [
    "Path",
    "PathRoot",
    "Scope",
    "apply_result_path",
    "compile_path",
    "compile_reference_path",
    "evaluate_payload",
    "select",
]

#: A step of a reference path: a field name or a list index.
Step = str | int


class PathRoot(enum.Enum):
    """What a path is applied to."""

    #: ``$``: the value the field applies to (usually the state's input).
    VALUE = "$"
    #: ``$$``: the context object.
    CONTEXT = "$$"
    #: ``$name``: a workflow variable.
    VARIABLE = "$name"


@dataclass(frozen=True, slots=True)
class Path:
    """A compiled path: where it starts and how to select from there."""

    #: The path as written.
    text: str
    #: What it is applied to.
    root: PathRoot
    #: The variable's name when ``root`` is ``VARIABLE``.
    variable: str | None
    #: The steps of a reference path; ``None`` for a general path.
    steps: tuple[Step, ...] | None
    #: The compiled general path; ``None`` for a reference path.
    query: JSONPath | None
    #: Whether the path selects one value (else a list of every match).
    definite: bool

    @property
    def is_reference(self) -> bool:
        """Whether this is a reference path (names and indices only)."""
        return self.steps is not None

    def select(self, value: Any) -> Any:
        """What the path selects from ``value`` (the value of its root)."""
        if self.steps is not None:
            for step in self.steps:
                if isinstance(step, str):
                    if not isinstance(value, dict) or step not in value:
                        raise PathMissing(self.text)
                    value = value[step]
                else:
                    if not isinstance(value, list) or not -len(value) <= step < len(value):
                        raise PathMissing(self.text)
                    value = value[step]
            return value
        assert self.query is not None
        matches = [match.value for match in self.query.find(value)]
        if not self.definite:
            return matches
        if not matches:
            raise PathMissing(self.text)
        return matches[0]


_NAME = re.compile(r"\.([^.\[\]\s'\"()*?@$]+)")
_QUOTED = re.compile(r"\[\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*\]")
_INDEX = re.compile(r"\[\s*(-?\d+)\s*\]")
_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@functools.lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Compile ``text`` (``$…``, ``$$…`` or ``$name…``); :class:`InvalidDefinition` if bad."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise InvalidDefinition(f"The value {text!r} is not a JSONPath (it must start with '$').")
    variable: str | None = None
    if text.startswith("$$"):
        root, rest = PathRoot.CONTEXT, text[2:]
    elif (match := _VARIABLE.match(text)) is not None:
        root, variable, rest = PathRoot.VARIABLE, match.group(1), text[match.end() :]
    else:
        root, rest = PathRoot.VALUE, text[1:]
    steps = _reference_steps(rest)
    if steps is not None:
        return Path(text=text, root=root, variable=variable, steps=steps, query=None, definite=True)
    try:
        query = parse_jsonpath("$" + rest)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise InvalidDefinition(f"The value {text!r} is not a valid JSONPath: {exc}") from None
    return Path(
        text=text,
        root=root,
        variable=variable,
        steps=None,
        query=query,
        definite=_is_definite(query),
    )


def compile_reference_path(text: str) -> Path:
    """Compile a reference path (names and indices only, as ResultPath must be)."""
    path = compile_path(text)
    if not path.is_reference:
        raise InvalidDefinition(
            f"The value {text!r} is not a valid reference path "
            "(only field names and single indices are allowed)."
        )
    return path


def _reference_steps(rest: str) -> tuple[Step, ...] | None:
    steps: list[Step] = []
    position = 0
    while position < len(rest):
        if (match := _NAME.match(rest, position)) is not None:
            steps.append(match.group(1))
        elif (match := _QUOTED.match(rest, position)) is not None:
            quoted = match.group(1) if match.group(1) is not None else match.group(2)
            steps.append(re.sub(r"\\(.)", r"\1", quoted))
        elif (match := _INDEX.match(rest, position)) is not None:
            steps.append(int(match.group(1)))
        else:
            return None
        position = match.end()
    return tuple(steps)


def _is_definite(query: JSONPath) -> bool:
    if isinstance(query, Root | This):
        return True
    if isinstance(query, Child):
        return _is_definite(query.left) and _is_definite(query.right)
    if isinstance(query, Fields):
        return len(query.fields) == 1 and query.fields[0] != "*"
    if isinstance(query, Index):
        return len(query.indices) == 1
    return False


# -- selecting within a state's scope ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """The values a path may start from: ``$``, ``$$`` and the workflow variables."""

    #: What ``$`` means here (the state's input, its result, ...).
    value: Any
    #: The context object ``$$``.
    context: Mapping[str, Any]
    #: The workflow variables visible here, by name.
    variables: Mapping[str, Any]

    def resolve(self, text: str) -> Any:
        """What path ``text`` selects here; :class:`PathMissing` when nothing."""
        path = compile_path(text)
        if path.root is PathRoot.VALUE:
            return path.select(self.value)
        if path.root is PathRoot.CONTEXT:
            return path.select(self.context)
        assert path.variable is not None
        if path.variable not in self.variables:
            raise PathMissing(text)
        return path.select(self.variables[path.variable])

    def with_value(self, value: Any) -> Scope:
        """This scope with ``$`` meaning ``value``."""
        return Scope(value=value, context=self.context, variables=self.variables)


def select(text: str | None, scope: Scope, *, field: str) -> Any:
    """Apply an ``InputPath``/``OutputPath``-like path; ``None`` (JSON null) gives ``{}``.

    A path that selects nothing fails the state with ``States.Runtime``, as Step
    Functions does for these fields.
    """
    if text is None:
        return {}
    try:
        return scope.resolve(text)
    except PathMissing:
        raise StatesError(
            RUNTIME,
            f"Invalid path '{text}' : No results for path: {text} (field {field}).",
        ) from None


def apply_result_path(state_input: Any, result: Any, text: str | None) -> Any:
    """Place ``result`` into ``state_input`` at reference path ``text`` (a new value).

    ``None`` (JSON null) discards the result; ``$`` replaces the input. Missing objects
    along the path are created; anything else in the way is ``States.ResultPathMatchFailure``.
    The input is never modified: the objects along the path are copied.
    """
    if text is None:
        return state_input
    path = compile_reference_path(text)
    if path.root is not PathRoot.VALUE:
        raise InvalidDefinition(f"ResultPath {text!r} must start with '$'.")
    assert path.steps is not None
    if not path.steps:
        return result
    return _placed(state_input, path.steps, result, text)


def _placed(container: Any, steps: tuple[Step, ...], result: Any, text: str) -> Any:
    step, rest = steps[0], steps[1:]
    if isinstance(step, str) and isinstance(container, dict):
        copy = dict(container)
        inner = copy.get(step, {}) if rest else None
        copy[step] = _placed(inner, rest, result, text) if rest else result
        return copy
    if (
        isinstance(step, int)
        and isinstance(container, list)
        and -len(container) <= step < len(container)
    ):
        items = list(container)
        items[step] = _placed(items[step], rest, result, text) if rest else result
        return items
    raise StatesError(
        RESULT_PATH_MATCH_FAILURE,
        f"Unable to apply ResultPath '{text}' to input {_brief(container)}.",
    )


def evaluate_payload(template: Any, scope: Scope, *, rng: random.Random, field: str) -> Any:
    """Evaluate a payload template (Parameters, ItemSelector, ResultSelector, Assign).

    A key ending in ``.$`` takes the value of its path or intrinsic function, under the
    key without the suffix; nested objects and arrays are evaluated the same way; every
    other value is kept as written.
    """
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                out[key[:-2]] = _dynamic(key, value, scope, rng, field)
            else:
                out[key] = evaluate_payload(value, scope, rng=rng, field=field)
        return out
    if isinstance(template, list):
        return [evaluate_payload(item, scope, rng=rng, field=field) for item in template]
    return template


def _dynamic(key: str, value: str, scope: Scope, rng: random.Random, field: str) -> Any:
    resolve: Callable[[str], Any] = scope.resolve
    if intrinsics.is_intrinsic(value):
        return intrinsics.evaluate(value, resolve, rng=rng)
    try:
        return resolve(value)
    except PathMissing:
        raise StatesError(
            RUNTIME,
            f"The JSONPath '{value}' specified for the field '{key}' of {field} could not "
            f"be found in the input {_brief(scope.value)}",
        ) from None


def _brief(value: Any) -> str:
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= 256 else text[:253] + "..."
