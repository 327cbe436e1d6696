"""The intrinsic functions, checked against the Step Functions developer guide's rules."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.workflows.errors import (
    INTRINSIC_FAILURE,
    RUNTIME,
    InvalidDefinition,
    PathMissing,
    StatesError,
)
from modelyard.workflows.intrinsics import (
    FUNCTION_NAMES,
    Call,
    PathArg,
    evaluate,
    is_intrinsic,
    parse,
)

GUIDE_EXAMPLES = json.loads((Path(__file__).parent / "intrinsics_guide_examples.json").read_text())

_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['([^']*)'\]")


def resolver(
    data: Any, *, context: Any = None, variables: dict[str, Any] | None = None
) -> Callable[[str], Any]:
    """A small path resolver: ``$``, ``$$`` or ``$var``, then ``.a``, ``[0]``, ``['a']``."""

    def resolve(path: str) -> Any:
        if path.startswith("$$"):
            value, rest = context, path[2:]
        elif match := re.match(r"\$([A-Za-z_]\w*)", path):
            if match.group(1) not in (variables or {}):
                raise PathMissing(path)
            value, rest = (variables or {})[match.group(1)], path[match.end() :]
        else:
            value, rest = data, path[1:]
        while rest:
            match = _SEGMENT.match(rest)
            assert match is not None, path
            name, index, quoted = match.groups()
            try:
                value = value[int(index)] if index is not None else value[name or quoted]
            except (KeyError, IndexError, TypeError):
                raise PathMissing(path) from None
            rest = rest[match.end() :]
        return value

    return resolve


def run(expression: str, data: Any = None, *, seed: int = 0) -> Any:
    return evaluate(expression, resolver(data), rng=random.Random(seed))


def failure(expression: str, data: Any = None) -> StatesError:
    with pytest.raises(StatesError) as raised:
        run(expression, data)
    return raised.value


def literal(text: str) -> str:
    """``text`` written as an intrinsic string literal, every reserved character escaped."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("{", "\\{").replace("}", "\\}")
    return f"'{escaped}'"


# ---- the developer guide's examples ------------------------------------------------------


@pytest.mark.parametrize(
    "example", GUIDE_EXAMPLES, ids=[f"{e['function']}-{i}" for i, e in enumerate(GUIDE_EXAMPLES)]
)
def test_guide_example(example: dict[str, Any]) -> None:
    assert run(example["expression"], example["input"]) == example["expected"]


def test_every_function_has_a_guide_example() -> None:
    covered = {example["function"] for example in GUIDE_EXAMPLES}
    assert covered | {"States.MathRandom", "States.UUID"} == FUNCTION_NAMES


def test_guide_nesting_example_has_nine_calls_and_is_a_valid_definition() -> None:
    expression = (
        "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem("
        "States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem("
        "States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2),"
        " '.'), 1))"
    )

    def count(call: Call) -> int:
        return 1 + sum(count(arg) for arg in call.args if isinstance(arg, Call))

    assert count(parse(expression)) == 9


def test_guide_math_random_example_is_in_range() -> None:
    for seed in range(50):
        assert (
            1 <= run("States.MathRandom($.start, $.end)", {"start": 1, "end": 999}, seed=seed) < 999
        )


def test_guide_uuid_example_shape() -> None:
    value = run("States.UUID()")
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )


# ---- syntax: literals, escapes, paths, nesting --------------------------------------------


def test_parse_builds_the_call_tree() -> None:
    call = parse("States.Array(1, -2.5, 1e3, 'a', true, false, null, $.b, States.UUID())")
    assert call == Call(
        name="States.Array",
        args=(
            1,
            -2.5,
            1000.0,
            "a",
            True,
            False,
            None,
            PathArg(path="$.b"),
            Call(name="States.UUID", args=()),
        ),
    )
    assert type(call.args[0]) is int and type(call.args[2]) is float


def test_format_calls_compare_by_name_and_arguments() -> None:
    call = parse("States.Format('Hello {}', $.x)")
    assert call == Call(name="States.Format", args=("Hello {}", PathArg(path="$.x")))
    assert call.template is not None and call.template.pieces == ("Hello ", "")


def test_parse_is_cached() -> None:
    assert parse("States.Array($.x)") is parse("States.Array($.x)")


def test_whitespace_around_arguments() -> None:
    assert run("States.Array( $.a ,\t$.b\n)", {"a": 1, "b": 2}) == [1, 2]
    assert run("States.Array( )") == []


