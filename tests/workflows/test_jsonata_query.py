"""JSONata in ASL, against "Transforming data with JSONata in Step Functions" and AWS's answers."""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonata import Jsonata

from modelyard.workflows import jsonata_query
from modelyard.workflows.errors import QUERY_EVALUATION_ERROR, InvalidDefinition, StatesError
from modelyard.workflows.jsonata_functions import to_json, to_jsonata
from modelyard.workflows.jsonata_query import (
    compile_expression,
    evaluate,
    evaluate_template,
    is_expression,
)

GUIDE_EXAMPLES = json.loads((Path(__file__).parent / "jsonata_guide_examples.json").read_text())
ENTERED = datetime(2024, 11, 14, 9, 30, 15, 123000, tzinfo=UTC)


def run(
    text: str,
    input: Any = None,
    *,
    variables: dict[str, Any] | None = None,
    rng: random.Random | None = None,
    field: str | None = "Output",
    **states: Any,
) -> Any:
    """Evaluate one expression with ``input`` as ``$states.input``."""
    return evaluate(
        text,
        states={"input": {} if input is None else input, "context": {}, **states},
        variables=variables or {},
        rng=rng or random.Random(0),
        now=ENTERED,
        field=field,
    )


def failure(text: str, input: Any = None, **kwargs: Any) -> str:
    """The cause of the ``States.QueryEvaluationError`` that evaluating ``text`` raises."""
    with pytest.raises(StatesError) as raised:
        run(text, input, **kwargs)
    assert raised.value.error == QUERY_EVALUATION_ERROR
    assert raised.value.cause is not None
    return raised.value.cause


def refusal(text: str) -> str:
    with pytest.raises(InvalidDefinition) as raised:
        compile_expression(text)
    return str(raised.value)


# -- the guide's examples ------------------------------------------------------------------


@pytest.mark.parametrize("example", GUIDE_EXAMPLES, ids=[e["source"] for e in GUIDE_EXAMPLES])
def test_guide_examples(example: dict[str, Any]) -> None:
    result = evaluate_template(
        example["template"],
        states={"context": {}, **example["states"]},
        variables=example["variables"],
        rng=random.Random(0),
        now=ENTERED,
        field=example["field"],
    )
    assert result == example["expected"]


# -- delimiters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{% $x %}", True),
        ("{%$x%}", True),
        ("{%\n  $x\n%}", True),
        ("{%%}", True),
        (" {% $x %}", False),  # no leading spaces
        ("{% $x %} ", False),  # no trailing spaces
        ("{% $x", False),
        ("$x %}", False),
        ("{%}", False),
        ("Hello {% $name %}!", False),
        ("$customerName", False),
        (42, False),
        (None, False),
        (["{% $x %}"], False),
    ],
)
def test_is_expression(value: object, expected: bool) -> None:
    assert is_expression(value) is expected


def test_strings_that_are_not_expressions_are_literal() -> None:
    template = {"a": " {% 1 + 1 %}", "b": "Hello {% $name %}", "c": "{% 1 + 1"}
    assert evaluate_template(template, states={}, variables={}, rng=random.Random(0)) == template


def test_keys_are_never_expressions() -> None:
    template = {"{% 'k' %}": "{% 1 + 1 %}"}
    result = evaluate_template(template, states={}, variables={}, rng=random.Random(0))
    assert result == {"{% 'k' %}": 2}


def test_templates_nest_at_any_depth() -> None:
    template = {"a": [{"b": ["{% $states.input.x %}", "{% $y %}"]}], "n": None, "t": True}
    result = evaluate_template(
        template, states={"input": {"x": 1}}, variables={"y": [2]}, rng=random.Random(0)
    )
    assert result == {"a": [{"b": [1, [2]]}], "n": None, "t": True}


def test_compile_takes_the_delimited_text_and_caches_it() -> None:
    expression = compile_expression("{%   $states.input.x + $y   %}")
    assert compile_expression("{%   $states.input.x + $y   %}") is expression
    assert expression.source == "$states.input.x + $y"
    assert expression.variables == frozenset({"states", "y"})
    assert expression.states_fields == frozenset({"input"})


def test_compile_reports_whole_states_use() -> None:
    assert compile_expression("{% $keys($states) %}").states_fields is None
    expression = compile_expression("{% $states.result.a & $states.errorOutput.b %}")
    assert expression.states_fields == frozenset({"result", "errorOutput"})


