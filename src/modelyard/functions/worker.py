"""The worker process functions run in: it imports handlers and calls them Lambda-style.

The pool starts it as a fresh interpreter (``python -c`` :data:`BOOTSTRAP`), which runs
this file by path: it needs the standard library and orjson only, so a worker starts in
tens of milliseconds and never imports the server's packages (SQLAlchemy, Starlette)
nor runs ``modelyard.functions``' ``__init__``. Its ``sys.path`` is the server's, behind
the server's working directory: user code imports what the server process could.

It talks to the pool over one socket, one request at a time, in frames: a header
(``>II``: header length, body length), a JSON header and a raw body.

- ``{"op": "check", "handler": H}``: import the handler (cached for later calls) and
  check that it is callable; answers ``{"ok": true}``.
- ``{"op": "invoke", "handler": H, "context": {...}, "environment": {...}, "timeout_s": T}``
  with the event's JSON as body: call ``handler(event, context)`` (awaiting it if it is a
  coroutine) with the environment applied, then restored; answers ``{"ok": true}`` with
  the result's JSON as body.
- A failure answers ``{"error": [errorType, errorMessage, stackTrace or null]}``, in
  Lambda's words (``awslambdaric``'s ``Runtime.ImportModuleError``,
  ``Runtime.HandlerNotFound``, ``Runtime.MarshalError`` ...).

It first sends ``{"ready": true}``. The pool enforces timeouts by killing the worker's
process group; a ``sys.exit`` or crash in user code ends the worker, and the pool reports
it. The worker ignores SIGINT and SIGTERM (the server decides when it stops), exits when
its socket closes, and exits when the server process is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import os
import resource
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

__all__ = ["BOOTSTRAP", "FRAME", "LambdaContext", "decode_frame", "encode_frame", "main"]

#: What ``python -c`` runs: this file by path, then its ``main`` with the arguments after it.
BOOTSTRAP = "import runpy, sys; runpy.run_path(sys.argv[1])['main'](sys.argv[2:])"

#: Every frame starts with the lengths of its JSON header and of its raw body.
FRAME = struct.Struct(">II")

#: How often the worker checks that the server process still runs (seconds).
_PARENT_CHECK_S = 0.5

#: orjson's options for results: keys as ``json.dumps`` would accept them, numpy arrays.
_RESULT_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def encode_frame(header: Mapping[str, Any], body: bytes = b"") -> bytes:
    """One frame: ``header`` as JSON, then ``body`` as it is."""
    encoded = orjson.dumps(header)
    return FRAME.pack(len(encoded), len(body)) + encoded + body


def decode_frame(prefix: bytes, rest: bytes) -> tuple[dict[str, Any], bytes]:
    """The header and body of a frame: ``prefix`` is its first :data:`FRAME` bytes."""
    header_length, _ = FRAME.unpack(prefix)
    header: dict[str, Any] = orjson.loads(rest[:header_length])
    return header, rest[header_length:]


class LambdaContext:
    """The ``context`` a function receives, as the Lambda Python runtime builds it.

    ``memory_limit_in_mb`` is a string, as in Lambda (it comes from an environment
    variable there); ``client_context`` and ``identity`` are ``None``.
    """

    def __init__(self, fields: Mapping[str, Any], deadline: float) -> None:
        #: The invocation's id: the caller's idempotency key when it gave one.
        self.aws_request_id: str = fields["aws_request_id"]
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields["function_version"]
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: str = str(fields["memory_limit_in_mb"])
        self.log_group_name: str = fields["log_group_name"]
        self.log_stream_name: str = fields["log_stream_name"]
        self.client_context: Any = None
        self.identity: Any = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (never below 0)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def log(self, message: str) -> None:
        """Write ``message`` to the function's log (the server's standard output)."""
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _Fault(Exception):
    """A failure the runtime reports in its own words (not an exception of user code)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace if trace is not None else []


