"""The value rules of Amazon States Language definitions: types, paths, templates, JSONata.

:mod:`modelyard.workflows.validation_flow` walks a definition state by state; this module
holds the :class:`Checker` that checks a single value and collects what breaks, worded as
Step Functions words its ``ValidateStateMachineDefinition`` diagnostics
(``Expected value of type [STRING]``, ``Value is not a Reference Path: …``, ...). Locations
are JSON pointers into the definition, with ``[i]`` for array items (``/States/A/Catch[0]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from modelyard.workflows.validation_model import (
    MAX_INTEGER,
    Code,
    Diagnostic,
    Language,
    Severity,
    has_type,
    is_expression,
    items_of,
    type_name,
)
from modelyard.workflows.validation_syntax import (
    PathKind,
    dynamic_value_ok,
    intrinsic_error,
    jsonata_problem,
    looks_intrinsic,
    path_kind,
    reference_problem,
)

__all__ = [
    "Checker",
    "check_jsonata_object",
]

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})\Z"
)


class Checker:
    """Collects the diagnostics of one definition, and checks single values for it."""

    def __init__(self, *, machine_language: Language) -> None:
        #: Every diagnostic so far, in the order found.
        self.diagnostics: list[Diagnostic] = []
        #: The language states use when they do not set their own.
        self.machine_language = machine_language
        #: Every state name seen so far, across all scopes.
        self.state_names: set[str] = set()
        #: Every Map Label seen so far.
        self.labels: set[str] = set()

    def error(self, code: Code, message: str, location: str | None) -> None:
        """Record an ERROR."""
        self.diagnostics.append(
            Diagnostic(severity=Severity.ERROR, code=code.value, message=message, location=location)
        )

    def warning(self, code: Code, message: str, location: str | None) -> None:
        """Record a WARNING."""
        self.diagnostics.append(
            Diagnostic(
                severity=Severity.WARNING, code=code.value, message=message, location=location
            )
        )

    def schema(self, message: str, location: str | None) -> None:
        """Record a SCHEMA_VALIDATION_FAILED error."""
        self.error(Code.SCHEMA, message, location)

    # -- shapes ----------------------------------------------------------------------

    def typed(self, value: object, kind: type, location: str) -> bool:
        """Whether ``value`` has JSON type ``kind``; reports it when not."""
        if has_type(value, kind):
            return True
        self.schema(f"Expected value of type [{type_name(kind)}]", location)
        return False

    def required(self, obj: Mapping[str, Any], fields: tuple[str, ...], location: str) -> bool:
        """Whether ``obj`` has every field; reports the missing ones together."""
        missing = [field for field in fields if field not in obj]
        if missing:
            self.schema(f"These fields are required: [{', '.join(missing)}]", location)
        return not missing

    def supported(
        self, obj: Mapping[Any, Any], allowed: frozenset[str] | set[str], location: str
    ) -> None:
        """Report every field of ``obj`` outside ``allowed``."""
        for key in obj:
            if key not in allowed:
                self.schema(f"Field '{key}' is not supported", location)

    def exclusive(self, obj: Mapping[str, Any], fields: tuple[str, ...], location: str) -> None:
        """Report when more than one of ``fields`` is present."""
        if sum(field in obj for field in fields) > 1:
            self.schema(
                f"There should only be one of the following fields: [{', '.join(fields)}]",
                location,
            )

    def one_of(self, obj: Mapping[str, Any], fields: tuple[str, ...], location: str) -> str | None:
        """The one field of ``fields`` present in ``obj``; reports none or several."""
        present = [field for field in fields if field in obj]
        if len(present) == 1:
            return present[0]
        listed = ", ".join(fields)
        if present:
            self.schema(f"There should only be one of the following fields: [{listed}]", location)
        else:
            self.schema(
                f"This object should have only one of the following fields: [{listed}]", location
            )
        return None

    def enum(self, value: object, choices: tuple[str, ...], location: str) -> bool:
        """Whether ``value`` is one of ``choices``; reports it when not."""
        if not self.typed(value, str, location):
            return False
        if value not in choices:
            self.schema(f"Value should be one of the following: [{', '.join(choices)}]", location)
            return False
        return True

    def number(
        self,
        value: object,
        location: str,
        *,
        kind: type = int,
        minimum: float = 0,
        maximum: float | None = MAX_INTEGER,
        language: Language = Language.JSONPATH,
    ) -> bool:
        """Whether ``value`` is a number in range, or a JSONata expression where allowed."""
        if language is Language.JSONATA and isinstance(value, str):
            return self.expression(value, location)
        if not self.typed(value, kind, location):
            return False
        assert isinstance(value, int | float)
        if value < minimum:
            self.schema(f"Minimum value is {minimum}", location)
            return False
        if maximum is not None and value > maximum:
            self.schema(f"Maximum value is {maximum}", location)
            return False
        return True

    def timestamp(self, value: object, location: str, *, language: Language) -> None:
        """Check an RFC 3339 timestamp (or, in JSONata, an expression)."""
        if language is Language.JSONATA and is_expression(value):
            self.expression(value, location)
        elif self.typed(value, str, location) and _RFC3339.match(str(value)) is None:
            self.schema("String does not match RFC3339 timestamp", location)

    def non_empty_array(self, value: object, location: str) -> bool:
        """Whether ``value`` is an array with at least one item."""
        if not self.typed(value, list, location):
            return False
        if not value:
            self.schema("Value cannot be empty", location)
            return False
        return True

    # -- paths -----------------------------------------------------------------------

    def path(self, value: object, location: str, *, nullable: bool = True) -> None:
        """Check a Path (InputPath, OutputPath): any JSONPath, or null."""
        if value is None and nullable:
            return
        if not self.typed(value, str, location):
            return
        assert isinstance(value, str)
        if not value.startswith("$") or path_kind(value) is PathKind.INVALID:
            self.schema("Value must be a valid JSONPath.", location)

    def reference_path(
        self,
        value: object,
        location: str,
        *,
        nullable: bool = False,
        result_path: bool = False,
        intrinsic: bool = False,
    ) -> None:
        """Check a Reference Path; ResultPath may not start at ``$$`` or a variable."""
        if value is None and nullable:
            return
        if not self.typed(value, str, location):
            return
        assert isinstance(value, str)
        if intrinsic and looks_intrinsic(value):
            if (problem := intrinsic_error(value)) is not None:
                self.schema(problem, location)
            return
        reason = reference_problem(value, result_path=result_path)
        if reason is not None:
            self.schema(f"Value is not a Reference Path: {reason}", location)

    # -- payload templates and JSONata -----------------------------------------------

    def template(self, value: object, location: str, *, assign: bool = False) -> None:
        """Check a JSONPath payload template: every ``.$`` value is a path or intrinsic."""
        for where, obj in _objects(value, location):
            for key, item in items_of(obj):
                if assign and where == location:
                    self.variable_name(key.removesuffix(".$"), f"{location}/{key}")
                if key.endswith(".$"):
                    if not isinstance(item, str) or not dynamic_value_ok(item):
                        self.schema(
                            f"The value for the field '{key}' must be a valid JSONPath or "
                            "a valid intrinsic function call",
                            where,
                        )
                elif isinstance(item, str) and (
                    (item.startswith("$.") and path_kind(item) is not PathKind.INVALID)
                    or (item.startswith("States.") and intrinsic_error(item) is None)
                ):
                    self.warning(
                        Code.NO_DOLLAR,
                        f"The value of field '{key}' looks like a JSONPath or an intrinsic "
                        "function, but the field name does not end with '.$'",
                        f"{where}/{key}",
                    )

    def jsonata_value(self, value: object, location: str, *, in_catch: bool = False) -> None:
        """Check every ``{% %}`` string inside ``value`` compiles."""
        for string in _strings(value):
            if string.startswith("{%"):
                self.expression(string, location, in_catch=in_catch)

    def expression(self, value: object, location: str, *, in_catch: bool = False) -> bool:
        """Whether ``value`` is a ``{% %}`` string that compiles; reports it when not."""
        if not isinstance(value, str) or not is_expression(value):
            self.schema("JSONata string must start with {% and end with %}", location)
            return False
        problem = jsonata_problem(value[2:-2], in_catch=in_catch)
        if problem is not None:
            self.error(problem[0], problem[1], location)
            return False
        return True

    def assign(
        self, value: object, location: str, language: Language, *, in_catch: bool = False
    ) -> None:
        """Check an ``Assign`` block in either language."""
        if not self.typed(value, dict, location):
            return
        assert isinstance(value, Mapping)
        if language is Language.JSONPATH:
            self.template(value, location, assign=True)
            return
        for key, _ in items_of(value):
            self.variable_name(key, f"{location}/{key}")
        self.jsonata_value(value, location, in_catch=in_catch)

    def variable_name(self, name: str, location: str) -> None:
        """Check a variable name: a Unicode identifier of at most 80 characters."""
        if name == "states":
            self.error(
                Code.RESERVED_VARIABLE_NAME,
                "Cannot assign to reserved variable '$states'.",
                location,
            )
        elif not name.isidentifier() or name.startswith("_"):
            self.error(
                Code.INVALID_VARIABLE_NAME,
                f"Invalid variable name '{name}': the variable name contains invalid characters.",
                location,
            )
        elif len(name) > 80:
            self.error(
                Code.INVALID_VARIABLE_NAME,
                f"Invalid variable name '{name}': the variable name exceeds the 80-character "
                "limit.",
                location,
            )


def _objects(value: object, location: str) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    # Iterative, so that a deeply nested template cannot exhaust the stack.
    pending: list[tuple[str, object]] = [(location, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, Mapping):
            yield where, item
            pending.extend(
                (f"{where}/{key}", child)
                for key, child in reversed(list(items_of(item)))
                if isinstance(child, Mapping | list)
            )
        elif isinstance(item, list):
            pending.extend(
                (f"{where}[{index}]", child)
                for index, child in reversed(list(enumerate(item)))
                if isinstance(child, Mapping | list)
            )


def _strings(value: object) -> Iterator[str]:
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            pending.extend(child for _, child in reversed(list(items_of(item))))
        elif isinstance(item, list):
            pending.extend(reversed(item))


def check_jsonata_object(checker: Checker, value: object, location: str) -> None:
    """Check a JSONata ``Arguments``-like field: an object, or one expression."""
    if isinstance(value, str):
        checker.expression(value, location)
    elif checker.typed(value, dict, location):
        checker.jsonata_value(value, location)
