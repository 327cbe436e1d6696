"""The rules of Choice states: JSONPath comparisons and And/Or/Not, or JSONata Conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from modelyard.workflows.validation_model import MAX_NESTING, Code, Language, wrong_language
from modelyard.workflows.validation_rules import Checker

__all__ = [
    "check_rule",
]

_COMPARATORS: Final = {
    **dict.fromkeys(
        (
            *("StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals"),
            *("StringGreaterThanEquals", "StringMatches"),
        ),
        str,
    ),
    **dict.fromkeys(
        (
            *("NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals"),
            "NumericGreaterThanEquals",
        ),
        float,
    ),
    **dict.fromkeys(
        (
            *("BooleanEquals", "IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean"),
            "IsTimestamp",
        ),
        bool,
    ),
    **dict.fromkeys(
        (
            *("TimestampEquals", "TimestampLessThan", "TimestampGreaterThan"),
            *("TimestampLessThanEquals", "TimestampGreaterThanEquals"),
        ),
        "timestamp",
    ),
}
_COMPARATORS.update(
    dict.fromkeys(
        (f"{name}Path" for name in tuple(_COMPARATORS) if not name.startswith(("Is", "StringM"))),
        "path",
    )
)
_BOOLEAN_SELECTORS: Final = ("And", "Or", "Not", "Variable")
_JSONPATH_RULE_FIELDS: Final = frozenset((*_BOOLEAN_SELECTORS, *_COMPARATORS))


def check_rule(
    checker: Checker,
    rule: object,
    location: str,
    language: Language,
    *,
    top: bool,
    depth: int = 0,
) -> None:
    """Check a Choice rule: a top-level one (with Next) or one nested in And, Or or Not."""
    if depth > MAX_NESTING:
        checker.error(Code.TOO_DEEPLY_NESTED, "The states are too deeply nested.", location)
        return
    if not checker.typed(rule, dict, location):
        return
    assert isinstance(rule, Mapping)
    own = {"Next", "Assign", "Output", "Comment"} if top else {"Comment"}
    checker.supported(rule, _JSONPATH_RULE_FIELDS | {"Condition"} | own, location)
    wrong = _JSONPATH_RULE_FIELDS if language is Language.JSONATA else {"Condition", "Output"}
    for field in rule:
        if field in wrong:
            checker.schema(wrong_language(language, field), location)
    if top and checker.required(rule, ("Next",), location):
        checker.typed(rule["Next"], str, f"{location}/Next")
    if top and "Assign" in rule:
        checker.assign(rule["Assign"], f"{location}/Assign", language)
    if language is Language.JSONATA:
        if top and "Output" in rule:
            checker.jsonata_value(rule["Output"], f"{location}/Output")
        if checker.required(rule, ("Condition",), location) and not isinstance(
            rule["Condition"], bool
        ):
            checker.expression(rule["Condition"], f"{location}/Condition")
        return
    selector = checker.one_of(rule, _BOOLEAN_SELECTORS, location)
    comparators = [field for field in rule if field in _COMPARATORS]
    if selector == "Variable":
        checker.reference_path(rule["Variable"], f"{location}/Variable")
        if (field := checker.one_of(rule, tuple(_COMPARATORS), location)) is not None:
            _check_comparison(checker, _COMPARATORS[field], rule[field], f"{location}/{field}")
        return
    for field in comparators:
        checker.schema(f"Field '{field}' is not supported", location)
    if selector in ("And", "Or"):
        if checker.non_empty_array(rule[selector], f"{location}/{selector}"):
            for index, nested in enumerate(rule[selector]):
                where = f"{location}/{selector}[{index}]"
                check_rule(checker, nested, where, language, top=False, depth=depth + 1)
    elif selector == "Not":
        check_rule(checker, rule["Not"], f"{location}/Not", language, top=False, depth=depth + 1)


def _check_comparison(checker: Checker, kind: object, value: object, location: str) -> None:
    if kind == "path":
        checker.reference_path(value, location)
    elif kind == "timestamp":
        checker.timestamp(value, location, language=Language.JSONPATH)
    elif isinstance(kind, type):
        checker.typed(value, kind, location)
