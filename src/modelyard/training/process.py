"""A training process: started in a process group of its own, watched, stopped, killed.

The algorithm runs as a child process whose output goes straight to the job's log file
(so nothing is lost if the server dies). It leads a new session, so everything it starts
is in its process group: stopping a job signals the whole group, ``SIGTERM`` first, then,
after the grace period (SageMaker gives 120 seconds), ``SIGKILL``. A job past its
``MaxRuntimeInSeconds`` is stopped the same way; and once the process has ended, anything
it left running in its group is killed too, so a job never outlives its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import resource
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Ending", "ProcessLimits", "ProcessOutcome", "TrainingProcess", "alive_in_group"]


class Ending(enum.StrEnum):
    """How a training process ended."""

    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"
    MAX_RUNTIME = "MaxRuntimeExceeded"


@dataclass(frozen=True, kw_only=True)
class ProcessLimits:
    """What a training process may take."""

    #: Seconds it may run (``StoppingCondition.MaxRuntimeInSeconds``).
    max_runtime_s: float
    #: Seconds between ``SIGTERM`` and ``SIGKILL`` when it is stopped.
    stop_grace_s: float = 120.0
    #: Memory its processes may allocate each (``RLIMIT_DATA``, MiB); None: no limit.
    memory_mb: int | None = None


@dataclass(frozen=True, kw_only=True)
class ProcessOutcome:
    """How a training process ended, and after how long."""

    ending: Ending
    #: Its exit status (negative: the signal that ended it); None if it never started.
    exit_code: int | None
    #: Seconds from start to end.
    seconds: float


class TrainingProcess:
    """One run of an algorithm's command (see the module)."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_file: Path,
        limits: ProcessLimits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._command = list(command)
        self._env = dict(env)
        self._cwd = cwd
        self._log_file = log_file
        self._limits = limits
        self._clock = clock
        self._stop_asked = asyncio.Event()
        self._grace_s = limits.stop_grace_s
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The process's id, which is also its process group's; None before it starts."""
        return self._process.pid if self._process is not None else None

    def stop(self, grace_s: float | None = None) -> None:
        """Ask for the process to be stopped (StopTrainingJob); :meth:`run` does it, with
        ``grace_s`` between SIGTERM and SIGKILL instead of the limits' when given."""
        if grace_s is not None:
            self._grace_s = grace_s
        self._stop_asked.set()

    async def run(self) -> ProcessOutcome:
        """Run the command to its end, or until it is stopped or runs out of time."""
        started = self._clock()
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self._command,
                cwd=self._cwd,
                env=self._env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._apply_limits,
            )
        process = self._process
        waiting = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(self._stop_asked.wait())
        try:
            done, _ = await asyncio.wait(
                {waiting, stopping},
                timeout=self._limits.max_runtime_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if waiting in done:
                code = waiting.result()
                ending = Ending.COMPLETED if code == 0 else Ending.FAILED
            else:
                ending = Ending.STOPPED if stopping in done else Ending.MAX_RUNTIME
                code = await self._terminate(process, waiting)
        finally:
            stopping.cancel()
            if not waiting.done():  # cancelled from outside: leave nothing running
                with contextlib.suppress(BaseException):
                    await asyncio.shield(self._terminate(process, waiting))
            _kill_group(process.pid, signal.SIGKILL)  # what it left behind
            await _gone(process.pid)
        return ProcessOutcome(ending=ending, exit_code=code, seconds=self._clock() - started)

    async def _terminate(
        self, process: asyncio.subprocess.Process, waiting: asyncio.Future[int]
    ) -> int:
        """``SIGTERM`` to the group, then ``SIGKILL`` after the grace period."""
        _kill_group(process.pid, signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), self._grace_s)
        except TimeoutError:
            _kill_group(process.pid, signal.SIGKILL)
            return await waiting

    def _apply_limits(self) -> None:
        # Runs in the child between fork and exec: only async-signal-safe work.
        if self._limits.memory_mb is not None:
            limit = self._limits.memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


async def _gone(pgid: int, timeout_s: float = 5.0) -> None:
    """Wait until no process of group ``pgid`` runs: SIGKILL is delivered, not awaited."""
    deadline = time.monotonic() + timeout_s
    while await asyncio.to_thread(alive_in_group, pgid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def alive_in_group(pgid: int) -> list[int]:
    """The running (not zombie) processes of group ``pgid``, from ``/proc``: what a stopped
    job must not leave behind."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold anything: fields follow the last ")".
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found