def test_compile_refuses_a_string_that_is_not_an_expression() -> None:
    with pytest.raises(ValueError, match="not a JSONata expression"):
        compile_expression("$states.input")


# -- definition-time refusals ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("a[1,2)", 'Expected "]", got ","'),
        ('"unterminated', "String literal must be terminated by a matching quote"),
        ("1 +", "Unexpected end of expression"),
        ('{"a":}', 'The symbol "}" cannot be used as a unary operator'),
        ("$x :=", "Unexpected end of expression"),
        ('$match("a", /abc', "No terminating / in regular expression"),
        ("phone %.other", 'The symbol "." cannot be used as a unary operator'),
        ("", "Unexpected end of expression"),
    ],
)
def test_syntax_errors_are_invalid_definitions(source: str, message: str) -> None:
    assert refusal("{% " + source + " %}") == f"INVALID_JSONATA_EXPRESSION: {message}"


@pytest.mark.parametrize(
    ("source", "reference"),
    [
        ("phone", "phone"),
        ("phone.number", "phone"),
        ("{aaa: 1}", "aaa"),
        ("$count(items)", "items"),
        ("-amount", "amount"),
        ("[1, a]", "a"),
        ("$states.input.v ? yes : 1", "yes"),
        ("$map($states.input.a, function($x){ b })", "b"),
        ("$", "$"),
    ],
)
def test_top_level_references_are_unsupported(source: str, reference: str) -> None:
    assert refusal("{% " + source + " %}") == (
        f"UNSUPPORTED_JSONATA_EXPRESSION: Reference to '{reference}' at the top level is not"
        " supported."
    )


def test_root_reference_is_unsupported() -> None:
    assert (
        refusal("{% $$ %}") == "UNSUPPORTED_JSONATA_EXPRESSION: Reference to '$$' is not supported."
    )


@pytest.mark.parametrize(
    "source",
    [
        "$states.input.items[value > 3]",
        "$states.input.items[$.price > 1]",
        "$states.input.items.{'id': id}",
        "$states.input.items^(price)",
        "$sum($states.input.items.(price * qty))",
        "$map($states.input.a, function($x){ $x.b })",
        "($x := $states.input.v; $x * 2)",
        "{'k': $states.input.v}",
        "$states.input ~> |$|{'a': 1}|",
    ],
)
def test_names_after_the_first_step_are_relative(source: str) -> None:
    assert compile_expression("{% " + source + " %}").source == source


# -- $states and variables ---------------------------------------------------------------


def test_states_binding() -> None:
    states = {
        "input": {"a": 1},
        "result": {"b": 2},
        "errorOutput": {"Error": "E"},
        "context": {"State": {"Name": "S"}},
    }
    template = "{% [$states.input.a, $states.result.b, $states.errorOutput.Error] %}"
    assert evaluate(template, states=states, variables={}, rng=random.Random(0)) == [1, 2, "E"]
    assert (
        evaluate(
            "{% $states.context.State.Name %}", states=states, variables={}, rng=random.Random(0)
        )
        == "S"
    )


def test_states_is_reserved_over_a_variable_of_that_name() -> None:
    assert run("{% $states.input %}", {"a": 1}, variables={"states": "shadow"}) == {"a": 1}


def test_result_where_the_state_has_none_is_undefined() -> None:
    cause = failure("{% $states.result %}", field="Output")
    assert cause == (
        "The JSONata expression '$states.result' specified for the field 'Output'"
        " returned nothing (undefined)."
    )


def test_variables_are_dollar_names() -> None:
    assert (
        run(
            "{% $greeting & ', ' & $who.name %}",
            variables={"greeting": "Hi", "who": {"name": "Al"}},
        )
        == "Hi, Al"
    )


# -- JSON in and out ----------------------------------------------------------------------


def test_integers_come_back_as_ints() -> None:
    assert type(run("{% 1 + 1 %}")) is int
    assert type(run("{% 6 / 2 %}")) is int
    assert run("{% 6 / 4 %}") == 1.5
    assert type(run("{% $states.input.x %}", {"x": 3.0})) is int


def test_results_are_plain_json_containers() -> None:
    result = run(
        "{% {'a': [1..3], 'b': $states.input.items.id} %}", {"items": [{"id": 1}, {"id": 2}]}
    )
    assert result == {"a": [1, 2, 3], "b": [1, 2]}
    assert type(result) is dict
    assert type(result["a"]) is list
    assert type(result["b"]) is list