@pytest.mark.parametrize(
    ("escaped", "value"),
    [(r"\'", "'"), (r"\{", "{"), (r"\}", "}"), (r"\\", "\\")],
)
def test_reserved_character_escapes(escaped: str, value: str) -> None:
    assert run(f"States.Format('{{}}', 'a{escaped}b')") == f"a{value}b"
    assert run(f"States.Array('{escaped}')") == [value]


def test_escapes_as_written_in_json() -> None:
    # The guide's JSON spellings: \\' \\{ \\} \\\\ in a JSON string are the intrinsic's \' \{ \} \\.
    definition = json.loads(
        r'{"x.$": "States.Format(\u0027\\\u0027 \\{\\} \\\\ {}\u0027, \u0027v\u0027)"}'
    )
    assert run(definition["x.$"]) == "' {} \\ v"


def test_escaped_braces_in_a_template_are_not_placeholders() -> None:
    assert run(r"States.Format('\{\} and {}', 'x')") == "{} and x"
    assert run(r"States.Format('\{\}')") == "{}"


@pytest.mark.parametrize(
    "expression",
    [
        r"States.Array('\n')",  # only ' { } \ may be escaped
        r"States.Array('a\')",  # the escaped quote leaves the string open
        "States.Array('abc",
        "States.Format('x', \\",
    ],
)
def test_open_or_unknown_escapes_are_invalid(expression: str) -> None:
    with pytest.raises(InvalidDefinition):
        parse(expression)
    # Evaluated without validation first, it is the runtime error the guide describes.
    assert failure(expression).error == RUNTIME


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("States.format('x')", "unknown intrinsic function States.format"),
        ("States.Nope()", "unknown intrinsic function States.Nope"),
        ("States.Array(1", "expected ',' or ')'"),
        ("States.Array(1,)", "expected an argument"),
        ("States.Array(,1)", "expected an argument"),
        ("States.Array(1 2)", "expected ',' or ')'"),
        ("States.Array(1) x", "unexpected text after the call"),
        ("States.Array (1)", "expected an intrinsic function call"),
        ("States.Array(01)", "unexpected character '1'"),
        ("States.Array(1.)", "unexpected character '.'"),
        ("States.Array(.5)", "unexpected character '.'"),
        ("States.Array(1a)", "unexpected character 'a'"),
        ("States.Array(True)", "unexpected character 'T'"),
        ("States.Array(nullx)", "unexpected character 'x'"),
        ("States.Array('a'b)", "unexpected character 'b'"),
        ("States.Array(1e400)", "number too large"),
        ("States.Array(Format('x'))", "unexpected character 'F'"),
        ("States.Array([1,2])", "unexpected character '['"),
        ("States.Array($.)", "expected a field name after '.'"),
        ("States.Array($.a[0)", "unclosed '['"),
        ("States.Array($.a[])", "empty '[]'"),
        ("States.Array($.a['b)", "unclosed quote"),
        ("States.Array($$$)", "unexpected character '$' in a path"),
        ("States.Array($.a(1))", "unexpected character '(' in a path"),
        ("$.a", "expected an intrinsic function call"),
        ("", "expected an intrinsic function call"),
    ],
)
def test_invalid_syntax_names_the_problem(expression: str, problem: str) -> None:
    with pytest.raises(InvalidDefinition, match=re.escape(problem)):
        parse(expression)


def test_at_most_ten_calls_in_a_field() -> None:
    ten = "States.Array(" * 10 + ")" * 10
    assert run(ten) == [[[[[[[[[[]]]]]]]]]]
    assert run("States.Array(" + ", ".join(["States.UUID()"] * 9) + ")") is not None
    with pytest.raises(InvalidDefinition, match="more than 10 intrinsic functions"):
        parse("States.Array(" * 11 + ")" * 11)
    with pytest.raises(InvalidDefinition, match="more than 10 intrinsic functions"):
        parse("States.Array(" + ", ".join(["States.UUID()"] * 10) + ")")


@pytest.mark.parametrize(
    "path",
    [
        "$",
        "$.a",
        "$.a.b[0]",
        "$..a",
        "$.a.*",
        "$['a b']",
        "$.abc.['def ghi']",
        "$['a,b)']",
        "$.a[?(@.b == 'x, y')]",
        "$$",
        "$$.Execution.Id",
        "$$.Map.Item.Value",
        "$myVar",
        "$myVar.field[2]",
        "$_v1",
    ],
)
def test_path_arguments_reach_the_resolver_as_written(path: str) -> None:
    seen: list[str] = []

    def resolve(text: str) -> str:
        seen.append(text)
        return text

    assert evaluate(f"States.Array({path}, 1)", resolve, rng=random.Random(0)) == [path, 1]
    assert seen == [path]


