"""The functions area's facade: register, list, delete and invoke functions.

A function is a Python callable registered by name from ``package.module:attr`` and
called Lambda-style, ``handler(event, context)``, in a worker process
(:mod:`modelyard.functions.pool`), with a timeout and environment variables.
:class:`FunctionService` is what every protocol of the area calls (the Lambda API,
modelyard's own ``/functions`` routes) and, as a :class:`FunctionInvoker`, what other
areas call functions through: workflows' Task states, the API gateway. It knows nothing
of HTTP.

It is an *area*: ``platform.py`` starts it (the worker pool) and stops it. Database
calls run off the event loop, and user code never runs in the server process.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson

from modelyard.config import FunctionsSettings
from modelyard.functions.arns import LATEST, NAME_PATTERN, FunctionArns
from modelyard.functions.errors import (
    EventTooLarge,
    FunctionFailed,
    HandlerNotUsable,
    InvalidEvent,
    InvalidFunction,
    InvalidFunctionName,
)
from modelyard.functions.pool import WorkerLost, WorkerPool, WorkerTimedOut
from modelyard.ids import uuid4_string
from modelyard.storage.database import Database
from modelyard.storage.functions import FunctionRegistration, FunctionRegistrations

__all__ = ["FunctionInvoker", "FunctionService", "FunctionSpec"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: ``package.module:attr``, each part a Python identifier (``attr`` may be dotted).
HANDLER_PATTERN = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

#: Lambda's limits on a function's configuration.
MAX_TIMEOUT_S = 900.0
MAX_DESCRIPTION = 256
MAX_HANDLER = 128
MAX_ENVIRONMENT_BYTES = 4096
_VARIABLE_NAME = re.compile(r"[a-zA-Z]\w+")

#: Variables the runtime sets itself: a function may not set them (Lambda's reserved keys).
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_REGION",
    }
)

#: Event of an invocation without payload (as Lambda passes it).
EMPTY_EVENT = b"{}"

#: Payloads larger than this are checked in a thread, off the event loop.
_PARSE_IN_THREAD_BYTES = 64 * 2**10


class FunctionInvoker(Protocol):
    """How other areas call functions (workflows' Task states, the API gateway).

    ``name`` is a function's name or ARN (``arn:aws:lambda:<region>:<account>:function:
    <name>``, optionally ``:$LATEST``); ``event`` any JSON-serialisable value. Returns the
    function's result, decoded from JSON. Raises
    :class:`~modelyard.functions.errors.FunctionNotFound`, or
    :class:`~modelyard.functions.errors.FunctionFailed` whose ``error_type`` is what
    Lambda reports as ``errorType``. ``request_id`` (an idempotency key) reaches the
    function as ``context.aws_request_id``; a random one is made when it is ``None``.
    """

    async def invoke(self, name: str, event: Any, *, request_id: str | None = None) -> Any: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionSpec:
    """What a registration asks for (``POST /functions``).

    >>> FunctionSpec(name="resize", handler="images.tasks:resize", timeout_s=30,
    ...              environment={"BUCKET": "thumbnails"})
    """

    #: The name (1 to 64 letters, digits, hyphens and underscores).
    name: str
    #: The callable, ``package.module:attr``.
    handler: str
    #: Seconds an invocation may run; ``None`` for the settings' default.
    timeout_s: float | None = None
    #: Environment variables set around each call.
    environment: Mapping[str, str] = field(default_factory=dict)
    #: What the function is for.
    description: str = ""


class FunctionService:
    """Functions: their registrations in the database, their calls in the worker pool."""

    def __init__(
        self,
        *,
        database: Database,
        arns: FunctionArns,
        settings: FunctionsSettings | None = None,
    ) -> None:
        self.arns = arns
        self.settings = settings or FunctionsSettings()
        self._registrations = FunctionRegistrations(database)
        self._pool = WorkerPool(self.settings)
        #: Event invocations under way (``InvocationType: Event``), cancelled at stop.
        self._background: set[asyncio.Task[None]] = set()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker processes."""
        await self._pool.start()

    async def stop(self) -> None:
        """Cancel event invocations under way, then stop the workers."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._pool.stop()

    # -- registrations ------------------------------------------------------------------------

    async def register(self, spec: FunctionSpec) -> tuple[FunctionRegistration, bool]:
        """Register a function, or replace the registration of its name.

        The handler is imported in a worker first (within ``import_timeout_s``):
        HandlerNotUsable, naming the problem, if it does not import or is not callable;
        InvalidFunction for anything else Lambda would refuse. Returns the registration
        and whether the name is new. Workers that imported the handler's module keep it:
        a changed module is seen by new workers only.
        """
        timeout_s = self.settings.default_timeout_s if spec.timeout_s is None else spec.timeout_s
        _check_spec(spec, timeout_s)
        await self._check_handler(spec.handler)
        now = datetime.now(UTC)
        registration = FunctionRegistration(
            name=spec.name,
            handler=spec.handler,
            timeout_s=float(timeout_s),
            environment=dict(spec.environment),
            description=spec.description,
            created_at=now,
            updated_at=now,
        )
        return await _db(self._registrations.save, registration)

    async def get(self, name: str) -> FunctionRegistration:
        """The function ``name`` refers to (a name or ARN); FunctionNotFound if none."""
        ref = self.arns.resolve(name)
        found = await _db(self._registrations.get, ref.name)
        if found is None:
            raise self.arns.not_found(ref.name, ref.qualifier)
        return found

    async def list(
        self, *, after: str | None = None, limit: int = 50
    ) -> tuple[builtins.list[FunctionRegistration], str | None]:
        """Up to ``limit`` functions by name, after ``after``; and where the next page starts."""
        return await _db(lambda: self._registrations.page(after=after, limit=limit))

    async def delete(self, name: str) -> None:
        """Forget the function ``name`` refers to; FunctionNotFound if there is none."""
        ref = self.arns.resolve(name)
        if not await _db(self._registrations.remove, ref.name):
            raise self.arns.not_found(ref.name, ref.qualifier)

    # -- invocations --------------------------------------------------------------------------

    async def invoke(self, name: str, event: Any, *, request_id: str | None = None) -> Any:
        """Call the function with ``event``; its result, decoded (see :class:`FunctionInvoker`)."""
        try:
            payload = orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS)
        except TypeError as exc:
            raise InvalidEvent(f"The event is not JSON-serialisable: {exc}") from exc
        return orjson.loads(await self.invoke_payload(name, payload, request_id=request_id))

    async def invoke_payload(
        self, name: str, payload: bytes, *, request_id: str | None = None
    ) -> bytes:
        """Call the function with the JSON document ``payload`` (empty: ``{}``).

        Returns the result's JSON. InvalidEvent unless ``payload`` is JSON, EventTooLarge
        past ``max_payload_bytes``; FunctionNotFound, FunctionFailed as :meth:`invoke`.
        """
        function = await self.get(name)
        return await self._call(function, await _checked(payload, self.settings), request_id)

    async def submit(self, name: str, payload: bytes, *, request_id: str | None = None) -> str:
        """Start the function without waiting for it (Lambda's ``Event`` invocations).

        The checks are made now (FunctionNotFound, InvalidEvent); the call runs in the
        background, and a failure is logged. Returns the invocation's request id.
        """
        function = await self.get(name)
        payload = await _checked(payload, self.settings)
        request_id = request_id or uuid4_string()
        task = asyncio.get_running_loop().create_task(
            self._call_logged(function, payload, request_id)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return request_id

    async def _call_logged(
        self, function: FunctionRegistration, payload: bytes, request_id: str
    ) -> None:
        try:
            await self._call(function, payload, request_id)
        except FunctionFailed as exc:
            logger.warning(
                "function %s (event invocation %s) failed: %s: %s",
                function.name,
                request_id,
                exc.error_type,
                exc.message,
            )
        except Exception:
            logger.exception("function %s (event invocation %s) failed", function.name, request_id)

    async def _call(
        self, function: FunctionRegistration, payload: bytes, request_id: str | None
    ) -> bytes:
        request_id = request_id or uuid4_string()
        header = {
            "op": "invoke",
            "handler": function.handler,
            "timeout_s": function.timeout_s,
            "context": self._context(function, request_id),
            "environment": {**function.environment, **self._runtime_variables(function)},
        }
        try:
            answer, body = await self._pool.call(header, payload, function.timeout_s)
        except WorkerTimedOut:
            raise FunctionFailed(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after "
                f"{function.timeout_s:.2f} seconds",
            ) from None
        except WorkerLost as exc:
            reason = (
                "Runtime exited without providing a reason"
                if exc.status is None
                else f"Runtime exited with error: {exc.status}"
            )
            raise FunctionFailed(
                "Runtime.ExitError", f"RequestId: {request_id} Error: {reason}"
            ) from None
        if "error" in answer:
            error_type, message, stack_trace = answer["error"]
            raise FunctionFailed(error_type, message, stack_trace=stack_trace)
        return body

    def _context(self, function: FunctionRegistration, request_id: str) -> dict[str, Any]:
        return {
            "aws_request_id": request_id,
            "function_name": function.name,
            "function_version": LATEST,
            "invoked_function_arn": self.arns.of(function.name),
            "memory_limit_in_mb": self.settings.memory_limit_mb,
            "log_group_name": f"/aws/lambda/{function.name}",
        }

    def _runtime_variables(self, function: FunctionRegistration) -> dict[str, str]:
        # What Lambda's runtime sets in every function's environment (the log stream is
        # the worker's own: it adds it).
        return {
            "_HANDLER": function.handler,
            "AWS_REGION": self.arns.region,
            "AWS_DEFAULT_REGION": self.arns.region,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": LATEST,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.settings.memory_limit_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        }

    async def _check_handler(self, handler: str) -> None:
        try:
            answer, _ = await self._pool.call(
                {"op": "check", "handler": handler}, b"", self.settings.import_timeout_s
            )
        except WorkerTimedOut:
            raise HandlerNotUsable(
                f"Handler {handler!r} cannot be used: importing it took longer than "
                f"{self.settings.import_timeout_s:g} seconds"
            ) from None
        except WorkerLost as exc:
            raise HandlerNotUsable(
                f"Handler {handler!r} cannot be used: importing it ended its worker process "
                f"({exc.status or 'exit status 0'})"
            ) from None
        if "error" in answer:
            error_type, message, _ = answer["error"]
            raise HandlerNotUsable(f"Handler {handler!r} cannot be used: {error_type}: {message}")


def _check_spec(spec: FunctionSpec, timeout_s: float) -> None:
    """InvalidFunctionName / InvalidFunction for what Lambda would refuse to create."""
    if not NAME_PATTERN.fullmatch(spec.name):
        raise InvalidFunctionName(
            f"Function name {spec.name!r} is not valid: 1 to 64 letters, digits, hyphens "
            "and underscores"
        )
    if len(spec.handler) > MAX_HANDLER or not HANDLER_PATTERN.fullmatch(spec.handler):
        raise InvalidFunction(
            f"Handler {spec.handler!r} is not valid: it must be 'package.module:attr' "
            f"(Python identifiers, at most {MAX_HANDLER} characters)"
        )
    if not (math.isfinite(timeout_s) and 0 < timeout_s <= MAX_TIMEOUT_S):
        raise InvalidFunction(
            f"Timeout {timeout_s!r} is not valid: more than 0 and at most {MAX_TIMEOUT_S:g} seconds"
        )
    if len(spec.description) > MAX_DESCRIPTION:
        raise InvalidFunction(f"Description is longer than {MAX_DESCRIPTION} characters")
    for key in spec.environment:
        if not _VARIABLE_NAME.fullmatch(key):
            raise InvalidFunction(
                f"Environment variable name {key!r} is not valid: a letter, then one or more letters, "
                "digits and underscores"
            )
    reserved = sorted(RESERVED_VARIABLES.intersection(spec.environment))
    if reserved:
        raise InvalidFunction(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are "
            f"currently not supported for modification. Reserved keys used in this request: "
            f"{', '.join(reserved)}"
        )
    size = len(orjson.dumps(dict(spec.environment)))
    if size > MAX_ENVIRONMENT_BYTES:
        raise InvalidFunction(
            f"Environment variables take {size} bytes, more than the {MAX_ENVIRONMENT_BYTES} "
            "allowed"
        )


async def _checked(payload: bytes, settings: FunctionsSettings) -> bytes:
    """``payload`` if it is a JSON document within the limit (``{}`` when empty)."""
    if len(payload) > settings.max_payload_bytes:
        raise EventTooLarge(
            f"Request must be smaller than {settings.max_payload_bytes} bytes for the "
            "InvokeFunction operation"
        )
    if not payload.strip():
        return EMPTY_EVENT
    try:
        # Parsing megabytes takes milliseconds: not on the event loop.
        if len(payload) > _PARSE_IN_THREAD_BYTES:
            await asyncio.to_thread(orjson.loads, payload)
        else:
            orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"Could not parse request body into json: {exc}") from None
    return payload


async def _db(work: Callable[..., T], *args: Any) -> T:
    # Off the event loop: the database may be a network away.
    return await asyncio.to_thread(work, *args)
