"""The HTTP routes of the training area besides its SageMaker operations: a job's log.

The SageMaker operations are an :class:`~modelyard.aws.json_protocol.AwsJsonService`
(``training.control.service``) that ``platform.py`` serves on ``POST /``. On SageMaker a
job's log goes to CloudWatch; here it is a file of the job's folder, read in pieces::

    GET /training-jobs/{name}/logs?offset=0
    200 {"name": "churn", "text": "epoch=1 loss=0.52\\n...", "offset": 0, "next_offset": 4096}

Ask again from ``next_offset`` for what was written since (``modelyard train watch`` does).
A job whose log does not exist yet answers empty text. The route needs an administrator
(the platform's bearer guard), like the other management routes. Errors are
``{"code", "type", "message"}`` with ``x-modelyard-error-type``; :data:`ERROR_STATUS` is
the one place where domain errors become statuses.
"""

from __future__ import annotations

import asyncio
import codecs
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from modelyard import errors
from modelyard.serving.protocols.auth import Guard
from modelyard.serving.protocols.errors import render_errors
from modelyard.training.errors import TrainingJobNotFound
from modelyard.training.service import TrainingService

__all__ = ["ERROR_STATUS", "LOG_PATH", "MAX_LOG_CHUNK", "MAX_OFFSET", "read_log", "routes"]

#: The log route's path.
LOG_PATH: Final = "/training-jobs/{name}/logs"
#: Most bytes of log one request answers; ask again from ``next_offset`` for more.
MAX_LOG_CHUNK: Final = 1 * 2**20
#: Largest offset accepted (a file offset is a signed 64-bit number).
MAX_OFFSET: Final = 2**63 - 1

#: HTTP status of each domain error; subclasses inherit their parent's unless listed.
ERROR_STATUS: dict[type[errors.ModelyardError], int] = {
    errors.InvalidRequest: 400,
    errors.AuthenticationRequired: 401,
    errors.AccessDenied: 403,
    TrainingJobNotFound: 404,
    errors.DatabaseError: 503,
}

Endpoint = Callable[[Request], Awaitable[Response]]


def routes(training: TrainingService, authorize: Guard) -> list[BaseRoute]:
    """``GET /training-jobs/{name}/logs``, bound to ``training``; ``authorize`` checks who
    calls."""

    @_rendered
    async def logs(request: Request) -> Response:
        await authorize(request)
        offset = _offset(request.query_params.get("offset"))
        job = await training.describe(request.path_params["name"])
        text, next_offset = await asyncio.to_thread(
            read_log, training.log_file(job.name), offset, MAX_LOG_CHUNK
        )
        return _json({"name": job.name, "text": text, "offset": offset, "next_offset": next_offset})

    return [Route(LOG_PATH, logs, methods=["GET"])]


def read_log(path: Path, offset: int, limit: int) -> tuple[str, int]:
    """The log's text from byte ``offset`` (at most ``limit`` bytes), and where the next
    piece starts; blocking.

    A character cut by the end of the piece is left for the next one (its bytes are not
    counted), so pieces read one after another decode to the whole log.
    """
    try:
        with path.open("rb") as log:
            size = os.fstat(log.fileno()).st_size
            start = min(offset, size)
            log.seek(start)
            data = log.read(limit)
    except FileNotFoundError:
        return "", offset
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(data, final=False)
    pending, _ = decoder.getstate()
    if len(pending) == len(data) and len(data) >= limit:
        # Nothing but a broken sequence as long as a whole piece: never stall on it.
        return decoder.decode(b"", final=True), start + len(data)
    return text, start + len(data) - len(pending)


def _offset(raw: str | None) -> int:
    if raw is None:
        return 0
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_OFFSET:
        raise errors.InvalidRequest(
            f"offset must be a whole number of bytes from 0 to {MAX_OFFSET}, not {raw[:40]!r}"
        )
    return int(raw)


def _error_body(exc: errors.ModelyardError, status: int) -> Response:
    """A domain error as ``{"code", "type", "message"}``."""
    return _json({"code": status, "type": type(exc).__name__, "message": exc.message}, status)


#: Domain errors become ``{"code", "type", "message"}`` with their status.
_rendered = render_errors(_error_body, ERROR_STATUS)


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")