def test_paths_read_input_context_and_variables() -> None:
    resolve = resolver(
        {"a": {"b": [7, 8]}},
        context={"Execution": {"Id": "arn:exec"}},
        variables={"myVar": {"field": "v"}, "n": 3},
    )
    value = evaluate(
        "States.Array($, $.a.b[1], $$.Execution.Id, $myVar.field, $n)",
        resolve,
        rng=random.Random(0),
    )
    assert value == [{"a": {"b": [7, 8]}}, 8, "arn:exec", "v", 3]


@pytest.mark.parametrize("path", ["$.missing", "$$.Execution.Nope", "$undefinedVar", "$.a[5]"])
def test_a_path_that_selects_nothing_is_a_runtime_error(path: str) -> None:
    error = failure(f"States.Array({path})", {"a": [1]})
    assert error.error == RUNTIME
    assert error.cause is not None and f"'{path}'" in error.cause


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("States.Format('x')", True),
        ("States.UUID()", True),
        ("States.Nope(", True),
        ("States.Format", False),
        ("States.Format ('x')", False),
        (" States.Format('x')", False),
        ("$.States.Format('x')", False),
        ("states.Format('x')", False),
        ("Hello", False),
    ],
)
def test_is_intrinsic(text: str, expected: bool) -> None:
    assert is_intrinsic(text) is expected


# ---- argument errors --------------------------------------------------------------------

_ARGUMENTS = {
    # (fewest, most) for each function, and valid arguments to pad or trim.
    "States.Format": (1, None, ["'{}'", "1"]),
    "States.StringToJson": (1, 1, ["'1'"]),
    "States.JsonToString": (1, 1, ["1"]),
    "States.ArrayPartition": (2, 2, ["$.arr", "1"]),
    "States.ArrayContains": (2, 2, ["$.arr", "1"]),
    "States.ArrayRange": (3, 3, ["1", "2", "1"]),
    "States.ArrayGetItem": (2, 2, ["$.arr", "0"]),
    "States.ArrayLength": (1, 1, ["$.arr"]),
    "States.ArrayUnique": (1, 1, ["$.arr"]),
    "States.Base64Encode": (1, 1, ["'a'"]),
    "States.Base64Decode": (1, 1, ["'YQ=='"]),
    "States.Hash": (2, 2, ["'a'", "'MD5'"]),
    "States.JsonMerge": (3, 3, ["$.obj", "$.obj", "false"]),
    "States.MathRandom": (2, 3, ["1", "5", "7"]),
    "States.MathAdd": (2, 2, ["1", "2"]),
    "States.StringSplit": (2, 2, ["'a,b'", "','"]),
    "States.UUID": (0, 0, []),
}
_ARITY_CASES = [
    (name, count)
    for name, (low, high, _) in _ARGUMENTS.items()
    for count in {low - 1, (high if high is not None else low) + 1}
    if count >= 0 and (high is not None or count < low)
]


@pytest.mark.parametrize(("name", "count"), _ARITY_CASES)
def test_wrong_argument_count_fails_when_the_call_runs(name: str, count: int) -> None:
    low, high, valid = _ARGUMENTS[name]
    arguments = ([*valid, "1", "1", "1", "1"])[:count]
    expression = f"{name}({', '.join(arguments)})"
    parse(expression)  # Step Functions accepts the definition: the count is checked on use.
    error = failure(expression, {"arr": [1], "obj": {}})
    expected = f"{low}" if low == high else f"{low} or more" if high is None else f"{low}-{high}"
    assert error.error == INTRINSIC_FAILURE
    assert error.cause == f"Invalid arguments in {name}: expected {expected} arguments, got {count}"


def test_valid_argument_lists_above_succeed() -> None:
    for name, (_, _, arguments) in _ARGUMENTS.items():
        run(f"{name}({', '.join(arguments)})", {"arr": [1], "obj": {}})
        if name == "States.MathRandom":
            run(f"{name}({', '.join(arguments[:2])})")


