"""Measuring process memory: RSS for what a load adds, PSS for what a process costs.

Workers are forked from a template process and share its pages (the interpreter, numpy,
scikit-learn...). RSS counts a shared page in every process that maps it, so summing RSS
over the workers counts the libraries once per worker; PSS (proportional set size)
divides each shared page among the processes sharing it, so a sum of PSS over the
process tree counts it once. A load's own cost is still best seen as the growth of the
loading worker's RSS: the pages a model allocates are private to it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os

__all__ = ["RSS_NOISE_BYTES", "OwnRss", "pss_bytes", "release_free_memory", "rss_bytes"]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

#: RSS grows by pages and allocator arenas: below this, a load's RSS delta is noise (the
#: same small model measures anywhere from 0 to a few hundred KiB).
RSS_NOISE_BYTES = 1 << 20


def rss_bytes(pid: int | str = "self") -> int:
    """Resident memory of a process, from /proc (OSError when it is gone)."""
    with open(f"/proc/{pid}/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


def pss_bytes(pid: int | str = "self") -> int:
    """Proportional set size of a process: shared pages divided among their sharers.

    Falls back to RSS where the kernel has no ``smaps_rollup`` (before Linux 4.14).
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return rss_bytes(pid)


class OwnRss:
    """This process's RSS, read through one open file (twice per load: keep it cheap)."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/self/statm", os.O_RDONLY)

    def __call__(self) -> int:
        return int(os.pread(self._fd, 128, 0).split()[1]) * _PAGE_SIZE


def release_free_memory() -> None:
    """Give freed heap pages back to the OS so the next load's RSS delta means something."""
    gc.collect(0)  # the youngest generation only: a full collection costs milliseconds
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)
