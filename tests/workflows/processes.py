"""``modelyard up`` as a subprocess, for end-to-end durability tests: kill -9 and restart.

:class:`UpProcess` runs ``modelyard up --home H --port P`` in a session of its own (so
``kill -9`` reaches its model and function workers too), with its output appended to a
log file; :func:`running` kills whatever is still running when the block ends and prints
the logs' tails, which pytest shows when the test failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.test_cli import MODELYARD, clean_env, free_port

__all__ = ["UpProcess", "running"]

#: Lines of each log printed when a test ends (shown by pytest on failure).
LOG_TAIL = 80


@dataclass
class UpProcess:
    """One ``modelyard up`` over ``home``, listening on ``port`` (the same at each start)."""

    #: The state folder (``--home``); the log is ``<home>/<name>.log``.
    home: Path
    #: ``MODELYARD_*`` settings and anything else its environment needs.
    env: dict[str, str] = field(default_factory=dict)
    #: What the log is called.
    name: str = "server"
    #: Where it listens.
    port: int = field(default_factory=free_port)
    #: The running process, once started.
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> None:
        """Start it and return once it answers ``/ping``."""
        self.spawn()
        self.wait_until_up(timeout)

    def spawn(self) -> None:
        """Start it (see :meth:`wait_until_up`)."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MODELYARD, "up", "--home", str(self.home), "--port", str(self.port)],
                cwd=self.home,
                # Auth is another test's subject (tests/identity/test_access.py).
                env=clean_env() | {"MODELYARD_AUTH": "off"} | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_until_up(self, timeout: float = 60) -> None:
        """Return once it answers ``/ping``; fail if it exits or ``timeout`` passes first."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=1) as client:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.process.returncode}")
                with contextlib.suppress(httpx.TransportError):  # not listening yet
                    if client.get("/ping").status_code == 200:
                        return
                assert time.monotonic() < deadline, f"{self.name} not up within {timeout} s"
                time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9`` it and its workers: no shutdown code runs."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def tail(self, lines: int = LOG_TAIL) -> str:
        """The last ``lines`` lines of its log."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running(*servers: UpProcess) -> Iterator[None]:
    """Kill ``servers`` when the block ends, whatever happens; print their logs' tails."""
    try:
        yield
    finally:
        for server in servers:
            try:
                if server.process is not None and server.process.poll() is None:
                    server.kill()
            finally:
                print(f"----- {server.name} ({server.log}) -----\n{server.tail()}")
