"""Worker processes as the HTTP process sees them: start, talk to, watch and replace.

Each :class:`WorkerProcess` owns one child running :mod:`modelyard.serving.worker`
and one end of a Unix socketpair. Requests are written as frames and matched to their
replies by id, so any number may be in flight at once. A worker that dies (crash,
``os._exit``, signal), hangs past a request's timeout or grows past its memory limit is
killed; every request waiting on it fails with :class:`WorkerCrashed` (the one that timed
out with :class:`InferenceTimeout`), the pool is told, and a fresh worker takes its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from modelyard.errors import InferenceTimeout, ModelyardError, WorkerCrashed, error_class
from modelyard.serving.ipc import FrameReader, Kind, encode_frame
from modelyard.serving.worker import rss_bytes

__all__ = ["WorkerPool", "WorkerProcess"]

logger = logging.getLogger(__name__)


class _ReplyProtocol(asyncio.Protocol):
    """Reads reply frames and resolves the futures waiting for them."""

    def __init__(self, worker: WorkerProcess) -> None:
        self._worker = worker
        self._reader = FrameReader()

    def data_received(self, data: bytes) -> None:
        pending = self._worker._pending
        for request_id, kind, payload in self._reader.feed(data):
            future = pending.pop(request_id, None)
            if future is None or future.done():  # timed out meanwhile
                continue
            if kind == Kind.OK:
                future.set_result(payload)
            else:
                name, message = payload
                future.set_exception(error_class(name)(message))

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker._on_connection_lost()


class WorkerProcess:
    """One model worker process and the channel to it."""

    def __init__(self, index: int, memory_limit_bytes: int, on_exit: Callable[..., None]) -> None:
        self.index = index
        self.memory_limit_bytes = memory_limit_bytes
        #: Names of the models the cache placed in this worker.
        self.models: set[str] = set()
        self._on_exit = on_exit
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._process: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._exit_reason: str | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """Process id of the worker, while it runs."""
        return self._process.pid if self._process else None

    @property
    def is_alive(self) -> bool:
        """Whether the worker can take requests."""
        return self._transport is not None and not self._closed

    async def start(self) -> None:
        """Start the child process and connect to it."""
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with child_sock:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "modelyard.serving.worker",
                    str(child_sock.fileno()),
                    str(self.memory_limit_bytes),
                ],
                pass_fds=(child_sock.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_unix_connection(
            lambda: _ReplyProtocol(self), sock=parent_sock
        )
        self._transport = transport  # type: ignore[assignment]
        # Warm up: the first answer means imports are done and the worker is serving.
        await self.request(Kind.STATS, None, timeout=120.0)

    async def request(self, kind: Kind, payload: Any, timeout: float | None) -> Any:
        """Send one request and wait for its answer; failures raise ModelyardError."""
        future = self.send(kind, payload)
        if timeout is None:
            return await future
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, self._on_timeout, future, payload, timeout)
        try:
            return await future
        finally:
            timer.cancel()

    def send(self, kind: Kind, payload: Any) -> asyncio.Future[Any]:
        """Write one request now; the future resolves with its answer.

        The frame is written before this returns, so requests sent one after another reach
        the worker in that order (an UNLOAD sent now precedes any later LOAD).
        """
        if not self.is_alive:
            raise WorkerCrashed(self._exit_reason or f"worker {self.index} is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._transport.write(encode_frame(request_id, kind, payload))  # type: ignore[union-attr]
        return future

    def rss_bytes(self) -> int:
        """Resident memory of the worker process (0 when gone)."""
        if self._process is None:
            return 0
        try:
            return rss_bytes(self._process.pid)
        except OSError:
            return 0

    def kill(self, reason: str) -> None:
        """Stop the worker now; everything in flight fails with ``reason``."""
        if self._exit_reason is None:
            self._exit_reason = reason
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGKILL)
        if self._transport is not None:
            self._transport.close()

    async def stop(self) -> None:
        """Shut the worker down gently: close its socket and wait for it to exit."""
        self._closed = True
        self._exit_reason = self._exit_reason or "server is shutting down"
        if self._transport is not None:
            self._transport.close()
        if self._process is not None:
            process = self._process
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), timeout=5)
            except TimeoutError:
                process.kill()
                await asyncio.to_thread(process.wait)

    def _on_timeout(self, future: asyncio.Future[Any], payload: Any, timeout: float) -> None:
        if future.done():
            return
        model = payload[0] if isinstance(payload, tuple) else payload
        future.set_exception(
            InferenceTimeout(f"model {model!r} did not answer within {timeout:g} s")
        )
        # A hung model blocks everything queued behind it in this worker: replace it.
        self.kill(f"worker {self.index} was restarted: model {model!r} exceeded {timeout:g} s")

    def _on_connection_lost(self) -> None:
        self._transport = None
        code = self._reap()
        reason = self._exit_reason or self._describe_exit(code)
        self._exit_reason = reason
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerCrashed(reason))
        if not self._closed:
            self._closed = True
            self._on_exit(self, reason)

    def _reap(self) -> int | None:
        # The socket closes as the process exits, so this wait is short; reaping here
        # keeps no zombie (and no Popen that thinks its child still runs) behind.
        if self._process is None:
            return None
        if self._process.poll() is None and self._exit_reason is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._process.wait(timeout=2)
        return None

    def _describe_exit(self, code: int | None) -> str:
        if code is not None and code < 0:
            how = f"killed by signal {signal.Signals(-code).name}"
        elif code is not None:
            how = f"exited with code {code}"
        else:
            how = "closed its channel"
        return f"worker {self.index} {how}"


class WorkerPool:
    """A fixed number of worker processes; a dead one is replaced at once."""

    def __init__(
        self,
        size: int,
        memory_limit_bytes: int,
        on_worker_exit: Callable[[WorkerProcess, str], None] | None = None,
        watch_interval_s: float = 0.2,
    ) -> None:
        self.size = max(1, size)
        self.memory_limit_bytes = memory_limit_bytes
        self.workers: list[WorkerProcess] = []
        self._on_worker_exit = on_worker_exit
        self._watch_interval_s = watch_interval_s
        self._replacements: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._stopping = False
        #: How many workers were replaced since start (crashes, hangs, memory).
        self.restarts = 0

    async def start(self) -> None:
        """Start every worker and the memory watchdog."""
        self.workers = [self._new_worker(i) for i in range(self.size)]
        await asyncio.gather(*(w.start() for w in self.workers))
        self._ready.set()
        self._watchdog = asyncio.create_task(self._watch_memory())

    async def stop(self) -> None:
        """Stop every worker."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for task in list(self._replacements):
            task.cancel()
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)

    async def place(self) -> WorkerProcess:
        """The worker a new model should go to: the live one hosting the fewest models."""
        for _ in range(200):
            alive = [w for w in self.workers if w.is_alive]
            if alive:
                return min(alive, key=lambda w: (len(w.models), w.index))
            await asyncio.sleep(0.05)  # all being replaced; wait for one
        raise WorkerCrashed("no worker process is running")

    async def stats(self) -> list[dict[str, Any]]:
        """Memory and models of each worker."""
        return [
            {
                "index": w.index,
                "pid": w.pid,
                "alive": w.is_alive,
                "rss_bytes": w.rss_bytes(),
                "models": sorted(w.models),
            }
            for w in self.workers
        ]

    def _new_worker(self, index: int) -> WorkerProcess:
        return WorkerProcess(index, self.memory_limit_bytes, on_exit=self._worker_exited)

    def _worker_exited(self, worker: WorkerProcess, reason: str) -> None:
        logger.warning("%s", reason)
        if self._on_worker_exit is not None:
            self._on_worker_exit(worker, reason)
        worker.models.clear()
        if self._stopping:
            return
        self.restarts += 1
        task = asyncio.get_running_loop().create_task(self._replace(worker))
        self._replacements.add(task)
        task.add_done_callback(self._replacements.discard)

    async def _replace(self, dead: WorkerProcess) -> None:
        replacement = self._new_worker(dead.index)
        try:
            await replacement.start()
        except (ModelyardError, OSError) as exc:
            logger.error("could not start worker %d: %s", dead.index, exc)
            return
        self.workers[dead.index] = replacement

    async def _watch_memory(self) -> None:
        # RLIMIT_DATA in the worker catches most runaway allocations as MemoryError;
        # this catches the rest (e.g. memory mapped by native code) before the OOM killer.
        while True:
            await asyncio.sleep(self._watch_interval_s)
            for worker in self.workers:
                if worker.is_alive and worker.rss_bytes() > self.memory_limit_bytes:
                    limit_mb = self.memory_limit_bytes / 2**20
                    worker.kill(
                        f"worker {worker.index} was restarted: it exceeded its memory "
                        f"limit of {limit_mb:.0f} MiB"
                    )
