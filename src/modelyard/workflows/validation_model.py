"""The vocabulary of definition checks: diagnostics, their codes, query languages, JSON types.

Every ``validation_*`` module speaks these terms; none of them depends on anything else in
the validation package, so every other module can import them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "ARN_PARTITION",
    "MAX_INTEGER",
    "MAX_NESTING",
    "Code",
    "Diagnostic",
    "Language",
    "Severity",
    "has_type",
    "is_expression",
    "items_of",
    "other_language",
    "type_name",
    "wrong_language",
]


class Severity(enum.Enum):
    """How bad a diagnostic is."""

    #: The definition cannot be stored: CreateStateMachine refuses it.
    ERROR = "ERROR"
    #: Probably a mistake, but the definition is valid.
    WARNING = "WARNING"


@dataclass(frozen=True, kw_only=True, slots=True)
class Diagnostic:
    """One problem found in a definition, as ``ValidateStateMachineDefinition`` reports it."""

    #: Whether the definition can still be stored.
    severity: Severity
    #: Step Functions' code for the problem, e.g. ``SCHEMA_VALIDATION_FAILED``.
    code: str
    #: What is wrong, in Step Functions' words.
    message: str
    #: Where: a JSON pointer such as ``/States/A/Next``, or ``None`` for the whole definition.
    location: str | None


class Code(enum.StrEnum):
    """The diagnostic codes Step Functions uses."""

    #: The text is not JSON.
    INVALID_JSON = "INVALID_JSON_DESCRIPTION"
    #: A field is missing, unknown, of the wrong type or out of range.
    SCHEMA = "SCHEMA_VALIDATION_FAILED"
    #: A transition names no state of its scope, or a state cannot be reached.
    MISSING_TRANSITION_TARGET = "MISSING_TRANSITION_TARGET"
    #: The top-level states have no End, Succeed or Fail.
    MISSING_END_STATE = "MISSING_END_STATE"
    #: Two states share a name.
    DUPLICATE_STATE_NAME = "DUPLICATE_STATE_NAME"
    #: A state name is empty or longer than 80 characters.
    INVALID_STATE_NAME = "INVALID_STATE_NAME"
    #: Two Map states share a Label.
    DUPLICATE_LABEL_NAME = "DUPLICATE_LABEL_NAME"
    #: A Map Label is too long or holds a forbidden character.
    INVALID_LABEL_NAME = "INVALID_LABEL_NAME"
    #: States nested deeper than this implementation follows.
    TOO_DEEPLY_NESTED = "TOO_DEEPLY_NESTED"
    #: A ``{% %}`` string does not parse as JSONata.
    INVALID_JSONATA = "INVALID_JSONATA_EXPRESSION"
    #: A JSONata expression reads something Step Functions does not offer there.
    UNSUPPORTED_JSONATA = "UNSUPPORTED_JSONATA_EXPRESSION"
    #: An ``Assign`` key is not a variable name.
    INVALID_VARIABLE_NAME = "INVALID_VARIABLE_NAME"
    #: An ``Assign`` key is ``states``.
    RESERVED_VARIABLE_NAME = "RESERVED_VARIABLE_NAME"
    #: Warning: a field value looks like a path or intrinsic but its key has no ``.$``.
    NO_DOLLAR = "NO_DOLLAR"
    #: Warning: a field value looks like a path but the field name does not end in Path.
    NO_PATH = "NO_PATH"
    #: Warning: a Pass state's Result holds ``.$`` keys, which are not evaluated.
    PASS_RESULT_IS_STATIC = "PASS_RESULT_IS_STATIC"


class Language(enum.Enum):
    """The query language of a state."""

    #: Paths, payload templates and intrinsic functions.
    JSONPATH = "JSONPath"
    #: ``{% %}`` JSONata expressions.
    JSONATA = "JSONata"


#: Step Functions' names for JSON types, as its type errors print them.
_TYPE_NAMES: Final = {
    str: "STRING",
    int: "INTEGER",
    float: "NUMBER",
    bool: "BOOLEAN",
    dict: "OBJECT",
    list: "ARRAY",
}
#: The largest integer most numeric fields accept.
MAX_INTEGER: Final = 99_999_999
#: How deep branches, item processors and Choice rules may nest: deeper would exhaust the
#: interpreter's stack long before any real workflow gets there.
MAX_NESTING: Final = 100

#: How every ARN starts: ``arn:aws``, ``arn:aws-cn``, ``arn:aws-us-gov``, ...
ARN_PARTITION: Final = r"arn:aws(?:-[a-z]+)*"


def is_expression(value: object) -> bool:
    """Whether ``value`` is a JSONata expression string, ``{% … %}``."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def type_name(kind: type) -> str:
    """Step Functions' name for a JSON type."""
    return _TYPE_NAMES[kind]


def has_type(value: object, kind: type) -> bool:
    """Whether ``value`` is of JSON type ``kind`` (``bool`` is no number, ``int`` a number)."""
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is dict:
        return isinstance(value, Mapping)
    return isinstance(value, kind)


def items_of(value: Mapping[Any, Any]) -> Iterator[tuple[str, Any]]:
    """The string-keyed entries of a parsed JSON object."""
    for key, item in value.items():
        if isinstance(key, str):
            yield key, item


def other_language(language: Language) -> Language:
    """JSONata for JSONPath, JSONPath for JSONata."""
    return Language.JSONATA if language is Language.JSONPATH else Language.JSONPATH


def wrong_language(language: Language, field: str) -> str:
    """The message for a field of the other query language."""
    return (
        f"The QueryLanguage is set to '{language.value}', but field '{field}' is only "
        f"supported for the '{other_language(language).value}' QueryLanguage"
    )
