"""The worker processes functions run in: started, called, timed out, replaced.

Each :class:`FunctionWorker` is a fresh interpreter running ``functions/worker.py`` in its
own session, reached over a socketpair; it runs one request at a time. The
:class:`WorkerPool` keeps ``workers`` of them and hands an idle one to each call; calls
beyond wait for one. A call past its timeout kills the worker's whole process group
(what user code started goes with it) and a new worker takes its place; so does a worker
that died (``os._exit``, a segfault): only the call it was running fails. User code
never runs in the server process, so it cannot block its event loop or take it down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from modelyard.config import FunctionsSettings
from modelyard.functions import worker as worker_module
from modelyard.functions.errors import FunctionsUnavailable
from modelyard.functions.worker import BOOTSTRAP, FRAME, decode_frame, encode_frame

__all__ = ["FunctionWorker", "WorkerLost", "WorkerPool", "WorkerTimedOut"]

logger = logging.getLogger(__name__)

#: The worker's code, run by path (see ``worker.BOOTSTRAP``).
WORKER_FILE = str(Path(worker_module.__file__).resolve())

#: Longest a new worker may take to say it is ready.
START_TIMEOUT_S = 60.0

#: How long a stopping worker may take to exit once its socket is closed.
STOP_GRACE_S = 1.0

#: Wait before starting a worker again after a start failed.
RESTART_DELAY_S = 1.0


class WorkerLost(Exception):
    """The worker process ended before answering (internal to the area)."""

    def __init__(self, status: str | None) -> None:
        super().__init__(status or "exited")
        #: How it ended, as Lambda words it (``exit status 3``, ``signal: segmentation
        #: fault``); ``None`` when it exited with status 0.
        self.status = status


class WorkerTimedOut(Exception):
    """The worker did not answer within the timeout and was killed (internal to the area)."""


def describe_exit(returncode: int | None) -> str | None:
    """A process's end as Lambda words it (Go's ``ProcessState`` strings)."""
    if returncode is None:
        return "unknown status"
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"signal: {name[:1].lower()}{name[1:]}"
    return None if returncode == 0 else f"exit status {returncode}"


class FunctionWorker:
    """One worker process and its end of the socket; one request at a time."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self._process = process
        self._reader = reader
        self._writer = writer

    @property
    def pid(self) -> int:
        """The worker's process id (also its process group's)."""
        return self._process.pid

    @classmethod
    async def start(cls, settings: FunctionsSettings, sys_path: list[str]) -> FunctionWorker:
        """Start a worker and wait until it is ready; FunctionsUnavailable if it fails."""
        config = orjson.dumps(
            {
                "sys_path": sys_path,
                "memory_limit_mb": settings.memory_limit_mb,
                "max_result_bytes": settings.max_payload_bytes,
            }
        ).decode()
        parent, child = socket.socketpair()
        try:
            # Not in a thread: a spawn that could be cancelled half-way would leave a
            # process nobody knows of. Python's subprocess uses vfork here: a millisecond.
            process = subprocess.Popen(
                [sys.executable, "-c", BOOTSTRAP, WORKER_FILE, str(child.fileno()), config],
                pass_fds=(child.fileno(),),
                env=_worker_environment(),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            parent.close()
            raise FunctionsUnavailable(f"a function worker failed to start: {exc}") from exc
        finally:
            child.close()
        try:
            reader, writer = await asyncio.open_unix_connection(sock=parent)
        except BaseException:
            parent.close()
            _reap(process)
            raise
        started = cls(process, reader, writer)
        try:
            header, _ = await asyncio.wait_for(started._read(), START_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            status = describe_exit(await started.close(kill=True))
            raise FunctionsUnavailable(
                f"a function worker failed to start ({status or 'no answer'})"
            ) from exc
        except BaseException:  # cancelled: the process must not be left behind
            started.abandon()
            raise
        if header.get("ready") is not True:
            await started.close(kill=True)
            raise FunctionsUnavailable("a function worker failed to start (unexpected answer)")
        return started

    def has_exited(self) -> bool:
        """Whether the process has ended (it may have died while idle); it is not reaped."""
        if self._process.returncode is not None:
            return True
        try:
            # WNOWAIT: the zombie stays, so its process group can still be killed.
            found = os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return found is not None

    async def request(self, header: Mapping[str, Any], body: bytes = b"") -> tuple[Any, bytes]:
        """Send one request and wait for its answer; WorkerLost if the worker died."""
        try:
            self._writer.write(encode_frame(header, body))
            await self._writer.drain()
            return await self._read()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            # ValueError: what came back is no frame of ours (user code wrote on the socket).
            raise WorkerLost(describe_exit(await self.close(kill=True))) from exc

    def kill(self) -> None:
        """Kill the worker and everything it started (its process group), now."""
        if self._process.returncode is not None:
            return  # reaped: its process id (and group id) may be someone else's by now
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    async def close(self, *, kill: bool = False, grace_s: float = STOP_GRACE_S) -> int | None:
        """Close the socket (the worker exits), reap the process; returns its exit code.

        With ``kill``, or when it is still running after ``grace_s``, its process group
        is killed first. Cancelled, it kills and reaps at once.
        """
        # Killed before it is reaped: while the process is a zombie, its group id cannot
        # be anyone else's.
        if kill:
            self.kill()
        self._writer.close()
        try:
            return await asyncio.to_thread(self._process.wait, grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return await asyncio.to_thread(self._process.wait)
        except asyncio.CancelledError:
            self.abandon()
            raise

    def abandon(self) -> None:
        """Kill the worker and reap it now (blocking, briefly: it is killed)."""
        self.kill()
        self._writer.close()
        _reap(self._process)

    async def _read(self) -> tuple[Any, bytes]:
        prefix = await self._reader.readexactly(FRAME.size)
        header_length, body_length = FRAME.unpack(prefix)
        return decode_frame(prefix, await self._reader.readexactly(header_length + body_length))


class WorkerPool:
    """``settings.workers`` worker processes, each running one request at a time.

    It is started and stopped on one event loop (the platform's lifespan).
    """

    def __init__(self, settings: FunctionsSettings) -> None:
        self.settings = settings
        self._idle: asyncio.Queue[FunctionWorker | None] | None = None
        self._workers: set[FunctionWorker] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        self._sys_path: list[str] = []
        self._closed = True

    async def start(self) -> None:
        """Start the workers; FunctionsUnavailable (and none left running) if one fails."""
        self._idle = asyncio.Queue()
        self._closed = False
        # The server's import path, as it is now: user code imports what the server could.
        self._sys_path = list(sys.path)
        started = await asyncio.gather(
            *(
                FunctionWorker.start(self.settings, self._sys_path)
                for _ in range(self.settings.workers)
            ),
            return_exceptions=True,
        )
        failed = [found for found in started if isinstance(found, BaseException)]
        for found in started:
            if isinstance(found, FunctionWorker):
                self._workers.add(found)
                self._idle.put_nowait(found)
        if failed:
            await self.stop()
            raise failed[0]

    async def stop(self) -> None:
        """Stop every worker, busy or not; calls waiting for one fail."""
        self._closed = True
        if self._idle is not None:
            self._idle.put_nowait(None)  # wakes the waiters, one after the other
        for task in list(self._replacing):
            task.cancel()
        await asyncio.gather(*self._replacing, return_exceptions=True)
        workers, self._workers = list(self._workers), set()
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)

    async def call(
        self, header: Mapping[str, Any], body: bytes, timeout_s: float
    ) -> tuple[Any, bytes]:
        """Run one request on an idle worker within ``timeout_s`` (waiting for one first).

        WorkerTimedOut when it takes longer (the worker is killed), WorkerLost when the
        worker dies; either way a new worker replaces it. FunctionsUnavailable when the
        pool is not running.
        """
        worker = await self._acquire()
        try:
            answer = await asyncio.wait_for(worker.request(header, body), timeout_s)
        except TimeoutError:
            self._replace(worker)
            raise WorkerTimedOut() from None
        except BaseException:
            # Lost, or the caller was cancelled mid-call: the worker may still be running
            # user code that must not outlive the call.
            self._replace(worker)
            raise
        self._release(worker)
        return answer

    async def _acquire(self) -> FunctionWorker:
        while True:
            if self._idle is None or self._closed:
                raise FunctionsUnavailable()
            worker = await self._idle.get()
            if worker is None:
                self._idle.put_nowait(None)  # for the next waiter
                raise FunctionsUnavailable()
            if not worker.has_exited():
                return worker
            self._replace(worker)  # it died while idle: its calls never started

    def _release(self, worker: FunctionWorker) -> None:
        if self._idle is not None and not self._closed:
            self._idle.put_nowait(worker)

    def _replace(self, dead: FunctionWorker) -> None:
        dead.kill()
        self._workers.discard(dead)
        task = asyncio.get_running_loop().create_task(self._start_replacement(dead))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _start_replacement(self, dead: FunctionWorker) -> None:
        await dead.close(kill=True)
        while not self._closed:
            try:
                fresh = await FunctionWorker.start(self.settings, self._sys_path)
            except FunctionsUnavailable as exc:
                logger.warning("%s; trying again in %g s", exc.message, RESTART_DELAY_S)
                await asyncio.sleep(RESTART_DELAY_S)
                continue
            if self._closed or self._idle is None:
                await fresh.close()
                return
            self._workers.add(fresh)
            self._idle.put_nowait(fresh)
            return


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process``'s group and wait for it (a killed process ends at once)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _worker_environment() -> dict[str, str]:
    # The server's environment, less its own settings: user code must not read the
    # management token or the database URL. (The one place besides Settings that reads
    # os.environ, because a child process inherits it whole unless told otherwise.)
    return {key: value for key, value in os.environ.items() if not key.startswith("MODELYARD_")}
