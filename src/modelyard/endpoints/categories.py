"""The endpoint metadata registry's answer to "which endpoints serve which categories".

Every job asks it twice (when it is created, and when its workflow fans out), so the
answer is kept and read again from the database only once something it depends on may
have changed: an endpoint of this process changed status (every change is published to
the :class:`~modelyard.endpoints.traffic.TrafficTable`), tags were written here, or
:data:`STALE_AFTER_S` passed (another process sharing the database may have changed tags).
An endpoint another process creates is not invocable here before this process restarts
anyway (see ``Deployer.resume``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

from modelyard.endpoints.traffic import TrafficTable
from modelyard.storage.endpoints import Endpoint

__all__ = ["STALE_AFTER_S", "Categorized", "CategoryIndex"]

#: Seconds an answer is kept when nothing here changed.
STALE_AFTER_S: Final = 1.0

#: Every endpoint with a ``category`` tag and its categories, by name.
Categorized = list[tuple[Endpoint, tuple[str, ...]]]


class CategoryIndex:
    """The categorized endpoints, read again only when they may have changed."""

    def __init__(
        self,
        table: TrafficTable,
        load: Callable[[], Categorized],
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        self._table = table
        self._load = load
        self._stale_after_s = stale_after_s
        #: Bumped by :meth:`tags_changed`.
        self._tags_version = 0
        self._kept: tuple[tuple[int, int], float, Categorized] | None = None

    def tags_changed(self) -> None:
        """Tags were written: the next answer is read again."""
        self._tags_version += 1

    async def categorized(self) -> Categorized:
        """Every endpoint with a ``category`` tag, with its categories, by name."""
        # Taken before the read: a change while it runs leaves the answer kept under the
        # old version, so the next call reads again.
        version = (self._table.version, self._tags_version)
        now = time.monotonic()
        kept = self._kept
        if kept is not None and kept[0] == version and now - kept[1] < self._stale_after_s:
            return kept[2]
        found = await asyncio.to_thread(self._load)
        self._kept = (version, now, found)
        return found