def test_results_do_not_alias_the_input() -> None:
    data = {"items": [{"id": 1}]}
    result = run("{% $states.input %}", data)
    result["items"].append("mutated")
    assert data == {"items": [{"id": 1}]}


def test_json_null_is_a_value() -> None:
    data = {"bar": None}
    assert run("{% $states.input.bar %}", data) is None
    assert run("{% {'v': $states.input.bar} %}", data) == {"v": None}
    assert run("{% $exists($states.input.bar) %}", data) is True
    assert run("{% $type($states.input.bar) %}", data) == "null"
    assert run("{% [$states.input.bar, null] %}", data) == [None, None]
    assert run("{% $v %}", variables={"v": None}) is None


def test_singleton_sequences_reduce_to_their_value() -> None:
    assert run("{% $states.input.items.{'id': id} %}", {"items": [{"id": 7}]}) == {"id": 7}
    assert run("{% [$states.input.items.{'id': id}] %}", {"items": [{"id": 7}]}) == [{"id": 7}]


# -- errors ---------------------------------------------------------------------------------


def test_undefined_fails_the_field() -> None:
    cause = failure("{% $states.input.thisFieldDoesNotExist %}", field="Output")
    assert cause == (
        "The JSONata expression '$states.input.thisFieldDoesNotExist' specified for the field"
        " 'Output' returned nothing (undefined)."
    )


def test_undefined_in_a_nested_field_fails_naming_the_field() -> None:
    template = {"Input": {"pushLocation": "{% $states.input.pushLocation %}"}}
    with pytest.raises(StatesError) as raised:
        evaluate_template(
            template, states={"input": {}}, variables={}, rng=random.Random(0), field="Arguments"
        )
    assert raised.value.error == QUERY_EVALUATION_ERROR
    assert raised.value.cause == (
        "The JSONata expression '$states.input.pushLocation' specified for the field"
        " 'Arguments/Input/pushLocation' returned nothing (undefined)."
    )


def test_undefined_in_an_array_names_the_index() -> None:
    with pytest.raises(StatesError) as raised:
        evaluate_template(
            {"a": [1, {"b": ["{% $nothing %}"]}]},
            states={},
            variables={},
            rng=random.Random(0),
            field="Output",
        )
    assert "for the field 'Output/a[1]/b[0]' returned nothing" in str(raised.value.cause)


def test_without_a_field_the_cause_names_the_expression() -> None:
    cause = failure("{% $nothing %}", field=None)
    assert cause == "The JSONata expression '$nothing' returned nothing (undefined)."


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("$sum(['a'])", '. T0412: Argument 1 of function "sum" must be an array of "numbers"'),
        ("'a' + 1", '. T2001: The left side of the "+" operator must evaluate to a number'),
        ("$x + $y", '. T2001: The left side of the "+" operator must evaluate to a number'),
        (
            "$range('0',4,1)",
            '. T0410: Argument 1 of function "range" does not match function signature',
        ),
        (
            "$range(0,4,1,2)",
            '. T0410: Argument 4 of function "range" does not match function signature',
        ),
        ("$eval('1 + 1')", ". T1006: Attempted to invoke a non-function"),
        ("$parse('{')", ". D3137: Invalid JSON"),
        (
            "$range(1, 360146, 1)",
            ": Expression evaluation memory limit exceeded: Check for excessive memory usage",
        ),
    ],
)
def test_evaluation_errors_name_the_expression_and_the_problem(source: str, detail: str) -> None:
    cause = failure("{% " + source + " %}", variables={"x": "a", "y": 1}, field="Output/v")
    assert cause == (
        f"The JSONata expression '{source}' specified for the field 'Output/v'"
        f" threw an error during evaluation{detail}"
    )


def test_a_function_is_not_a_json_value() -> None:
    cause = failure("{% function($x){ $x } %}")
    assert cause.endswith("returned an unsupported result type.")


def test_depth_is_bounded_at_100_levels() -> None:
    assert run("{% " + "+".join(["1"] * 100) + " %}") == 100
    cause = failure("{% " + "+".join(["1"] * 101) + " %}")
    assert cause.endswith(
        "threw an error during evaluation: Stack overflow error: Check for non-terminating"
        " recursive function.  Consider rewriting as tail-recursive."
    )


