"""The gateway's access log: one line per request served by a deployed API.

A stage's ``accessLogSettings.format`` (UpdateStage ``/accessLogSettings/format``) is
API Gateway's template of ``$context`` variables; each request is written as that
template with its variables substituted, most often a JSON object::

    {"requestId":"$context.requestId","ip":"$context.identity.sourceIp",
     "status":"$context.status","responseLength":"$context.responseLength"}

A stage without one is written with :data:`DEFAULT_FORMAT`. A variable the request has no
value for, or that is unknown, is written ``-``, as API Gateway writes it. Values are
escaped as inside a JSON string (quotes, backslashes, control characters), so a JSON
format stays JSON and no value can start a line of its own. ``$context.identity.apiKey``
is always ``-``: a secret is never written (the request's headers are never variables).

Besides the request's ``$context`` (the runtime's), a line may use ``status``,
``responseLength`` and ``responseLatency`` (ms) of the answer, and what the integration
did: ``integration.status``, ``integration.integrationStatus``, ``integration.latency``
(ms), ``integration.error``, with their older names ``integrationStatus`` and
``integrationLatency``.

Where lines go: to the logger ``modelyard.gateway.access`` at INFO (each record also
carries ``destination_arn``, ``api_id`` and ``stage`` attributes for routing filters), and,
when a file is given (``GatewaySettings.access_log``), appended to it. :class:`AccessLog`
is on every request's path: :meth:`AccessLog.record` renders the line (a few microseconds,
the format compiled once) and buffers it; a background task appends the buffered lines
in a worker thread and hands them to the logger, at least every ``flush_interval_s``::

    log = AccessLog(home / "logs" / "gateway-access.log")
    await log.start()
    log.record(AccessEntry(format=None, destination=None, context=context,
                           integration={"status": 200, "latency": 2}, status=200,
                           response_length=17, latency_ms=3))
    await log.stop()          # writes what is buffered
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple

import orjson

__all__ = [
    "DEFAULT_FORMAT",
    "AccessEntry",
    "AccessLog",
    "AccessLogFormat",
    "format_problem",
    "render_line",
]

logger = logging.getLogger(__name__)

#: Where the lines go (``modelyard.gateway.access``).
ACCESS_LOGGER: Final = logging.getLogger("modelyard.gateway.access")

#: The line of a stage without ``accessLogSettings.format``: API Gateway's JSON example,
#: with the API and stage (one file holds every stage) and the latency.
DEFAULT_FORMAT: Final = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
    '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
    '"resourcePath":"$context.resourcePath","status":"$context.status",'
    '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
    '"responseLatency":"$context.responseLatency","apiId":"$context.apiId",'
    '"stage":"$context.stage"}'
)

#: What an unknown or missing variable is written as.
MISSING: Final = "-"

_VARIABLE: Final = re.compile(r"\$context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
_REQUEST_ID: Final = re.compile(r"\$context\.(?:requestId|extendedRequestId)(?![A-Za-z0-9_])")
#: Older names of the integration's variables.
_ALIASES: Final[Mapping[str, tuple[str, ...]]] = {
    "integrationLatency": ("integration", "latency"),
    "integrationStatus": ("integration", "status"),
}
#: Variables never written, whatever the format: secrets.
_SECRET: Final = frozenset({("identity", "apiKey")})
#: Members of members a variable may name, at most (``authorizer.claims.x`` is 3).
_MAX_DEPTH: Final = 6
#: Distinct formats kept compiled, at most.
_MAX_FORMATS: Final = 1_000


class AccessEntry(NamedTuple):
    """One request served: what its line is rendered from."""

    #: The stage's ``accessLogSettings.format``; None for :data:`DEFAULT_FORMAT`.
    format: str | None
    #: The stage's ``accessLogSettings.destinationArn``, if any.
    destination: str | None
    #: The request's ``$context``.
    context: Mapping[str, Any]
    #: What the integration did (``$context.integration``): ``status``,
    #: ``integrationStatus``, ``latency`` (ms), ``error``; empty when none was called.
    integration: Mapping[str, Any]
    #: The answer's status code.
    status: int
    #: The answer's body length in bytes.
    response_length: int
    #: From the request's arrival to its answer, in ms.
    latency_ms: int


def format_problem(text: str) -> str | None:
    """Why UpdateStage refuses ``text`` as an access log format (API Gateway's checks), or
    None when it is usable."""
    if "\n" in text.rstrip("\n"):
        return (
            "Access Log format must be single line, new line character is allowed only at "
            "end of the format"
        )
    if _REQUEST_ID.search(text) is None:
        return (
            "Access Log format must contain at least one of $context.requestId or "
            "$context.extendedRequestId"
        )
    return None


class AccessLogFormat:
    """A format compiled once into a function rendering an entry's line.

    ``AccessLogFormat('"$context.httpMethod $context.path" $context.status')``

    The function is generated (as :func:`collections.namedtuple` and :mod:`dataclasses`
    generate theirs): one ``"".join`` of the literal text and one expression per variable,
    each a dict look-up or two. It renders a line of ten variables in ~1.7 µs, where
    walking a list of per-variable getters took twice that. Only the variable names the
    pattern accepts (letters, digits, ``_``) and literals quoted by :func:`repr` reach the
    generated source.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        body = text.rstrip("\n")
        parts: list[str] = []
        position = 0
        for match in _VARIABLE.finditer(body):
            if match.start() > position:
                parts.append(repr(body[position : match.start()]))
            parts.append(_expression(match[1]))
            position = match.end()
        if position < len(body):
            parts.append(repr(body[position:]))
        source = (
            "def render(entry):\n"
            "    context = entry.context\n"
            f"    return ''.join(({''.join(part + ', ' for part in parts)}))\n"
        )
        namespace: dict[str, Any] = {"_text": _text, "_member": _member}
        exec(compile(source, "<access log format>", "exec"), namespace)
        self._render: Callable[[AccessEntry], str] = namespace["render"]

    def render(self, entry: AccessEntry) -> str:
        """``entry``'s line (without its newline)."""
        return self._render(entry)


def render_line(entry: AccessEntry) -> str:
    """``entry``'s line in its format (uncached: :class:`AccessLog` keeps them compiled)."""
    return AccessLogFormat(entry.format or DEFAULT_FORMAT).render(entry)


class AccessLog:
    """Writes the access log off the request path (see the module).

    - :meth:`record` runs on the event loop's thread for every request answered: it
      renders the line and buffers it, no I/O, and it never raises. Before :meth:`start`
      and once :meth:`stop` has begun it records nothing, as it does when there is no
      file and the logger is not enabled for INFO (:attr:`recording`).
    - Rendering there rather than in the writer is deliberate: the request's context is
      still in the CPU's caches, and a buffer of strings holds nothing the garbage
      collector walks, where thousands of kept contexts (dicts) made it collect ~60 %
      more often: keeping them for the writer to render cost about twice as much per
      request in all (measured through ``GatewayRuntime.handle``), for ~1 µs less on
      the request itself.
    - A background task takes the buffered lines at least every ``flush_interval_s``
      (sooner once ``flush_at`` are waiting), appends them to the file in a worker thread
      (opening it for each batch, so a rotated file is followed) and hands them to the
      logger.
    - At most ``max_buffered`` lines wait; more are dropped and counted (:attr:`dropped`),
      as are lines a failed write loses.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        flush_interval_s: float = 0.25,
        flush_at: int = 4_096,
        max_buffered: int = 20_000,
    ) -> None:
        #: The file appended to; None for the logger alone.
        self.path = path
        self._interval = flush_interval_s
        self._flush_at = flush_at
        self._max = max_buffered
        #: Lines for the file.
        self._lines: list[str] = []
        #: Lines for the logger, with the record's routing attributes.
        self._records: list[tuple[str, Any, Any, Any]] = []
        self._formats: dict[str, AccessLogFormat] = {}
        self._running = False
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        #: Lines lost: buffer full, rendering failed, or their write failed.
        self.dropped = 0

    @property
    def recording(self) -> bool:
        """Whether :meth:`record` keeps lines now (callers may skip building an entry)."""
        return self._running and (self.path is not None or ACCESS_LOGGER.isEnabledFor(logging.INFO))

    async def start(self) -> None:
        """Start the background writer (and create the file's folder)."""
        if self._running:
            return
        if self.path is not None:
            try:
                await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
            except OSError as exc:
                logger.warning("gateway access log: cannot create %s: %s", self.path.parent, exc)
        self._wakeup = asyncio.Event()
        self._running = True
        self._task = asyncio.create_task(self._run(), name="gateway-access-log")

    async def stop(self) -> None:
        """Stop recording, write what is buffered, stop the writer."""
        if not self._running:
            return
        self._running = False
        assert self._wakeup is not None and self._task is not None
        self._wakeup.set()
        await self._task
        self._task = None

    def record(self, entry: AccessEntry) -> None:
        """Render ``entry``'s line and buffer it for the writer (see the class)."""
        if not self._running:
            return
        to_file = self.path is not None
        to_logger = ACCESS_LOGGER.isEnabledFor(logging.INFO)
        if not (to_file or to_logger):
            return
        waiting = len(self._lines) + len(self._records)
        if waiting >= self._max:
            self.dropped += 1
            return
        try:
            line = self._format(entry.format).render(entry)
        except Exception:  # a bug of ours must not fail the request it logs
            self.dropped += 1
            logger.exception("gateway access log: cannot render a line")
            return
        if to_file:
            self._lines.append(line)
        if to_logger:
            context = entry.context
            self._records.append(
                (line, entry.destination, context.get("apiId"), context.get("stage"))
            )
        if waiting + 1 == self._flush_at and self._wakeup is not None:
            self._wakeup.set()

    async def _run(self) -> None:
        assert self._wakeup is not None
        while self._running:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wakeup.wait()
            self._wakeup.clear()
            await self._flush()
        # Stopped: what was recorded before the stop is written too.
        await self._flush()

    async def _flush(self) -> None:
        lines, self._lines = self._lines, []
        records, self._records = self._records, []
        for line, destination, api_id, stage in records:
            ACCESS_LOGGER.info(
                "%s", line, extra={"destination_arn": destination, "api_id": api_id, "stage": stage}
            )
        if not lines or self.path is None:
            return
        data = ("\n".join(lines) + "\n").encode()
        try:
            await asyncio.to_thread(_append, self.path, data)
        except OSError as exc:
            self.dropped += len(lines)
            if not self._failing:
                logger.warning("gateway access log: cannot write %s: %s", self.path, exc)
            self._failing = True
        else:
            if self._failing:
                logger.warning("gateway access log: writing %s again", self.path)
            self._failing = False

    def _format(self, text: str | None) -> AccessLogFormat:
        key = text or DEFAULT_FORMAT
        compiled = self._formats.get(key)
        if compiled is None:
            if len(self._formats) >= _MAX_FORMATS:
                self._formats.clear()
            compiled = self._formats[key] = AccessLogFormat(key)
        return compiled


def _expression(name: str) -> str:
    """The Python expression (of ``entry`` and ``context``) of ``$context.<name>``'s text."""
    if name == "status":
        return "str(entry.status)"
    if name == "responseLength":
        return "str(entry.response_length)"
    if name == "responseLatency":
        return "str(entry.latency_ms)"
    path = _ALIASES.get(name) or tuple(name.split("."))
    if (
        path in _SECRET
        or (path[0] == "integration" and len(path) != 2)
        or len(path) > _MAX_DEPTH  # no variable goes that deep (and the source stays flat)
    ):
        return repr(MISSING)
    if path[0] == "integration":
        return f"_text(entry.integration.get({path[1]!r}))"
    expression = f"context.get({path[0]!r})"
    for key in path[1:]:
        expression = f"_member({expression}, {key!r})"
    return f"_text({expression})"


def _member(value: Any, key: str) -> Any:
    """``value[key]`` when ``value`` is a dict that has it, else None."""
    return value.get(key) if isinstance(value, dict) else None


def _text(value: Any) -> str:
    """``value`` as written: escaped as inside a JSON string; ``-`` for none or for one
    that is not a single value."""
    if type(value) is str:
        if not value:
            return MISSING
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            return value
        return orjson.dumps(value).decode()[1:-1]
    if value is None or isinstance(value, Mapping | list | tuple):
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _text(str(value))


def _append(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` in as few writes as the OS takes (``O_APPEND``: lines of
    several processes sharing the file do not overwrite each other)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
