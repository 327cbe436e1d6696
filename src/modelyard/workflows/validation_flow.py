"""The shape of a state machine: its top-level fields, States blocks, transitions, reachability.

Branches and item processors are States blocks of their own, checked the same way as the
machine's; state names and Map labels are unique across all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from modelyard.workflows.validation_model import (
    MAX_NESTING,
    Code,
    Diagnostic,
    Language,
    items_of,
)
from modelyard.workflows.validation_rules import Checker
from modelyard.workflows.validation_states import check_state

__all__ = [
    "check_machine",
]

_TOP_LEVEL_FIELDS: Final = frozenset(
    {"Comment", "StartAt", "States", "Version", "TimeoutSeconds", "QueryLanguage"}
)
_SCOPE_FIELDS: Final = frozenset({"Comment", "StartAt", "States"})


def check_machine(root: dict[str, Any], duplicates: dict[int, list[str]]) -> list[Diagnostic]:
    """Every problem in a parsed definition whose duplicate keys ``duplicates`` lists."""
    declared = root.get("QueryLanguage")
    language = Language.JSONPATH
    if "QueryLanguage" in root and declared != Language.JSONPATH.value:
        language = Language.JSONATA
    checker = Checker(machine_language=language)
    checker.supported(root, _TOP_LEVEL_FIELDS, "/")
    if "QueryLanguage" in root:
        checker.enum(declared, tuple(member.value for member in Language), "/QueryLanguage")
    if "Comment" in root:
        checker.typed(root["Comment"], str, "/Comment")
    if "Version" in root:
        checker.enum(root["Version"], ("1.0",), "/Version")
    if "TimeoutSeconds" in root:
        checker.number(root["TimeoutSeconds"], "/TimeoutSeconds", minimum=1)
    _check_scope(checker, root, "", duplicates, depth=0)
    return checker.diagnostics


def _check_scope(
    checker: Checker,
    scope: Mapping[str, Any],
    prefix: str,
    duplicates: dict[int, list[str]],
    *,
    depth: int,
    extra_fields: frozenset[str] = frozenset(),
) -> None:
    """Check one States block: the machine's, a branch's or an item processor's."""
    where = prefix or "/"
    if depth > 0:
        checker.supported(scope, _SCOPE_FIELDS | extra_fields, where)
        if "Comment" in scope:
            checker.typed(scope["Comment"], str, f"{prefix}/Comment")
    if not checker.required(scope, ("States", "StartAt"), where):
        return
    start, states = scope["StartAt"], scope["States"]
    start_ok = checker.typed(start, str, f"{prefix}/StartAt")
    if not checker.typed(states, dict, f"{prefix}/States"):
        return
    edges: dict[str, list[tuple[str, str]]] = {}
    terminal = False
    for name in duplicates.get(id(states), []):
        checker.error(
            Code.DUPLICATE_STATE_NAME, f"Duplicate State name: {name}", f"{prefix}/States/{name}"
        )
    for name, state in items_of(states):
        location = f"{prefix}/States/{name}"
        _check_name(checker, name, location)
        links = check_state(checker, state, location)
        edges[name] = links.transitions
        terminal = terminal or links.terminal
        for child, child_prefix, fields in links.scopes:
            if depth + 1 >= MAX_NESTING:
                checker.error(
                    Code.TOO_DEEPLY_NESTED, "The states are too deeply nested.", child_prefix
                )
                continue
            _check_scope(
                checker, child, child_prefix, duplicates, depth=depth + 1, extra_fields=fields
            )
    targets = ([(start, f"{prefix}/StartAt")] if start_ok else []) + [
        transition for transitions in edges.values() for transition in transitions
    ]
    for target, location in targets:
        if target not in states:
            checker.error(
                Code.MISSING_TRANSITION_TARGET, f"Missing 'Next' target: {target}", location
            )
    if depth == 0 and not terminal:
        # Step Functions only asks it of the top-level states, and then does not go on to
        # report every state of the loop as unreachable.
        checker.error(Code.MISSING_END_STATE, "Workflow has no terminal state", None)
        return
    reached = _reachable(start if start_ok else None, edges)
    for name in edges:
        if name not in reached:
            checker.error(
                Code.MISSING_TRANSITION_TARGET,
                f'State "{name}" is not reachable.',
                f"{prefix}/States/{name}",
            )


def _check_name(checker: Checker, name: str, location: str) -> None:
    if not 1 <= len(name) <= 80:
        checker.error(
            Code.INVALID_STATE_NAME,
            f"State name '{name}' must be between 1 and 80 characters long",
            location,
        )
    if name in checker.state_names:
        checker.error(Code.DUPLICATE_STATE_NAME, f"Duplicate State name: {name}", location)
    checker.state_names.add(name)


def _reachable(start: str | None, edges: dict[str, list[tuple[str, str]]]) -> set[str]:
    reached: set[str] = set()
    pending = [start] if start in edges else []
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending.extend(target for target, _ in edges[name] if target in edges)
    return reached