def test_runaway_loops_time_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonata_query, "EVALUATION_TIMEOUT", 0.05)
    # A tail call runs in constant stack, so only the clock can end it.
    cause = failure("{% ($f := function($n){ $f($n + 1) }; $f(0)) %}")
    assert cause.endswith(
        "threw an error during evaluation: Expression evaluation timeout: Check for infinite loop"
    )


# -- the functions Step Functions adds -------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$partition([1,2,3,4,5,6,7,8,9], 4)", [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
        ("$partition([1,2,3,4,5], 2)", [[1, 2], [3, 4], [5]]),
        ("$partition([1,2,3], 10)", [[1, 2, 3]]),
        ("$partition([1,2,3])", [[1, 2, 3]]),
        ("$partition([1,2,3,4,5], 2.9)", [[1, 2], [3, 4], [5]]),
        ("$partition(['a', {'b': null}], 1)", [["a"], [{"b": None}]]),
    ],
)
def test_partition(source: str, expected: Any) -> None:
    assert run("{% " + source + " %}") == expected


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("$partition([], 2)", " returned nothing (undefined)."),
        ("$partition([1,2,3], 0)", " returned nothing (undefined)."),
        ("$partition([1,2,3], -0.5)", " returned nothing (undefined)."),
        (
            "$partition([1,2,3], -1)",
            " threw an error during evaluation. D3137: Second argument must be zero or greater",
        ),
        (
            "$partition(null, 2)",
            ' threw an error during evaluation. T0412: Argument 1 of function "partition" must be'
            " an array of undefined",
        ),
        (
            "$partition([1], 'two')",
            ' threw an error during evaluation. T0410: Argument 2 of function "partition" does not'
            " match function signature",
        ),
    ],
)
def test_partition_refusals(source: str, detail: str) -> None:
    assert failure("{% " + source + " %}").endswith(detail)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("$range(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("$range(0, 10, 3)", [0, 3, 6, 9]),
        ("$range(10, 0, -2)", [10, 8, 6, 4, 2, 0]),
        ("$range(-1, 9, 2)", [-1, 1, 3, 5, 7, 9]),
        ("$range(-1.7, 2, 1)", [-1, 0, 1, 2]),
        ("$range(2.8, -1.2, -1.2)", [2, 1, 0, -1]),
        ("$range(3, 3, 1)", 3),
        ("$append([], $range(7, 7, 1))", [7]),
    ],
)
def test_range(source: str, expected: Any) -> None:
    assert run("{% " + source + " %}") == expected


@pytest.mark.parametrize(
    "source", ["$range(3, 1, 1)", "$range(1, 3, -1)", "$range(0, 4, 0)", "$range(0, 4)"]
)
def test_range_that_goes_nowhere_is_undefined(source: str) -> None:
    assert failure("{% " + source + " %}").endswith(" returned nothing (undefined).")
    assert run("{% $append([], " + source + ") %}") == []


def test_range_needs_its_end() -> None:
    assert failure("{% $range(1) %}").endswith(
        'T0410: Argument 2 of function "range" does not match function signature'
    )


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"])
def test_hash_algorithms(algorithm: str) -> None:
    expected = hashlib.new(algorithm.replace("-", "").lower(), "Ünïcode".encode()).hexdigest()
    assert (
        run("{% $hash($states.input.s, $a) %}", {"s": "Ünïcode"}, variables={"a": algorithm})
        == expected
    )


def test_hash_refusals() -> None:
    assert failure("{% $hash('x', 'sha-256') %}").endswith(
        "D3137: Hash algorithm 'sha-256' must be one of SHA-1, SHA-384, SHA-256, SHA-512, MD5"
    )
    assert failure("{% $hash(1, 'MD5') %}").endswith(
        'T0410: Argument 1 of function "hash" does not match function signature'
    )
    assert failure("{% $hash('x') %}").endswith(" returned nothing (undefined).")


def test_random_draws_only_from_the_given_rng() -> None:
    first = run("{% [$random(), $random()] %}", rng=random.Random(7))
    again = run("{% [$random(), $random()] %}", rng=random.Random(7))
    reference = random.Random(7)
    assert first == again == [reference.random(), reference.random()]
    assert all(0 <= value < 1 for value in first)


def test_random_with_a_seed_is_the_same_number_as_on_aws() -> None:
    # AWS seeds java.util.Random: new Random(42).nextDouble() is 0.7275636800328681.
    assert run("{% $random(42) %}") == 0.7275636800328681
    assert run("{% $random(42.9) %}", rng=random.Random(1)) == 0.7275636800328681
    assert run("{% $random(0) %}") == 0.730967787376657


