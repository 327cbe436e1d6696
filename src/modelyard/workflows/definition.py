"""A state machine definition, parsed once into what the interpreter walks.

The definition is validated first (:mod:`modelyard.workflows.validation`); parsing then
only resolves what every run would otherwise look up again: each state's query language,
its transition, its retriers and catchers, its compiled Choice rules, and the nested
machines of Parallel branches and Map item processors. Everything else a state holds
stays in :attr:`State.spec`, the state's JSON as written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelyard.workflows.choice import Rule, compile_rule
from modelyard.workflows.errors import InvalidDefinition

__all__ = [
    "Catcher",
    "ChoiceBranch",
    "JitterStrategy",
    "QueryLanguage",
    "Retrier",
    "State",
    "StateMachine",
    "StateType",
    "parse_machine",
]


class QueryLanguage(enum.Enum):
    """How a state's fields are written."""

    JSONPATH = "JSONPath"
    JSONATA = "JSONata"


class StateType(enum.Enum):
    """The eight kinds of state."""

    PASS = "Pass"
    TASK = "Task"
    CHOICE = "Choice"
    WAIT = "Wait"
    SUCCEED = "Succeed"
    FAIL = "Fail"
    PARALLEL = "Parallel"
    MAP = "Map"


class JitterStrategy(enum.Enum):
    """Whether a retry's delay is randomised."""

    #: The computed delay, as is.
    NONE = "NONE"
    #: A delay drawn uniformly between 0 and the computed delay.
    FULL = "FULL"


@dataclass(frozen=True, kw_only=True, slots=True)
class Retrier:
    """One entry of a state's ``Retry``."""

    #: The error names it matches.
    error_equals: tuple[str, ...]
    #: Seconds before the first retry.
    interval_seconds: float = 1.0
    #: Retries at most (0: never).
    max_attempts: int = 3
    #: What each further delay is multiplied by.
    backoff_rate: float = 2.0
    #: The longest delay, if capped.
    max_delay_seconds: float | None = None
    #: Whether delays are randomised.
    jitter: JitterStrategy = JitterStrategy.NONE


@dataclass(frozen=True, kw_only=True, slots=True)
class Catcher:
    """One entry of a state's ``Catch``."""

    #: The error names it matches.
    error_equals: tuple[str, ...]
    #: The state to go to.
    next: str
    #: JSONPath: where the error output goes in the state's input (default ``$``).
    result_path: str | None = "$"
    #: JSONata: the state's output (default: the error output).
    output: Any = None
    #: Variables to assign.
    assign: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ChoiceBranch:
    """One rule of a Choice state, with where it leads."""

    #: JSONPath: the compiled rule; ``None`` in JSONata.
    rule: Rule | None
    #: JSONata: the ``Condition`` expression; ``None`` in JSONPath.
    condition: Any
    #: The state to go to when it matches.
    next: str
    #: JSONata: the output when it matches (``None``: the default of the state).
    output: Any = None
    #: Variables to assign when it matches.
    assign: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class State:
    """One state of a machine."""

    #: Its name.
    name: str
    #: Its kind.
    type: StateType
    #: How its fields are written.
    language: QueryLanguage
    #: Its JSON, as written.
    spec: Mapping[str, Any]
    #: The next state; ``None`` when it ends its machine (or is a Choice, Succeed or Fail).
    next: str | None
    #: Its ``Retry``, in order.
    retriers: tuple[Retrier, ...] = ()
    #: Its ``Catch``, in order.
    catchers: tuple[Catcher, ...] = ()
    #: A Choice state's rules, in order.
    choices: tuple[ChoiceBranch, ...] = ()
    #: A Parallel state's branches.
    branches: tuple[StateMachine, ...] = ()
    #: A Map state's item processor.
    processor: StateMachine | None = None

    def get(self, field: str, default: Any = None) -> Any:
        """The field ``field`` of the state's JSON."""
        return self.spec.get(field, default)

    def has(self, field: str) -> bool:
        """Whether the state's JSON has ``field`` (even as null)."""
        return field in self.spec


