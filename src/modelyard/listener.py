"""The HTTP listener every way of running modelyard shares: read timeout, connection cap.

uvicorn drops idle keep-alive connections but has no deadline for receiving a request, so
a client that sends half a request line and then nothing holds its connection forever
(slowloris). ``ListenerProtocol`` adds that deadline and a real connection cap to uvicorn's
httptools protocol; ``build_config`` is the one ``uvicorn.Config`` the CLI and the tests run, and ``run``
serves an application with it until interrupted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import uvicorn
import uvloop
from starlette.types import ASGIApp
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState

from modelyard.config import HttpSettings

__all__ = ["ListenerConfig", "ListenerProtocol", "build_config", "run"]

logger = logging.getLogger(__name__)

_TIMEOUT_BODY = b"Request Timeout"


class ListenerConfig(uvicorn.Config):
    """uvicorn's settings plus the listener's limits, which ``ListenerProtocol`` reads."""

    #: Read timeout, keep-alive and connection cap; ``build_config`` sets them.
    limits: HttpSettings = HttpSettings()


class ListenerProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a read timeout and a connection cap.

    Read timeout (``read_timeout_s``): from the moment a connection opens, its first request
    must be received in full (headers and body) within the timeout; each later request
    within the timeout from its first byte. When one is late:

    - nothing sent on a fresh connection: the connection is closed;
    - a request begun and nothing answered to it yet: ``408 Request Timeout`` with
      ``Connection: close``, then the connection is closed (an app already waiting on the
      body is told the client disconnected, so nothing it sends lands after the 408);
    - a request begun but already (partly) answered: the connection is closed;
    - an earlier pipelined request still being answered: that answer, and those of requests
      received in full behind it, finish first; then the late request gets its 408.

    No deadline runs while an app works on a request received in full (the model server's
    ``request_timeout_s`` governs that) nor between requests on an idle keep-alive
    connection (uvicorn's keep-alive timeout, ``keep_alive_s``, does). One does run while
    uvicorn holds back a large body until the app reads it, or waits for the app to ask for
    the body of an ``Expect: 100-continue`` request: apps should read bodies first.

    Connection cap (``max_connections``): a connection opened while that many are open has
    each of its requests answered ``503 Service Unavailable`` with ``Connection: close``;
    connections within the cap are served as usual. Every open connection counts, the
    refused ones too, until they are closed.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # A plain uvicorn Config (``uvicorn --http modelyard.listener:ListenerProtocol``)
        # gets the default limits.
        limits = config.limits if isinstance(config, ListenerConfig) else HttpSettings()
        self.read_timeout_s = limits.read_timeout_s
        self.max_connections = limits.max_connections
        #: When the request being received (or a fresh connection's first) is late, in
        #: loop time; None while none is awaited.
        self.read_deadline: float | None = None
        #: Checks the deadline; it may be set for an earlier deadline than the current one.
        self.read_timer: asyncio.TimerHandle | None = None
        #: Between a request's first byte and the end of its body.
        self.receiving = False
        #: The deadline passed while an earlier request was still being answered.
        self.read_timed_out = False

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        """Admit the connection or mark it refused, and start its read deadline."""
        # Counted before uvicorn adds this one: the max_connections-th connection is served.
        refused = len(self.connections) >= self.max_connections
        super().connection_made(transport)
        if refused:
            logger.warning(
                "connection refused with 503: %d connections open (max_connections)",
                len(self.connections) - 1,
            )
            self.app = service_unavailable
        self.read_deadline = self.loop.time() + self.read_timeout_s
        self.read_timer = self.loop.call_later(self.read_timeout_s, self.check_read_deadline)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the read timer with the connection."""
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse ``data``, unless a late request waits for its 408."""
        if self.read_timed_out:
            # Its remaining bytes are not wanted: it will be answered 408 and closed.
            return
        HttpToolsProtocol.data_received(self, data)

    # The per-request methods below are on the fast path. The deadline is a float set and
    # cleared: a uvloop timer costs ~2 us to arm and cancel, so one is armed only when none
    # is pending (at most once per timeout on a busy keep-alive connection) and one that
    # fires early re-arms for the rest. They call HttpToolsProtocol's methods directly:
    # ``super()`` costs ~0.1 us more per call on Python 3.11.

    def on_message_begin(self) -> None:
        """Start the read deadline of the request whose first byte just arrived."""
        HttpToolsProtocol.on_message_begin(self)
        self.receiving = True
        # A connection's first request keeps the deadline set when the connection opened:
        # a client cannot wait read_timeout_s, send one byte, and get as long again.
        if self.read_deadline is None:
            self.read_deadline = self.loop.time() + self.read_timeout_s
        if self.read_timer is None:
            self.read_timer = self.loop.call_later(self.read_timeout_s, self.check_read_deadline)

    def on_message_complete(self) -> None:
        """Clear the read deadline: the request has been received in full."""
        self.receiving = False
        self.read_deadline = None
        HttpToolsProtocol.on_message_complete(self)

    def on_response_complete(self) -> None:
        """Answer a late request once every request received before it is answered."""
        if self.read_timed_out:
            late = self.receiving_cycle()
            if all(cycle is late for cycle, _ in self.pipeline):
                # Only the late request itself may be queued: it must not reach the app.
                self.pipeline.clear()
                super().on_response_complete()
                self.answer_timeout()
                return
        HttpToolsProtocol.on_response_complete(self)

    def handle_websocket_upgrade(self) -> None:
        """Hand the connection to the WebSocket protocol, without a read deadline."""
        self.receiving = False
        self.read_deadline = None
        super().handle_websocket_upgrade()

    def receiving_cycle(self) -> RequestResponseCycle | None:
        """The request being received, once its headers are complete (None before)."""
        # uvicorn makes a new scope at each request's first byte and its cycle once its
        # headers are complete: until then ``cycle`` is the previous request's.
        cycle = self.cycle
        return cycle if cycle is not None and cycle.scope is self.scope else None

    def check_read_deadline(self) -> None:
        """Drop the request (or the silent connection) whose deadline has passed."""
        self.read_timer = None
        if self.read_deadline is None or self.transport.is_closing():
            return  # nothing awaited: the next request's first byte arms a timer again
        remaining = self.read_deadline - self.loop.time()
        if remaining > 0:
            self.read_timer = self.loop.call_later(remaining, self.check_read_deadline)
            return
        self.read_deadline = None
        if not self.receiving:
            # A fresh connection that sent nothing: there is no request to answer.
            self.transport.close()
            return
        cycle = self.receiving_cycle()
        if cycle is not None and cycle.response_started:
            # The app answered before the body was in: a 408 cannot follow its answer.
            self.transport.close()
            return
        # An earlier request's answer is still being written (HTTP/1.1 pipelining): writing
        # the 408 now would cut into it. Before the late request's headers are complete,
        # uvicorn's ``cycle`` is still the earlier request's; after, the late request waits
        # in ``pipeline`` behind it.
        answering_earlier = bool(self.pipeline) or (
            cycle is None and self.cycle is not None and not self.cycle.response_complete
        )
        if answering_earlier:
            self.read_timed_out = True
            return
        self.answer_timeout()

    def answer_timeout(self) -> None:
        """Answer the request being received 408 and close the connection."""
        if self.transport.is_closing():
            return
        cycle = self.receiving_cycle()
        if cycle is not None:
            # Its app may be waiting on receive(): tell it the client is gone, as
            # connection_lost would, now rather than after the close, so that nothing it
            # sends is written after the 408.
            cycle.disconnected = True
            cycle.message_event.set()
        content = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: %d\r\n" % len(_TIMEOUT_BODY),
                b"connection: close\r\n",
                b"\r\n",
                _TIMEOUT_BODY,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()


def build_config(
    app: ASGIApp,
    http: HttpSettings,
    *,
    host: str,
    port: int,
    log_level: str = "warning",
) -> ListenerConfig:
    """The uvicorn settings to serve ``app`` with: the same wherever the server runs.

    uvloop and httptools (the fast paths) with ``ListenerProtocol`` for ``http``'s read
    timeout and connection cap; ``keep_alive_s`` is uvicorn's keep-alive timeout. Given
    sockets (``uvicorn.Server.run(sockets=...)``), ``host`` and ``port`` are unused.

    uvicorn's own ``limit_concurrency`` stays off: it is no connection cap. It counts
    running request tasks as well as connections (a request whose client left still counts
    until its app returns), it counts the connection asking (so only ``limit - 1`` are
    served), and once reached it answers 503 to requests on every connection, those
    admitted long before included. ``ListenerProtocol`` refuses only connections past
    ``max_connections``.
    """
    config = ListenerConfig(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=ListenerProtocol,
        lifespan="on",
        access_log=False,
        log_level=log_level,
        # uvicorn annotates it int, but only ever hands it to loop.call_later (seconds).
        timeout_keep_alive=http.keep_alive_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=5,
    )
    config.limits = http
    return config


def run(
    app: ASGIApp,
    host: str,
    port: int,
    on_started: Callable[[], None] | None = None,
    log_level: str = "warning",
    http: HttpSettings | None = None,
) -> None:
    """Serve ``app`` until interrupted, with ``build_config``'s settings.

    ``http`` holds the read timeout, keep-alive and connection cap (default: ``HttpSettings()``);
    ``on_started`` runs once the socket listens and the app's start-up is done.
    """
    config = build_config(app, http or HttpSettings(), host=host, port=port, log_level=log_level)
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and on_started is not None:
            on_started()
        await task

    uvloop.run(serve())
