"""Functions, the Lambda analog: Python callables registered by name, called Lambda-style.

:class:`FunctionService` is the area's facade (``platform.py`` builds it and starts its
worker pool); other areas call functions through the :class:`FunctionInvoker` protocol.
``lambda_api`` is the Lambda REST API (Invoke, GetFunction, ListFunctions,
DeleteFunction), ``admin`` modelyard's own ``/functions`` routes. User code runs only in
the worker processes of ``pool`` (``worker`` is their main loop).
"""

from __future__ import annotations

from modelyard.functions.arns import FunctionArns, FunctionRef
from modelyard.functions.errors import (
    EventTooLarge,
    FunctionFailed,
    FunctionNotFound,
    FunctionsUnavailable,
    HandlerNotUsable,
    InvalidEvent,
    InvalidFunction,
    InvalidFunctionName,
)
from modelyard.functions.service import FunctionInvoker, FunctionService, FunctionSpec

__all__ = [
    "EventTooLarge",
    "FunctionArns",
    "FunctionFailed",
    "FunctionInvoker",
    "FunctionNotFound",
    "FunctionRef",
    "FunctionService",
    "FunctionSpec",
    "FunctionsUnavailable",
    "HandlerNotUsable",
    "InvalidEvent",
    "InvalidFunction",
    "InvalidFunctionName",
]