@dataclass(frozen=True, kw_only=True, slots=True)
class StateMachine:
    """A machine (top level, Parallel branch or Map item processor)."""

    #: The first state.
    start_at: str
    #: Its states by name.
    states: Mapping[str, State]
    #: Its query language (states may override).
    language: QueryLanguage
    #: Execution timeout of a top-level machine.
    timeout_seconds: int | None = None
    #: A Map item processor's ``ProcessorConfig``.
    processor_config: Mapping[str, Any] | None = None


def parse_machine(
    definition: Mapping[str, Any],
    *,
    inherited: QueryLanguage = QueryLanguage.JSONPATH,
    where: str = "",
) -> StateMachine:
    """Parse a (validated) definition or nested machine into a :class:`StateMachine`."""
    language = QueryLanguage(definition.get("QueryLanguage", inherited.value))
    states = {
        name: _parse_state(name, spec, language, f"{where}/States/{name}")
        for name, spec in definition["States"].items()
    }
    timeout = definition.get("TimeoutSeconds")
    return StateMachine(
        start_at=definition["StartAt"],
        states=states,
        language=language,
        timeout_seconds=int(timeout) if isinstance(timeout, int | float) else None,
        processor_config=definition.get("ProcessorConfig"),
    )


def _parse_state(name: str, spec: Mapping[str, Any], inherited: QueryLanguage, where: str) -> State:
    try:
        kind = StateType(spec["Type"])
    except (KeyError, ValueError):
        raise InvalidDefinition(f"The state at {where} has no valid Type.") from None
    language = QueryLanguage(spec.get("QueryLanguage", inherited.value))
    branches: tuple[StateMachine, ...] = ()
    processor: StateMachine | None = None
    if kind is StateType.PARALLEL:
        branches = tuple(
            parse_machine(branch, inherited=language, where=f"{where}/Branches/{index}")
            for index, branch in enumerate(spec["Branches"])
        )
    elif kind is StateType.MAP:
        field = "ItemProcessor" if "ItemProcessor" in spec else "Iterator"
        processor = parse_machine(spec[field], inherited=language, where=f"{where}/{field}")
    return State(
        name=name,
        type=kind,
        language=language,
        spec=spec,
        next=None if spec.get("End") else spec.get("Next"),
        retriers=tuple(_retrier(entry) for entry in spec.get("Retry", ())),
        catchers=tuple(_catcher(entry) for entry in spec.get("Catch", ())),
        choices=tuple(
            _choice(rule, language, f"{where}/Choices/{index}")
            for index, rule in enumerate(spec.get("Choices", ()))
        ),
        branches=branches,
        processor=processor,
    )


def _retrier(entry: Mapping[str, Any]) -> Retrier:
    delay = entry.get("MaxDelaySeconds")
    return Retrier(
        error_equals=tuple(entry["ErrorEquals"]),
        interval_seconds=float(entry.get("IntervalSeconds", 1)),
        max_attempts=int(entry.get("MaxAttempts", 3)),
        backoff_rate=float(entry.get("BackoffRate", 2.0)),
        max_delay_seconds=float(delay) if delay is not None else None,
        jitter=JitterStrategy(entry.get("JitterStrategy", "NONE")),
    )


def _catcher(entry: Mapping[str, Any]) -> Catcher:
    return Catcher(
        error_equals=tuple(entry["ErrorEquals"]),
        next=entry["Next"],
        result_path=entry.get("ResultPath", "$"),
        output=entry.get("Output"),
        assign=entry.get("Assign"),
    )


def _choice(rule: Mapping[str, Any], language: QueryLanguage, where: str) -> ChoiceBranch:
    if language is QueryLanguage.JSONATA:
        return ChoiceBranch(
            rule=None,
            condition=rule.get("Condition"),
            next=rule["Next"],
            output=rule.get("Output"),
            assign=rule.get("Assign"),
        )
    body = {key: value for key, value in rule.items() if key not in ("Next", "Assign", "Comment")}
    return ChoiceBranch(
        rule=compile_rule(body, where=where),
        condition=None,
        next=rule["Next"],
        assign=rule.get("Assign"),
    )
