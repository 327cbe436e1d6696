"""Whether a path, intrinsic call or JSONata expression parses as Step Functions requires.

The :class:`~modelyard.workflows.validation_rules.Checker` asks these questions of single
strings; the answers are cached, since the same paths recur across states and definitions.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from typing import Final

# jsonata-python raises the interpreter's recursion limit when first imported: importing it
# here makes that happen at a known time rather than in the middle of a validation.
import jsonata
from jsonata.jexception import JException
from jsonata.tokenizer import Tokenizer
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from modelyard.workflows.errors import InvalidDefinition
from modelyard.workflows.validation_model import Code

__all__ = [
    "PathKind",
    "dynamic_value_ok",
    "intrinsic_error",
    "jsonata_problem",
    "looks_intrinsic",
    "path_kind",
    "reference_problem",
]

_NAME_STEP: Final = re.compile(r"\.([^.\[\]\s'\"()*?@$]+)")
_QUOTED_STEP: Final = re.compile(r"\[\s*(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*\]")
_INDEX_STEP: Final = re.compile(r"\[\s*-?\d+\s*\]")
_VARIABLE_ROOT: Final = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


class PathKind(enum.Enum):
    """What a path text is, as far as the definition's rules go."""

    #: Names and single indices only: selects one value.
    REFERENCE = "reference"
    #: Valid JSONPath with wildcards, filters, slices or ``..``.
    GENERAL = "general"
    #: Not a JSONPath at all.
    INVALID = "invalid"


@functools.lru_cache(maxsize=4096)
def path_kind(text: str) -> PathKind:
    """Classify a ``$``-rooted path (``$…``, ``$$…`` or ``$variable…``)."""
    if text.startswith("$$"):
        rest = text[2:]
    elif (match := _VARIABLE_ROOT.match(text)) is not None:
        rest = text[match.end() :]
    else:
        rest = text[1:]
    position = 0
    while position < len(rest):
        for step in (_NAME_STEP, _QUOTED_STEP, _INDEX_STEP):
            if (match := step.match(rest, position)) is not None:
                position = match.end()
                break
        else:
            return _general_kind("$" + rest)
    return PathKind.REFERENCE


def _general_kind(text: str) -> PathKind:
    try:
        parse_jsonpath(text)
    except Exception:
        # jsonpath-ng raises lexer, parser and plain Python errors for bad input alike.
        return PathKind.INVALID
    return PathKind.GENERAL


@functools.lru_cache(maxsize=4096)
def intrinsic_error(text: str) -> str | None:
    """Why ``text`` is not a valid intrinsic function call, or ``None`` when it is."""
    # Imported here: the intrinsics modules import the path code, which is heavier than
    # what most definitions need checked.
    from modelyard.workflows.intrinsics import parse

    try:
        parse(text)
    except InvalidDefinition as exc:
        return exc.message
    except RecursionError:
        return f"Invalid intrinsic function call {text!r}: nested too deeply"
    return None


def looks_intrinsic(text: str) -> bool:
    """Whether ``text`` is written as an intrinsic function call (``States.Name(``)."""
    from modelyard.workflows.intrinsics import is_intrinsic

    return is_intrinsic(text)


_JSONATA_PLACEHOLDER: Final = re.compile(r"\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}")


@functools.lru_cache(maxsize=4096)
def jsonata_problem(expression: str, *, in_catch: bool) -> tuple[Code, str] | None:
    """``(code, message)`` when a JSONata expression is refused, else ``None``."""
    try:
        jsonata.Jsonata(expression)
    except Exception as exc:
        # A foreign parser: any exception it raises means the text does not compile.
        return Code.INVALID_JSONATA, _jsonata_message(exc)
    return _unsupported_reference(expression, in_catch=in_catch)


def _jsonata_message(exc: Exception) -> str:
    # Step Functions prints the JavaScript library's message, which quotes tokens with
    # JSON.stringify ({{x}}) and leaves {{{x}}} raw; jsonata-python drops the quotes.
    if not isinstance(exc, JException):
        return str(exc) or type(exc).__name__
    template = JException.error_codes.get(exc.error)
    if template is None:
        return str(exc)
    values = iter((exc.current, exc.expected, exc.extra))

    def fill(match: re.Match[str]) -> str:
        value = next(values, None)
        if match.group(1) is not None:
            return str(value)
        return json.dumps(value, default=str)

    return _JSONATA_PLACEHOLDER.sub(fill, template)


def _unsupported_reference(expression: str, *, in_catch: bool) -> tuple[Code, str] | None:
    tokens: list[tuple[str, object]] = []
    try:
        tokenizer = Tokenizer(expression)
        # As the parser does: a '/' where an operand is expected opens a regex.
        prefix = True
        while (token := tokenizer.next(prefix)) is not None and len(tokens) < 10_000:
            tokens.append((token.type, token.value))
            prefix = token.type == "operator" and token.value not in (")", "]", "}")
    except Exception:
        # It compiled, so the tokenizer's only complaint could be about a regex it read
        # without the parser's context: nothing Step Functions would refuse.
        return None
    for index, (kind, value) in enumerate(tokens):
        if kind == "variable" and value == "$":
            return Code.UNSUPPORTED_JSONATA, "Reference to '$$' is not supported."
        if (
            not in_catch
            and kind == "variable"
            and value == "states"
            and tokens[index + 1 : index + 3] == [("operator", "."), ("name", "errorOutput")]
        ):
            return Code.UNSUPPORTED_JSONATA, "Field '$states.errorOutput' does not exist."
    return None


def reference_problem(text: str, *, result_path: bool) -> str | None:
    if not text.startswith("$"):
        return "Reference path didn't start with '$'"
    if result_path and (text.startswith("$$") or _VARIABLE_ROOT.match(text) is not None):
        return "ResultPath can only refer to the state's input ('$')"
    kind = path_kind(text)
    if kind is PathKind.INVALID:
        return "Invalid JSONPath syntax"
    if kind is PathKind.GENERAL:
        return "Only field names and single array indices are allowed (no wildcards, filters, slices or deep scans)"
    return None


def dynamic_value_ok(text: str) -> bool:
    if looks_intrinsic(text):
        return intrinsic_error(text) is None
    return text.startswith("$") and path_kind(text) is not PathKind.INVALID
