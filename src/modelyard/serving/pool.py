"""Worker processes as the HTTP process sees them: start, talk to, watch and replace.

Each :class:`WorkerProcess` is a process forked from the pool's template
(:mod:`modelyard.serving.forkserver`) with one end of a Unix socketpair and a shared
eight-byte *marker*. Requests are written as frames and matched to their replies by id,
so any number may be in flight at once. A worker that dies (crash, ``os._exit``,
signal), hangs past a request's timeout or grows past its memory limit is killed, and
what was in flight on it is sorted by the marker (the id of the last request the worker
started):

- requests it had started fail with :class:`WorkerCrashed` (the one that timed out with
  :class:`InferenceTimeout`), and their models are the *culprits* reported to the pool's
  owner, who may quarantine a model that keeps crashing its workers;
- requests queued behind them never started: they fail with :class:`RequestNotStarted`,
  which the cache answers by sending them again, to the replacement or another worker.

A replacement is forked at once and serves within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import mmap
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from modelyard.errors import (
    InferenceTimeout,
    ModelyardError,
    RequestNotStarted,
    WorkerCrashed,
    error_class,
)
from modelyard.serving.forkserver import ForkServer
from modelyard.serving.ipc import (
    Done,
    Frame,
    FrameReader,
    Infer,
    Invoke,
    Load,
    Metadata,
    Stats,
    encode_frame,
)
from modelyard.serving.memory import pss_bytes, rss_bytes
from modelyard.serving.worker import MARKER, NO_ANSWER

__all__ = ["WorkerExit", "WorkerPool", "WorkerProcess"]

logger = logging.getLogger(__name__)

#: Frames safe to send again when they never started: requests, and loads (which the
#: cache places again).
_RESENDABLE = (Invoke, Infer, Metadata, Load)

#: Called when a worker is gone: (worker, reason, models whose requests were running).
WorkerExit = Callable[["WorkerProcess", str, set[str]], None]


def _model_of(frame: Frame) -> str | None:
    model = getattr(frame, "model", None)
    return model if isinstance(model, str) else None


class _ReplyProtocol(asyncio.Protocol):
    """Reads reply frames and resolves the futures waiting for them."""

    def __init__(self, worker: WorkerProcess) -> None:
        self._worker = worker
        self._reader = FrameReader()

    def data_received(self, data: bytes) -> None:
        pending = self._worker._pending
        sent = self._worker._sent
        for request_id, answer in self._reader.feed(data):
            future = pending.pop(request_id, None)
            sent.pop(request_id, None)
            if future is None or future.done():  # timed out meanwhile
                continue
            if type(answer) is Done:
                future.set_result(answer.value)
            else:
                future.set_exception(error_class(answer.error_type)(answer.message))  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker._on_connection_lost()


class WorkerProcess:
    """One model worker process and the channel to it."""

    def __init__(
        self,
        index: int,
        memory_limit_bytes: int,
        forkserver: ForkServer,
        on_exit: WorkerExit,
    ) -> None:
        self.index = index
        self.memory_limit_bytes = memory_limit_bytes
        #: Names of the models the cache placed in this worker.
        self.models: set[str] = set()
        self._forkserver = forkserver
        self._on_exit = on_exit
        self._pending: dict[int, asyncio.Future[Any]] = {}
        #: Each request in flight, to sort them out after a crash.
        self._sent: dict[int, Frame] = {}
        self._ids = itertools.count(1)
        self._pid: int | None = None
        self._marker: mmap.mmap | None = None
        self._transport: asyncio.Transport | None = None
        #: Frames sent in this turn of the event loop, written together at its end.
        self._outbox: list[bytes] = []
        self._exit_reason: str | None = None
        self._closed = False
        self._finishing: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """Process id of the worker, while it runs."""
        return self._pid

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    @property
    def is_alive(self) -> bool:
        """Whether the worker can take requests."""
        return self._transport is not None and not self._closed

    async def start(self) -> None:
        """Fork the worker from the template and connect to it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        marker_fd = os.memfd_create(f"modelyard-worker-{self.index}")
        try:
            os.ftruncate(marker_fd, MARKER.size)
            self._marker = mmap.mmap(marker_fd, MARKER.size)
            with theirs:
                self._pid = await self._forkserver.spawn(theirs, marker_fd, self.memory_limit_bytes)
        except BaseException:
            ours.close()
            raise
        finally:
            os.close(marker_fd)
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_unix_connection(
                lambda: _ReplyProtocol(self), sock=ours
            )
        except BaseException:
            ours.close()
            self._signal(signal.SIGKILL)
            raise
        self._transport = transport
        # The first answer means the worker is serving.
        await self.request(Stats(), timeout=60.0)

    async def request(self, frame: Frame, timeout: float | None) -> Any:
        """Send one request and wait for its answer; failures raise ModelyardError."""
        future = self.send(frame)
        if timeout is None:
            return await future
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, self._on_timeout, future, frame, timeout)
        try:
            return await future
        finally:
            timer.cancel()

    def send(self, frame: Frame) -> asyncio.Future[Any]:
        """Send one request; the future resolves with its answer.

        Frames sent during one turn of the event loop are written together at its end (one
        write, one wake-up of the worker, which then answers them as a batch), in the order
        they were sent: an Unload sent now precedes any later Load.
        """
        if not self.is_alive:
            raise WorkerCrashed(self._exit_reason or f"worker {self.index} is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._sent[request_id] = frame
        outbox = self._outbox
        if not outbox:
            # Under load many requests arrive in one turn of the loop: writing them at
            # its end costs one system call and one context switch instead of one each,
            # and lets the worker batch them. Idle, it costs nothing: the flush runs as
            # soon as this turn's callbacks are done.
            future.get_loop().call_soon(self._flush)
        outbox.append(encode_frame(request_id, frame))
        return future

    def notify(self, frame: Frame) -> None:
        """Send a frame that wants no answer (an eviction's Unload): id 0, nothing pending.

        Like ``send``, it is written after every frame sent before it.
        """
        if not self.is_alive:
            raise WorkerCrashed(self._exit_reason or f"worker {self.index} is not running")
        outbox = self._outbox
        if not outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        outbox.append(encode_frame(NO_ANSWER, frame))

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        if self._transport is not None and outbox:
            self._transport.write(b"".join(outbox) if len(outbox) > 1 else outbox[0])

    def rss_bytes(self) -> int:
        """Resident memory of the worker process (0 when gone)."""
        return self._read_memory(rss_bytes)

    def pss_bytes(self) -> int:
        """Proportional set size of the worker: its share of pages shared with siblings."""
        return self._read_memory(pss_bytes)

    def kill(self, reason: str) -> None:
        """Stop the worker now; everything in flight fails with ``reason``."""
        if self._exit_reason is None:
            self._exit_reason = reason
        self._signal(signal.SIGKILL)
        if self._transport is not None:
            self._transport.close()

    async def stop(self) -> None:
        """Shut the worker down gently: close its socket and wait for it to exit."""
        self._closed = True
        self._exit_reason = self._exit_reason or "server is shutting down"
        if self._transport is not None:
            self._transport.close()
        if self._pid is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._exit_status()), timeout=5)
            except TimeoutError:
                self._signal(signal.SIGKILL)
        if self._finishing is not None:
            with contextlib.suppress(Exception):
                await self._finishing

    # -- internals ------------------------------------------------------------------------

    def _read_memory(self, read: Callable[[int], int]) -> int:
        if self._pid is None or self._exit_status().done():
            return 0
        try:
            return read(self._pid)
        except OSError:
            return 0

    def _exit_status(self) -> asyncio.Future[int | None]:
        assert self._pid is not None
        return self._forkserver.exit_status(self._pid)

    def _signal(self, signum: int) -> None:
        # The template reaps our worker and tells us: until it has, the pid is still ours.
        if self._pid is not None and not self._exit_status().done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signum)

    def _on_timeout(self, future: asyncio.Future[Any], frame: Frame, timeout: float) -> None:
        if future.done():
            return
        model = _model_of(frame)
        future.set_exception(
            InferenceTimeout(f"model {model!r} did not answer within {timeout:g} s")
        )
        # A hung model blocks everything queued behind it in this worker: replace it.
        self.kill(f"worker {self.index} was restarted: model {model!r} exceeded {timeout:g} s")

    def _on_connection_lost(self) -> None:
        self._transport = None
        self._finishing = asyncio.get_running_loop().create_task(self._finish())

    async def _finish(self) -> None:
        """The worker's socket closed: learn how it ended, then settle what was in flight."""
        status: int | None = None
        if self._pid is not None:
            if self._exit_reason is not None:
                self._signal(signal.SIGKILL)  # we decided it must go: make sure it does
            # The template reports the exit as it reaps the worker, within milliseconds.
            with contextlib.suppress(TimeoutError):
                status = await asyncio.wait_for(asyncio.shield(self._exit_status()), 2.0)
            self._forkserver.forget(self._pid)
        reason = self._exit_reason or self._describe_exit(status)
        self._exit_reason = reason
        started = MARKER.unpack_from(self._marker)[0] if self._marker is not None else 0
        pending, self._pending = self._pending, {}
        sent, self._sent = self._sent, {}
        # Runs are answered whole before the next starts, and a run holds one model's
        # requests (or one frame): what is still pending was either in the run that was
        # executing (the marker names its last request, hence its model) or never started.
        culprit = _model_of(sent[started]) if started in sent else None
        culprits = {culprit} if culprit is not None else set()
        for request_id, future in pending.items():
            if future.done():
                continue
            frame = sent.get(request_id, Stats())
            if culprit is not None and request_id <= started and _model_of(frame) == culprit:
                future.set_exception(WorkerCrashed(reason))
            elif isinstance(frame, _RESENDABLE):
                future.set_exception(
                    RequestNotStarted(f"worker {self.index} stopped before the request started")
                )
            else:
                future.set_exception(WorkerCrashed(reason))
        if self._marker is not None:
            self._marker.close()
            self._marker = None
        if not self._closed:
            self._closed = True
            self._on_exit(self, reason, culprits)

    @staticmethod
    def _describe_status(status: int | None) -> str:
        if status is None:
            return "closed its channel"
        if os.WIFSIGNALED(status):
            return f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exited with code {os.waitstatus_to_exitcode(status)}"

    def _describe_exit(self, status: int | None) -> str:
        return f"worker {self.index} {self._describe_status(status)}"


