"""Checking state machine definitions as Step Functions does before it stores them.

``CreateStateMachine`` and ``UpdateStateMachine`` refuse a definition with an
``InvalidDefinition`` error, and ``ValidateStateMachineDefinition`` lists what is wrong as
diagnostics. Both come from :func:`validate`::

    validate('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}')
    # [Diagnostic(severity=ERROR, code='MISSING_TRANSITION_TARGET',
    #             message="Missing 'Next' target: B", location='/States/A/Next'),
    #  Diagnostic(severity=ERROR, code='MISSING_END_STATE',
    #             message='Workflow has no terminal state', location=None)]

The codes, messages and locations follow what Step Functions answers; where its exact text
is not public, the message names the field and the location points at it the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from modelyard.workflows.errors import InvalidDefinition
from modelyard.workflows.validation_flow import check_machine
from modelyard.workflows.validation_model import Code, Diagnostic, Language, Severity
from modelyard.workflows.validation_rules import Checker

__all__ = [
    "Diagnostic",
    "Severity",
    "check",
    "validate",
    "validate_state_machine_definition",
]

#: ``maxResults`` when the caller gives none (or 0), and its largest value.
DEFAULT_MAX_RESULTS: Final = 100
_NOT_AN_OBJECT: Final = "Definition must be a valid JSON object"
_JACKSON_SOURCE_LIMIT: Final = 500
#: Jackson's default StreamReadConstraints.maxNestingDepth.
_MAX_JSON_DEPTH: Final = 1000
_JSON_NESTING: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def validate(
    definition: str | Mapping[str, Any], *, max_results: int = DEFAULT_MAX_RESULTS
) -> list[Diagnostic]:
    """Every problem in ``definition`` (JSON text or parsed), at most ``max_results``.

    Never raises for a bad definition: what is wrong is what it returns. ``max_results``
    of 0 or less means the default, 100, as ``ValidateStateMachineDefinition`` has it.
    """
    diagnostics = _diagnose(definition)[0]
    limit = max_results if max_results > 0 else DEFAULT_MAX_RESULTS
    return diagnostics[:limit]


def check(definition: str) -> dict[str, Any]:
    """The parsed definition, or :class:`InvalidDefinition` with CreateStateMachine's message.

    The message lists every error as ``CODE: message at location``, the way Step Functions
    words ``Invalid State Machine Definition: '…'``.
    """
    diagnostics, parsed = _diagnose(definition)
    errors = [diagnostic for diagnostic in diagnostics if diagnostic.severity is Severity.ERROR]
    if errors:
        detail = ", ".join(_create_message(diagnostic) for diagnostic in errors)
        raise InvalidDefinition(f"Invalid State Machine Definition: '{detail}'")
    assert isinstance(parsed, dict)
    return parsed


def validate_state_machine_definition(
    definition: str, *, max_results: int = DEFAULT_MAX_RESULTS, severity: str = "ERROR"
) -> dict[str, Any]:
    """The body of a ``ValidateStateMachineDefinition`` response.

    ``severity`` ``ERROR`` lists errors only, ``WARNING`` lists warnings too; ``result`` is
    ``FAIL`` when any error exists, and ``truncated`` tells that more diagnostics were found
    than ``max_results`` (0 or less: 100) let through.
    """
    diagnostics = _diagnose(definition)[0]
    shown = [
        diagnostic
        for diagnostic in diagnostics
        if severity == Severity.WARNING.value or diagnostic.severity is Severity.ERROR
    ]
    limit = max_results if max_results > 0 else DEFAULT_MAX_RESULTS
    failed = any(diagnostic.severity is Severity.ERROR for diagnostic in diagnostics)
    return {
        "result": "FAIL" if failed else "OK",
        "diagnostics": [
            {
                "severity": diagnostic.severity.value,
                "code": diagnostic.code,
                "message": diagnostic.message,
                **({"location": diagnostic.location} if diagnostic.location is not None else {}),
            }
            for diagnostic in shown[:limit]
        ],
        "truncated": len(shown) > limit,
    }


def _create_message(diagnostic: Diagnostic) -> str:
    if diagnostic.code == Code.INVALID_JSON:
        # Jackson's parse message already ends in " at [Source: …]".
        return f"{diagnostic.code}: {diagnostic.message}"
    return f"{diagnostic.code}: {diagnostic.message} at {diagnostic.location or 'null'}"


# -- parsing ------------------------------------------------------------------------------


def _diagnose(definition: object) -> tuple[list[Diagnostic], object]:
    checker = Checker(machine_language=Language.JSONPATH)
    if isinstance(definition, Mapping):
        try:
            definition = json.dumps(definition, allow_nan=False)
        except RecursionError:
            checker.error(Code.INVALID_JSON, _too_deep(_MAX_JSON_DEPTH + 1), None)
            return checker.diagnostics, None
        except (TypeError, ValueError):
            # Not JSON at all: a set, NaN, a tuple key, a circular reference...
            checker.schema(_NOT_AN_OBJECT, None)
            return checker.diagnostics, None
    if not isinstance(definition, str) or not definition.strip():
        checker.schema(_NOT_AN_OBJECT, None)
        return checker.diagnostics, None
    if (depth := _nesting_depth(definition)) > _MAX_JSON_DEPTH:
        checker.error(Code.INVALID_JSON, _too_deep(depth), None)
        return checker.diagnostics, None
    duplicates: dict[int, list[str]] = {}
    parsed = _parse(definition, duplicates, checker)
    if checker.diagnostics:
        return checker.diagnostics, None
    if not isinstance(parsed, dict):
        checker.schema(_NOT_AN_OBJECT, None)
        return checker.diagnostics, parsed
    return check_machine(parsed, duplicates), parsed


def _too_deep(depth: int) -> str:
    return (
        f"Document nesting depth ({depth}) exceeds the maximum allowed ({_MAX_JSON_DEPTH}, "
        "from `StreamReadConstraints.getMaxNestingDepth()`)"
    )


def _nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text``, counted only when it could matter.

    Checked before parsing because jsonata-python raises the interpreter's recursion limit
    to 10,000, and the C JSON parser would follow a hostile document that deep.
    """
    if text.count("[") + text.count("{") <= _MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    for match in _JSON_NESTING.finditer(text):
        token = match.group(0)
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