def test_uuid_is_version_4_and_replayable() -> None:
    value = run("{% $uuid() %}", rng=random.Random(3))
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == value
    assert run("{% $uuid() %}", rng=random.Random(3)) == value
    assert run("{% $uuid() %}", rng=random.Random(4)) != value


def test_parse() -> None:
    assert run("{% $parse($states.input.s).a %}", {"s": '{"a": [1, 2.5, "x"]}'}) == [1, 2.5, "x"]
    assert run("{% $exists($parse('null')) %}") is True
    assert run("{% $parse('12345678901234567890') %}") == 1.2345678901234567e19
    assert run("{% $parse('9223372036854775807') %}") == 9223372036854775807


@pytest.mark.parametrize("text", ["", "nope", "1 2", '{"a": 1, "a": 2}', "NaN", "[1,]"])
def test_parse_refuses_what_is_not_json(text: str) -> None:
    assert failure("{% $parse($states.input.s) %}", {"s": text}).endswith("D3137: Invalid JSON")


def test_now_and_millis_are_the_state_entered_time() -> None:
    assert run("{% $now() %}") == "2024-11-14T09:30:15.123Z"
    assert run("{% $millis() %}") == 1731576615123
    assert run("{% $now('[Y0001]-[M01]-[D01]') %}") == "2024-11-14"
    naive = evaluate(
        "{% $millis() %}",
        states={},
        variables={},
        rng=random.Random(0),
        now=datetime(2024, 11, 14, 9, 30, 15, 123000),
    )
    assert naive == 1731576615123


def test_now_defaults_to_the_wall_clock() -> None:
    before = datetime.now(UTC).timestamp() * 1000
    value = evaluate("{% $millis() %}", states={}, variables={}, rng=random.Random(0))
    assert before - 1 <= value <= datetime.now(UTC).timestamp() * 1000 + 1


def test_eval_is_disabled_and_parse_replaces_it() -> None:
    assert failure("{% $eval('[1]') %}").endswith("T1006: Attempted to invoke a non-function")
    assert run("{% $parse('[1]') %}") == [1]


# -- properties ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text().filter(lambda text: not is_expression(text))
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_a_template_without_expressions_is_returned_unchanged(value: Any) -> None:
    assert evaluate_template(value, states={}, variables={}, rng=random.Random(0)) == value


@given(
    st.lists(
        st.integers(-(2**63), 2**63 - 1) | st.text(max_size=3) | st.none(), min_size=1, max_size=30
    ),
    st.integers(min_value=1, max_value=35),
)
def test_partition_chunks_concatenate_back(items: list[Any], size: int) -> None:
    chunks = run(
        "{% $partition($states.input.items, $size) %}", {"items": items}, variables={"size": size}
    )
    assert [item for chunk in chunks for item in chunk] == items
    assert all(len(chunk) == size for chunk in chunks[:-1])
    assert 1 <= len(chunks[-1]) <= size


@given(
    st.integers(min_value=-60, max_value=60),
    st.integers(min_value=-60, max_value=60),
    st.integers(min_value=-9, max_value=9).filter(bool),
)
def test_range_is_python_range_with_the_end_included(start: int, end: int, step: int) -> None:
    expected = list(range(start, end + (1 if step > 0 else -1), step))
    expression = "{% $range($a, $b, $c) %}"
    variables = {"a": start, "b": end, "c": step}
    if not expected:
        assert failure(expression, variables=variables).endswith("(undefined).")
    elif len(expected) == 1:
        assert run(expression, variables=variables) == expected[0]
    else:
        assert run(expression, variables=variables) == expected


@given(st.text(), st.sampled_from(["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"]))
def test_hash_is_the_hex_digest_of_utf8(text: str, algorithm: str) -> None:
    expected = hashlib.new(algorithm.replace("-", "").lower(), text.encode()).hexdigest()
    assert run("{% $hash($t, $a) %}", variables={"t": text, "a": algorithm}) == expected


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_seeded_random_is_a_fraction_fixed_by_the_seed(seed: int) -> None:
    value = run("{% $random($s) %}", variables={"s": seed}, rng=random.Random(1))
    assert 0 <= value < 1
    assert run("{% $random($s) %}", variables={"s": seed}, rng=random.Random(2)) == value


@given(st.text(alphabet=st.characters(exclude_characters="'\\"), max_size=20))
def test_strings_round_trip(text: str) -> None:
    assert run("{% $states.input.s %}", {"s": text}) == text
    assert run("{% $s %}", variables={"s": text}) == text