@pytest.mark.parametrize(
    ("expression", "data", "problem"),
    [
        ("States.Format($.t, 1)", {"t": 5}, "the first argument (the template) must be a string"),
        ("States.Format('{} {}', 1)", None, "the template has 2 occurrences of {} but 1 values"),
        ("States.Format('{}', 1, 2)", None, "the template has 1 occurrences of {} but 2 values"),
        ("States.Format('x')", None, None),
        ("States.Format('Hello {', 1)", None, "unescaped '{'"),
        ("States.Format('}')", None, "unescaped '}'"),
        ("States.Format('Hello {{}}', 1)", None, "unescaped '{'"),
        ("States.Format($.t, 1)", {"t": "a { {}"}, "'{' or '}' that is not part of {}"),
        ("States.StringToJson($.s)", {"s": 123}, "the argument must be a string"),
        ("States.StringToJson($.s)", {"s": {"a": 1}}, "the argument must be a string"),
        ("States.StringToJson($.s)", {"s": "{bad json}"}, "the string is not valid JSON"),
        ("States.StringToJson($.s)", {"s": '{"a":1'}, "the string is not valid JSON"),
        ("States.StringToJson($.s)", {"s": "NaN"}, "the string is not valid JSON"),
        ("States.ArrayPartition('x', 2)", None, "the first argument must be an array"),
        (
            "States.ArrayPartition($.a, 0)",
            {"a": [1]},
            "the chunk size must be a positive integer, got 0",
        ),
        ("States.ArrayPartition($.a, -1)", {"a": [1]}, "the chunk size must be a positive integer"),
        (
            "States.ArrayPartition($.a, 0.49)",
            {"a": [1]},
            "the chunk size must be a positive integer, got 0",
        ),
        ("States.ArrayPartition($.a, '2')", {"a": [1]}, "the chunk size must be a number"),
        ("States.ArrayPartition($.a, null)", {"a": [1]}, "the chunk size must be a number"),
        ("States.ArrayPartition($.a, true)", {"a": [1]}, "the chunk size must be a number"),
        ("States.ArrayContains($.a, 1)", {"a": {"k": 1}}, "the first argument must be an array"),
        ("States.ArrayRange(1, 10, 0)", None, "the increment must not be 0"),
        ("States.ArrayRange(1, 10, 0.4)", None, "the increment must not be 0"),
        ("States.ArrayRange(1, 1001, 1)", None, "the range has 1001 items, more than 1000"),
        ("States.ArrayRange(1001, 1, -1)", None, "the range has 1001 items, more than 1000"),
        ("States.ArrayRange('a', 5, 1)", None, "the first element must be a number"),
        ("States.ArrayRange(1, 'b', 1)", None, "the final element must be a number"),
        ("States.ArrayRange(1, 5, null)", None, "the increment must be a number"),
        ("States.ArrayGetItem('x', 0)", None, "the first argument must be an array"),
        (
            "States.ArrayGetItem($.a, 3)",
            {"a": [1, 2, 3]},
            "the index 3 is out of bounds for an array of length 3",
        ),
        ("States.ArrayGetItem($.a, -1)", {"a": [1, 2, 3]}, "the index -1 is out of bounds"),
        ("States.ArrayGetItem($.a, '1')", {"a": [1, 2, 3]}, "the index must be a number"),
        ("States.ArrayLength('x')", None, "the argument must be an array"),
        ("States.ArrayLength($.o)", {"o": {"k": 1}}, "the argument must be an array"),
        ("States.ArrayUnique('x')", None, "the argument must be an array"),
        ("States.Base64Encode(123)", None, "the data must be a string"),
        ("States.Base64Encode($.s)", {"s": ["x"]}, "the data must be a string"),
        (
            "States.Base64Encode($.s)",
            {"s": "a" * 10_001},
            "the data has 10001 characters, more than 10000",
        ),
        ("States.Base64Decode(123)", None, "the data must be a string"),
        (
            "States.Base64Decode($.s)",
            {"s": "A" * 10_001},
            "the data has 10001 characters, more than 10000",
        ),
        ("States.Base64Decode('QUJD?Q')", None, "its last unit has too few bits"),
        ("States.Hash($.s, 'SHA-256')", {"s": "a" * 10_001}, "the data has 10001 characters"),
        ("States.Hash(123, 'SHA-256')", None, "the data must be a string"),
        (
            "States.Hash('a', 123)",
            None,
            "the algorithm must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512",
        ),
        ("States.Hash('a', 'sha-256')", None, "the algorithm must be one of"),
        ("States.Hash('a', 'SHA256')", None, "the algorithm must be one of"),
        ("States.Hash('a', 'MD-5')", None, "the algorithm must be one of"),
        ("States.Hash('a', '')", None, "the algorithm must be one of"),
        (
            "States.JsonMerge($.a, $.b, true)",
            {"a": {}, "b": {}},
            "the third argument must be false",
        ),
        (
            "States.JsonMerge($.a, $.b, 'false')",
            {"a": {}, "b": {}},
            "the third argument must be false",
        ),
        ("States.JsonMerge($.a, $.b, 0)", {"a": {}, "b": {}}, "the third argument must be false"),
        (
            "States.JsonMerge($.a, $.b, false)",
            {"a": [], "b": {}},
            "the first argument must be an object",
        ),
        (
            "States.JsonMerge($.a, $.b, false)",
            {"a": {}, "b": None},
            "the second argument must be an object",
        ),
        ("States.MathRandom(1, 1)", None, "the start number 1 must be less than the end number 1"),
        ("States.MathRandom(10, 5)", None, "must be less than the end number"),
        ("States.MathRandom(1.49, 1.49)", None, "must be less than the end number"),
        ("States.MathRandom('a', 10)", None, "the start number must be a number"),
        ("States.MathRandom(1, 'b')", None, "the end number must be a number"),
        ("States.MathRandom(1, 10, 'seed')", None, "the seed must be a number"),
        ("States.MathRandom(1, 10, null)", None, "the seed must be a number"),
        ("States.MathAdd('a', 1)", None, "the first argument must be a number"),
        ("States.MathAdd(1, '2')", None, "the second argument must be a number"),
        ("States.MathAdd(null, 1)", None, "the first argument must be a number"),
        ("States.MathAdd(true, 1)", None, "the first argument must be a number"),
        ("States.MathAdd($.a, 1)", {"a": [1]}, "the first argument must be a number"),
        (
            "States.MathAdd(3000000000, 1)",
            None,
            "3000000000 is outside the range -2147483648 to 2147483647",
        ),
        ("States.MathAdd(-3000000000, 1)", None, "-3000000000 is outside the range"),
        ("States.MathAdd(2147483647, 1)", None, "2147483648 is outside the range"),
        ("States.MathAdd(-2147483648, -1)", None, "-2147483649 is outside the range"),
        ("States.StringSplit($.s, ',')", {"s": 123}, "the first argument must be a string"),
        ("States.StringSplit($.s, ',')", {"s": None}, "the first argument must be a string"),
        ("States.StringSplit('a,b', $.d)", {"d": 1}, "the delimiters must be a string"),
        ("States.StringSplit('a,b', $.d)", {"d": [","]}, "the delimiters must be a string"),
    ],
)
def test_refused_arguments(expression: str, data: Any, problem: str | None) -> None:
    if problem is None:
        assert run(expression, data) == "x"
        return
    name = expression.split("(", 1)[0]
    error = failure(expression, data)
    assert error.error == INTRINSIC_FAILURE
    assert error.cause is not None
    assert error.cause.startswith(f"Invalid arguments in {name}: ")
    assert problem in error.cause


