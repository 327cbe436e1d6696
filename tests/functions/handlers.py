"""Toy functions the tests register: each handler is ``tests.functions.handlers:<name>``.

The worker processes import this module as user code (the server's ``sys.path`` and
working directory, or ``PYTHONPATH`` for a server started as a subprocess).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import time
from typing import Any

#: Set at import, so a test can see which workers imported the module.
IMPORTED_BY = os.getpid()

#: Not callable: registering ``handlers:NOT_CALLABLE`` must fail.
NOT_CALLABLE = 42


def echo(event: Any, context: Any) -> Any:
    """Answers the event it was given."""
    return event


def add(event: dict[str, int], context: Any) -> dict[str, int]:
    """``{"a": 1, "b": 2}`` -> ``{"sum": 3}``."""
    return {"sum": event["a"] + event["b"]}


def fail(event: Any, context: Any) -> Any:
    """Raises ``ValueError`` naming the event's ``reason``."""
    raise ValueError(f"cannot do it: {event.get('reason', 'no reason')}")


def sleep(event: dict[str, float], context: Any) -> dict[str, Any]:
    """Sleeps ``event["seconds"]``, then answers the worker's pid."""
    time.sleep(event["seconds"])
    return {"slept": event["seconds"], "pid": os.getpid()}


def pid(event: Any, context: Any) -> int:
    """The worker's process id."""
    return os.getpid()


def exit_hard(event: dict[str, int], context: Any) -> Any:
    """Ends the worker with ``os._exit(event["code"])``."""
    os._exit(event.get("code", 3))


def segfault(event: Any, context: Any) -> Any:
    """Crashes the worker with a segmentation fault."""
    ctypes.string_at(0)


def context_of(event: Any, context: Any) -> dict[str, Any]:
    """The context's fields, and the remaining time."""
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }


def environment(event: dict[str, list[str]], context: Any) -> dict[str, str | None]:
    """The values of the variables ``event["names"]``; sets ``LEAKED`` and changes
    directory, which must not outlive the call."""
    found = {name: os.environ.get(name) for name in event["names"]}
    os.environ["LEAKED"] = "yes"
    os.chdir("/")
    return found


async def async_add(event: dict[str, int], context: Any) -> dict[str, int]:
    """``add``, awaited: a coroutine function."""
    await asyncio.sleep(0)
    return {"sum": event["a"] + event["b"]}


def not_json(event: Any, context: Any) -> Any:
    """A result JSON cannot hold: a set."""
    return {1, 2, 3}


class Greeter:
    """A handler reached through a dotted attribute: ``Greeter.greet``."""

    @staticmethod
    def greet(event: dict[str, str], context: Any) -> str:
        return f"hello {event['name']}"


def cwd(event: Any, context: Any) -> str:
    """The worker's working directory."""
    return os.getcwd()


def touch(event: dict[str, str], context: Any) -> None:
    """Writes the request id into the file ``event["path"]``."""
    with open(event["path"], "w") as file:
        file.write(context.aws_request_id)


def allocate(event: dict[str, int], context: Any) -> int:
    """Allocates ``event["mib"]`` MiB at once."""
    return len(bytearray(event["mib"] * 2**20))
