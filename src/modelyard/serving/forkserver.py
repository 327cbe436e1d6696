"""The template process model workers are forked from: a worker starts in milliseconds.

Starting a fresh interpreter and importing numpy, scikit-learn and the handlers takes a
second or more; a worker forked from a process that already imported them starts at
once and shares those pages with its siblings (copy-on-write). The template is started
once per pool, with ``python -m modelyard.serving.forkserver FD PRELOAD``; it imports
the worker code and the preload modules, then answers messages on a Unix
``SOCK_SEQPACKET`` socket from the HTTP process:

- ``S`` + (token u64, memory limit u64), carrying two file descriptors (the worker's end
  of its socketpair, and its shared marker): fork a worker; answered ``S`` + (token,
  pid).
- ``W`` + a JSON list of module names: import them here too (*warming*): libraries a
  worker imported to load a model are then already in every later worker. Only library
  modules are sent (from the standard library or site-packages), never a model's code.
- ``X`` + (pid, wait status) is sent, unasked, whenever a worker exits: the template is
  the workers' parent, so it reaps them and reports how they ended.

The template ignores SIGINT and SIGTERM like the workers do (the HTTP process decides
when things stop) and exits when its socket closes. Model code never runs in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import itertools
import json
import logging
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import traceback
from collections import deque

from modelyard.errors import WorkerCrashed

__all__ = ["ForkServer", "main"]

logger = logging.getLogger(__name__)

_SPAWN = struct.Struct("<QQ")
_EXIT = struct.Struct("<Qi")
_MAX_MESSAGE = 1 << 16


class ForkServer:
    """The HTTP process's handle on the template process: spawn workers, learn their ends.

    Lives on one event loop. If the template dies (a signal to the whole group, say), the
    next spawn starts a new one; workers already running are unaffected, but their exit
    statuses are then unknown (``None``).
    """

    def __init__(self, preload: list[str]) -> None:
        self._preload = list(preload)
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._ready: asyncio.Future[None] | None = None
        self._spawns: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int | None]] = {}
        self._tokens = itertools.count(1)
        self._warmed: set[str] = set()
        self._starting: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the template, while it runs."""
        return self._process.pid if self._process is not None and self.is_running else None

    @property
    def is_running(self) -> bool:
        """Whether the template is up and listening."""
        return self._socket is not None

    async def start(self) -> None:
        """Start the template and wait until it has imported everything."""
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelyard.serving.forkserver",
                    str(theirs.fileno()),
                    json.dumps(self._preload),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        ours.setblocking(False)
        self._socket = ours
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout=120)
        except BaseException:
            self._close("the worker template did not start")
            raise
        self._warmed.clear()

    async def spawn(self, worker_end: socket.socket, marker_fd: int, memory_limit: int) -> int:
        """Fork a worker serving on ``worker_end``; returns its pid once it runs."""
        if not self.is_running:
            await self.start()
        assert self._socket is not None
        token = next(self._tokens)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._spawns[token] = future
        try:
            socket.send_fds(
                self._socket,
                [b"S" + _SPAWN.pack(token, memory_limit)],
                [worker_end.fileno(), marker_fd],
            )
            pid = await asyncio.wait_for(future, timeout=60)
        finally:
            self._spawns.pop(token, None)
        self._exits.setdefault(pid, asyncio.get_running_loop().create_future())
        return int(pid)

    def exit_status(self, pid: int) -> asyncio.Future[int | None]:
        """Resolves with the wait status of worker ``pid`` (None if it cannot be known)."""
        future = self._exits.get(pid)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
        return future

    def forget(self, pid: int) -> None:
        """Drop what is known of a worker that was replaced."""
        self._exits.pop(pid, None)

    def warm(self, modules: list[str]) -> None:
        """Have the template import ``modules`` (library modules a worker just imported)."""
        fresh = [m for m in dict.fromkeys(modules) if m not in self._warmed]  # keep the order
        if not fresh or self._socket is None:
            return
        self._warmed.update(fresh)
        message = b"W" + json.dumps(fresh).encode()
        if len(message) <= _MAX_MESSAGE:
            with contextlib.suppress(OSError):
                self._socket.send(message)

    async def stop(self) -> None:
        """Close the template's socket; it exits, leaving the workers to their sockets."""
        self._close("the server is shutting down")
        if self._process is not None:
            process = self._process
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), timeout=5)
            except TimeoutError:
                process.kill()
                await asyncio.to_thread(process.wait)

    def _on_readable(self) -> None:
        assert self._socket is not None
        while True:
            try:
                message = self._socket.recv(_MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:
                self._close("the worker template exited")
                return
            kind, body = message[:1], message[1:]
            if kind == b"R" and self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            elif kind == b"S":
                token, pid = _SPAWN.unpack(body)
                spawn = self._spawns.get(token)
                if spawn is not None and not spawn.done():
                    spawn.set_result(pid)
            elif kind == b"X":
                pid, status = _EXIT.unpack(body)
                future = self._exits.setdefault(pid, asyncio.get_running_loop().create_future())
                if not future.done():
                    future.set_result(status)

    def _close(self, reason: str) -> None:
        sock, self._socket = self._socket, None
        if sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        sock.close()
        if self._process is not None and self._process.poll() is not None:
            self._process.wait()
        for spawn in self._spawns.values():
            if not spawn.done():
                spawn.set_exception(WorkerCrashed(reason))
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(WorkerCrashed(reason))
            self._ready.exception()
        # Workers outlive the template, but nobody is left to tell how they end.
        for exit_status in self._exits.values():
            if not exit_status.done():
                exit_status.set_result(None)


# -- the template process ------------------------------------------------------------------


def _import_quietly(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional library is no reason to stop
            print(f"modelyard worker template: cannot import {name}: {exc}", file=sys.stderr)


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        with contextlib.suppress(OSError):
            control.send(b"X" + _EXIT.pack(pid, status))


def _run_worker(fds: list[int], memory_limit: int) -> None:
    """In the forked child: become a worker (never returns)."""
    code = 1
    try:
        from modelyard.serving import worker

        if "numpy" in sys.modules:  # siblings must not share one random state
            sys.modules["numpy"].random.seed()
        worker.run(socket.socket(fileno=fds[0]), fds[1], memory_limit)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the template process."""
    args = sys.argv[1:] if argv is None else argv
    control = socket.socket(fileno=int(args[0]))
    preload: list[str] = json.loads(args[1]) if len(args) > 1 else []
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # What every worker needs, imported once here.
    _import_quietly(["modelyard.serving.worker", "modelyard.serving.handlers"])
    _import_quietly(["modelyard.serving.codecs.v2", *preload])
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    gc.collect()
    gc.freeze()  # keep the shared pages shared: the children's collections skip them
    control.send(b"R")
    # Modules to warm, imported one at a time between messages: a spawn never waits
    # for more than one module's import.
    warming: deque[str] = deque()
    while True:
        watched: list[socket.socket | int] = [control, wake_read]
        readable, _, _ = select.select(watched, [], [], 0 if warming else None)
        if wake_read in readable:
            os.read(wake_read, 4096)
            _reap(control)
        if control not in readable:
            if warming and not readable:
                _import_quietly([warming.popleft()])
                if not warming:
                    gc.collect()
                    gc.freeze()
            continue
        try:
            message, fds, _, _ = socket.recv_fds(control, _MAX_MESSAGE, 2)
        except OSError:
            message, fds = b"", []
        if not message:
            return  # the HTTP process closed the socket, or died
        if message[:1] == b"S":
            token, memory_limit = _SPAWN.unpack(message[1:])
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                control.close()
                os.close(wake_read)
                os.close(wake_write)
                _run_worker(fds, memory_limit)
            for fd in fds:
                os.close(fd)
            control.send(b"S" + _SPAWN.pack(token, pid))
        elif message[:1] == b"W":
            warming.extend(json.loads(message[1:]))


if __name__ == "__main__":
    main()