class WorkerPool:
    """A fixed number of worker processes; a dead one is replaced at once."""

    def __init__(
        self,
        size: int,
        memory_limit_bytes: int,
        on_worker_exit: WorkerExit | None = None,
        watch_interval_s: float = 0.2,
        preload_modules: list[str] | None = None,
    ) -> None:
        self.size = max(1, size)
        self.memory_limit_bytes = memory_limit_bytes
        self.workers: list[WorkerProcess] = []
        self.forkserver = ForkServer(preload_modules or [])
        self._on_worker_exit = on_worker_exit
        self._watch_interval_s = watch_interval_s
        self._replacements: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        #: How many workers were replaced since start (crashes, hangs, memory).
        self.restarts = 0

    async def start(self) -> None:
        """Start the template, every worker and the memory watchdog."""
        await self.forkserver.start()
        self.workers = [self._new_worker(i) for i in range(self.size)]
        await asyncio.gather(*(w.start() for w in self.workers))
        self._watchdog = asyncio.create_task(self._watch_memory())

    async def stop(self) -> None:
        """Stop every worker, then the template."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        for task in list(self._replacements):
            task.cancel()
        await asyncio.gather(*(w.stop() for w in self.workers), return_exceptions=True)
        await self.forkserver.stop()

    async def place(self) -> WorkerProcess:
        """The worker a new model should go to: the live one hosting the fewest models."""
        for _ in range(200):
            alive = [w for w in self.workers if w.is_alive]
            if alive:
                return min(alive, key=lambda w: (len(w.models), w.index))
            await asyncio.sleep(0.05)  # all being replaced; wait for one
        raise WorkerCrashed("no worker process is running")

    def warm(self, modules: list[str]) -> None:
        """Import library modules a load needed into the template, for later workers."""
        self.forkserver.warm(modules)

    async def stats(self) -> list[dict[str, Any]]:
        """Memory and models of each worker."""
        return [
            {
                "index": w.index,
                "pid": w.pid,
                "alive": w.is_alive,
                "rss_bytes": w.rss_bytes(),
                "pss_bytes": w.pss_bytes(),
                "models": sorted(w.models),
            }
            for w in self.workers
        ]

    def template_pss_bytes(self) -> int:
        """Proportional set size of the template process (0 when it is not running)."""
        pid = self.forkserver.pid
        if pid is None:
            return 0
        try:
            return pss_bytes(pid)
        except OSError:
            return 0

    def _new_worker(self, index: int) -> WorkerProcess:
        return WorkerProcess(
            index, self.memory_limit_bytes, self.forkserver, on_exit=self._worker_exited
        )

    def _worker_exited(self, worker: WorkerProcess, reason: str, culprits: set[str]) -> None:
        logger.warning("%s", reason)
        if self._on_worker_exit is not None:
            self._on_worker_exit(worker, reason, culprits)
        worker.models.clear()
        if self._stopping:
            return
        self.restarts += 1
        task = asyncio.get_running_loop().create_task(self._replace(worker))
        self._replacements.add(task)
        task.add_done_callback(self._replacements.discard)

    async def _replace(self, dead: WorkerProcess) -> None:
        for attempt in range(5):
            replacement = self._new_worker(dead.index)
            try:
                await replacement.start()
            except (ModelyardError, OSError) as exc:
                logger.error("could not start worker %d: %s", dead.index, exc)
                await asyncio.sleep(0.1 * 2**attempt)
                continue
            if self._stopping:
                await replacement.stop()
                return
            self.workers[dead.index] = replacement
            return

    async def _watch_memory(self) -> None:
        # RLIMIT_DATA in the worker catches most runaway allocations as MemoryError;
        # this catches the rest (e.g. memory mapped by native code) before the OOM killer.
        # PSS, not RSS: pages shared with the template are not this worker's alone. But
        # reading PSS walks the process's page tables (milliseconds for a worker that
        # imported scikit-learn), where RSS is one small read: PSS <= RSS, so only a
        # worker whose RSS passes the limit has its PSS read.
        limit = self.memory_limit_bytes
        while True:
            await asyncio.sleep(self._watch_interval_s)
            for worker in self.workers:
                if worker.is_alive and worker.rss_bytes() > limit and worker.pss_bytes() > limit:
                    limit_mb = self.memory_limit_bytes / 2**20
                    worker.kill(
                        f"worker {worker.index} was restarted: it exceeded its memory "
                        f"limit of {limit_mb:.0f} MiB"
                    )
