"""Choice Rules of Amazon States Language (JSONPath): compiled once, evaluated every step.

A Choice state's ``Choices`` hold Choice Rules: a comparison of the value a ``Variable``
path selects with a literal (``"NumericEquals": 1``) or with the value another path selects
(``"NumericEqualsPath": "$.limit"``), a type test (``"IsString": true``), or ``And``, ``Or``
and ``Not`` over nested rules. :func:`compile_rule` checks one rule against the language and
turns it into a tree of small frozen records; :meth:`Rule.evaluate` then does no parsing.

What a rule means, per the ASL specification and the Step Functions documentation:

- A comparison whose value is not of the operator's type is false, never an error
  (``NumericEquals`` on ``"1"``, ``StringEquals`` on ``1``); booleans are not numbers.
  The same holds for the value a ``…Path`` operator selects.
- A ``Variable`` or ``…Path`` that selects nothing fails the execution with
  ``States.Runtime`` ("Invalid path '$.x': The choice state's condition path references an
  invalid value."), except under ``IsPresent``, which answers whether it selected something.
- Strings order as Java's ``String.compareTo`` orders them (by UTF-16 code unit).
- Timestamps are RFC 3339 date-times with an uppercase ``T`` and ``Z``; they compare as
  instants, offsets applied, fractional seconds to any precision.
- A ``StringMatches`` pattern: ``*`` matches any run of characters, ``\\*`` a literal star,
  ``\\\\`` a literal backslash (``"\\\\*"``, ``"\\\\\\\\"`` in JSON); nothing else is special.
"""

from __future__ import annotations

import json
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import cache, lru_cache
from typing import Any, Final

from modelyard.workflows.errors import RUNTIME, InvalidDefinition, PathMissing, StatesError
from modelyard.workflows.timestamps import Instant, parse_timestamp

__all__ = [
    "And",
    "Comparison",
    "Not",
    "Or",
    "PathComparison",
    "Presence",
    "Relation",
    "Resolve",
    "Rule",
    "TypeTest",
    "ValueKind",
    "compile_rule",
]

#: Gives the value a reference path (as written: ``$.a``, ``$$.Execution.Id``, ``$var.x``)
#: selects, or raises :class:`PathMissing` when it selects nothing.
Resolve = Callable[[str], Any]


class ValueKind(Enum):
    """The kinds of JSON value Choice Rules compare and test for."""

    #: A JSON string.
    STRING = "String"
    #: A JSON number (``true`` and ``false`` are not numbers).
    NUMERIC = "Numeric"
    #: ``true`` or ``false``.
    BOOLEAN = "Boolean"
    #: A string holding an RFC 3339 date-time as ASL restricts it.
    TIMESTAMP = "Timestamp"
    #: ``null``.
    NULL = "Null"


class Relation(Enum):
    """How a comparison operator relates the variable's value to the other value."""

    #: ``…Equals``
    EQUALS = "Equals"
    #: ``…LessThan``
    LESS_THAN = "LessThan"
    #: ``…GreaterThan``
    GREATER_THAN = "GreaterThan"
    #: ``…LessThanEquals``
    LESS_THAN_EQUALS = "LessThanEquals"
    #: ``…GreaterThanEquals``
    GREATER_THAN_EQUALS = "GreaterThanEquals"
    #: ``StringMatches``: a wildcard pattern.
    MATCHES = "Matches"


class Rule(ABC):
    """A compiled Choice Rule: true or false for one state's input."""

    __slots__ = ()

    @abstractmethod
    def evaluate(self, resolve: Resolve) -> bool:
        """Answer the rule, reading values through ``resolve``.

        Raises :class:`StatesError` ``States.Runtime`` when a path the rule compares selects
        nothing (not for ``IsPresent``, and not for a rule ``And``/``Or`` skip once their
        answer is known).
        """


@dataclass(frozen=True, kw_only=True, slots=True)
class And(Rule):
    """True when every nested rule is; stops at the first false one."""

    #: The nested rules, in the order written.
    rules: tuple[Rule, ...]

    def evaluate(self, resolve: Resolve) -> bool:
        return all(rule.evaluate(resolve) for rule in self.rules)


@dataclass(frozen=True, kw_only=True, slots=True)
class Or(Rule):
    """True when some nested rule is; stops at the first true one."""

    #: The nested rules, in the order written.
    rules: tuple[Rule, ...]

    def evaluate(self, resolve: Resolve) -> bool:
        return any(rule.evaluate(resolve) for rule in self.rules)