# ---- each function's rules beyond the guide's example -------------------------------------


def test_format_renders_each_json_type() -> None:
    data = {"s": "x", "i": 2, "f": 3.5, "t": True, "n": None, "o": {"a": [1, "b"]}}
    assert run("States.Format('{}|{}|{}|{}|{}|{}', $.s, $.i, $.f, $.t, $.n, $.o)", data) == (
        'x|2|3.5|true|null|{"a":[1,"b"]}'
    )


def test_format_template_from_input_and_nested_calls() -> None:
    assert run("States.Format('  {}  ', $.a)", {"a": "x"}) == "  x  "
    assert run("States.Format('arn:{}:{}', 'l', States.JsonToString($.o))", {"o": {"k": 1}}) == (
        'arn:l:{"k":1}'
    )


def test_string_to_json_and_back() -> None:
    assert run("States.StringToJson($.s)", {"s": ' {"a":1} '}) == {"a": 1}
    assert run("States.StringToJson($.s)", {"s": '"hello"'}) == "hello"
    assert run("States.StringToJson($.s)", {"s": "null"}) is None
    assert run("States.StringToJson($.s)", {"s": ""}) is None
    obj = {"a": 1, "nested": {"ok": True}, "list": [None, "é"]}
    assert run("States.StringToJson(States.JsonToString($.o))", {"o": obj}) == obj


def test_json_to_string_is_compact_and_keeps_unicode() -> None:
    assert run("States.JsonToString($.v)", {"v": {"b": [True, None], "a": "é"}}) == (
        '{"b":[true,null],"a":"é"}'
    )
    assert run("States.JsonToString('x')") == '"x"'
    assert run("States.JsonToString($.v)", {"v": 3}) == "3"


def test_array_keeps_values_and_nests() -> None:
    assert run("States.Array(42, true, null, 'hello', false, '', 0)") == [
        42,
        True,
        None,
        "hello",
        False,
        "",
        0,
    ]
    assert run("States.Array(1, States.Array(2, 3))") == [1, [2, 3]]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, [[1], [2], [3]]),
        (2, [[1, 2], [3]]),
        (10, [[1, 2, 3]]),
        (2.5, [[1, 2, 3]]),
        (2.4, [[1, 2], [3]]),
        (0.5, [[1], [2], [3]]),
    ],
)
def test_array_partition_rounds_the_chunk_size(size: float, expected: list[Any]) -> None:
    assert run(f"States.ArrayPartition($.a, {size})", {"a": [1, 2, 3]}) == expected


