"""JSONata in Amazon States Language: the ``{% %}`` fields of states in ``JSONata`` mode.

A string field is an expression when it starts with ``{%`` and ends with ``%}``, with nothing
before or after (``" {% x %}"`` is a literal string). A field may also hold an object or array
whose string values, at any depth, are expressions; keys never are, and every other string is a
literal. This module compiles those expressions once (:func:`compile_expression`, cached by their
text) and evaluates them the way AWS does:

* ``$states`` holds ``input``, ``context`` and, where the state has them, ``result`` and
  ``errorOutput``; each workflow variable is ``$name``. Nothing else is in scope: a path that
  reads the top-level context (``foo``, ``$``, ``$$``) is refused when compiled, as AWS refuses
  the definition.
* The functions AWS adds and removes live in :mod:`modelyard.workflows.jsonata_functions`.
* A failure is ``States.QueryEvaluationError`` with AWS's cause: "The JSONata expression '<e>'
  specified for the field '<f>' threw an error during evaluation. T0410: ..." or "... returned
  nothing (undefined).", undefined being an error wherever it appears, nested fields included.
* Evaluation is bounded: :data:`MAX_DEPTH` levels of nesting (AWS's ceiling) and
  :data:`EVALUATION_TIMEOUT` seconds, which ends a loop that tail-call elimination keeps off
  the stack.

Usage::

    evaluate_template(
        {"title": "{% $states.input.title %}", "static": "$customerName"},
        states={"input": {"title": "Doctor"}, "context": context},
        variables={"customerName": "María"},
        rng=rng,
        now=entered,
        field="Arguments",
    )
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from jsonata import JException, Jsonata, Parser

from modelyard.workflows.errors import QUERY_EVALUATION_ERROR, InvalidDefinition, StatesError
from modelyard.workflows.jsonata_functions import (
    FUNCTIONS,
    CallContext,
    UnsupportedValue,
    describe_error,
    to_json,
    to_jsonata,
)

__all__ = [
    "EVALUATION_TIMEOUT",
    "MAX_DEPTH",
    "Expression",
    "compile_expression",
    "evaluate",
    "evaluate_template",
    "is_expression",
]

#: How many levels an evaluation may nest; AWS accepts 100 and refuses 101.
MAX_DEPTH: Final = 100
#: Seconds one expression may run before it fails (read at each evaluation).
EVALUATION_TIMEOUT: float = 5.0

_OPEN: Final = "{%"
_CLOSE: Final = "%}"
# AWS words the two bounds as the JSONata project's own timebox does.
_STACK_OVERFLOW: Final = (
    "Stack overflow error: Check for non-terminating recursive function.  "
    "Consider rewriting as tail-recursive."
)
_TIMED_OUT: Final = "Expression evaluation timeout: Check for infinite loop"


#: What an expression reads of a value: ``None`` all of it, else ``(key, what it reads of the
#: value under key)`` pairs; reached only through plain ``.name`` steps, so the rest of the
#: value can never be observed.
Read = tuple[tuple[str, "Read"], ...] | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Expression:
    """One compiled ``{% %}`` expression and what it reads."""

    #: The field's string as written, delimiters included.
    text: str
    #: The JSONata between the delimiters, trimmed: how AWS quotes it in a cause.
    source: str
    #: What it reads of each ``$name`` it mentions (variables and functions alike, no ``$``).
    reads: Mapping[str, Read]
    #: The library's compiled program.
    program: Any = field(compare=False, repr=False)

    @property
    def variables(self) -> frozenset[str]:
        """The ``$names`` it mentions, without the ``$``."""
        return frozenset(self.reads)

    @property
    def states_fields(self) -> frozenset[str] | None:
        """The ``$states`` fields it reads (``input``, ``result``...); ``None``: all of them."""
        read = self.reads.get("states", ())
        return None if read is None else frozenset(name for name, _ in read)


def is_expression(value: object) -> bool:
    """Whether ``value`` is a JSONata expression string: ``{%`` first and ``%}`` last."""
    return (
        isinstance(value, str)
        and len(value) >= 4
        and value.startswith(_OPEN)
        and value.endswith(_CLOSE)
    )


@lru_cache(maxsize=8192)
def compile_expression(text: str) -> Expression:
    """Compile ``text``, a whole ``"{% ... %}"`` string (delimiters included), once.

    Raises :class:`InvalidDefinition` with AWS's diagnostic (``INVALID_JSONATA_EXPRESSION: <the
    parser's message>`` or ``UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'x' at the top level is
    not supported.``); the caller appends the location. Raises ``ValueError`` when ``text`` is
    not an expression at all (see :func:`is_expression`).
    """
    if not is_expression(text):
        raise ValueError(f"not a JSONata expression: {text!r}")
    source = text[len(_OPEN) : -len(_CLOSE)].strip()
    try:
        program = Jsonata(source)
    except JException as exc:
        message = describe_error(exc)[1]
        raise InvalidDefinition(f"INVALID_JSONATA_EXPRESSION: {message}") from exc
    except KeyError as exc:
        # The library's tokenizer looks operators up unguarded: "!" alone is not one.
        message = f"Unknown operator: {json.dumps(exc.args[0])}"
        raise InvalidDefinition(f"INVALID_JSONATA_EXPRESSION: {message}") from exc
    except Exception as exc:
        # Its other slips (an unterminated escape, a bad regex, deep nesting) are refusals too.
        raise InvalidDefinition(f"INVALID_JSONATA_EXPRESSION: {exc}") from exc
    # Off, JSON null stays the library's null marker instead of collapsing into undefined.
    program.set_output_convert_nulls(False)
    for name, function in FUNCTIONS.items():
        program.register_function(name, function)
    for reference in _top_level_references(program.ast):
        if reference == "$$":
            detail = "Reference to '$$' is not supported."
        else:
            detail = f"Reference to '{reference}' at the top level is not supported."
        raise InvalidDefinition(f"UNSUPPORTED_JSONATA_EXPRESSION: {detail}")
    return Expression(text=text, source=source, reads=_reads(program.ast), program=program)


def evaluate(
    text: str,
    *,
    states: Mapping[str, Any],
    variables: Mapping[str, Any],
    rng: random.Random,
    now: datetime | None = None,
    field: str | None = None,
) -> Any:
    """The JSON value of the ``"{% ... %}"`` string ``text``.

    ``states`` is the ``$states`` binding, ``variables`` the workflow variables by name (no
    ``$``); ``rng`` is the only source of randomness and ``now`` the state's entered time
    (``$now()``, ``$millis()``; the wall clock when ``None``). ``field`` names the field for the
    cause of a failure, as AWS does (``Output``, ``Arguments/a/b[0]``, ``Choices[1]/Condition``).

    Raises :class:`StatesError` ``States.QueryEvaluationError`` when the expression fails or
    returns nothing, :class:`InvalidDefinition` when it does not compile.
    """
    expression = compile_expression(text)
    with CallContext(rng=rng, now=now):
        return _evaluate(expression, _Scope(states, variables), field)


def evaluate_template(
    value: Any,
    *,
    states: Mapping[str, Any],
    variables: Mapping[str, Any],
    rng: random.Random,
    now: datetime | None = None,
    field: str | None = None,
) -> Any:
    """``value`` with every expression string in it, at any depth, replaced by its value.

    Object keys and strings that are not expressions are kept as written. Arguments as for
    :func:`evaluate`; ``field`` is extended with ``/key`` and ``[i]`` on the way down, so a
    failure names the nested field that failed (``Arguments/Input/pushLocation``).
    """
    with CallContext(rng=rng, now=now):
        return _resolve(value, _Scope(states, variables), field)


def _resolve(value: Any, scope: _Scope, field: str | None) -> Any:
    if isinstance(value, str):
        return _evaluate(compile_expression(value), scope, field) if is_expression(value) else value
    if isinstance(value, Mapping):
        prefix = "" if field is None else f"{field}/"
        return {key: _resolve(item, scope, f"{prefix}{key}") for key, item in value.items()}
    if isinstance(value, list):
        prefix = field or ""
        return [_resolve(item, scope, f"{prefix}[{index}]") for index, item in enumerate(value)]
    return value


# -- evaluation -------------------------------------------------------------------------


class _Scope:
    """The bindings of one state's evaluations, converted for the library as they are needed.

    Only what an expression can observe is converted: ``$states.input.x`` copies ``x``, not the
    whole input, which keeps a small expression cheap however large the state's data is.
    """

    __slots__ = ("_converted", "_states", "_variables")

    def __init__(self, states: Mapping[str, Any], variables: Mapping[str, Any]) -> None:
        self._states = states
        self._variables = variables
        # A template evaluates many expressions against the same data: convert each part once.
        self._converted: dict[tuple[str, Read], Any] = {}

    def bindings(self, expression: Expression) -> dict[str, Any]:
        """The library's bindings for ``expression``."""
        bound = {}
        for name, read in expression.reads.items():
            # $states is reserved: a variable of that name never shadows it.
            if name == "states":
                value: Any = self._states
            elif name in self._variables:
                value = self._variables[name]
            else:
                continue
            key = (name, read)
            if key not in self._converted:
                self._converted[key] = _prune(value, read)
            bound[name] = self._converted[key]
        return bound


