"""Domain errors of the functions area (no HTTP in them).

    ModelyardError
     ├── InvalidRequest
     │    ├── InvalidFunctionName         not a function name or ARN Lambda accepts
     │    ├── InvalidFunction             a registration Lambda would refuse (handler syntax,
     │    │    │                          timeout, environment, description)
     │    │    └── HandlerNotUsable        the handler does not import, or is not callable
     │    ├── InvalidEvent                the event is not JSON
     │    └── EventTooLarge               the event is over the payload limit
     ├── FunctionNotFound                no function of that name (or that qualifier)
     ├── FunctionFailed                  the function's own failure: it raised, timed out,
     │                                   crashed its worker, or answered something not JSON
     └── FunctionsUnavailable            the worker pool is not running

:class:`FunctionFailed` is the result of an invocation more than an error of the service:
Lambda answers it with status 200 and ``X-Amz-Function-Error``, and a workflow's Task
state sees its ``error_type`` as the error name. Each protocol maps the others once: the
Lambda API in ``functions.lambda_api``, modelyard's own routes in ``functions.admin``.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelyard.errors import InvalidRequest, ModelyardError

__all__ = [
    "EventTooLarge",
    "FunctionFailed",
    "FunctionNotFound",
    "FunctionsUnavailable",
    "HandlerNotUsable",
    "InvalidEvent",
    "InvalidFunction",
    "InvalidFunctionName",
]


class InvalidFunctionName(InvalidRequest):
    """The function name is not valid."""


class InvalidFunction(InvalidRequest):
    """The function's registration is not valid."""


class HandlerNotUsable(InvalidFunction):
    """The handler cannot be imported, or is not callable."""


class InvalidEvent(InvalidRequest):
    """The event is not a JSON document."""


class EventTooLarge(InvalidRequest):
    """The event is larger than the payload limit."""


class FunctionNotFound(ModelyardError):
    """The function was not found."""


class FunctionsUnavailable(ModelyardError):
    """The function workers are not running."""


class FunctionFailed(ModelyardError):
    """The function failed: ``error_type`` says how, as Lambda's ``errorType`` does.

    ``error_type`` is the class name of the exception the function raised (``ValueError``),
    or the runtime's name for what happened around it: ``Sandbox.Timedout`` (it ran past
    its timeout and its worker was killed), ``Runtime.ExitError`` (its worker exited or
    crashed), ``Runtime.MarshalError`` (its result is not JSON),
    ``Runtime.ImportModuleError`` / ``Runtime.HandlerNotFound`` (its handler is gone).
    """

    def __init__(
        self, error_type: str, message: str, *, stack_trace: Sequence[str] | None = None
    ) -> None:
        super().__init__(message)
        # An empty message must stay empty (the base class would put its docstring there).
        self.message = message
        self.args = (message,)
        #: Lambda's ``errorType``.
        self.error_type = error_type
        #: Lambda's ``stackTrace``: the traceback's frames as ``traceback.format_list``
        #: gives them, innermost last; ``None`` for failures the runtime reports itself
        #: (timeouts, crashes), which Lambda answers without one.
        self.stack_trace: tuple[str, ...] | None = (
            None if stack_trace is None else tuple(stack_trace)
        )
