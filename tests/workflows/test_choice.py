"""Choice Rules (JSONPath): every operator, the spec's examples, nesting, errors, properties."""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.workflows.choice import (
    And,
    Comparison,
    Not,
    PathComparison,
    Presence,
    Rule,
    TypeTest,
    compile_rule,
)
from modelyard.workflows.errors import RUNTIME, InvalidDefinition, PathMissing, StatesError
from modelyard.workflows.timestamps import parse_timestamp

WHERE = "/States/Pick/Choices/0"
EXAMPLES = json.loads((Path(__file__).parent / "choice_spec_examples.json").read_text())


def invalid_path(path: str) -> str:
    return f"Invalid path '{path}': The choice state's condition path references an invalid value."


def resolver(
    data: Any,
    *,
    context: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Callable[[str], Any]:
    """A reference-path resolver over dotted names: ``$.a.b``, ``$$.a``, ``$var.a``."""

    def resolve(path: str) -> Any:
        if path.startswith("$$"):
            value, rest = context, path[2:]
        elif path == "$" or path.startswith("$."):
            value, rest = data, path[1:]
        else:
            name, dot, rest = path[1:].partition(".")
            if variables is None or name not in variables:
                raise PathMissing(path)
            value, rest = variables[name], dot + rest
        for part in rest.split(".")[1:]:
            if not isinstance(value, dict) or part not in value:
                raise PathMissing(path)
            value = value[part]
        return value

    return resolve


def evaluate(rule: Mapping[str, Any], data: Any) -> bool:
    return compile_rule(rule, where=WHERE).evaluate(resolver(data))


def holds(fragment: Mapping[str, Any], value: Any) -> bool:
    """The rule ``{"Variable": "$.v", **fragment}`` for the input ``{"v": value}``."""
    return evaluate({"Variable": "$.v", **fragment}, {"v": value})


def choose(choices: list[dict[str, Any]], default: str | None, data: Any) -> str | None:
    """What a Choice state does with its rules: the first rule that holds picks Next."""
    for index, choice in enumerate(choices):
        body = {key: value for key, value in choice.items() if key != "Next"}
        if compile_rule(body, where=f"/States/Pick/Choices/{index}").evaluate(resolver(data)):
            return str(choice["Next"])
    return default


# --- the specification's and the documentation's examples --------------------------------


@pytest.mark.parametrize(
    ("choices", "default", "case"),
    [
        pytest.param(example["choices"], example["default"], case, id=f"{number}-{index}")
        for number, example in enumerate(EXAMPLES["examples"])
        for index, case in enumerate(example["cases"])
    ],
)
def test_spec_example(choices: list[dict[str, Any]], default: str, case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(StatesError) as caught:
            choose(choices, default, case["input"])
        assert caught.value.error == RUNTIME
        assert caught.value.cause == case["error"]
    else:
        assert choose(choices, default, case["input"]) == case["next"]


# --- every operator: true, false, and values of the wrong type ---------------------------

WRONG_TYPES: list[Any] = [None, True, False, 0, 1.5, "text", [], {}, [1], {"a": 1}]

OPERATOR_CASES: list[tuple[dict[str, Any], Any, bool]] = [
    ({"StringEquals": "a"}, "a", True),
    ({"StringEquals": "a"}, "b", False),
    ({"StringEquals": "a"}, "A", False),
    ({"StringEquals": "a"}, "a ", False),
    ({"StringEquals": ""}, "", True),
    ({"StringEquals": "1"}, 1, False),
    ({"StringEquals": "true"}, True, False),
    ({"StringEquals": "null"}, None, False),
    ({"StringLessThan": "b"}, "a", True),
    ({"StringLessThan": "b"}, "b", False),
    ({"StringLessThan": "b"}, "c", False),
    ({"StringLessThan": "b"}, "ab", True),
    ({"StringLessThan": "a"}, "", True),
    ({"StringLessThan": "a"}, "A", True),
    ({"StringLessThan": "aa"}, "a", True),
    ({"StringGreaterThan": "b"}, "c", True),
    ({"StringGreaterThan": "b"}, "b", False),
    ({"StringGreaterThan": "b"}, "a", False),
    ({"StringGreaterThan": "MyStringABC"}, "MyStringABD", True),
    ({"StringLessThanEquals": "b"}, "a", True),
    ({"StringLessThanEquals": "b"}, "b", True),
    ({"StringLessThanEquals": "b"}, "c", False),
    ({"StringGreaterThanEquals": "b"}, "c", True),
    ({"StringGreaterThanEquals": "b"}, "b", True),
    ({"StringGreaterThanEquals": "b"}, "a", False),
    ({"StringMatches": "foo*.log"}, "foo23.log", True),
    ({"StringMatches": "foo*.log"}, "fo23.log", False),
    ({"StringMatches": "foo*.log"}, "foo.log", True),
    ({"StringMatches": "foo*.log"}, "foo23.log.gz", False),
    ({"StringMatches": "*"}, "", True),
    ({"StringMatches": "*"}, "anything at all", True),
    ({"StringMatches": "a*b*c"}, "abc", True),
    ({"StringMatches": "a*b*c"}, "a-b-b-c", True),
    ({"StringMatches": "a*b*c"}, "acb", False),
    ({"StringMatches": "ab*ba"}, "aba", False),
    ({"StringMatches": "ab*ba"}, "abba", True),
    ({"StringMatches": "exact"}, "exact", True),
    ({"StringMatches": "exact"}, "exactly", False),
    ({"StringMatches": "*"}, 1, False),
    ({"NumericEquals": 1}, 1, True),
    ({"NumericEquals": 1}, 1.0, True),
    ({"NumericEquals": 1.0}, 1, True),
    ({"NumericEquals": 1}, 2, False),
    ({"NumericEquals": 1}, "1", False),
    ({"NumericEquals": 1}, True, False),
    ({"NumericEquals": 0}, False, False),
    ({"NumericEquals": 0}, None, False),
    ({"NumericEquals": -0.0}, 0, True),
    ({"NumericEquals": 9007199254740993}, 9007199254740993, True),
    ({"NumericEquals": 9007199254740993}, 9007199254740992, False),
    ({"NumericLessThan": 1.5}, 1, True),
    ({"NumericLessThan": 1.5}, 1.5, False),
    ({"NumericLessThan": 1.5}, 2, False),
    ({"NumericLessThan": 0}, -1e300, True),
    ({"NumericGreaterThan": 1.5}, 2, True),
    ({"NumericGreaterThan": 1.5}, 1.5, False),
    ({"NumericGreaterThan": 1.5}, 1, False),
    ({"NumericGreaterThan": 0}, True, False),
    ({"NumericLessThanEquals": 10}, 10, True),
    ({"NumericLessThanEquals": 10}, 9.99, True),
    ({"NumericLessThanEquals": 10}, 10.01, False),
    ({"NumericGreaterThanEquals": 10}, 10, True),
    ({"NumericGreaterThanEquals": 10}, 10.01, True),
    ({"NumericGreaterThanEquals": 10}, 9.99, False),
    ({"NumericGreaterThanEquals": 10}, "11", False),
    ({"BooleanEquals": True}, True, True),
    ({"BooleanEquals": True}, False, False),
    ({"BooleanEquals": True}, 1, False),
    ({"BooleanEquals": True}, "true", False),
    ({"BooleanEquals": False}, False, True),
    ({"BooleanEquals": False}, 0, False),
    ({"BooleanEquals": False}, None, False),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01T12:00:00Z", True),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01T13:00:00+01:00", True),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01T07:00:00-05:00", True),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01T12:00:00.000000000Z", True),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01T12:00:00.000000001Z", False),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01T12:00:01Z", False),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01t12:00:00z", False),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "2001-01-01 12:00:00Z", False),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, 978350400, False),
    ({"TimestampEquals": "2001-01-01T12:00:00Z"}, "not a timestamp", False),
    ({"TimestampLessThan": "2016-08-18T17:33:00Z"}, "2016-08-18T17:32:59.999999999Z", True),
    ({"TimestampLessThan": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00Z", False),
    ({"TimestampLessThan": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00+00:01", True),
    ({"TimestampLessThan": "2016-08-18T17:33:00Z"}, "2016-08-18T18:33:00+01:00", False),
    ({"TimestampLessThan": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00-00:01", False),
    ({"TimestampLessThan": "2016-08-18T17:33:00Z"}, "1999-12-31T23:59:59Z", True),
    ({"TimestampGreaterThan": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00.5Z", True),
    ({"TimestampGreaterThan": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00Z", False),
    ({"TimestampGreaterThan": "2016-08-18T17:33:00Z"}, "2016-08-19T00:00:00+05:30", True),
    ({"TimestampGreaterThan": "2016-08-18T17:33:00.25Z"}, "2016-08-18T17:33:00.2500001Z", True),
    ({"TimestampGreaterThan": "2016-08-18T17:33:00.25Z"}, "2016-08-18T17:33:00.249Z", False),
    ({"TimestampLessThanEquals": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00Z", True),
    ({"TimestampLessThanEquals": "2016-08-18T17:33:00Z"}, "2016-08-18T12:33:00-05:00", True),
    ({"TimestampLessThanEquals": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00.1Z", False),
    ({"TimestampGreaterThanEquals": "2016-08-18T17:33:00Z"}, "2016-08-18T17:33:00Z", True),
    ({"TimestampGreaterThanEquals": "2016-08-18T17:33:00Z"}, "2017-01-01T00:00:00Z", True),
    ({"TimestampGreaterThanEquals": "2016-08-18T17:33:00Z"}, "2016-08-18T17:32:00Z", False),
    ({"IsNull": True}, None, True),
    ({"IsNull": True}, 0, False),
    ({"IsNull": True}, "", False),
    ({"IsNull": True}, "null", False),
    ({"IsNull": False}, None, False),
    ({"IsNull": False}, 1, True),
    ({"IsNumeric": True}, 1, True),
    ({"IsNumeric": True}, -1.5, True),
    ({"IsNumeric": True}, True, False),
    ({"IsNumeric": True}, "1", False),
    ({"IsNumeric": True}, None, False),
    ({"IsNumeric": False}, "1", True),
    ({"IsNumeric": False}, 1, False),
    ({"IsString": True}, "", True),
    ({"IsString": True}, "2016-08-18T17:33:00Z", True),
    ({"IsString": True}, 1, False),
    ({"IsString": True}, None, False),
    ({"IsString": False}, 1, True),
    ({"IsBoolean": True}, False, True),
    ({"IsBoolean": True}, True, True),
    ({"IsBoolean": True}, 0, False),
    ({"IsBoolean": True}, "true", False),
    ({"IsBoolean": False}, 1, True),
    ({"IsTimestamp": True}, "2016-08-18T17:33:00Z", True),
    ({"IsTimestamp": True}, "2016-08-18T17:33:00", False),
    ({"IsTimestamp": True}, 1471541580, False),
    ({"IsTimestamp": False}, "2016-08-18", True),
    ({"IsTimestamp": False}, "2016-08-18T17:33:00+02:00", False),
    ({"IsPresent": True}, None, True),
    ({"IsPresent": True}, False, True),
    ({"IsPresent": False}, None, False),
]


@pytest.mark.parametrize(("fragment", "value", "expected"), OPERATOR_CASES)
def test_operator(fragment: dict[str, Any], value: Any, expected: bool) -> None:
    assert holds(fragment, value) is expected


COMPARISON_LITERALS: dict[str, Any] = {
    "StringEquals": "x",
    "StringLessThan": "x",
    "StringGreaterThan": "x",
    "StringLessThanEquals": "x",
    "StringGreaterThanEquals": "x",
    "StringMatches": "*",
    "NumericEquals": 1,
    "NumericLessThan": 1,
    "NumericGreaterThan": 1,
    "NumericLessThanEquals": 1,
    "NumericGreaterThanEquals": 1,
    "BooleanEquals": True,
    "TimestampEquals": "2016-08-18T17:33:00Z",
    "TimestampLessThan": "2016-08-18T17:33:00Z",
    "TimestampGreaterThan": "2016-08-18T17:33:00Z",
    "TimestampLessThanEquals": "2016-08-18T17:33:00Z",
    "TimestampGreaterThanEquals": "2016-08-18T17:33:00Z",
}
PATH_OPERATORS = [f"{name}Path" for name in COMPARISON_LITERALS if name != "StringMatches"]
TYPE_TESTS = ["IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"]
#: Every operator that reads its Variable's value: all but IsPresent.
READING_RULES: list[dict[str, Any]] = [
    *({name: literal} for name, literal in COMPARISON_LITERALS.items()),
    *({name: "$.other"} for name in PATH_OPERATORS),
    *({name: flag} for name in TYPE_TESTS for flag in (True, False)),
]


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Numeric"
    return "String" if isinstance(value, str) else "other"


def operator_kind(name: str) -> str:
    return next(
        kind for kind in ("String", "Numeric", "Boolean", "Timestamp") if name.startswith(kind)
    )


MISMATCHES = [
    (name, value)
    for name in COMPARISON_LITERALS
    for value in WRONG_TYPES
    if json_kind(value) != operator_kind(name).replace("Timestamp", "String")
]


@pytest.mark.parametrize(("name", "value"), MISMATCHES, ids=repr)
def test_comparison_with_a_value_of_another_type_is_false(name: str, value: Any) -> None:
    literal = COMPARISON_LITERALS[name]
    assert holds({name: literal}, value) is False
    if name != "StringMatches":
        by_path = {"Variable": "$.v", f"{name}Path": "$.w"}
        assert evaluate(by_path, {"v": value, "w": literal}) is False
        assert evaluate(by_path, {"v": literal, "w": value}) is False
        assert evaluate(by_path, {"v": literal, "w": literal}) is (not name.endswith("Than"))


@pytest.mark.parametrize("fragment", READING_RULES, ids=lambda fragment: next(iter(fragment)))
def test_variable_that_selects_nothing_fails_with_runtime(fragment: dict[str, Any]) -> None:
    with pytest.raises(StatesError) as caught:
        evaluate({"Variable": "$.missing", **fragment}, {"other": "x"})
    assert caught.value.error == RUNTIME
    assert caught.value.cause == invalid_path("$.missing")
    assert isinstance(caught.value.__cause__, PathMissing)


def test_is_present_answers_for_a_missing_variable() -> None:
    assert evaluate({"Variable": "$.missing", "IsPresent": True}, {}) is False
    assert evaluate({"Variable": "$.missing", "IsPresent": False}, {}) is True
    assert evaluate({"Variable": "$.a.b", "IsPresent": True}, {"a": {"b": None}}) is True
    assert evaluate({"Variable": "$.a.b.c", "IsPresent": True}, {"a": {"b": 1}}) is False


# --- the …Path forms -----------------------------------------------------------------------

PATH_CASES: list[tuple[str, Any, Any, bool]] = [
    ("StringEqualsPath", "hello", "hello", True),
    ("StringEqualsPath", "hello", "hello, world", False),
    ("StringEqualsPath", 1, 1, False),
    ("StringLessThanPath", "a", "b", True),
    ("StringLessThanPath", "b", "b", False),
    ("StringGreaterThanPath", "b", "a", True),
    ("StringGreaterThanPath", "a", "a", False),
    ("StringGreaterThanPath", "b", 1, False),
    ("StringLessThanEqualsPath", "a", "a", True),
    ("StringLessThanEqualsPath", "c", "b", False),
    ("StringGreaterThanEqualsPath", "a", "a", True),
    ("StringGreaterThanEqualsPath", "a", "b", False),
    ("NumericEqualsPath", 10, 10.0, True),
    ("NumericEqualsPath", 50, 10, False),
    ("NumericEqualsPath", 1, "1", False),
    ("NumericEqualsPath", "1", 1, False),
    ("NumericEqualsPath", True, True, False),
    ("NumericLessThanPath", 100, 150, True),
    ("NumericLessThanPath", 150, 150, False),
    ("NumericGreaterThanPath", 200, 150, True),
    ("NumericGreaterThanPath", 150, 150, False),
    ("NumericLessThanEqualsPath", 150, 150, True),
    ("NumericLessThanEqualsPath", 200, 150, False),
    ("NumericGreaterThanEqualsPath", 150, 150, True),
    ("NumericGreaterThanEqualsPath", 100, 150, False),
    ("BooleanEqualsPath", True, True, True),
    ("BooleanEqualsPath", False, False, True),
    ("BooleanEqualsPath", False, True, False),
    ("BooleanEqualsPath", 1, True, False),
    ("BooleanEqualsPath", True, 1, False),
    ("TimestampEqualsPath", "2020-01-01T15:00:00Z", "2020-01-01T16:00:00+01:00", True),
    ("TimestampEqualsPath", "2020-12-12T15:00:00Z", "2020-01-01T15:00:00Z", False),
    ("TimestampEqualsPath", "2020-01-01T15:00:00Z", "2020-01-01", False),
    ("TimestampLessThanPath", "2019-12-31T15:00:00Z", "2020-01-01T15:00:00Z", True),
    ("TimestampLessThanPath", "2020-01-01T15:00:00Z", "2020-01-01T15:00:00Z", False),
    ("TimestampGreaterThanPath", "2020-12-12T15:00:00Z", "2020-01-01T15:00:00Z", True),
    ("TimestampGreaterThanPath", "2020-01-01T15:00:00Z", "2020-01-01T15:00:00Z", False),
    ("TimestampLessThanEqualsPath", "2020-01-01T15:00:00Z", "2020-01-01T15:00:00Z", True),
    ("TimestampLessThanEqualsPath", "2020-12-12T15:00:00Z", "2020-01-01T15:00:00Z", False),
    ("TimestampGreaterThanEqualsPath", "2020-01-01T15:00:00Z", "2020-01-01T15:00:00Z", True),
    ("TimestampGreaterThanEqualsPath", "2019-12-31T15:00:00Z", "2020-01-01T15:00:00Z", False),
]


@pytest.mark.parametrize(("name", "value", "other", "expected"), PATH_CASES)
def test_path_operator(name: str, value: Any, other: Any, expected: bool) -> None:
    rule = {"Variable": "$.value", name: "$.comparisonValue"}
    assert evaluate(rule, {"value": value, "comparisonValue": other}) is expected


def test_every_path_operator_is_covered() -> None:
    assert {case[0] for case in PATH_CASES} == set(PATH_OPERATORS)


@pytest.mark.parametrize("name", PATH_OPERATORS)
def test_path_that_selects_nothing_fails_with_runtime(name: str) -> None:
    literal = COMPARISON_LITERALS[name.removesuffix("Path")]
    with pytest.raises(StatesError) as caught:
        evaluate({"Variable": "$.value", name: "$.missing"}, {"value": literal})
    assert caught.value.error == RUNTIME
    assert caught.value.cause == invalid_path("$.missing")


def test_paths_reach_the_context_object_and_variables() -> None:
    rule = compile_rule(
        {"Variable": "$$.Execution.Input.limit", "NumericLessThanPath": "$limits.max"},
        where=WHERE,
    )
    context = {"Execution": {"Input": {"limit": 5}}}
    assert rule.evaluate(resolver({}, context=context, variables={"limits": {"max": 6}}))
    assert not rule.evaluate(resolver({}, context=context, variables={"limits": {"max": 5}}))
    with pytest.raises(StatesError, match=r"Invalid path '\$limits\.max'"):
        rule.evaluate(resolver({}, context=context, variables={}))
    whole = compile_rule({"Variable": "$flag", "BooleanEquals": True}, where=WHERE)
    assert whole.evaluate(resolver({}, variables={"flag": True}))


# --- StringMatches, strings and timestamps in detail -------------------------------------

# Patterns as they are once JSON is decoded: "\\*" in JSON is the two characters \*.
MATCHES_CASES: list[tuple[str, str, bool]] = [
    ("foo\\*bar", "foo*bar", True),
    ("foo\\*bar", "fooXbar", False),
    ("foo\\*bar\\*baz", "foo*bar*baz", True),
    ("he\\*lo", "he\\*lo", False),
    ("hello*\\*", "hello**", True),
    ("hello*\\*", "hello, world*", True),
    ("hello*\\*", "hello", False),
    ("\\\\", "\\", True),
    ("\\\\", "\\\\", False),
    ("*\\\\*", "a\\b", True),
    ("*\\\\*", "ab", False),
    ("\\\\*", "\\anything", True),
    ("\\\\*", "anything", False),
    ("\\\\\\*", "\\*", True),
    ("\\\\\\*", "\\x", False),
    ("a\\b", "a\\b", True),
    ("a\\", "a\\", True),
    ("**", "", True),
    ("*.*", "noextension", False),
    ("*", "\\", True),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), MATCHES_CASES)
def test_string_matches_wildcards_and_escapes(pattern: str, text: str, expected: bool) -> None:
    assert holds({"StringMatches": pattern}, text) is expected


def test_string_matches_pattern_as_written_in_json() -> None:
    rule = json.loads(r'{"Variable": "$.v", "StringMatches": "C:\\\\logs\\\\*.log\\*"}')
    assert evaluate(rule, {"v": "C:\\logs\\app.log*"}) is True
    assert evaluate(rule, {"v": "C:\\logs\\app.logX"}) is False


def test_string_matches_is_linear_on_adversarial_patterns() -> None:
    """No regex backtracking: many stars against a long near-miss still answer at once."""
    text = "a" * 20_000
    assert holds({"StringMatches": "*a" * 30 + "*b"}, text) is False
    assert holds({"StringMatches": "*a" * 30 + "*"}, text) is True


def test_strings_order_by_utf16_code_units_as_java_does() -> None:
    # U+FFFD is above the surrogates U+D83D U+DE00 that encode U+1F600 in UTF-16, though
    # below U+1F600 as a code point: Java's compareTo, hence ASL, puts the emoji first.
    assert holds({"StringLessThan": "\ufffd"}, "\U0001f600") is True
    assert holds({"StringGreaterThan": "\ufffd"}, "\U0001f600") is False
    assert holds({"StringLessThan": "\u00e9"}, "\u00e8") is True
    assert holds({"StringLessThan": "a\ufffd"}, "a\U0001f600") is True
    assert holds({"StringLessThan": "\U0001f600"}, "abc") is True
    assert holds({"StringEquals": "\U0001f600"}, "\U0001f600") is True


TIMESTAMPS: list[tuple[str, bool]] = [
    ("2016-08-18T17:33:00Z", True),
    ("2016-08-18T17:33:00.1Z", True),
    ("2016-08-18T17:33:00.123456789012Z", True),
    ("2016-08-18T17:33:00+05:30", True),
    ("2016-08-18T17:33:00.5-07:00", True),
    ("2016-08-18T17:33:00-00:00", True),
    ("2016-02-29T00:00:00Z", True),
    ("2000-02-29T00:00:00Z", True),
    ("0000-01-01T00:00:00Z", True),
    ("9999-12-31T23:59:59Z", True),
    ("2016-08-18t17:33:00Z", False),
    ("2016-08-18T17:33:00z", False),
    ("2016-08-18 17:33:00Z", False),
    ("2016-08-18T17:33:00", False),
    ("2016-08-18T17:33Z", False),
    ("2016-08-18", False),
    ("2016-08-18T17:33:00.Z", False),
    ("2016-08-18T17:33:00+0530", False),
    ("2016-08-18T17:33:00+05", False),
    ("2016-8-18T17:33:00Z", False),
    ("2015-02-29T00:00:00Z", False),
    ("1900-02-29T00:00:00Z", False),
    ("2016-04-31T00:00:00Z", False),
    ("2016-13-01T00:00:00Z", False),
    ("2016-00-01T00:00:00Z", False),
    ("2016-08-00T00:00:00Z", False),
    ("2016-08-18T24:00:00Z", False),
    ("2016-08-18T17:60:00Z", False),
    ("2016-08-18T23:59:60Z", False),
    ("2016-08-18T17:33:00+24:00", False),
    ("2016-08-18T17:33:00+05:60", False),
    ("2016-08-18T17:33:00Z\n", False),
    (" 2016-08-18T17:33:00Z", False),
    ("\uff12\uff1016-08-18T17:33:00Z", False),
]


@pytest.mark.parametrize(("text", "valid"), TIMESTAMPS)
def test_timestamp_formats(text: str, valid: bool) -> None:
    assert holds({"IsTimestamp": True}, text) is valid
    assert (parse_timestamp(text) is not None) is valid


def test_timestamp_instants() -> None:
    epoch = parse_timestamp("1970-01-01T00:00:00Z")
    assert epoch is not None and (epoch.seconds, epoch.fraction, epoch.epoch) == (0, "", 0.0)
    india = parse_timestamp("2016-08-18T23:03:00.250+05:30")
    expected = datetime(2016, 8, 18, 17, 33, tzinfo=UTC).timestamp()
    assert india is not None and (india.seconds, india.fraction) == (expected, "25")
    assert india.epoch == expected + 0.25
    # Year 0000 is a leap year of the proleptic Gregorian calendar, as RFC 3339 reads it.
    leap_day = parse_timestamp("0000-02-29T00:00:00Z")
    first_of_year_one = parse_timestamp("0001-01-01T00:00:00Z")
    assert leap_day is not None and first_of_year_one is not None
    assert first_of_year_one.seconds - leap_day.seconds == (366 - 59) * 86400
    assert first_of_year_one.seconds == int(datetime(1, 1, 1, tzinfo=UTC).timestamp())


# --- And, Or, Not --------------------------------------------------------------------------


def test_and_or_not_nest() -> None:
    rule = {
        "Or": [
            {
                "And": [
                    {"Variable": "$.kind", "StringEquals": "order"},
                    {"Not": {"Variable": "$.total", "NumericLessThan": 100}},
                ]
            },
            {"Not": {"Not": {"Variable": "$.vip", "BooleanEquals": True}}},
        ]
    }
    assert evaluate(rule, {"kind": "order", "total": 100, "vip": False}) is True
    assert evaluate(rule, {"kind": "order", "total": 99, "vip": False}) is False
    assert evaluate(rule, {"kind": "refund", "total": 500, "vip": True}) is True
    assert evaluate(rule, {"kind": "refund", "total": 500, "vip": "yes"}) is False


def test_and_stops_at_the_first_false_rule_and_or_at_the_first_true_one() -> None:
    missing = {"Variable": "$.missing", "NumericEquals": 1}
    false = {"Variable": "$.n", "NumericEquals": 2}
    true = {"Variable": "$.n", "NumericEquals": 1}
    assert evaluate({"And": [false, missing]}, {"n": 1}) is False
    assert evaluate({"Or": [true, missing]}, {"n": 1}) is True
    with pytest.raises(StatesError, match="Invalid path"):
        evaluate({"And": [true, missing]}, {"n": 1})
    with pytest.raises(StatesError, match="Invalid path"):
        evaluate({"Or": [false, missing]}, {"n": 1})


def test_not_does_not_turn_a_missing_path_into_true() -> None:
    with pytest.raises(StatesError) as caught:
        evaluate({"Not": {"Variable": "$.type", "StringEquals": "Private"}}, {})
    assert caught.value.error == RUNTIME


def test_single_rule_and_or() -> None:
    rule = {"Variable": "$.n", "NumericEquals": 1}
    assert evaluate({"And": [rule]}, {"n": 1}) is evaluate({"Or": [rule]}, {"n": 1}) is True


def test_compiled_tree() -> None:
    compiled = compile_rule(
        {
            "And": [
                {"Variable": "$.a", "StringEquals": "x"},
                {"Variable": "$.a", "StringEqualsPath": "$.b"},
                {"Variable": "$.a", "IsString": False},
                {"Not": {"Variable": "$.a", "IsPresent": True}},
            ],
            "Next": "Done",
        },
        where=WHERE,
    )
    assert isinstance(compiled, And)
    first, second, third, fourth = compiled.rules
    assert isinstance(first, Comparison)
    assert (first.operator, first.variable, first.value) == ("StringEquals", "$.a", "x")
    assert isinstance(second, PathComparison) and second.path == "$.b"
    assert isinstance(third, TypeTest) and third.expected is False
    assert isinstance(fourth, Not) and fourth.rule == Presence(variable="$.a", expected=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.variable = "$.b"  # type: ignore[misc]


def test_compiling_the_same_rule_twice_gives_the_same_tree() -> None:
    rule = {"Variable": "$.a", "TimestampLessThan": "2016-08-18T17:33:00Z", "Next": "X"}
    again = json.loads(json.dumps(rule))
    assert compile_rule(rule, where=WHERE) is compile_rule(again, where=WHERE)
    integer = compile_rule({"Variable": "$.a", "NumericEquals": 1}, where=WHERE)
    real = compile_rule({"Variable": "$.a", "NumericEquals": 1.0}, where=WHERE)
    assert isinstance(integer, Comparison) and isinstance(real, Comparison)
    assert type(integer.value) is int and type(real.value) is float


def test_top_level_rule_may_carry_next_comment_and_assign() -> None:
    rule = {
        "Variable": "$.n",
        "NumericEquals": 1,
        "Next": "One",
        "Comment": "n is one",
        "Assign": {"seen.$": "$.n"},
    }
    assert evaluate(rule, {"n": 1}) is True
    assert evaluate({"Not": {"Variable": "$.n", "IsNull": True, "Comment": "fine"}}, {"n": 1})


# --- definitions that are not valid ASL ----------------------------------------------------

COMPILE_ERRORS: list[tuple[Any, str]] = [
    ({}, WHERE),
    ({"Variable": "$.a", "Next": "X"}, WHERE),
    ({"Variable": "$.a", "StringEquals": "a", "NumericEquals": 1}, WHERE),
    ({"Variable": "$.a", "StringMatchesPath": "$.b"}, WHERE),
    ({"Variable": "$.a", "IsNull": True, "IsPresent": True}, WHERE),
    ({"Variable": "$.a", "NumericEquals": "1"}, f"{WHERE}/NumericEquals"),
    ({"Variable": "$.a", "NumericEquals": True}, f"{WHERE}/NumericEquals"),
    ({"Variable": "$.a", "NumericLessThan": math.nan}, f"{WHERE}/NumericLessThan"),
    ({"Variable": "$.a", "NumericLessThan": math.inf}, f"{WHERE}/NumericLessThan"),
    ({"Variable": "$.a", "NumericGreaterThan": None}, f"{WHERE}/NumericGreaterThan"),
    ({"Variable": "$.a", "StringEquals": 1}, f"{WHERE}/StringEquals"),
    ({"Variable": "$.a", "StringLessThan": None}, f"{WHERE}/StringLessThan"),
    ({"Variable": "$.a", "StringMatches": ["*"]}, f"{WHERE}/StringMatches"),
    ({"Variable": "$.a", "BooleanEquals": "true"}, f"{WHERE}/BooleanEquals"),
    ({"Variable": "$.a", "BooleanEquals": 1}, f"{WHERE}/BooleanEquals"),
    ({"Variable": "$.a", "TimestampEquals": "2016-08-18"}, f"{WHERE}/TimestampEquals"),
    (
        {"Variable": "$.a", "TimestampLessThan": "2016-08-18t17:33:00z"},
        f"{WHERE}/TimestampLessThan",
    ),
    ({"Variable": "$.a", "TimestampGreaterThan": 1471541580}, f"{WHERE}/TimestampGreaterThan"),
    ({"Variable": "$.a", "IsNull": "true"}, f"{WHERE}/IsNull"),
    ({"Variable": "$.a", "IsPresent": 1}, f"{WHERE}/IsPresent"),
    ({"Variable": "$.a", "IsTimestamp": None}, f"{WHERE}/IsTimestamp"),
    ({"Variable": "a.b", "StringEquals": "x"}, f"{WHERE}/Variable"),
    ({"Variable": "", "StringEquals": "x"}, f"{WHERE}/Variable"),
    ({"Variable": 5, "StringEquals": "x"}, f"{WHERE}/Variable"),
    ({"StringEquals": "x"}, WHERE),
    ({"Variable": "$.a", "NumericEqualsPath": "b"}, f"{WHERE}/NumericEqualsPath"),
    ({"Variable": "$.a", "NumericEqualsPath": 1}, f"{WHERE}/NumericEqualsPath"),
    ({"Variable": "$.a", "StringEquals": "x", "Foo": 1}, WHERE),
    ({"And": []}, f"{WHERE}/And"),
    ({"Or": {"Variable": "$.a", "IsNull": True}}, f"{WHERE}/Or"),
    ({"And": "rules"}, f"{WHERE}/And"),
    ({"And": [{"Variable": "$.a", "IsNull": True, "Next": "X"}]}, f"{WHERE}/And/0"),
    ({"Or": [{"Variable": "$.a", "IsNull": True}, 5]}, f"{WHERE}/Or/1"),
    ({"Not": [{"Variable": "$.a", "IsNull": True}]}, f"{WHERE}/Not"),
    ({"Not": {}}, f"{WHERE}/Not"),
    ({"Not": {"Variable": "$.a", "IsNull": True, "Assign": {}}}, f"{WHERE}/Not"),
    ({"Variable": "$.a", "And": [{"Variable": "$.a", "IsNull": True}]}, WHERE),
    (
        {"And": [{"Variable": "$.a", "IsNull": True}], "Or": [{"Variable": "$.a", "IsNull": True}]},
        WHERE,
    ),
    (
        {
            "Or": [
                {"Variable": "$.a", "IsNull": True},
                {"Not": {"Variable": "$.b", "NumericEquals": "1"}},
            ]
        },
        f"{WHERE}/Or/1/Not/NumericEquals",
    ),
    (["not", "an", "object"], WHERE),
    ("StringEquals", WHERE),
    ({1: "x", "Variable": "$.a", "IsNull": True}, WHERE),
]


@pytest.mark.parametrize(("rule", "location"), COMPILE_ERRORS)
def test_compile_rejects(rule: Any, location: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        compile_rule(rule, where=WHERE)
    assert caught.value.message.endswith(f" at {location}")


def test_compile_error_messages_name_the_problem() -> None:
    cases: dict[str, dict[str, Any]] = {
        "These fields are required: [Variable]": {"StringEquals": "x"},
        "There should only be one of the following fields: [StringEquals, NumericEquals]": {
            "Variable": "$.a",
            "StringEquals": "a",
            "NumericEquals": 1,
        },
        "needs one comparison operator": {"Variable": "$.a", "Comment": "no operator"},
        "Field 'StringMatchesPath' is not supported": {
            "Variable": "$.a",
            "StringMatchesPath": "$.b",
        },
        "Field 'Variable' is not supported": {
            "Variable": "$.a",
            "Or": [{"Variable": "$.a", "IsNull": True}],
        },
        "Expected value of type [Number]": {"Variable": "$.a", "NumericEquals": "1"},
        "Expected value of type [Object]": {"Not": [{"Variable": "$.a", "IsNull": True}]},
        "Expected value of type [Array]": {"And": {"Variable": "$.a", "IsNull": True}},
        "Value cannot be empty": {"Or": []},
        "Field 'Next' is not supported": {"Not": {"Variable": "$.a", "IsNull": True, "Next": "X"}},
        "Reference path didn't start with '$'": {"Variable": "a", "IsNull": True},
        "String does not match RFC3339 timestamp": {
            "Variable": "$.a",
            "TimestampEquals": "yesterday",
        },
    }
    for fragment, rule in cases.items():
        with pytest.raises(InvalidDefinition, match="^SCHEMA_VALIDATION_FAILED: ") as caught:
            compile_rule(rule, where=WHERE)
        assert fragment in caught.value.message


@pytest.mark.parametrize(
    "fragment",
    [
        *({name: literal} for name, literal in COMPARISON_LITERALS.items()),
        *({name: "$.b"} for name in PATH_OPERATORS),
        *({name: True} for name in [*TYPE_TESTS, "IsPresent"]),
    ],
    ids=lambda fragment: next(iter(fragment)),
)
def test_every_operator_of_the_spec_compiles(fragment: dict[str, Any]) -> None:
    assert isinstance(compile_rule({"Variable": "$.a", **fragment}, where=WHERE), Rule)


# --- properties ----------------------------------------------------------------------------


def escape(text: str) -> str:
    """A StringMatches pattern matching exactly ``text``."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


matchable = st.text(alphabet=st.sampled_from("ab*\\.x\u00e9\U0001f600"), max_size=12) | st.text()


@given(literal=matchable, other=matchable)
def test_escaped_literal_pattern_matches_exactly_that_string(literal: str, other: str) -> None:
    rule = {"StringMatches": escape(literal)}
    assert holds(rule, literal) is True
    assert holds(rule, other) is (other == literal)
    assert holds(rule, literal + "x") is False


@given(head=matchable, middle=matchable, tail=matchable)
def test_star_between_escaped_parts_matches_anything_between(
    head: str, middle: str, tail: str
) -> None:
    assert holds({"StringMatches": f"{escape(head)}*{escape(tail)}"}, head + middle + tail)


numbers = st.integers(min_value=-(2**70), max_value=2**70) | st.floats(
    allow_nan=False, allow_infinity=False
)
NUMERIC_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "NumericEquals": operator.eq,
    "NumericLessThan": operator.lt,
    "NumericGreaterThan": operator.gt,
    "NumericLessThanEquals": operator.le,
    "NumericGreaterThanEquals": operator.ge,
}


@given(value=numbers, literal=numbers, name=st.sampled_from(sorted(NUMERIC_OPERATORS)))
def test_numeric_operators_agree_with_python(value: float, literal: float, name: str) -> None:
    expected = NUMERIC_OPERATORS[name](value, literal)
    assert holds({name: literal}, value) is expected
    rule = {"Variable": "$.v", f"{name}Path": "$.w"}
    assert evaluate(rule, {"v": value, "w": literal}) is expected


@given(left=st.text(), right=st.text())
def test_string_order_is_utf16_code_unit_order(left: str, right: str) -> None:
    def key(text: str) -> bytes:
        return text.encode("utf-16-be")

    assert holds({"StringLessThan": right}, left) is (key(left) < key(right))
    assert holds({"StringGreaterThanEquals": right}, left) is (key(left) >= key(right))
    assert holds({"StringEquals": right}, left) is (left == right)


offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)


def rfc3339(moment: datetime, utc_as_z: bool) -> str:
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z") if utc_as_z else text


@given(left=moments, right=moments, z=st.booleans())
def test_timestamp_comparisons_agree_with_datetime(
    left: datetime, right: datetime, z: bool
) -> None:
    literal = rfc3339(right, z)
    assert holds({"TimestampLessThan": literal}, rfc3339(left, not z)) is (left < right)
    assert holds({"TimestampEquals": literal}, rfc3339(left, z)) is (left == right)
    assert holds({"TimestampGreaterThanEquals": literal}, rfc3339(left, z)) is (left >= right)
    assert holds({"IsTimestamp": True}, literal)


json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
present_rules = st.one_of(
    st.builds(
        lambda name, literal: {"Variable": "$.v", name: literal},
        st.sampled_from(sorted(NUMERIC_OPERATORS)),
        numbers,
    ),
    st.builds(
        lambda name, literal: {"Variable": "$.v", name: literal},
        st.sampled_from(
            ["StringEquals", "StringLessThan", "StringGreaterThanEquals", "StringMatches"]
        ),
        st.text(alphabet="ab*", max_size=4),
    ),
    st.builds(lambda flag: {"Variable": "$.v", "BooleanEquals": flag}, st.booleans()),
    st.builds(
        lambda name, flag: {"Variable": "$.v", name: flag},
        st.sampled_from([*TYPE_TESTS, "IsPresent"]),
        st.booleans(),
    ),
    st.builds(
        lambda name: {"Variable": "$.v", name: "$.w"},
        st.sampled_from(PATH_OPERATORS),
    ),
)
nested_rules = st.recursive(
    present_rules,
    lambda children: (
        st.builds(lambda rule: {"Not": rule}, children)
        | st.builds(lambda rules: {"And": rules}, st.lists(children, min_size=1, max_size=3))
        | st.builds(lambda rules: {"Or": rules}, st.lists(children, min_size=1, max_size=3))
    ),
    max_leaves=5,
)


@given(rule=nested_rules, value=json_values, other=json_values)
def test_not_negates_rules_whose_paths_are_present(
    rule: dict[str, Any], value: Any, other: Any
) -> None:
    data = {"v": value, "w": other}
    assert evaluate({"Not": rule}, data) is (not evaluate(rule, data))


@given(
    rule=st.dictionaries(
        st.sampled_from(
            ["Variable", "And", "Not", "IsNull", "StringEquals", "NumericEqualsPath", "Next", "X"]
        ),
        json_values,
        max_size=4,
    )
)
def test_compile_either_compiles_or_rejects_the_definition(rule: dict[str, Any]) -> None:
    try:
        compiled = compile_rule(rule, where=WHERE)
    except InvalidDefinition as exc:
        assert exc.message.startswith("SCHEMA_VALIDATION_FAILED: ")
        assert WHERE in exc.message
    else:
        assert isinstance(compiled, Rule)