def _prune(value: Any, read: Read) -> Any:
    """What ``read`` can observe of the JSON ``value``, converted for the library."""
    if read is None:
        return to_jsonata(value)
    if isinstance(value, Mapping):
        return {name: _prune(value[name], inner) for name, inner in read if name in value}
    if isinstance(value, list | tuple):
        # A name step maps over an array, so each element keeps the same keys.
        return [_prune(item, read) for item in value]
    return to_jsonata(value)


class _Bounds:
    """Depth and time limits of one evaluation, kept by the library's per-node callbacks."""

    __slots__ = ("deadline", "depth")

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.depth = 0

    def enter(self, node: Any, focus: Any, environment: Any) -> None:
        # Items of a parallel step evaluate side by side, not inside one another.
        if environment.is_parallel_call:
            return
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise JException(_STACK_OVERFLOW, -1)
        if time.monotonic() > self.deadline:
            raise JException(_TIMED_OUT, -1)

    def leave(self, node: Any, focus: Any, environment: Any, result: Any) -> None:
        if not environment.is_parallel_call:
            self.depth -= 1


def _evaluate(expression: Expression, scope: _Scope, field: str | None) -> Any:
    bindings = scope.bindings(expression)
    bounds = _Bounds(EVALUATION_TIMEOUT)
    bindings["__evaluate_entry"] = bounds.enter
    bindings["__evaluate_exit"] = bounds.leave
    try:
        result = expression.program.evaluate(None, bindings)
    except JException as exc:
        code, message = describe_error(exc)
        # A coded message is a sentence of its own; a bare one continues AWS's.
        detail = f". {code}: {message}" if code else f": {message}"
        raise _failure(expression, field, f"threw an error during evaluation{detail}") from exc
    except Exception as exc:
        # The library's own slips (1/0 raises ZeroDivisionError) are the expression failing too.
        raise _failure(expression, field, f"threw an error during evaluation: {exc}") from exc
    if result is None:
        raise _failure(expression, field, "returned nothing (undefined).")
    try:
        return to_json(result)
    except UnsupportedValue as exc:
        raise _failure(expression, field, "returned an unsupported result type.") from exc