def test_array_partition_of_an_empty_array() -> None:
    assert run("States.ArrayPartition($.a, 3)", {"a": []}) == []


def test_arrays_over_the_payload_limit_are_refused() -> None:
    big = {"a": ["x" * 1000] * 300}
    for expression in ("States.ArrayPartition($.a, 2)", "States.ArrayContains($.a, 'x')"):
        error = failure(expression, big)
        assert error.error == INTRINSIC_FAILURE
        assert error.cause is not None and "256 KiB" in error.cause


@pytest.mark.parametrize(
    ("array", "value", "expected"),
    [
        ([1, None, 3], None, True),
        ([1, 2], 1.0, True),
        ([0, 1], False, False),
        ([True], 1, False),
        (["1"], 1, False),
        ([{"a": 1, "b": 2}], {"b": 2, "a": 1}, True),
        ([{"a": 1}], {"a": 1, "extra": None}, False),
        ([[1, 2], [3, 4]], [1, 2], True),
        ([[1, 2]], [2, 1], False),
        ([], 1, False),
    ],
)
def test_array_contains_compares_json_values(array: list[Any], value: Any, expected: bool) -> None:
    assert run("States.ArrayContains($.a, $.v)", {"a": array, "v": value}) is expected


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("1, 5, 1", [1, 2, 3, 4, 5]),
        ("-2, 2, 2", [-2, 0, 2]),
        ("0, 10, 3", [0, 3, 6, 9]),
        ("3, 3, -1", [3]),
        ("5, 1, -2", [5, 3, 1]),
        ("5, 1, 1", []),
        ("1, 5, -1", []),
        ("1.4, 5.6, 2.2", [1, 3, 5]),
    ],
)
def test_array_range(arguments: str, expected: list[int]) -> None:
    assert run(f"States.ArrayRange({arguments})") == expected


def test_array_range_allows_exactly_1000_items() -> None:
    assert run("States.ArrayRange(1, 1000, 1)") == list(range(1, 1001))
    assert run("States.ArrayRange(1000, 1, -1)") == list(range(1000, 0, -1))


def test_array_get_item_returns_any_value() -> None:
    data = {"a": [None, {"b": 2}, [3]]}
    assert [run(f"States.ArrayGetItem($.a, {i})", data) for i in range(3)] == [None, {"b": 2}, [3]]
    assert run("States.ArrayGetItem($.a, 1.0)", data) == {"b": 2}


def test_array_length_counts_top_level_items() -> None:
    assert run("States.ArrayLength($.a)", {"a": [[1], {"b": 2}, []]}) == 3
    assert run("States.ArrayLength(States.Array())") == 0


def test_array_unique_keeps_first_occurrences_and_compares_json_values() -> None:
    data = {
        "a": [
            1,
            "1",
            1.0,
            "01",
            None,
            None,
            True,
            1,
            {"a": 1, "b": 2},
            {"b": 2, "a": 1},
            [1, 2],
            [2, 1],
            [1, 2],
        ]
    }
    assert run("States.ArrayUnique($.a)", data) == [
        1,
        "1",
        "01",
        None,
        True,
        {"a": 1, "b": 2},
        [1, 2],
        [2, 1],
    ]


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("hello", "aGVsbG8="),
        ("", ""),
        ("✓", "4pyT"),
        ("こんにちは", "44GT44KT44Gr44Gh44Gv"),
        ("🚀", "8J+agA=="),
        ("abc\x00def", "YWJjAGRlZg=="),
    ],
)
def test_base64_encodes_utf8(text: str, encoded: str) -> None:
    assert run("States.Base64Encode($.s)", {"s": text}) == encoded
    assert run("States.Base64Decode($.s)", {"s": encoded}) == text


def test_base64_limits_are_inclusive() -> None:
    assert (
        run("States.Base64Encode($.s)", {"s": "a" * 10_000})
        == base64.b64encode(b"a" * 10_000).decode()
    )
    assert run("States.Base64Decode($.s)", {"s": "QUJD" * 2500}) == "ABC" * 2500


