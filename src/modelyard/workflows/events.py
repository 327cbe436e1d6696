"""History events the service writes itself, and stored events as the API answers them.

The interpreter records almost every event. A few come from the API instead:
``ExecutionStarted`` (written with the execution by StartExecution, under the key the
interpreter's first event has, so its first run answers from it), ``ExecutionAborted``
(StopExecution) and ``ExecutionRedriven`` (RedriveExecution); those two are never
replayed, and their keys (``!…``) are none the interpreter makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from modelyard.storage.executions import NewEvent, StoredEvent
from modelyard.workflows.environment import HistoryEvent
from modelyard.workflows.interpreter import Frame

__all__ = [
    "FIRST_KEY",
    "answered",
    "execution_aborted",
    "execution_redriven",
    "execution_started",
    "stored",
]

#: The interpreter's key of an execution's first event.
FIRST_KEY: Final = Frame(variables={}).next_key()
#: What a history without execution data leaves out of each event's details.
_DATA_MEMBERS: Final = frozenset({"input", "inputDetails", "output", "outputDetails"})


def execution_started(key: str, input: str, role_arn: str, at: datetime) -> NewEvent:
    """The first event of the execution ``key``, its input as given."""
    return NewEvent(
        execution=key,
        id=1,
        previous_id=0,
        timestamp=at.timestamp(),
        type="ExecutionStarted",
        details_name="executionStartedEventDetails",
        details={"input": input, "inputDetails": {"truncated": False}, "roleArn": role_arn},
        key=FIRST_KEY,
    )


def execution_aborted(key: str, error: str | None, cause: str | None, at: datetime) -> NewEvent:
    """StopExecution's event (its id is the next one's, filled in by the storage)."""
    details = {member: value for member, value in (("error", error), ("cause", cause)) if value}
    return _service_event(key, "ExecutionAborted", "executionAbortedEventDetails", details, at)


def execution_redriven(key: str, redrive_count: int, at: datetime) -> NewEvent:
    """RedriveExecution's event (its id is the next one's, filled in by the storage)."""
    return _service_event(
        key,
        "ExecutionRedriven",
        "executionRedrivenEventDetails",
        {"redriveCount": redrive_count},
        at,
    )


def stored(event: NewEvent) -> StoredEvent:
    """``event`` as it reads back once stored."""
    return StoredEvent(
        id=event.id,
        previous_id=event.previous_id,
        timestamp=event.timestamp,
        type=event.type,
        details_name=event.details_name,
        details=event.details,
        key=event.key,
        redrive=event.redrive,
        replayable=event.replayable,
    )


def answered(event: StoredEvent, include_data: bool = True) -> HistoryEvent:
    """``event`` as GetExecutionHistory answers it; without ``include_data``, no input or
    output (``includeExecutionData: false``)."""
    details = event.details
    if details is not None and not include_data:
        details = {k: v for k, v in details.items() if k not in _DATA_MEMBERS}
    return HistoryEvent(
        id=event.id,
        previous_event_id=event.previous_id,
        timestamp=event.timestamp,
        type=event.type,
        details=(
            None if event.details_name is None or details is None else (event.details_name, details)
        ),
    )


def _service_event(
    key: str, type: str, details_name: str, details: Mapping[str, Any], at: datetime
) -> NewEvent:
    return NewEvent(
        execution=key,
        id=0,
        previous_id=0,
        timestamp=at.timestamp(),
        type=type,
        details_name=details_name,
        details=details,
        key=f"!{type}",
        replayable=False,
    )