def _failure(expression: Expression, field: str | None, outcome: str) -> StatesError:
    """AWS's ``States.QueryEvaluationError``, naming the expression and its field."""
    where = "" if field is None else f" specified for the field '{field}'"
    cause = f"The JSONata expression '{expression.source}'{where} {outcome}"
    return StatesError(QUERY_EVALUATION_ERROR, cause)


# -- what an expression reads -------------------------------------------------------------


def _children(node: Any) -> Iterator[Any]:
    for name, value in vars(node).items():
        if name == "_outer_instance" or value is None:
            continue
        if isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, list | tuple):
                    yield from (pair for pair in item if _is_node(pair))
                elif _is_node(item):
                    yield item
        elif _is_node(value):
            yield value


def _is_node(value: Any) -> bool:
    return isinstance(value, Parser.Symbol)


# Anything on a step other than its name: a filter, a sort, a grouping, a focus or index
# binding, "[]". The value at such a step is read whole.
_DECORATIONS: Final = ("stages", "predicate", "group", "focus", "index", "tuple", "keep_array")


def _reads(root: Any) -> dict[str, Read]:
    """For each ``$name`` under ``root``, the part of its value the expression can observe.

    A variable that heads a path of plain ``.name`` steps exposes only what lies under those
    names; used any other way (alone, as an argument, with a filter) it is read whole. The
    parent operator ``%`` climbs back out of a path, so with it everything is read whole.
    """
    nodes = list(_walk(root))
    if any(node.type == "parent" for node in nodes):
        return {str(node.value): None for node in nodes if node.type == "variable"}
    paths: dict[str, list[list[str]]] = {}
    heads: set[int] = set()
    for node in nodes:
        if node.type != "path" or not node.steps or len(node.steps) < 2:
            continue
        head = node.steps[0]
        if head.type != "variable" or _is_decorated(head):
            continue
        names: list[str] = []
        for step in node.steps[1:]:
            if step.type != "name":
                break
            names.append(str(step.value))
            if _is_decorated(step):
                break
        if names:
            heads.add(id(head))
            paths.setdefault(str(head.value), []).append(names)
    reads: dict[str, Read] = {}
    for node in nodes:
        if node.type == "variable":
            name = str(node.value)
            whole = id(node) not in heads or (name in reads and reads[name] is None)
            reads[name] = None if whole else _trie(paths[name])
    return reads


