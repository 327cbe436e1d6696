"""Where the workflows benchmark's servers spend CPU: an all-thread sampler, and CPU clocks.

:class:`Profile` installs :data:`SAMPLER` as a server's ``sitecustomize.py`` (``--profile``);
:func:`cpu_seconds` reads the servers' CPU clocks from ``/proc``, for every run.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from procs import Server

__all__ = ["SAMPLER", "Profile", "cpu_seconds", "cpu_used"]


#: ``sitecustomize.py`` of a profiled server: while the file ``$BENCH_PROFILE_FLAG`` exists,
#: samples every thread's stack every 5 ms, and writes a report to ``$BENCH_PROFILE_OUT`` once
#: it is removed. Each sample is weighted twice: by the CPU time its thread used since the
#: previous sample (its own CPU clock), which says where CPU goes; and as wall time, if the
#: thread is not idle (the event loop in epoll, a pool thread waiting for work), which also
#: counts waits (SQLite's lock, PostgreSQL's answers, file I/O). The sampler needs the GIL
#: to look, so a thread's CPU between two looks is credited to where the next look finds it;
#: the switch interval is 0.5 ms meanwhile, so that a busy thread yields the GIL soon.
SAMPLER = r"""
import collections, os, sys, threading, time

KINDS = ("main thread (event loop)", "other threads (to_thread: database, store)")

def _frames(frame):
    out = []
    while frame is not None:
        code = frame.f_code
        out.append((code.co_filename, code.co_name))
        frame = frame.f_back
    return out  # innermost first

def _idle(main, frames):
    file, name = frames[0]
    if main:
        return file.endswith("asyncio/runners.py")
    return (file.endswith("concurrent/futures/thread.py") and name == "_worker") or (
        file.endswith(("threading.py", "queue.py", "selectors.py"))
    )

def _short(file, name):
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{file}:{name}"

