"""The HTTP listener over real sockets: slow clients timed out, connections capped (issue #11).

The server reads with a 0.5 s timeout; clients that must be slow are raw sockets, so that
what they send, and when, is exactly what the test says.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from modelyard.config import HttpSettings
from tests.servers import serve_in_thread

#: The read timeout of the servers under test (s).
READ_TIMEOUT = 0.5
#: How long a test waits for what should happen at once, or after the read timeout (s).
#: Generous: the machine may be loaded; only failures wait this long.
PATIENCE = 15.0


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


#: Paths of the requests whose app was told the client had gone while reading the body.
disconnected: list[str] = []


async def echo_length(request: Request) -> Response:
    try:
        body = await request.body()
    except ClientDisconnect:
        disconnected.append(request.url.path)
        return Response(status_code=499)  # never sent: there is no one to send it to
    return PlainTextResponse(str(len(body)))


async def slow(request: Request) -> PlainTextResponse:
    """Reads its body, then works for twice the read timeout."""
    body = await request.body()
    await asyncio.sleep(2 * READ_TIMEOUT)
    return PlainTextResponse(f"done {len(body)}")


def tiny_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/", hello),
            Route("/echo", echo_length, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    http = HttpSettings(read_timeout_s=READ_TIMEOUT, keep_alive_s=5.0)
    with serve_in_thread(tiny_app(), http) as url:
        yield url


class RawClient:
    """A raw TCP connection to the server: bytes sent and read exactly as the test says."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=PATIENCE)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_response(self) -> tuple[int, dict[str, str], bytes]:
        """The next response (it must have a Content-Length): status, headers, body."""
        self.sock.settimeout(PATIENCE)
        while b"\r\n\r\n" not in self.buffer:
            self._receive_more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, value in (line.split(":", 1) for line in header_lines)
        }
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._receive_more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def read_until_closed(self, deadline: float) -> bytes:
        """All the server sends until it closes the connection; fails at ``deadline``."""
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                pytest.fail(f"the server kept the connection open; it sent {self.buffer!r}")
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                received, self.buffer = self.buffer, b""
                return received
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()

    def _receive_more(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"the server closed the connection; it sent {self.buffer!r}"
        self.buffer += chunk


@contextlib.contextmanager
def connection(url: str) -> Iterator[RawClient]:
    """A raw connection to the server at ``url``, closed at the end of the block."""
    client = RawClient(url)
    try:
        yield client
    finally:
        client.close()


def assert_timed_out(response: bytes) -> None:
    """``response`` is one 408 with ``Connection: close``, and nothing after it."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 408 Request Timeout", response
    assert b"connection: close" in lines[1:], response
    assert body == b"Request Timeout", response


def test_slow_clients_are_dropped_while_others_are_served(server_url: str) -> None:
    partial = [
        b"GE",  # half a request line
        b"GET / HTTP/1.1\r\n",  # a request line, no headers
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",  # headers cut short
    ]
    with contextlib.ExitStack() as stack:
        opened = time.monotonic()
        slow_clients = [stack.enter_context(connection(server_url)) for _ in range(50)]
        for i, client in enumerate(slow_clients):
            client.send(partial[i % len(partial)])

        # The server is not tied up by them: a normal request is answered meanwhile.
        assert httpx.get(server_url + "/", timeout=PATIENCE).text == "hello"

        deadline = time.monotonic() + PATIENCE
        assert_timed_out(slow_clients[0].read_until_closed(deadline))
        # Not before the timeout (the first one was opened after ``opened``).
        assert time.monotonic() - opened >= READ_TIMEOUT / 2
        for client in slow_clients[1:]:
            assert_timed_out(client.read_until_closed(deadline))

    assert httpx.get(server_url + "/", timeout=PATIENCE).text == "hello"


def test_a_body_sent_short_of_its_length_is_answered_408(server_url: str) -> None:
    with connection(server_url) as client:
        client.send(
            b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
        )
        # The app is already waiting for the rest of the body: the 408 is all that comes,
        # and the app learns that the client is gone.
        assert_timed_out(client.read_until_closed(time.monotonic() + PATIENCE))
    deadline = time.monotonic() + PATIENCE
    while "/echo" not in disconnected:
        assert time.monotonic() < deadline, "the app was not told the client had gone"
        time.sleep(0.01)


def test_a_connection_that_sends_nothing_is_closed(server_url: str) -> None:
    with connection(server_url) as client:
        opened = time.monotonic()
        assert client.read_until_closed(opened + PATIENCE) == b""
        assert time.monotonic() - opened >= READ_TIMEOUT / 2


def test_an_app_working_past_the_read_timeout_is_not_cut(server_url: str) -> None:
    response = httpx.post(server_url + "/slow", content=b"abc", timeout=PATIENCE)
    assert response.status_code == 200
    assert response.text == "done 3"


def test_a_request_pipelined_behind_a_working_one_waits_for_its_answer(
    server_url: str,
) -> None:
    # The second request is left unfinished while the first one's app works past the
    # read timeout: the first is answered in full, then the second gets its 408.
    with connection(server_url) as client:
        client.send(
            b"POST /slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        )
        status, _, body = client.read_response()
        assert (status, body) == (200, b"done 3")
        assert_timed_out(client.read_until_closed(time.monotonic() + PATIENCE))


def test_an_idle_keep_alive_connection_outlives_the_read_timeout(server_url: str) -> None:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with connection(server_url) as client:
        client.send(request)
        assert client.read_response()[::2] == (200, b"hello")
        # Idle between requests: only the keep-alive timeout (5 s) applies.
        time.sleep(READ_TIMEOUT * 1.5)
        client.send(request)
        assert client.read_response()[::2] == (200, b"hello")


def test_connections_past_the_cap_are_answered_503() -> None:
    cap = 5
    http = HttpSettings(read_timeout_s=30.0, keep_alive_s=30.0, max_connections=cap)
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with serve_in_thread(tiny_app(), http) as url:
        with contextlib.ExitStack() as stack:
            held = [stack.enter_context(connection(url)) for _ in range(cap)]
            for client in held:  # each answered, so each is surely counted
                client.send(request)
                assert client.read_response()[0] == 200

            with connection(url) as extra:
                extra.send(request)
                status, headers, body = extra.read_response()
                assert (status, headers["connection"], body) == (
                    503,
                    "close",
                    b"Service Unavailable",
                )
                assert extra.read_until_closed(time.monotonic() + PATIENCE) == b""

            # The connections within the cap are still served.
            held[0].send(request)
            assert held[0].read_response()[::2] == (200, b"hello")

        # Once they are closed (the server notices soon after), new ones are served again.
        deadline = time.monotonic() + PATIENCE
        while (status := httpx.get(url + "/", timeout=PATIENCE).status_code) == 503:
            assert time.monotonic() < deadline, "the cap was not released"
            time.sleep(0.02)
        assert status == 200