def test_cause_quotes_the_expression_as_written_inside_the_delimiters() -> None:
    cause = failure("{%\n   $states.input.missing\n%}")
    assert re.search(r"expression '\$states\.input\.missing' specified", cause)


EXPRESSION_TOKENS = [*"$abx.[](){}:=;?!<>+-*/%&^~|@#,'\"` 0123", "$states.input", "function"]


@given(st.lists(st.sampled_from(EXPRESSION_TOKENS), max_size=16).map("".join))
def test_any_text_evaluates_to_json_or_fails_as_asl_says(text: str) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonata_query, "EVALUATION_TIMEOUT", 0.2)
        try:
            result = run("{% " + text + " %}", {"a": [1, None, "x"]}, variables={"x": 3})
        except (InvalidDefinition, StatesError):
            return
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_an_operator_the_library_does_not_know_is_a_syntax_error() -> None:
    assert refusal("{% 1 ~>! 2 %}").startswith("INVALID_JSONATA_EXPRESSION: ")


def test_concurrent_evaluations_keep_their_own_rng_and_clock() -> None:
    def draw(seed: int) -> list[Any]:
        return [
            evaluate(
                "{% [$random(), $uuid(), $millis()] %}",
                states={},
                variables={},
                rng=random.Random(seed),
                now=datetime.fromtimestamp(seed, UTC),
            )
            for _ in range(50)
        ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(draw, [1, 2, 3, 4] * 3))
    for seed, runs in zip([1, 2, 3, 4] * 3, results, strict=True):
        assert runs == draw(seed)
        assert runs[0][2] == seed * 1000


# -- only what an expression can observe is converted, and that changes no answer ------------

OBSERVING = [
    "$states.input.a.b",
    "$states.input.a.b.c",
    "$states.input.a[b > 1].c",
    "$states.input.a[0].b",
    "$states.input.a[].b",
    "$states.input.a.%.d",
    "$states.input.a@$x.($x.b)",
    "$states.input.a#$i.b",
    "$states.input.a^(b).c",
    "$states.input.a{'k': b}",
    "$states.input.*.b",
    "$states.input.**.b",
    "$keys($states.input.a)",
    "[$states.input.a.b, $states.input.a]",
    "$string($states.input.d) & $string($states.input.a.c)",
    "$sift($states.input, function($v, $k){ $k = 'd' })",
    "($s := $states; $s.input.d)",
]
keyed = st.recursive(
    st.none() | st.integers(-3, 3) | st.sampled_from(["x", "y"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from("abcd"), children, max_size=4)
    ),
    max_leaves=12,
)


def outcome_of_the_library_alone(source: str, states: dict[str, Any]) -> Any:
    program = Jsonata(source)
    program.set_output_convert_nulls(False)
    try:
        value = program.evaluate(None, {"states": to_jsonata(states)})
    except Exception:
        return "error"
    return "undefined" if value is None else to_json(value)


@given(st.sampled_from(OBSERVING), st.dictionaries(st.sampled_from("abcd"), keyed, max_size=4))
def test_converting_only_what_is_read_changes_no_answer(source: str, data: dict[str, Any]) -> None:
    states = {"input": data, "context": {"d": "context"}}
    try:
        outcome = evaluate(
            "{% " + source + " %}", states=states, variables={}, rng=random.Random(0)
        )
    except StatesError as error:
        assert error.cause is not None
        outcome = "undefined" if error.cause.endswith("(undefined).") else "error"
    assert outcome == outcome_of_the_library_alone(source, states)


def test_a_path_of_names_reads_only_what_lies_under_them() -> None:
    expression = compile_expression("{% $states.input.customer.name & $v.a[0] & $w %}")
    assert expression.reads == {
        "states": (("input", (("customer", (("name", None),)),)),),
        "v": (("a", None),),
        "w": None,
    }
    assert compile_expression("{% $states.input.a.%.b %}").reads == {"states": None}


def test_shuffle_draws_only_from_the_given_rng() -> None:
    shuffled = run("{% $shuffle([1, 2, 3, 4, 5, 6, 7, 8]) %}", rng=random.Random(5))
    assert sorted(shuffled) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert run("{% $shuffle([1, 2, 3, 4, 5, 6, 7, 8]) %}", rng=random.Random(5)) == shuffled
    assert run("{% $shuffle(7) %}") == [7]
