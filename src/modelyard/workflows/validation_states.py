"""The rules of single states: fields allowed per type and language, and each type's checks.

:func:`check_state` checks one state of a States block and answers its :class:`Links`,
which :mod:`modelyard.workflows.validation_flow` follows to check transitions and scopes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from modelyard.workflows.validation_choice import check_rule
from modelyard.workflows.validation_map import check_map
from modelyard.workflows.validation_model import (
    Code,
    Language,
    items_of,
    other_language,
    wrong_language,
)
from modelyard.workflows.validation_retry import check_catch, check_retry
from modelyard.workflows.validation_rules import Checker, check_jsonata_object
from modelyard.workflows.validation_task import check_task

__all__ = [
    "Links",
    "check_state",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Links:
    """What the scope check needs from a state: where it goes and what it contains."""

    #: ``(target, location)`` of every Next, Default, Choices[].Next and Catch[].Next.
    transitions: list[tuple[str, str]]
    #: Whether the state ends the workflow (End, Succeed or Fail).
    terminal: bool
    #: ``(scope, location, extra fields)`` of every branch and item processor.
    scopes: list[tuple[Mapping[str, Any], str, frozenset[str]]]


_STATE_TYPES: Final = ("Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
_IO: Final = ("InputPath", "OutputPath", "Output", "Assign")
_FLOW: Final = ("Next", "End")
_RESULT: Final = ("ResultPath", "Parameters", "ResultSelector", "Retry", "Catch")
_FIELDS: Final = {
    "Pass": frozenset((*_IO, *_FLOW, "Result", "ResultPath", "Parameters")),
    "Task": frozenset(
        (
            *_IO,
            *_FLOW,
            *_RESULT,
            *("Arguments", "Resource", "Credentials", "TimeoutSeconds", "TimeoutSecondsPath"),
            *("HeartbeatSeconds", "HeartbeatSecondsPath"),
        )
    ),
    "Wait": frozenset((*_IO, *_FLOW, "Seconds", "Timestamp", "SecondsPath", "TimestampPath")),
    "Choice": frozenset((*_IO, "Choices", "Default")),
    "Succeed": frozenset(("InputPath", "OutputPath", "Output")),
    "Fail": frozenset(("Error", "Cause", "ErrorPath", "CausePath")),
    "Parallel": frozenset((*_IO, *_FLOW, *_RESULT, "Arguments", "Branches")),
    "Map": frozenset(
        (
            *_IO,
            *_FLOW,
            *_RESULT,
            *("ItemProcessor", "Iterator", "ItemsPath", "Items", "ItemSelector", "ItemReader"),
            *("ItemBatcher", "ResultWriter", "MaxConcurrency", "MaxConcurrencyPath", "Label"),
            *("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"),
            *("ToleratedFailureCount", "ToleratedFailureCountPath"),
        )
    ),
}
_COMMON_FIELDS: Final = frozenset({"Type", "Comment", "QueryLanguage"})
_ONLY_IN: Final = {
    Language.JSONPATH: (
        "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Result",
        "ItemsPath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath",
        "TimestampPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath", "ErrorPath", "CausePath",
    ),
    Language.JSONATA: ("Output", "Arguments", "Items"),
}  # fmt: skip
#: The order "not supported" diagnostics come in, as Step Functions lists them.
_FIELD_ORDER: Final = {
    name: rank
    for rank, name in enumerate(
        (
            *("Resource", "Credentials", "InputPath", "OutputPath", "Result", "ResultPath"),
            *("Parameters", "Arguments", "Output", "Assign", "ResultSelector", "TimeoutSeconds"),
            *("TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Catch", "Retry"),
        )
    )
}
_DOWNGRADE: Final = (
    "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine"
)


def check_state(checker: Checker, state: object, location: str) -> Links:
    """Check one state; answer its transitions, whether it is terminal, and its scopes."""
    if not checker.typed(state, dict, location):
        return Links(transitions=[], terminal=False, scopes=[])
    assert isinstance(state, Mapping)
    kind = state.get("Type")
    links = Links(
        transitions=_transitions(state, location),
        terminal=state.get("End") is True or kind in ("Succeed", "Fail"),
        scopes=[],
    )
    language, downgraded = checker.machine_language, False
    if "QueryLanguage" in state:
        language = Language.JSONPATH if state["QueryLanguage"] == "JSONPath" else Language.JSONATA
        if language is Language.JSONPATH and checker.machine_language is Language.JSONATA:
            checker.schema(_DOWNGRADE, location)
            downgraded = True
    if checker.required(state, ("Type",), location) and checker.enum(
        kind, _STATE_TYPES, f"{location}/Type"
    ):
        allowed = _FIELDS[str(kind)] | _COMMON_FIELDS
        wrong = () if downgraded else _ONLY_IN[other_language(language)]
        for field in wrong:
            if field in state and field in allowed:
                checker.schema(wrong_language(language, field), location)
        for field in sorted(state, key=lambda name: _FIELD_ORDER.get(name, len(_FIELD_ORDER))):
            if field not in allowed:
                checker.schema(f"Field '{field}' is not supported", location)
        fields = {key: value for key, value in items_of(state) if key in allowed}
        for field in wrong:
            fields.pop(field, None)
        _check_type(checker, str(kind), state, fields, location, language, links)
    if "Comment" in state:
        checker.typed(state["Comment"], str, f"{location}/Comment")
    if "QueryLanguage" in state:
        checker.enum(state["QueryLanguage"], ("JSONPath", "JSONata"), f"{location}/QueryLanguage")
    return links


def _transitions(state: Mapping[str, Any], location: str) -> list[tuple[str, str]]:
    # Collected whatever the state's type, so that one bad field does not also make every
    # state after it unreachable.
    found = [
        (target, f"{location}/{field}")
        for field in ("Next", "Default")
        if isinstance(target := state.get(field), str)
    ]
    for field in ("Choices", "Catch"):
        entries = state.get(field)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, Mapping) and isinstance(target := entry.get("Next"), str):
                found.append((target, f"{location}/{field}[{index}]/Next"))
    return found


def _check_type(
    checker: Checker,
    kind: str,
    state: Mapping[str, Any],
    fields: dict[str, Any],
    location: str,
    language: Language,
    links: Links,
) -> None:
    _check_common(checker, fields, location, language)
    if "Next" in _FIELDS[kind]:
        _check_next_or_end(checker, state, location)
    if kind == "Task":
        check_task(checker, state, fields, location, language)
    elif kind == "Pass":
        if "Result" in fields and any(
            str(key).endswith(".$") for obj in _objects_in(fields["Result"]) for key in obj
        ):
            checker.warning(
                Code.PASS_RESULT_IS_STATIC,
                "The Result of a Pass state is not evaluated: its '.$' fields stay as written",
                f"{location}/Result",
            )
    elif kind == "Wait":
        _check_wait(checker, state, fields, location, language)
    elif kind == "Choice":
        _check_choice(checker, state, fields, location, language)
    elif kind == "Fail":
        _check_fail(checker, fields, location, language)
    elif kind == "Parallel":
        if checker.required(state, ("Branches",), location) and checker.non_empty_array(
            state["Branches"], f"{location}/Branches"
        ):
            for index, branch in enumerate(state["Branches"]):
                branch_location = f"{location}/Branches[{index}]"
                if checker.typed(branch, dict, branch_location):
                    links.scopes.append((branch, branch_location, frozenset()))
    elif kind == "Map":
        check_map(checker, state, fields, location, language, links.scopes)


def _objects_in(value: object) -> Iterator[Mapping[Any, Any]]:
    # Iterative: a Result may nest deeper than the interpreter's stack.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            yield item
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _check_common(
    checker: Checker, fields: Mapping[str, Any], location: str, language: Language
) -> None:
    for field in ("InputPath", "OutputPath"):
        if field in fields:
            checker.path(fields[field], f"{location}/{field}")
    if "ResultPath" in fields:
        checker.reference_path(
            fields["ResultPath"], f"{location}/ResultPath", nullable=True, result_path=True
        )
    for field in ("Parameters", "ResultSelector"):
        if field in fields and checker.typed(fields[field], dict, f"{location}/{field}"):
            checker.template(fields[field], f"{location}/{field}")
    if "Arguments" in fields:
        check_jsonata_object(checker, fields["Arguments"], f"{location}/Arguments")
    if "Output" in fields:
        checker.jsonata_value(fields["Output"], f"{location}/Output")
    if "Assign" in fields:
        checker.assign(fields["Assign"], f"{location}/Assign", language)
    if "Retry" in fields:
        check_retry(checker, fields["Retry"], f"{location}/Retry")
    if "Catch" in fields:
        check_catch(checker, fields["Catch"], f"{location}/Catch", language)


def _check_next_or_end(checker: Checker, state: Mapping[str, Any], location: str) -> None:
    if "Next" in state:
        checker.typed(state["Next"], str, f"{location}/Next")
    if "End" in state:
        checker.typed(state["End"], bool, f"{location}/End")
    ends = state.get("End") is True
    if "Next" in state and ends:
        checker.schema("There should only be one of the following fields: [Next, End]", location)
    elif "Next" not in state and not ends:
        checker.schema(
            "This object should have only one of the following fields: [Next, End]", location
        )


def _check_wait(
    checker: Checker,
    state: Mapping[str, Any],
    fields: Mapping[str, Any],
    location: str,
    language: Language,
) -> None:
    checker.one_of(state, ("SecondsPath", "Seconds", "TimestampPath", "Timestamp"), location)
    if "Seconds" in fields:
        checker.number(fields["Seconds"], f"{location}/Seconds", language=language)
    if "Timestamp" in fields:
        checker.timestamp(fields["Timestamp"], f"{location}/Timestamp", language=language)
    for field in ("SecondsPath", "TimestampPath"):
        if field in fields:
            checker.reference_path(fields[field], f"{location}/{field}")


def _check_fail(
    checker: Checker, fields: Mapping[str, Any], location: str, language: Language
) -> None:
    for field in ("Error", "Cause"):
        checker.exclusive(fields, (field, f"{field}Path"), f"{location}/{field}")
        where = f"{location}/{field}"
        value = fields.get(field)
        if field in fields and checker.typed(value, str, where):
            if language is Language.JSONATA and str(value).startswith("{%"):
                checker.expression(value, where)
            elif language is Language.JSONPATH and str(value).startswith("$"):
                checker.warning(
                    Code.NO_PATH,
                    f"The value of field '{field}' looks like a path, but the field name "
                    "does not end with 'Path'",
                    where,
                )
        if f"{field}Path" in fields:
            checker.reference_path(
                fields[f"{field}Path"], f"{location}/{field}Path", intrinsic=True
            )


def _check_choice(
    checker: Checker,
    state: Mapping[str, Any],
    fields: Mapping[str, Any],
    location: str,
    language: Language,
) -> None:
    if checker.required(state, ("Choices",), location) and checker.non_empty_array(
        state["Choices"], f"{location}/Choices"
    ):
        for index, rule in enumerate(state["Choices"]):
            check_rule(checker, rule, f"{location}/Choices[{index}]", language, top=True)
    if "Default" in fields:
        checker.typed(fields["Default"], str, f"{location}/Default")
