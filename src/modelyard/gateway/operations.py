"""What the gateway's groups of operations share: the store, the clock, new ids."""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from modelyard.storage.database import Database
from modelyard.storage.gateway import GatewayStore

__all__ = ["Operations", "new_id"]

T = TypeVar("T")

_ID_ALPHABET: Final = string.ascii_lowercase + string.digits


def new_id() -> str:
    """An API Gateway identifier: ten lower-case letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


class Operations:
    """A group of operations over the gateway's storage (APIs, stages, keys)."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        self._store = GatewayStore(database)
        self._clock = clock
        self._new_id = make_id

    def _now(self) -> datetime:
        """Now, to the millisecond, as API Gateway keeps its dates."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    async def _db(self, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking storage query off the event loop."""
        return await asyncio.to_thread(query, *args, **kwargs)
