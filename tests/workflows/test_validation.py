"""Definition validation as Step Functions does it: one bad definition per rule, valid ones
covering every state type in both query languages, and garbage that must not crash it.

The cases live in ``validation_cases/``: ``invalid.jsonl`` holds one bad definition per line
with the code and location it must get (and the message, where it is pinned down), and
``valid.json`` definitions that must get no error. A case marked ``"measured": true`` is
Step Functions' own answer to that definition, as recorded by people who ran it there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.workflows.errors import InvalidDefinition
from modelyard.workflows.validation import (
    Diagnostic,
    Severity,
    check,
    validate,
    validate_state_machine_definition,
)

END = {"Type": "Pass", "End": True}


def machine(state: dict[str, Any], *, name: str = "S", **top: Any) -> dict[str, Any]:
    """A one-state machine."""
    return {"StartAt": name, "States": {name: state}, **top}


def map_state(**fields: Any) -> dict[str, Any]:
    """A Map state over one Pass state."""
    processor = {"StartAt": "P", "States": {"P": END}}
    return {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}


def choice(*rules: Any, **fields: Any) -> dict[str, Any]:
    """A machine whose Choice state C has ``rules`` and defaults to Z."""
    return {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": list(rules), "Default": "Z", **fields},
            "Z": END,
        },
    }


def errors(definition: str | dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """The ERROR diagnostics of ``definition`` (text, or parsed), as tuples."""
    return [
        (d.code, d.location, d.message)
        for d in validate(definition)
        if d.severity is Severity.ERROR
    ]


SCHEMA = "SCHEMA_VALIDATION_FAILED"
TARGET = "MISSING_TRANSITION_TARGET"


def _wrong(language: str, field: str) -> str:
    other = "JSONPath" if language == "JSONata" else "JSONata"
    return (
        f"The QueryLanguage is set to '{language}', but field '{field}' is only supported "
        f"for the '{other}' QueryLanguage"
    )


def _nested_parallels(depth: int) -> dict[str, Any]:
    inner: dict[str, Any] = {"StartAt": "L", "States": {"L": END}}
    for level in range(depth):
        inner = {
            "StartAt": f"P{level}",
            "States": {f"P{level}": {"Type": "Parallel", "Branches": [inner], "End": True}},
        }
    return inner


CASES = Path(__file__).parent / "validation_cases"


def _invalid_cases() -> list[Any]:
    cases = [json.loads(line) for line in (CASES / "invalid.jsonl").read_text().splitlines()]
    return [
        pytest.param(
            case["definition"], case["code"], case["location"], case["message"], id=case["id"]
        )
        for case in cases
    ]


def _valid_cases() -> list[Any]:
    cases = json.loads((CASES / "valid.json").read_text())
    return [pytest.param(case["definition"], id=case["id"]) for case in cases]


RULES = _invalid_cases()
VALID = _valid_cases()


@pytest.mark.parametrize(("definition", "code", "location", "message"), RULES)
def test_each_rule_reports_its_code_and_location(
    definition: str | dict[str, Any], code: str, location: str | None, message: str | None
) -> None:
    found = errors(definition)
    assert any(c == code and loc == location for c, loc, _ in found), found
    if message is not None:
        assert (code, location, message) in found, found


def test_nesting_stops_at_a_hundred_levels() -> None:
    assert errors(_nested_parallels(99)) == []
    found = errors(_nested_parallels(101))
    assert [(code, message) for code, _, message in found] == [
        ("TOO_DEEPLY_NESTED", "The states are too deeply nested.")
    ]
    location = found[0][1]
    assert location is not None
    assert location.startswith("/States/P100/Branches[0]/States/P99/")
    assert location.count("/Branches[0]") == 100


def test_deeply_nested_choice_rules_stop_too() -> None:
    nested: dict[str, Any] = {"Variable": "$.x", "IsPresent": True}
    for _ in range(150):
        nested = {"Not": nested}
    found = errors(choice({**nested, "Next": "Z"}))
    assert [(code, message) for code, _, message in found] == [
        ("TOO_DEEPLY_NESTED", "The states are too deeply nested.")
    ]


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param("[" * 50_000, id="deep-json-text"),
        pytest.param('{"a": ' + "1" * 5000 + "}", id="huge-integer"),
    ],
)
def test_json_the_parser_refuses_is_invalid_json(definition: str) -> None:
    assert [code for code, _, _ in errors(definition)] == ["INVALID_JSON_DESCRIPTION"]


def test_parsed_definitions_that_are_not_json_are_not_objects() -> None:
    not_json: Any = {
        "StartAt": "S",
        "States": {"S": {"Type": "Pass", "End": True, "Result": {1, 2}}},
    }
    assert errors(not_json) == [(SCHEMA, None, "Definition must be a valid JSON object")]


def test_deeply_nested_templates_are_walked_to_the_bottom() -> None:
    deep: dict[str, Any] = {"a.$": 1}
    for _ in range(990):
        deep = {"a": deep}
    found = errors(machine({**END, "Parameters": deep}))
    assert [(code, message) for code, _, message in found] == [
        (
            SCHEMA,
            "The value for the field 'a.$' must be a valid JSONPath or a valid intrinsic function call",
        )
    ]
    assert found[0][1] == "/States/S/Parameters" + "/a" * 990


def test_json_nested_deeper_than_jackson_allows_is_refused() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(1000):
        deep = {"a": deep}
    assert errors(machine({**END, "Result": deep})) == [
        (
            "INVALID_JSON_DESCRIPTION",
            None,
            "Document nesting depth (1004) exceeds the maximum allowed (1000, from "
            "`StreamReadConstraints.getMaxNestingDepth()`)",
        )
    ]


def test_check_refuses_json_null() -> None:
    with pytest.raises(InvalidDefinition, match="Definition must be a valid JSON object at null"):
        check("null")


# -- whole answers Step Functions gave for these definitions ---------------------------------


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        pytest.param(
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "NOPE"}}},
            [
                (TARGET, "/States/A/Next", "Missing 'Next' target: NOPE"),
                ("MISSING_END_STATE", None, "Workflow has no terminal state"),
            ],
            id="dangling-target-then-no-end",
        ),
        pytest.param(
            {"StartAt": "Nope", "States": {"A": END}},
            [
                (TARGET, "/StartAt", "Missing 'Next' target: Nope"),
                (TARGET, "/States/A", 'State "A" is not reachable.'),
            ],
            id="dangling-startat-then-unreachable",
        ),
        pytest.param(
            {
                "StartAt": "A",
                "States": {
                    "A": {"Type": "Pass", "Next": "B"},
                    "B": {"Type": "Pass", "Next": "A"},
                    "U": {"Type": "Pass", "Next": "A"},
                },
            },
            [("MISSING_END_STATE", None, "Workflow has no terminal state")],
            id="no-end-hides-unreachable",
        ),
        pytest.param(
            {
                "QueryLanguage": "JSONata",
                "StartAt": "X",
                "States": {
                    "X": {
                        "Type": "Pass",
                        "InputPath": "$.a",
                        "OutputPath": "$.b",
                        "ResultPath": "$.c",
                        "End": True,
                    },
                },
            },
            [
                (SCHEMA, "/States/X", _wrong("JSONata", field))
                for field in ("InputPath", "OutputPath", "ResultPath")
            ],
            id="three-jsonpath-fields",
        ),
        pytest.param(
            {
                "QueryLanguage": "JSONata",
                "StartAt": "M",
                "States": {"M": {**map_state(MaxConcurrency=-1), "QueryLanguage": "JSONPath"}},
            },
            [
                (
                    SCHEMA,
                    "/States/M",
                    "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                ),
                (SCHEMA, "/States/M/MaxConcurrency", "Minimum value is 0"),
            ],
            id="downgrade-then-range",
        ),
        pytest.param(
            {
                "QueryLanguage": "jsonpath",
                "StartAt": "X",
                "States": {"X": {**END, "InputPath": "$.a"}},
            },
            [
                (
                    SCHEMA,
                    "/QueryLanguage",
                    "Value should be one of the following: [JSONPath, JSONata]",
                ),
                (SCHEMA, "/States/X", _wrong("JSONata", "InputPath")),
            ],
            id="unknown-language-resolves-to-jsonata",
        ),
        pytest.param(
            {"StartAt": "X", "States": {"X": {**END, "QueryLanguage": 5, "InputPath": "$.a"}}},
            [
                (SCHEMA, "/States/X", _wrong("JSONata", "InputPath")),
                (SCHEMA, "/States/X/QueryLanguage", "Expected value of type [STRING]"),
            ],
            id="non-string-state-language",
        ),
        pytest.param(
            {
                "StartAt": "X",
                "States": {
                    "X": {
                        "Type": "Pass",
                        "End": True,
                        "Retry": [{"ErrorEquals": ["States.ALL"]}],
                        "TimeoutSeconds": 5,
                        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X"}],
                    }
                },
            },
            [
                (SCHEMA, "/States/X", f"Field '{field}' is not supported")
                for field in ("TimeoutSeconds", "Catch", "Retry")
            ],
            id="unsupported-fields-in-order",
        ),
        pytest.param(
            {
                "StartAt": "pass1",
                "States": {"pass1": {"Type": "Pass", "Next": "pass3"}, "pass2": END},
            },
            [
                (TARGET, "/States/pass1/Next", "Missing 'Next' target: pass3"),
                (TARGET, "/States/pass2", 'State "pass2" is not reachable.'),
            ],
            id="missing-and-unreachable",
        ),
    ],
)
def test_measured_answers_match_exactly(
    definition: dict[str, Any], expected: list[tuple[str, str | None, str]]
) -> None:
    assert errors(definition) == expected


# -- valid definitions: no errors --------------------------------------------------------------


@pytest.mark.parametrize("definition", VALID)
def test_valid_definitions_have_no_errors(definition: dict[str, Any]) -> None:
    assert errors(definition) == []
    assert check(json.dumps(definition)) == definition


# -- warnings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("definition", "code", "location"),
    [
        pytest.param(
            machine({**END, "Result": {"a.$": "$.x"}}),
            "PASS_RESULT_IS_STATIC",
            "/States/S/Result",
            id="pass-result-static",
        ),
        pytest.param(
            machine({"Type": "Fail", "Error": "$.error"}),
            "NO_PATH",
            "/States/S/Error",
            id="no-path",
        ),
        pytest.param(
            machine({**END, "Parameters": {"a": "$.x"}}),
            "NO_DOLLAR",
            "/States/S/Parameters/a",
            id="no-dollar-path",
        ),
        pytest.param(
            machine({**END, "Parameters": {"b": "States.UUID()"}}),
            "NO_DOLLAR",
            "/States/S/Parameters/b",
            id="no-dollar-intrinsic",
        ),
    ],
)
def test_warnings_leave_the_definition_valid(
    definition: dict[str, Any], code: str, location: str
) -> None:
    diagnostics = validate(json.dumps(definition))
    assert [(d.severity, d.code, d.location) for d in diagnostics] == [
        (Severity.WARNING, code, location)
    ]
    assert check(json.dumps(definition)) == definition


# -- the interface ---------------------------------------------------------------------------------


def test_validate_takes_a_parsed_definition() -> None:
    assert validate({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}) == [
        Diagnostic(
            severity=Severity.ERROR,
            code=TARGET,
            message="Missing 'Next' target: B",
            location="/States/A/Next",
        ),
        Diagnostic(
            severity=Severity.ERROR,
            code="MISSING_END_STATE",
            message="Workflow has no terminal state",
            location=None,
        ),
    ]


def test_validate_limits_the_diagnostics() -> None:
    states = {f"S{index}": {"Type": "Pass", "Foo": 1, "End": True} for index in range(5)}
    definition = json.dumps({"StartAt": "S0", "States": states})
    assert len(validate(definition)) == 9
    assert len(validate(definition, max_results=2)) == 2
    assert len(validate(definition, max_results=0)) == 9


def test_check_raises_with_the_create_state_machine_message() -> None:
    loop = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}},
    }
    with pytest.raises(InvalidDefinition) as raised:
        check(json.dumps(loop))
    assert (
        raised.value.message
        == "Invalid State Machine Definition: 'MISSING_END_STATE: Workflow has no terminal state at null'"
    )


def test_check_lists_every_error_as_step_functions_does() -> None:
    definition = {
        "StartAt": "pass1",
        "States": {"pass1": {"Type": "Pass", "Next": "pass3"}, "pass2": END},
    }
    with pytest.raises(InvalidDefinition) as raised:
        check(json.dumps(definition))
    assert raised.value.message == (
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at "
        '/States/pass1/Next, MISSING_TRANSITION_TARGET: State "pass2" is not reachable. at /States/pass2\''
    )


def test_check_puts_the_json_error_in_the_message() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        check("not a definition")
    assert raised.value.message.startswith(
        "Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: Unrecognized token 'not'"
    )
    assert raised.value.message.endswith("line: 1, column: 4]'")


def test_check_refuses_the_field_step_functions_refuses() -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "TimeoutSeconds": 5,
                "Branches": [{"StartAt": "W", "States": {"W": END}}],
                "End": True,
            }
        },
    }
    with pytest.raises(
        InvalidDefinition,
        match=r"^Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: Field 'TimeoutSeconds' is not supported at /States/P'$",
    ):
        check(json.dumps(definition))


def test_validation_response_ok() -> None:
    assert validate_state_machine_definition(json.dumps(machine(END))) == {
        "result": "OK",
        "diagnostics": [],
        "truncated": False,
    }


def test_validation_response_fail_without_location() -> None:
    assert validate_state_machine_definition(" ") == {
        "result": "FAIL",
        "diagnostics": [
            {
                "severity": "ERROR",
                "code": SCHEMA,
                "message": "Definition must be a valid JSON object",
            }
        ],
        "truncated": False,
    }


def test_validation_response_truncates() -> None:
    definition = json.dumps(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "X",
            "States": {"X": {**END, "InputPath": "$.a", "OutputPath": "$.b", "ResultPath": "$.c"}},
        }
    )
    response = validate_state_machine_definition(definition, max_results=1)
    assert (response["result"], len(response["diagnostics"]), response["truncated"]) == (
        "FAIL",
        1,
        True,
    )
    response = validate_state_machine_definition(definition, max_results=0)
    assert (len(response["diagnostics"]), response["truncated"]) == (3, False)


def test_validation_response_severity() -> None:
    definition = json.dumps(machine({**END, "Parameters": {"a": "$.x"}}))
    assert validate_state_machine_definition(definition)["diagnostics"] == []
    warning = validate_state_machine_definition(definition, severity="WARNING")
    assert warning["result"] == "OK"
    assert [d["code"] for d in warning["diagnostics"]] == ["NO_DOLLAR"]


# -- never raises -------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=16,
)
FIELDS = sorted(
    {
        "Type",
        "Next",
        "End",
        "Comment",
        "QueryLanguage",
        "StartAt",
        "States",
        "Resource",
        "Parameters",
        "Arguments",
        "Output",
        "Assign",
        "InputPath",
        "OutputPath",
        "ResultPath",
        "ResultSelector",
        "Result",
        "Retry",
        "Catch",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Credentials",
        "Seconds",
        "Timestamp",
        "SecondsPath",
        "TimestampPath",
        "Choices",
        "Default",
        "Error",
        "Cause",
        "ErrorPath",
        "CausePath",
        "Branches",
        "ItemProcessor",
        "Iterator",
        "ItemsPath",
        "Items",
        "ItemSelector",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
        "Label",
        "ProcessorConfig",
        "ErrorEquals",
        "Variable",
        "Condition",
        "And",
        "Or",
        "Not",
        "StringEquals",
        "a.$",
    }
)
ODD_STRINGS = st.sampled_from(
    [
        "$",
        "$$",
        "$.a[*]",
        "$.a[",
        "States.Format('{}', $.a)",
        "States.Array(",
        "{% $$ %}",
        "{% 1 + %}",
        "{% $states.input %}",
        "Task",
        "Map",
        "Pass",
        "Choice",
        "arn:aws:states:::lambda:invoke",
        "S",
        "2030-01-01T00:00:00Z",
        "JSONata",
        "JSONPath",
    ]
)
BASE = next(case.values[0] for case in VALID if case.id == "every-state-type-jsonpath")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_any_json_value_gets_diagnostics(value: Any) -> None:
    definitions = [json.dumps(value)] if isinstance(value, str) else [json.dumps(value), value]
    for definition in definitions:
        diagnostics = validate(definition)
        assert all(isinstance(d, Diagnostic) for d in diagnostics)
        if not isinstance(value, dict):
            assert [(d.code, d.message) for d in diagnostics] == [
                (SCHEMA, "Definition must be a valid JSON object")
            ]
        else:
            assert any(d.severity is Severity.ERROR for d in diagnostics)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_garbage_text_fails_validation(text: str) -> None:
    diagnostics = validate(text)
    assert any(d.severity is Severity.ERROR for d in diagnostics)
    with pytest.raises(InvalidDefinition):
        check(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_definitions_never_raise(data: st.DataObject) -> None:
    definition = json.loads(json.dumps(BASE))
    targets = [definition, *definition["States"].values()]
    for _ in range(data.draw(st.integers(1, 4))):
        target = data.draw(st.sampled_from(targets))
        field = data.draw(st.sampled_from(FIELDS))
        target[field] = data.draw(
            JSON_VALUES
            | ODD_STRINGS
            | st.lists(JSON_VALUES | ODD_STRINGS, max_size=3)
            | st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES | ODD_STRINGS, max_size=3)
        )
    diagnostics = validate(json.dumps(definition))
    assert all(isinstance(d, Diagnostic) and d.code for d in diagnostics)
