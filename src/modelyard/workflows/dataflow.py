"""How data flows through a state, in each query language.

JSONPath (the default)::

    raw input ─InputPath→ effective input ─Parameters→ task input ─(task)→ result
        ─ResultSelector→ selected ─ResultPath (into the raw input)→ ─OutputPath→ output

JSONata: ``Arguments`` (default: the raw input) makes the task input, ``Output``
(default: the result) the output, both evaluated with ``$states.input``,
``$states.result``, ``$states.errorOutput`` (in a Catch) and ``$states.context``.

``Assign`` is evaluated against the same values as the output (in JSONPath, ``$`` is the
selected result, or the effective input for states without one) and with the variables
as they were when the state was entered: every assignment of a state sees the old
values, as Step Functions specifies.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from modelyard.workflows import jsonata_query
from modelyard.workflows.definition import QueryLanguage, State
from modelyard.workflows.errors import (
    DATA_LIMIT_EXCEEDED,
    QUERY_EVALUATION_ERROR,
    StatesError,
)
from modelyard.workflows.paths import Scope, apply_result_path, evaluate_payload, select

__all__ = ["MAX_PAYLOAD_BYTES", "Dataflow", "SeededOnFirstDraw", "check_size"]

#: Step Functions' limit on a state's input, output, result and variables: 256 KiB.
MAX_PAYLOAD_BYTES = 256 * 1024


def check_size(value: Any, what: str) -> str:
    """``value`` as JSON text; ``States.DataLimitExceeded`` when over the payload limit."""
    text = orjson.dumps(value).decode()
    if len(text) > MAX_PAYLOAD_BYTES:
        raise StatesError(
            DATA_LIMIT_EXCEEDED,
            f"The {what} has a size of {len(text)} bytes, over the limit of "
            f"{MAX_PAYLOAD_BYTES} bytes.",
        )
    return text


#: What :class:`SeededOnFirstDraw` passes ``random.Random.__init__`` (which seeds).
_LATER: Any = object()


class SeededOnFirstDraw(random.Random):
    """A generator seeded from ``seed`` when it is first drawn from.

    Every evaluation is handed one, and most draw nothing: seeding (a SHA-512 of the seed
    and a Mersenne Twister set-up) cost more than the rest of a small state.
    """

    def __init__(self, seed: str) -> None:
        self._later: str | None = seed
        super().__init__(_LATER)

    def seed(self, a: Any = None, version: int = 2) -> None:
        """Seed now (``random.Random.__init__``'s call is put off until the first draw)."""
        if a is _LATER:
            return
        self._later = None
        super().seed(a, version)

    def random(self) -> float:
        self._seeded()
        return super().random()

    def getrandbits(self, k: int, /) -> int:
        self._seeded()
        return super().getrandbits(k)

    def _seeded(self) -> None:
        if self._later is not None:
            later, self._later = self._later, None
            super().seed(later)


@dataclass(frozen=True, kw_only=True, slots=True)
class Dataflow:
    """The data of one state's attempt: its raw input, context, variables and randomness."""

    #: The state.
    state: State
    #: The state's input, as it arrived.
    raw: Any
    #: The context object ``$$`` / ``$states.context``.
    context: Mapping[str, Any]
    #: The variables visible to the state (as they were when it was entered).
    variables: Mapping[str, Any]
    #: Names this attempt of this visit of the state (execution, scope, state, visit,
    #: attempt): the task's idempotency key, and the seed of the only source of
    #: randomness (``States.UUID``, ``$random()``, retry jitter...).
    seed: str
    #: When the state was entered (``$now()`` in JSONata).
    entered: float

    _rng: random.Random | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def rng(self) -> random.Random:
        """The attempt's randomness, the same on every replay."""
        if self._rng is None:
            object.__setattr__(self, "_rng", SeededOnFirstDraw(self.seed))
        assert self._rng is not None
        return self._rng

    @property
    def jsonata(self) -> bool:
        """Whether the state is written in JSONata."""
        return self.state.language is QueryLanguage.JSONATA

    def scope(self, value: Any) -> Scope:
        """A JSONPath scope where ``$`` is ``value``."""
        return Scope(value=value, context=self.context, variables=self.variables)

    def states(self, **extra: Any) -> dict[str, Any]:
        """The ``$states`` binding of JSONata, with ``result``/``errorOutput`` when given."""
        return {"input": self.raw, "context": self.context, **extra}

    def evaluate(self, value: Any, *, field: str | None = None, **states: Any) -> Any:
        """A JSONata field's value (templates evaluated; literals as written)."""
        return jsonata_query.evaluate_template(
            value,
            states=self.states(**states),
            variables=self.variables,
            rng=self.rng,
            now=datetime.fromtimestamp(self.entered, UTC),
            field=field,
        )

    # -- JSONPath ------------------------------------------------------------------------

    def effective_input(self) -> Any:
        """JSONPath: the raw input through ``InputPath`` (default ``$``)."""
        path = self.state.get("InputPath", "$")
        if path == "$":
            return self.raw
        return select(path, self.scope(self.raw), field="InputPath")

    def task_input(self, effective: Any, field: str = "Parameters") -> Any:
        """The input of the task, branches or iterations (Parameters/Arguments/...)."""
        if self.jsonata:
            if not self.state.has("Arguments"):
                return self.raw
            return self.evaluate(self.state.get("Arguments"), field="Arguments")
        if not self.state.has(field):
            return effective
        return evaluate_payload(
            self.state.get(field), self.scope(effective), rng=self.rng, field=field
        )

    def selected(self, result: Any) -> Any:
        """JSONPath: the result through ``ResultSelector`` (JSONata: as is)."""
        if self.jsonata or not self.state.has("ResultSelector"):
            return result
        return evaluate_payload(
            self.state.get("ResultSelector"),
            self.scope(result),
            rng=self.rng,
            field="ResultSelector",
        )

    def output(self, result: Any, *, has_result: bool = True) -> Any:
        """The state's output, from its (selected) result.

        ``has_result`` is false for states that produce none (Choice, Wait, Succeed): their
        output is their input through OutputPath, or their JSONata ``Output``.
        """
        if self.jsonata:
            if not self.state.has("Output"):
                return result if has_result else self.raw
            extra = {"result": result} if has_result else {}
            return self.evaluate(self.state.get("Output"), field="Output", **extra)
        combined = (
            apply_result_path(self.raw, result, self.state.get("ResultPath", "$"))
            if has_result
            else result
        )
        path = self.state.get("OutputPath", "$")
        if path == "$":
            return combined
        return select(path, self.scope(combined), field="OutputPath")

    def assignments(
        self, assign: Mapping[str, Any] | None, value: Any, **states: Any
    ) -> dict[str, Any]:
        """The variables ``assign`` sets; ``value`` is JSONPath's ``$``."""
        if not assign:
            return {}
        if self.jsonata:
            assigned = self.evaluate(dict(assign), field="Assign", **states)
        else:
            assigned = evaluate_payload(
                dict(assign), self.scope(value), rng=self.rng, field="Assign"
            )
        if not isinstance(assigned, dict):
            raise StatesError(QUERY_EVALUATION_ERROR, "Assign must evaluate to an object.")
        return assigned
