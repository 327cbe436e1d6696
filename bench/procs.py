"""Server subprocesses for the benchmarks: start on a free port, wait, measure, always stop.

Each server runs in its own session (so its own process group, workers included): stopping
it signals the whole group, and Ctrl+C in the terminal reaches only the benchmark, whose
``finally`` blocks then stop the servers.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "Client",
    "Server",
    "get_json",
    "pss_tree_mb",
    "rss_tree_mb",
    "servers_stopped",
    "stop_all",
    "wait_http",
]

#: Servers started and not yet stopped, so one last sweep can stop them all.
_LIVE: set[Server] = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(eq=False, kw_only=True)
class Server:
    """A server subprocess listening on 127.0.0.1."""

    #: The process.
    process: subprocess.Popen[bytes]
    #: Base URL, ``http://127.0.0.1:PORT``.
    url: str
    #: Scratch folder (logs, wrk scripts).
    workdir: Path
    #: File holding the server's output.
    log: Path
    #: Whether stop() ran.
    stopped: bool = field(default=False)

    @classmethod
    def start(
        cls,
        command: Callable[[int], list[str]],
        *,
        workdir: Path,
        log_name: str,
        env: dict[str, str] | None = None,
    ) -> Server:
        """Start ``command(port)`` on a free port, its output going to a log in ``workdir``."""
        port = free_port()
        log = workdir / f"{log_name}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command(port),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=workdir,
                env=env,
                start_new_session=True,
            )
        server = cls(process=process, url=f"http://127.0.0.1:{port}", workdir=workdir, log=log)
        _LIVE.add(server)
        return server

    @property
    def pid(self) -> int:
        """Process id of the server (its workers are its children)."""
        return self.process.pid

    def output(self) -> str:
        """What the server printed so far (last 3,000 characters)."""
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Stop the server and everything in its process group."""
        if self.stopped:
            return
        self.stopped = True
        _LIVE.discard(self)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=8)
        # Workers that outlive their parent still hold the group id: finish them too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def stop_all() -> None:
    """Stop every server still running."""
    for server in list(_LIVE):
        server.stop()


@contextlib.contextmanager
def servers_stopped() -> Iterator[None]:
    """A block on whose exit, however it ends, every server started is stopped."""
    try:
        yield
    finally:
        stop_all()


class Client:
    """A keep-alive HTTP/1.1 connection to one server, so timings exclude connecting."""

    def __init__(self, base_url: str, timeout: float = 120.0) -> None:
        parts = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        """Send one request; return its status and body."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON body; raise on a non-200 answer."""
    parts = urlsplit(url)
    client = Client(f"{parts.scheme}://{parts.netloc}", timeout=30)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, body = client.request("GET", path)
    finally:
        client.close()
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}: {body[:300]!r}")
    return json.loads(body)


def wait_http(url: str, server: Server | None = None, timeout: float = 90.0) -> None:
    """Wait until GET ``url`` answers 200; fail early if ``server`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.process.returncode}:\n{server.output()}"
            )
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            get_json(url)
            return
        time.sleep(0.1)
    tail = server.output() if server else ""
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s\n{tail}")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree_kb(pid: int, file: str, field: str) -> int:
    """Sum of ``field`` (kB) in /proc/<p>/``file`` over ``pid`` and all its descendants."""
    tree = _children()
    total_kb = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total_kb += int(line.split()[1])
                    break
    return total_kb


def rss_tree_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, MiB."""
    return _tree_kb(pid, "status", "VmRSS:") / 1024


def pss_tree_mb(pid: int) -> float:
    """Proportional set size of ``pid`` and all its descendants, MiB.

    Workers forked from a template share its pages: RSS would count them once per
    process, PSS divides each shared page among its sharers, so the sum counts it once.
    """
    return _tree_kb(pid, "smaps_rollup", "Pss:") / 1024
