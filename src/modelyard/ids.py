"""Random UUIDs (version 4) for ids the hot paths hand out: request ids, event ids.

``str(uuid.uuid4())`` reads the system's random source once per id and builds a ``UUID``
object: a few microseconds, more than the rest of a capture record's encoding. These
read 16 bytes per id in blocks and format them directly; they are as random (the same
source) and as well-formed (version and variant bits set as RFC 4122 says).
"""

from __future__ import annotations

import os

__all__ = ["uuid4_string", "uuid4_strings"]

_BLOCK = 256
_pool: list[str] = []


def uuid4_strings(count: int) -> list[str]:
    """``count`` random version-4 UUIDs, formatted ``8-4-4-4-12``."""
    raw = bytearray(os.urandom(16 * count))
    ids = []
    for start in range(0, 16 * count, 16):
        raw[start + 6] = (raw[start + 6] & 0x0F) | 0x40  # version 4
        raw[start + 8] = (raw[start + 8] & 0x3F) | 0x80  # the RFC 4122 variant
        h = raw[start : start + 16].hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def uuid4_string() -> str:
    """One random version-4 UUID, from a pool refilled in blocks.

    Meant for the event loop's thread (the pool is not locked). A forked process must
    not share the pool's future ids with its parent: the pool is emptied at fork.
    """
    if not _pool:
        _pool.extend(uuid4_strings(_BLOCK))
    return _pool.pop()


os.register_at_fork(after_in_child=_pool.clear)