@dataclass(frozen=True, kw_only=True, slots=True)
class Not(Rule):
    """True when the nested rule is false."""

    #: The negated rule.
    rule: Rule

    def evaluate(self, resolve: Resolve) -> bool:
        return not self.rule.evaluate(resolve)


@dataclass(frozen=True, kw_only=True, slots=True)
class Comparison(Rule):
    """The variable's value compared with a literal, e.g. ``"NumericLessThan": 30``."""

    #: The operator as written, e.g. ``NumericLessThan``.
    operator: str
    #: The reference path of the compared value, e.g. ``$.value``.
    variable: str
    #: The literal, as written in the definition.
    value: Any
    #: Answers for the variable's value, the literal already parsed into it.
    test: Callable[[Any], bool] = field(repr=False, compare=False)

    def evaluate(self, resolve: Resolve) -> bool:
        return self.test(_select(resolve, self.variable))


@dataclass(frozen=True, kw_only=True, slots=True)
class PathComparison(Rule):
    """The variable's value compared with another path's, e.g. ``"StringEqualsPath": "$.b"``."""

    #: The operator as written, e.g. ``StringEqualsPath``.
    operator: str
    #: The reference path of the compared value.
    variable: str
    #: The reference path of the value it is compared with.
    path: str
    #: Answers for the two values (variable's first).
    test: Callable[[Any, Any], bool] = field(repr=False, compare=False)

    def evaluate(self, resolve: Resolve) -> bool:
        return self.test(_select(resolve, self.variable), _select(resolve, self.path))


@dataclass(frozen=True, kw_only=True, slots=True)
class TypeTest(Rule):
    """``IsNull``, ``IsNumeric``, ``IsString``, ``IsBoolean`` or ``IsTimestamp``."""

    #: The operator as written, e.g. ``IsString``.
    operator: str
    #: The reference path of the tested value.
    variable: str
    #: The operator's value: ``false`` asks whether the value is *not* of the kind.
    expected: bool
    #: Whether a value is of the kind.
    test: Callable[[Any], bool] = field(repr=False, compare=False)

    def evaluate(self, resolve: Resolve) -> bool:
        return self.test(_select(resolve, self.variable)) is self.expected


@dataclass(frozen=True, kw_only=True, slots=True)
class Presence(Rule):
    """``IsPresent``: whether the variable's path selects anything (never an error)."""

    #: The reference path tested.
    variable: str
    #: The operator's value: ``false`` asks whether the path selects nothing.
    expected: bool

    def evaluate(self, resolve: Resolve) -> bool:
        try:
            resolve(self.variable)
        except PathMissing:
            return not self.expected
        return self.expected