@pytest.mark.parametrize(
    ("encoded", "text"),
    [
        (" YWJjZA== ", "abcd"),
        ("YWJj\nZA==", "abcd"),
        ("YWJjZA", "abcd"),
        ("YWJjZA==YQ", "abcd"),
        ("IA==", " "),
    ],
)
def test_base64_decoding_is_mime_lenient(encoded: str, text: str) -> None:
    # MIME decoding skips characters outside the alphabet and stops at padding.
    assert run("States.Base64Decode($.s)", {"s": encoded}) == text


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"])
def test_hash_algorithms(algorithm: str) -> None:
    python_name = {"MD5": "md5", "SHA-1": "sha1"}.get(algorithm, algorithm.replace("-", "").lower())
    for text in ("hello", "", "こんにちは", "a" * 10_000):
        expected = hashlib.new(python_name, text.encode()).hexdigest()
        assert run("States.Hash($.s, $.alg)", {"s": text, "alg": algorithm}) == expected
    assert run("States.Hash('hello', 'MD5')") == "5d41402abc4b2a76b9719d911017c592"


def test_json_merge_is_shallow_and_the_second_object_wins() -> None:
    data = {"a": {"x": 1, "n": {"l": 1}, "keep": 1}, "b": {"x": 2, "n": None}}
    assert run("States.JsonMerge($.a, $.b, false)", data) == {"x": 2, "n": None, "keep": 1}
    assert data["a"] == {"x": 1, "n": {"l": 1}, "keep": 1}


# Each value Step Functions gave (recorded against AWS): halves round up, as Java's Math.round.
@pytest.mark.parametrize(
    ("first", "second", "total"),
    [
        (-9, 3, -6),
        (1.49, 1.5, 3),
        (1.5, 1.51, 4),
        (-1.49, -1.5, -2),
        (-1.5, -1.51, -3),
        (1.6, 2.7, 5),
        (0.1, 0.2, 0),
    ],
)
def test_math_add_rounds_each_argument(first: float, second: float, total: int) -> None:
    assert run("States.MathAdd($.a, $.b)", {"a": first, "b": second}) == total


def test_math_add_accepts_the_int32_bounds() -> None:
    assert run("States.MathAdd(2147483646, 1)") == 2147483647
    assert run("States.MathAdd(-2147483647, -1)") == -2147483648
    assert run("States.MathAdd(States.MathAdd($.x, 1), 2)", {"x": 5}) == 8


def test_string_split_drops_empty_pieces_and_splits_at_each_character() -> None:
    assert run("States.StringSplit($.s, ',')", {"s": ",a,,b,"}) == ["a", "b"]
    assert run("States.StringSplit($.s, 'ab')", {"s": "1a2b3ab4"}) == ["1", "2", "3", "4"]
    assert run("States.StringSplit($.s, '.')", {"s": "a.b.c"}) == ["a", "b", "c"]
    assert run("States.StringSplit($.s, '|')", {"s": "a|b"}) == ["a", "b"]
    assert run("States.StringSplit($.s, ',')", {"s": ""}) == []
    assert run("States.StringSplit($.s, ',')", {"s": ",,"}) == []
    assert run("States.StringSplit($.s, '')", {"s": "abc"}) == ["abc"]


# ---- randomness comes from the rng given ---------------------------------------------------


def test_uuid_is_version_4_from_128_random_bits() -> None:
    value = evaluate("States.UUID()", resolver(None), rng=random.Random(7))
    expected = uuid.UUID(int=random.Random(7).getrandbits(128), version=4)
    assert value == str(expected)
    assert uuid.UUID(value).version == 4
    assert run("States.UUID()", seed=1) != run("States.UUID()", seed=2)


def test_math_random_without_a_seed_follows_the_rng() -> None:
    first = [run("States.MathRandom(0, 1000000)", seed=seed) for seed in range(5)]
    assert first == [run("States.MathRandom(0, 1000000)", seed=seed) for seed in range(5)]
    assert len(set(first)) > 1


def test_math_random_with_a_seed_ignores_the_rng() -> None:
    values = {run("States.MathRandom(1, 1000, 42)", seed=seed) for seed in range(20)}
    assert len(values) == 1 and 1 <= values.pop() < 1000
    assert run("States.MathRandom(1, 1000, 42)") == run("States.MathRandom(1, 1000, 42.4)")
    many = [run(f"States.MathRandom(1, 1000000, {seed})") for seed in range(-20, 20)]
    assert len(set(many)) == len(many)  # -3 and 3 are different seeds


def test_math_random_rounds_its_bounds() -> None:
    values = {run("States.MathRandom(1.6, 5.4)", seed=seed) for seed in range(200)}
    assert values == {2, 3, 4}


# ---- properties -------------------------------------------------------------------------

_NAMES = sorted(FUNCTION_NAMES)