def _trie(paths: list[list[str]]) -> Read:
    """The union of ``paths`` as a :data:`Read`; a path that ends at a key reads it whole."""
    if any(not path for path in paths):
        return None
    children: dict[str, list[list[str]]] = {}
    for path in paths:
        children.setdefault(path[0], []).append(path[1:])
    return tuple(sorted((name, _trie(rest)) for name, rest in children.items()))


def _is_decorated(step: Any) -> bool:
    return any(getattr(step, attribute, None) for attribute in _DECORATIONS)


def _walk(root: Any) -> Iterator[Any]:
    """Every node under ``root``, each once (the tree shares some nodes)."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        pending.extend(_children(node))


def _top_level_references(root: Any) -> list[str]:
    """What the expression reads from the top-level context, which AWS leaves empty.

    Only the first step of a path reads that context: later steps, predicates, sort terms and
    groupings read the value before them, so the walk never goes there. A lambda's body keeps
    the context of the expression that defines it, so it is walked.
    """
    found: list[str] = []

    def visit(node: Any) -> None:
        if node is None:
            return
        kind = node.type
        if kind == "path":
            if node.steps:
                visit(node.steps[0])
        elif kind == "name":
            found.append(str(node.value))
        elif kind == "variable":
            # ``$`` is the variable with no name, ``$$`` the one named "$".
            if node.value == "":
                found.append("$")
            elif node.value == "$":
                found.append("$$")
        elif kind == "unary":
            if node.value == "[":
                for item in node.expressions or ():
                    visit(item)
            elif node.value == "{":
                for pair in node.lhs_object or ():
                    for item in pair:
                        visit(item)
            else:
                visit(node.expression)
        elif kind in ("binary", "apply"):
            visit(node.lhs)
            visit(node.rhs)
        elif kind in ("function", "partial"):
            visit(node.procedure)
            for item in node.arguments or ():
                visit(item)
        elif kind == "lambda":
            visit(node.body)
        elif kind == "condition":
            visit(node.condition)
            visit(node.then)
            visit(node._else)
        elif kind == "block":
            for item in node.expressions or ():
                visit(item)
        elif kind == "bind":
            visit(node.rhs)

    visit(root)
    return found