class _NonNumeric(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python reads them, JSON (and Jackson) does not."""


def _parse(text: str, duplicates: dict[int, list[str]], checker: Checker) -> object:
    """The JSON value of ``text``; on a syntax error, ``None`` and an INVALID_JSON diagnostic."""

    def pairs(entries: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in entries:
            if key in obj:
                duplicates.setdefault(id(obj), []).append(key)
            obj[key] = value
        return obj

    def constant(name: str) -> float:
        raise _NonNumeric(name)

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        reason, column = _jackson_reason(exc)
        line = exc.lineno
    except _NonNumeric as exc:
        token = str(exc)
        reason = (
            f"Non-standard token '{token}': enable "
            "`JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
        )
        before = text[: max(text.find(token), 0)]
        line = before.count("\n") + 1
        column = len(before) - before.rfind("\n") + len(token)
    except ValueError as exc:
        # An integer of more digits than Python converts, for one.
        reason, line, column = str(exc), 1, 1
    except RecursionError:
        reason, line, column = _too_deep(_MAX_JSON_DEPTH + 1), 1, 1
    source = text if len(text) <= _JACKSON_SOURCE_LIMIT else text[:_JACKSON_SOURCE_LIMIT]
    truncated = (
        f"[truncated {len(text) - _JACKSON_SOURCE_LIMIT} chars]"
        if len(text) > _JACKSON_SOURCE_LIMIT
        else ""
    )
    location = f'[Source: (String)"{source}"{truncated}; line: {line}, column: {column}]'
    checker.error(Code.INVALID_JSON, f"{reason}\n at {location}", location)
    return None


_TOKEN: Final = re.compile(r"[A-Za-z0-9_+\-.]+")
_EXPECTATIONS: Final = {
    "Expecting property name enclosed in double quotes": "was expecting double-quote to start "
    "field name",
    "Expecting ',' delimiter": "was expecting comma to separate Object entries",
    "Expecting ':' delimiter": "was expecting a colon to separate field name and value",
    "Extra data": "expected end-of-input",
}


def _jackson_reason(exc: json.JSONDecodeError) -> tuple[str, int]:
    # Jackson, which Step Functions parses with, words and places errors its own way: it
    # names the offending character (or token) and points just past it.
    text, position = exc.doc, exc.pos
    if position >= len(text):
        return "Unexpected end-of-input", exc.colno
    char = text[position]
    if exc.msg == "Expecting value" and char.isalpha():
        token = _TOKEN.match(text, position)
        word = token.group(0) if token else char
        return (
            f"Unrecognized token '{word}': was expecting (JSON String, Number, Array, Object "
            "or token 'null', 'true' or 'false')",
            exc.colno + len(word),
        )
    expectation = _EXPECTATIONS.get(exc.msg, "expected a valid value")
    return f"Unexpected character ('{char}' (code {ord(char)})): {expectation}", exc.colno + 1
