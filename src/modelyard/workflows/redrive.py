"""Redrives: which executions may run again, and what of their history they keep.

RedriveExecution restarts an execution that FAILED, TIMED_OUT or was ABORTED from what did
not finish, with the same input and definition: finished states, Parallel branches and
Map iterations are answered from the record (never run again), what failed runs again.
Here that is a choice of the events the next run may replay (:func:`superseded`); the
run itself is an ordinary resumed run of the interpreter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from modelyard.storage.executions import Execution, ExecutionStatus, StoredEvent
from modelyard.storage.state_machines import StateMachine, StateMachineStatus
from modelyard.workflows.journal import MAX_HISTORY_EVENTS

__all__ = ["REDRIVABLE_PERIOD", "refusal", "superseded"]

#: How long after it ended an execution may be redriven.
REDRIVABLE_PERIOD: Final = timedelta(days=14)
#: Events after which what came before them in their scope is done for good.
_SETTLED: Final = frozenset({"ExecutionStarted", "MapIterationSucceeded"})


def refusal(
    execution: Execution, machine: StateMachine | None, last_event_id: int, now: datetime
) -> str | None:
    """Why ``execution`` may not be redriven (Step Functions' ``redriveStatusReason``),
    or ``None`` when it may."""
    if execution.status is ExecutionStatus.RUNNING:
        return "Execution is RUNNING and cannot be redriven."
    if execution.status is ExecutionStatus.SUCCEEDED:
        return "Execution is SUCCEEDED and cannot be redriven."
    if machine is None or machine.status is StateMachineStatus.DELETING:
        return "State machine is in DELETING status."
    # Room is left for ExecutionRedriven and at least one event after it.
    if last_event_id >= MAX_HISTORY_EVENTS - 1:
        return "Execution history event limit exceeded."
    if execution.stop_date is not None and now - execution.stop_date > REDRIVABLE_PERIOD:
        return "Execution redrivable period exceeded."
    return None


def superseded(events: Sequence[StoredEvent]) -> list[int]:
    """The ids of the events a redrive must not answer from: what failed, in every scope.

    A scope (the top level, a Parallel branch, a Map iteration: the part of an event's
    key before ``#``) keeps its events up to its last settled one: a state's
    ``…StateExited``, ``ExecutionStarted``, ``MapIterationSucceeded``. What follows was
    not finished (the entered state that failed, its task events, the Map or Parallel
    state around a failed branch, ``ExecutionFailed``): it runs again, and records its
    events anew. A state without a ``…StateExited`` is what Step Functions redrives.
    """
    scopes: dict[str, list[tuple[int, StoredEvent]]] = defaultdict(list)
    dropped: list[int] = []
    for event in events:
        path, mark, sequence = event.key.rpartition("#")
        if not mark or not sequence.isdigit():
            dropped.append(event.id)  # not an interpreter's event
            continue
        scopes[path].append((int(sequence), event))
    for items in scopes.values():
        settled = max(
            (n for n, e in items if e.type in _SETTLED or e.type.endswith("StateExited")),
            default=-1,
        )
        dropped.extend(event.id for n, event in items if n > settled)
    return dropped