class _Runtime:
    """The worker's state: its socket, the handlers imported so far, its event loop."""

    def __init__(self, sock: socket.socket, max_result_bytes: int) -> None:
        self._sock = sock
        self._reader: BinaryIO = sock.makefile("rb")
        self._max_result_bytes = max_result_bytes
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # Lambda names a log stream per execution environment: the worker is one.
        today = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{today}/[$LATEST]{uuid.uuid4().hex}"

    def serve(self) -> None:
        """Answer requests until the socket closes."""
        self._send({"ready": True, "pid": os.getpid()})
        while True:
            prefix = self._reader.read(FRAME.size)
            if len(prefix) < FRAME.size:
                return  # the pool closed the socket: stop
            header_length, body_length = FRAME.unpack(prefix)
            header, body = decode_frame(prefix, self._reader.read(header_length + body_length))
            try:
                if header["op"] == "check":
                    self._resolve(header["handler"])
                    self._send({"ok": True})
                else:
                    self._send({"ok": True}, self._invoke(header, body))
            except _Fault as fault:
                self._send({"error": [fault.error_type, fault.message, fault.trace]})

    def _send(self, header: Mapping[str, Any], body: bytes = b"") -> None:
        self._sock.sendall(encode_frame(header, body))

    def _resolve(self, handler: str) -> Callable[..., Any]:
        found = self._handlers.get(handler)
        if found is None:
            found = _import_handler(handler)
            self._handlers[handler] = found
        return found

    def _invoke(self, header: Mapping[str, Any], body: bytes) -> bytes:
        deadline = time.monotonic() + float(header["timeout_s"])
        fields = {**header["context"], "log_stream_name": self.log_stream_name}
        environment = {**header["environment"], "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream_name}
        function = self._resolve(header["handler"])
        context = LambdaContext(fields, deadline)
        try:
            event = orjson.loads(body)
            with _applied(environment):
                result = function(event, context)
                if inspect.isawaitable(result):
                    result = self._event_loop().run_until_complete(_awaited(result))
        except (Exception, KeyboardInterrupt) as exc:
            raise _Fault(type(exc).__name__, str(exc), _user_frames(exc)) from None
        try:
            encoded = orjson.dumps(result, option=_RESULT_OPTIONS)
        except TypeError as exc:
            raise _Fault("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None
        if len(encoded) > self._max_result_bytes:
            raise _Fault(
                "Function.ResponseSizeTooLarge",
                "Response payload size exceeded maximum allowed payload size "
                f"({self._max_result_bytes} bytes).",
            )
        return encoded

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        # One loop for the worker's life, so clients an async handler keeps in globals
        # (bound to the loop they were made on) still work at its next invocation.
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _import_handler(handler: str) -> Callable[..., Any]:
    """The callable ``module:attr`` names, or a :class:`_Fault` in Lambda's words."""
    module_name, _, attribute = handler.partition(":")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise _Fault(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise _Fault(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from None
    except SyntaxError as exc:
        raise _Fault(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}'],
        ) from None
    except Exception as exc:  # the module's own code raised: Lambda's init error
        raise _Fault(type(exc).__name__, str(exc), _user_frames(exc)) from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise _Fault(
                "Runtime.HandlerNotFound",
                f"Handler '{attribute}' missing on module '{module_name}'",
            ) from None
    if not callable(found):
        raise _Fault(
            "Runtime.HandlerNotFound",
            f"Handler '{attribute}' on module '{module_name}' is not callable "
            f"({type(found).__name__})",
        )
    handler_function: Callable[..., Any] = found
    return handler_function


def _user_frames(exc: BaseException) -> list[str]:
    """The traceback's frames as Lambda's ``stackTrace`` lists them, without this file's."""
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.abspath(__file__)
    kept = [frame for frame in frames if os.path.abspath(frame.filename) != here]
    return traceback.format_list(kept)


@contextlib.contextmanager
def _applied(environment: Mapping[str, str]) -> Iterator[None]:
    """Set ``environment`` for the block; restore the environment and working directory.

    Everything the block changed is undone, not only the function's variables: functions
    share workers, and one must not see what another set.
    """
    before = dict(os.environ)
    cwd = os.getcwd()
    os.environ.update(environment)
    try:
        yield
    finally:
        if dict(os.environ) != before:
            for key in [key for key in os.environ if key not in before]:
                del os.environ[key]
            for key, value in before.items():
                if os.environ.get(key) != value:
                    os.environ[key] = value
        with contextlib.suppress(OSError):
            if os.getcwd() != cwd:
                os.chdir(cwd)


def _watch_parent(parent: int) -> None:
    # The worker runs in its own session (so the pool can kill what user code started
    # with it): nothing else tells it that the server died.
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_S)
    os._exit(1)


def main(argv: list[str]) -> None:
    """Entry point: ``argv`` is the socket's file descriptor and the JSON configuration.

    The configuration has ``sys_path`` (the server's), ``memory_limit_mb`` and
    ``max_result_bytes``.
    """
    fd = int(argv[0])
    config: dict[str, Any] = orjson.loads(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    limit = int(config["memory_limit_mb"]) * 2**20
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit is kept
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    sys.path[:] = ["", *(p for p in config["sys_path"] if p != "")]
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    runtime = _Runtime(socket.socket(fileno=fd), int(config["max_result_bytes"]))
    try:
        runtime.serve()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