def compile_rule(rule: Mapping[str, Any], *, where: str) -> Rule:
    """Check one top-level Choice Rule and compile it.

    ``where`` locates the rule in the definition (``/States/Pick/Choices/0``) for error
    messages. ``Next``, ``Comment`` and ``Assign`` are accepted and ignored here: whether
    ``Next`` is present, and where it leads, is the Choice state's to check. Nested rules
    (under ``And``, ``Or``, ``Not``) must not carry ``Next``. Raises
    :class:`InvalidDefinition` naming the offending field's location.

    Compiled rules are immutable, so one compilation of a rule serves every execution:
    results are cached by the rule's JSON text (keys in the order written, which error
    messages follow).
    """
    try:
        text = json.dumps(rule, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        # Not plain JSON (NaN, non-string keys, foreign types): compile it uncached and let
        # the checks name what is wrong.
        return _compile(rule, where, nested=False)
    return _compile_text(text, where)


@lru_cache(maxsize=4096)
def _compile_text(text: str, where: str) -> Rule:
    return _compile(json.loads(text), where, nested=False)


# --- checking and compiling ---------------------------------------------------------------

_COMBINATORS: Final = frozenset({"And", "Or", "Not"})
#: Fields a top-level rule may carry besides its operator; the Choice state reads them.
_TOP_LEVEL_FIELDS: Final = frozenset({"Next", "Comment", "Assign"})
_COMMENT_ONLY: Final = frozenset({"Comment"})

_INVALID_PATH: Final = (
    "Invalid path '{path}': The choice state's condition path references an invalid value."
)


def _compile(rule: Any, where: str, *, nested: bool) -> Rule:
    if not isinstance(rule, Mapping):
        raise _invalid("Expected value of type [Object]", where)
    allowed = _COMMENT_ONLY if nested else _TOP_LEVEL_FIELDS
    found = [name for name in rule if name in _OPERATORS]
    for key in rule:
        if key not in _OPERATORS and key not in allowed and key != "Variable":
            raise _invalid(f"Field '{key}' is not supported", where)
    if not found:
        raise _invalid(
            "A Choice Rule needs one comparison operator (or And, Or, Not); found none", where
        )
    if len(found) > 1:
        raise _invalid(
            f"There should only be one of the following fields: [{', '.join(found)}]",
            where,
        )
    (name,) = found
    if name in _COMBINATORS and "Variable" in rule:
        raise _invalid("Field 'Variable' is not supported", where)

    value = rule[name]
    if name in ("And", "Or"):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise _invalid("Expected value of type [Array]", f"{where}/{name}")
        if not value:
            raise _invalid("Value cannot be empty", f"{where}/{name}")
        rules = tuple(
            _compile(item, f"{where}/{name}/{index}", nested=True)
            for index, item in enumerate(value)
        )
        return And(rules=rules) if name == "And" else Or(rules=rules)
    if name == "Not":
        return Not(rule=_compile(value, f"{where}/Not", nested=True))

    variable = _reference_path(rule, "Variable", where)
    if name == "IsPresent":
        return Presence(variable=variable, expected=_boolean(value, f"{where}/{name}"))
    if name in _TYPE_TESTS:
        expected = _boolean(value, f"{where}/{name}")
        return TypeTest(operator=name, variable=variable, expected=expected, test=_TYPE_TESTS[name])
    kind, relation, by_path = _COMPARISONS[name]
    if by_path:
        path = _reference_path(rule, name, where)
        return PathComparison(
            operator=name, variable=variable, path=path, test=_path_test(kind, relation)
        )
    literal = _literal(kind, relation, value, f"{where}/{name}")
    return Comparison(
        operator=name, variable=variable, value=value, test=_literal_test(kind, relation, literal)
    )


def _reference_path(rule: Mapping[str, Any], name: str, where: str) -> str:
    if name not in rule:
        raise _invalid(f"These fields are required: [{name}]", where)
    path = rule[name]
    if not isinstance(path, str):
        raise _invalid("Expected value of type [String]", f"{where}/{name}")
    if not path.startswith("$"):
        raise _invalid(
            "Value is not a Reference Path: Reference path didn't start with '$'",
            f"{where}/{name}",
        )
    return path


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid("Expected value of type [Boolean]", where)
    return value


def _literal(kind: ValueKind, relation: Relation, value: Any, where: str) -> Any:
    """The literal as its comparison uses it: a number, a parsed timestamp, a pattern..."""
    if kind is ValueKind.NUMERIC:
        if _as_number(value) is None or (isinstance(value, float) and not math.isfinite(value)):
            raise _invalid("Expected value of type [Number]", where)
        return value
    if kind is ValueKind.BOOLEAN:
        return _boolean(value, where)
    if not isinstance(value, str):
        raise _invalid("Expected value of type [String]", where)
    if kind is ValueKind.TIMESTAMP:
        instant = parse_timestamp(value)
        if instant is None:
            raise _invalid("String does not match RFC3339 timestamp", where)
        return instant
    if relation is Relation.MATCHES:
        return _Pattern(parts=_pattern_parts(value))
    return value


def _invalid(message: str, where: str) -> InvalidDefinition:
    return InvalidDefinition(f"SCHEMA_VALIDATION_FAILED: {message} at {where}")


def _select(resolve: Resolve, path: str) -> Any:
    try:
        return resolve(path)
    except PathMissing as exc:
        raise StatesError(RUNTIME, _INVALID_PATH.format(path=path)) from exc


# --- values: what each kind accepts, and how it orders ----------------------------------


def _as_string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _as_number(value: Any) -> int | float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _as_boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_timestamp(value: Any) -> Instant | None:
    return parse_timestamp(value) if isinstance(value, str) else None


def _java_order(relation: Callable[[Any, Any], bool]) -> Callable[[str, str], bool]:
    """``relation`` applied in the order of Java's ``String.compareTo`` (UTF-16 code units).

    Python orders by code point; the two differ only between a character above U+FFFF
    (a surrogate pair, D800-DFFF) and one in U+E000-U+FFFF. When either string is ASCII the
    first difference involves an ASCII character and both orders agree, so only strings
    that are both non-ASCII pay for the encoding.
    """

    def compare(left: str, right: str) -> bool:
        if left.isascii() or right.isascii():
            return relation(left, right)
        return relation(
            left.encode("utf-16-be", "surrogatepass"), right.encode("utf-16-be", "surrogatepass")
        )

    return compare


_ORDERS: Final[dict[Relation, Callable[[Any, Any], bool]]] = {
    Relation.EQUALS: operator.eq,
    Relation.LESS_THAN: operator.lt,
    Relation.GREATER_THAN: operator.gt,
    Relation.LESS_THAN_EQUALS: operator.le,
    Relation.GREATER_THAN_EQUALS: operator.ge,
}
_STRING_ORDERS: Final[dict[Relation, Callable[[Any, Any], bool]]] = {
    relation: compare if relation is Relation.EQUALS else _java_order(compare)
    for relation, compare in _ORDERS.items()
}
_COERCE: Final[dict[ValueKind, Callable[[Any], Any]]] = {
    ValueKind.STRING: _as_string,
    ValueKind.NUMERIC: _as_number,
    ValueKind.BOOLEAN: _as_boolean,
    ValueKind.TIMESTAMP: _as_timestamp,
}


def _relation(kind: ValueKind, relation: Relation) -> Callable[[Any, Any], bool]:
    if relation is Relation.MATCHES:
        return _matches
    return (_STRING_ORDERS if kind is ValueKind.STRING else _ORDERS)[relation]


def _literal_test(kind: ValueKind, relation: Relation, literal: Any) -> Callable[[Any], bool]:
    coerce, compare = _COERCE[kind], _relation(kind, relation)

    def test(value: Any) -> bool:
        # None marks a value of the wrong kind: no kind's values include null.
        key = coerce(value)
        return key is not None and compare(key, literal)

    return test


@cache
def _path_test(kind: ValueKind, relation: Relation) -> Callable[[Any, Any], bool]:
    coerce, compare = _COERCE[kind], _relation(kind, relation)

    def test(value: Any, other: Any) -> bool:
        key = coerce(value)
        if key is None:
            return False
        other_key = coerce(other)
        return other_key is not None and compare(key, other_key)

    return test


def _build_comparisons() -> dict[str, tuple[ValueKind, Relation, bool]]:
    """Every comparison operator's name: its kind, its relation, whether it takes a path."""
    table: dict[str, tuple[ValueKind, Relation, bool]] = {}
    kinds = (ValueKind.STRING, ValueKind.NUMERIC, ValueKind.BOOLEAN, ValueKind.TIMESTAMP)
    for kind in kinds:
        for relation in _ORDERS:
            if kind is ValueKind.BOOLEAN and relation is not Relation.EQUALS:
                continue
            name = f"{kind.value}{relation.value}"
            table[name] = (kind, relation, False)
            table[f"{name}Path"] = (kind, relation, True)
    # StringMatches has no …Path form.
    table["StringMatches"] = (ValueKind.STRING, Relation.MATCHES, False)
    return table


_COMPARISONS: Final = _build_comparisons()
_TYPE_TESTS: Final[dict[str, Callable[[Any], bool]]] = {
    "IsNull": lambda value: value is None,
    "IsNumeric": lambda value: _as_number(value) is not None,
    "IsString": lambda value: isinstance(value, str),
    "IsBoolean": lambda value: isinstance(value, bool),
    "IsTimestamp": lambda value: _as_timestamp(value) is not None,
}
_OPERATORS: Final = frozenset(_COMPARISONS) | frozenset(_TYPE_TESTS) | {"IsPresent"} | _COMBINATORS


# --- StringMatches ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class _Pattern:
    """A ``StringMatches`` pattern: literal parts with one ``*`` between each two."""

    #: The literal text between the wildcards (escapes resolved); one part means no ``*``.
    parts: tuple[str, ...]

    def matches(self, text: str) -> bool:
        parts = self.parts
        if len(parts) == 1:
            return text == parts[0]
        head, tail = parts[0], parts[-1]
        if len(text) < len(head) + len(tail) or not text.startswith(head):
            return False
        if not text.endswith(tail):
            return False
        # With ``*`` the only wildcard, taking each middle part at its leftmost place
        # leaves the most room for the rest: no backtracking, linear in the text per part.
        position, end = len(head), len(text) - len(tail)
        for part in parts[1:-1]:
            found = text.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True


def _matches(text: str, pattern: _Pattern) -> bool:
    return pattern.matches(text)


def _pattern_parts(pattern: str) -> tuple[str, ...]:
    """Split at unescaped ``*``; ``\\*`` is a star, ``\\\\`` a backslash.

    A backslash before any other character (or at the end) stands for itself: the
    specification gives no character but ``*`` a special meaning.
    """
    parts: list[str] = []
    current: list[str] = []
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\" and index + 1 < length and pattern[index + 1] in "*\\":
            current.append(pattern[index + 1])
            index += 2
            continue
        if char == "*":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return tuple(parts)
