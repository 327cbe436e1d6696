"""The rules of error handling in a state: its ``Retry`` retriers and ``Catch`` catchers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from modelyard.workflows.validation_model import MAX_INTEGER, Language, wrong_language
from modelyard.workflows.validation_rules import Checker

__all__ = [
    "check_catch",
    "check_retry",
]

_RETRY_FIELDS: Final = frozenset(
    {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds"}
    | {"JitterStrategy", "Comment"}
)
_CATCH_FIELDS: Final = frozenset({"ErrorEquals", "Next", "ResultPath", "Output", "Assign"})


def _entries(checker: Checker, value: object, location: str) -> list[tuple[Any, str, bool]]:
    if not checker.typed(value, list, location):
        return []
    assert isinstance(value, list)
    found = []
    for index, entry in enumerate(value):
        where = f"{location}[{index}]"
        if checker.typed(entry, dict, where):
            found.append((entry, where, index == len(value) - 1))
    return found


def _check_error_equals(checker: Checker, entry: Mapping[str, Any], where: str, last: bool) -> None:
    errors = entry.get("ErrorEquals")
    if not checker.required(entry, ("ErrorEquals",), where) or not checker.non_empty_array(
        errors, f"{where}/ErrorEquals"
    ):
        return
    assert isinstance(errors, list)
    for index, name in enumerate(errors):
        checker.typed(name, str, f"{where}/ErrorEquals[{index}]")
    if "States.ALL" in errors and (len(errors) > 1 or not last):
        checker.schema("States.ALL must appear alone and at end of list", f"{where}/ErrorEquals")


def check_retry(checker: Checker, value: object, location: str) -> None:
    """Check a ``Retry`` array: each retrier's errors, intervals, attempts and backoff."""
    for entry, where, last in _entries(checker, value, location):
        checker.supported(entry, _RETRY_FIELDS, where)
        _check_error_equals(checker, entry, where, last)
        limits: dict[str, tuple[type, float, float | None]] = {
            "IntervalSeconds": (int, 1, MAX_INTEGER),
            "MaxAttempts": (int, 0, MAX_INTEGER),
            "BackoffRate": (float, 1.0, None),
            "MaxDelaySeconds": (int, 1, 31_622_400),
        }
        for field, (kind, minimum, maximum) in limits.items():
            if field in entry:
                checker.number(
                    entry[field], f"{where}/{field}", kind=kind, minimum=minimum, maximum=maximum
                )
        if "JitterStrategy" in entry:
            checker.enum(entry["JitterStrategy"], ("NONE", "FULL"), f"{where}/JitterStrategy")
        if "Comment" in entry:
            checker.typed(entry["Comment"], str, f"{where}/Comment")


def check_catch(checker: Checker, value: object, location: str, language: Language) -> None:
    """Check a ``Catch`` array: each catcher's errors, Next and result handling."""
    wrong = "ResultPath" if language is Language.JSONATA else "Output"
    for entry, where, last in _entries(checker, value, location):
        checker.supported(entry, _CATCH_FIELDS | {"Comment"}, where)
        if wrong in entry:
            checker.schema(wrong_language(language, wrong), where)
        _check_error_equals(checker, entry, where, last)
        if checker.required(entry, ("Next",), where):
            checker.typed(entry["Next"], str, f"{where}/Next")
        if "ResultPath" in entry and wrong != "ResultPath":
            checker.reference_path(
                entry["ResultPath"], f"{where}/ResultPath", nullable=True, result_path=True
            )
        if "Output" in entry and wrong != "Output":
            checker.jsonata_value(entry["Output"], f"{where}/Output", in_catch=True)
        if "Assign" in entry:
            checker.assign(entry["Assign"], f"{where}/Assign", language, in_catch=True)