@given(st.text())
def test_any_string_literal_round_trips_through_format(text: str) -> None:
    assert run(f"States.Format('{{}}', {literal(text)})") == text
    assert run(f"States.Format({literal(text)})") == text


@given(st.lists(st.integers() | st.text(max_size=3) | st.none(), max_size=40), st.integers(1, 12))
def test_array_partition_chunks_concatenate_back(array: list[Any], size: int) -> None:
    chunks = run(f"States.ArrayPartition($.a, {size})", {"a": array})
    assert [item for chunk in chunks for item in chunk] == array
    assert len(chunks) == math.ceil(len(array) / size)
    assert all(len(chunk) == size for chunk in chunks[:-1])
    assert all(0 < len(chunk) <= size for chunk in chunks)


@given(st.integers(-3000, 3000), st.integers(-3000, 3000), st.integers(-60, 60).filter(bool))
def test_array_range_length_and_values(start: int, end: int, step: int) -> None:
    expected = list(range(start, end + (1 if step > 0 else -1), step))
    expression = f"States.ArrayRange({start}, {end}, {step})"
    if len(expected) > 1000:
        assert failure(expression).error == INTRINSIC_FAILURE
        return
    values = run(expression)
    assert values == expected
    if values:
        assert values[0] == start
        assert all(b - a == step for a, b in itertools.pairwise(values))
        assert min(start, end) <= values[-1] <= max(start, end)
        assert abs(end - values[-1]) < abs(step)


@given(st.text(max_size=2000))
def test_base64_round_trip(text: str) -> None:
    encoded = run("States.Base64Encode($.s)", {"s": text})
    assert encoded == base64.b64encode(text.encode()).decode()
    assert run("States.Base64Decode($.s)", {"s": encoded}) == text


@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1))
def test_math_add_of_int32_values(first: int, second: int) -> None:
    total = first + second
    if -(2**31) <= total <= 2**31 - 1:
        assert run("States.MathAdd($.a, $.b)", {"a": first, "b": second}) == total
    else:
        assert (
            failure("States.MathAdd($.a, $.b)", {"a": first, "b": second}).error
            == INTRINSIC_FAILURE
        )


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_math_add_rounds_each_argument_half_up(first: float, second: float) -> None:
    def java_round(number: float) -> int:
        return math.floor(Decimal(number) + Decimal("0.5"))

    total = run("States.MathAdd($.a, $.b)", {"a": first, "b": second})
    assert total == java_round(first) + java_round(second)
    assert abs(total - (first + second)) <= 1


@given(st.text())
@settings(max_examples=300)
def test_parse_of_any_text_returns_a_call_or_invalid_definition(text: str) -> None:
    with contextlib.suppress(InvalidDefinition):
        assert isinstance(parse(text), Call)


_TRICKY = st.text(alphabet="'\\{}(),$.[]@?* 0123456789-aeflnrstuEe\n", max_size=40)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=10,
)


@given(st.sampled_from(_NAMES), _TRICKY)
@settings(max_examples=200)
def test_near_calls_parse_or_fail_with_invalid_definition(name: str, body: str) -> None:
    with contextlib.suppress(InvalidDefinition):
        assert parse(f"{name}({body}").name == name


_PATHS = ("$", "$.a", "$.b[0]", "$$.c", "$v")
_LITERALS = st.sampled_from(
    ["0", "1", "-2", "2.5", "1000", "true", "false", "null", "''", "'a,b'", "'{}'", "'SHA-256'"]
) | st.builds(literal, st.text(max_size=4))
_ARGUMENT = _LITERALS | st.sampled_from(_PATHS)


def _call_text(name: str, arguments: list[str]) -> str:
    return f"{name}({', '.join(arguments)})"


_CALLS = st.recursive(
    st.builds(_call_text, st.sampled_from(_NAMES), st.lists(_ARGUMENT, max_size=3)),
    lambda calls: st.builds(
        _call_text, st.sampled_from(_NAMES), st.lists(_ARGUMENT | calls, max_size=3)
    ),
    max_leaves=5,
)


@given(_CALLS, st.fixed_dictionaries({path: _JSON for path in _PATHS}))
@settings(max_examples=300)
def test_any_call_returns_json_or_raises_an_intrinsic_failure(
    expression: str, values: dict[str, Any]
) -> None:
    try:
        result = evaluate(expression, values.__getitem__, rng=random.Random(0))
    except StatesError as exc:
        assert exc.error == INTRINSIC_FAILURE
        assert exc.cause is not None
        assert re.match(r"Invalid arguments in States\.\w+: .", exc.cause)
    else:
        assert json.loads(json.dumps(result)) == result
