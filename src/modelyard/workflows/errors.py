"""The errors of Amazon States Language: what a state raises, what a definition gets wrong.

    ModelyardError
     ├── InvalidDefinition              a state machine definition breaks the language's rules
     └── StatesError                    an error raised while a state runs, named as ASL names it
                                        (``States.TaskFailed``, ``MyApp.Oops``, ...): what
                                        ``Retry`` and ``Catch`` match on

``PathMissing`` is not an error of the language: a reference path that selects nothing
raises it, and each caller turns it into the ``States.*`` error its field calls for
(``States.ParameterPathFailure``, ``States.Runtime``, ...) or, for ``IsPresent``, a
``False``.
"""

from __future__ import annotations

from typing import Final

from modelyard.errors import InvalidRequest, ModelyardError

__all__ = [
    "ALL",
    "BRANCH_FAILED",
    "DATA_LIMIT_EXCEEDED",
    "EXCEED_TOLERATED_FAILURE_THRESHOLD",
    "HEARTBEAT_TIMEOUT",
    "INTRINSIC_FAILURE",
    "ITEM_READER_FAILED",
    "NO_CHOICE_MATCHED",
    "PARAMETER_PATH_FAILURE",
    "PERMISSIONS",
    "QUERY_EVALUATION_ERROR",
    "RESULT_PATH_MATCH_FAILURE",
    "RESULT_WRITER_FAILED",
    "RUNTIME",
    "TASK_FAILED",
    "TIMEOUT",
    "InvalidDefinition",
    "PathMissing",
    "StatesError",
]

#: Matches every error name in ``ErrorEquals`` (and must stand alone, last).
ALL: Final = "States.ALL"
#: A task did not send a heartbeat within ``HeartbeatSeconds``.
HEARTBEAT_TIMEOUT: Final = "States.HeartbeatTimeout"
#: A task ran longer than ``TimeoutSeconds``, or an execution than its own timeout.
TIMEOUT: Final = "States.Timeout"
#: A task failed; matches every error but ``States.Timeout``.
TASK_FAILED: Final = "States.TaskFailed"
#: The execution may not run the task's resource.
PERMISSIONS: Final = "States.Permissions"
#: ``ResultPath`` cannot be applied to the state's input.
RESULT_PATH_MATCH_FAILURE: Final = "States.ResultPathMatchFailure"
#: A ``.$`` field of ``Parameters``/``ItemSelector``/``ResultSelector`` selects nothing.
PARAMETER_PATH_FAILURE: Final = "States.ParameterPathFailure"
#: A branch of a Parallel (or an iteration of a Map) failed.
BRANCH_FAILED: Final = "States.BranchFailed"
#: No rule of a Choice state matched and it has no ``Default``.
NO_CHOICE_MATCHED: Final = "States.NoChoiceMatched"
#: An intrinsic function was called with arguments it refuses.
INTRINSIC_FAILURE: Final = "States.IntrinsicFailure"
#: A Map run failed more items than it tolerates.
EXCEED_TOLERATED_FAILURE_THRESHOLD: Final = "States.ExceedToleratedFailureThreshold"
#: A distributed Map's ``ItemReader`` could not read its items.
ITEM_READER_FAILED: Final = "States.ItemReaderFailed"
#: A distributed Map's ``ResultWriter`` could not write its results.
RESULT_WRITER_FAILED: Final = "States.ResultWriterFailed"
#: Input or output over the payload limit (256 KiB).
DATA_LIMIT_EXCEEDED: Final = "States.DataLimitExceeded"
#: A JSONata expression failed to evaluate (or gave a value its field refuses).
QUERY_EVALUATION_ERROR: Final = "States.QueryEvaluationError"
#: Any other failure of the execution itself; never retried or caught.
RUNTIME: Final = "States.Runtime"


class InvalidDefinition(InvalidRequest):
    """The state machine definition is not valid Amazon States Language."""


class StatesError(ModelyardError):
    """An error raised while a state runs, with the name and cause ASL gives it."""

    def __init__(self, error: str, cause: str | None = None) -> None:
        #: The error name ``Retry``/``Catch`` match on, e.g. ``States.Timeout``.
        self.error = error
        #: Human-readable detail (``None`` when the error has none).
        self.cause = cause
        super().__init__(f"{error}: {cause}" if cause else error)


class PathMissing(LookupError):
    """A reference path selected nothing from the value it was applied to."""

    def __init__(self, path: str) -> None:
        #: The path, as written.
        self.path = path
        super().__init__(path)