def _shares(stacks, total, lines, title, limit=25, mine=True):
    inclusive, leaf = collections.Counter(), collections.Counter()
    for stack, weight in stacks.items():
        leaf[_short(*stack[0])] += weight
        for name in {_short(*frame) for frame in stack}:
            inclusive[name] += weight
    lines.append(f"-- {title}: inclusive, modelyard code")
    ours = [(n, w) for n, w in inclusive.most_common() if n.startswith("modelyard/")]
    for name, weight in ours[:limit]:
        lines.append(f"{100 * weight / total:5.1f} %  {name}")
    lines.append(f"-- {title}: innermost Python frame")
    for name, weight in leaf.most_common(limit // 2):
        lines.append(f"{100 * weight / total:5.1f} %  {name}")

def _report(cpu, wall, idle, seconds):
    lines = [f"{seconds:.1f} s sampled every 5 ms"]
    for kind in KINDS:
        used = sum(cpu[kind].values())
        busy = sum(wall[kind].values())
        lines += ["", f"== {kind}: {used:.2f} CPU s ({used / seconds:.2f} CPUs); "
                  f"busy in {busy} of {busy + idle[kind]} samples"]
        if used > 0:
            _shares(cpu[kind], used, lines, "share of its CPU")
        if busy and kind != KINDS[0]:
            _shares(wall[kind], busy, lines, "share of its busy samples (CPU and waits)")
    return "\n".join(lines) + "\n"

def _sample():
    time.sleep(1.0)
    if os.path.basename(sys.argv[0]) != "modelyard" or "up" not in sys.argv[1:2]:
        return
    flag, out = os.environ["BENCH_PROFILE_FLAG"], os.environ["BENCH_PROFILE_OUT"]
    me, main = threading.get_ident(), threading.main_thread().ident
    clocks, last = {}, {}

    def used(ident):
        try:
            if ident not in clocks:
                clocks[ident] = time.pthread_getcpuclockid(ident)
            now = time.clock_gettime(clocks[ident])
        except (OSError, OverflowError):
            return 0.0
        before = last.get(ident, now)
        last[ident] = now
        return now - before

    while True:
        while not os.path.exists(flag):
            time.sleep(0.05)
        cpu = {kind: collections.Counter() for kind in KINDS}
        wall = {kind: collections.Counter() for kind in KINDS}
        idle = collections.Counter()
        last.clear()
        started = time.monotonic()
        # A busy thread gives the GIL up every switch interval (5 ms): shorter, so that the
        # sampler finds the event loop in its work, not only when it waits in epoll.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        while os.path.exists(flag):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                kind = KINDS[0] if ident == main else KINDS[1]
                stack = tuple(_frames(frame))
                spent = used(ident)
                if spent > 0:
                    cpu[kind][stack] += spent
                if _idle(ident == main, stack):
                    idle[kind] += 1
                else:
                    wall[kind][stack] += 1
            time.sleep(0.005)
        sys.setswitchinterval(interval)
        with open(out + ".tmp", "w") as file:
            file.write(_report(cpu, wall, idle, time.monotonic() - started))
        os.replace(out + ".tmp", out)

if os.environ.get("BENCH_PROFILE_FLAG"):
    threading.Thread(target=_sample, name="bench-sampler", daemon=True).start()
"""


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Where a profiled server's sampler reads its flag and writes its report."""

    #: The sampler samples while this file exists.
    flag: Path
    #: Where it writes its report.
    out: Path

    def environment(self, workdir: Path) -> dict[str, str]:
        folder = workdir / "sampler"
        folder.mkdir(exist_ok=True)
        (folder / "sitecustomize.py").write_text(SAMPLER)
        path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
        return {
            "PYTHONPATH": path,
            "BENCH_PROFILE_FLAG": str(self.flag),
            "BENCH_PROFILE_OUT": str(self.out),
        }

    @contextlib.contextmanager
    def sampling(self, report: Path) -> Iterator[None]:
        """Sample during the block; the report is at ``report`` on exit."""
        self.out.unlink(missing_ok=True)
        self.flag.touch()
        try:
            yield
        finally:
            self.flag.unlink()
            deadline = time.monotonic() + 30
            while not self.out.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.out.exists():
                report.parent.mkdir(parents=True, exist_ok=True)
                self.out.replace(report)


def cpu_seconds(servers: list[Server]) -> dict[str, float]:
    """CPU seconds used so far by the servers' main threads (their event loops), their
    other threads (``asyncio.to_thread``: database and store work), their workers, and by
    the whole machine (every CPU; other work and PostgreSQL included)."""
    tick = os.sysconf("SC_CLK_TCK")
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # The command may hold spaces and parentheses: fields follow the last ")".
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(parent, []).append(int(entry.name))

    def used(stat: Path) -> float:
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        return 0.0

    # The whole machine's busy time, all CPUs (other work and PostgreSQL included).
    with Path("/proc/stat").open() as stat:
        ticks = [int(value) for value in stat.readline().split()[1:9]]
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    machine = (sum(ticks) - ticks[3] - ticks[4]) / tick
    out = {"main_thread": 0.0, "other_threads": 0.0, "workers": 0.0, "machine": machine}
    for server in servers:
        for task in Path(f"/proc/{server.pid}/task").iterdir():
            kind = "main_thread" if task.name == str(server.pid) else "other_threads"
            out[kind] += used(task / "stat")
        todo = list(tree.get(server.pid, []))
        while todo:
            pid = todo.pop()
            todo.extend(tree.get(pid, []))
            out["workers"] += used(Path(f"/proc/{pid}/stat"))
    return out


def cpu_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, Any]:
    """CPU seconds of each kind between two readings, and in CPUs (seconds / ``seconds``)."""
    spent = {kind: round(after[kind] - before[kind], 2) for kind in before}
    return {"seconds": spent, "cpus": {k: round(v / seconds, 2) for k, v in spent.items()}}
