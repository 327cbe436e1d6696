"""The model cache: which models are resident, in which worker, and which to evict.

Models load on first use. Concurrent first requests for one model share a single load
(single-flight). After each load the cache knows what the model measurably added to its
worker's memory, and evicts least-recently-used models until the total fits the budget
and the count fits the maximum. Pinned models are never evicted.

The cache lives in the HTTP process and runs on its event loop: its bookkeeping is plain
dict and OrderedDict operations with no locks, because nothing here awaits between reading
and updating an entry except where a comment says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelyard.errors import (
    InferenceTimeout,
    ModelAlreadyLoaded,
    ModelNotFound,
    ModelNotResident,
    ModelTooLarge,
    ModelyardError,
    WorkerCrashed,
)
from modelyard.serving.ipc import Kind
from modelyard.serving.pool import WorkerPool, WorkerProcess
from modelyard.serving.worker import RSS_NOISE_BYTES

__all__ = ["CacheLimits", "ModelCache", "ModelEntry", "ModelState"]


class ModelState(StrEnum):
    """Where a model is in its life in the cache."""

    #: A worker is loading it; requests wait for the load.
    LOADING = "loading"
    #: Loaded and serving.
    READY = "ready"
    #: The last load failed; requests get that error until a retry.
    FAILED = "failed"


@dataclass(kw_only=True)
class ModelEntry:
    """A model the cache knows about, and what it measured."""

    #: Name the model is served under.
    name: str
    #: Where the artifact came from.
    url: str
    #: Current state.
    state: ModelState
    #: Worker hosting the model (when loading or ready).
    worker: WorkerProcess | None = None
    #: Memory the model added to its worker, as measured (bytes).
    memory_bytes: int = 0
    #: How long the handler's own load took (seconds).
    load_seconds: float = 0.0
    #: How long the whole load took, fetch and IPC included (seconds).
    total_load_seconds: float = 0.0
    #: When it became ready (epoch seconds).
    loaded_at: float | None = None
    #: Last request (monotonic seconds), for LRU and the idle TTL.
    last_used: float = 0.0
    #: Never evicted.
    pinned: bool = False
    #: The load error, when failed.
    error: ModelyardError | None = None
    #: When a failed load may be retried by a request (monotonic seconds).
    retry_at: float = 0.0
    #: Resolved when the load in progress ends.
    loading: asyncio.Future[None] | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        """What GET /models/{name} and the CLI show."""
        return {
            "modelName": self.name,
            "modelUrl": self.url,
            "state": self.state.value,
            "memoryBytes": self.memory_bytes,
            "loadSeconds": round(self.load_seconds, 6),
            "totalLoadSeconds": round(self.total_load_seconds, 6),
            "loadedAt": self.loaded_at,
            "lastUsedSecondsAgo": (
                round(time.monotonic() - self.last_used, 3) if self.last_used else None
            ),
            "pinned": self.pinned,
            "worker": self.worker.index if self.worker else None,
            "error": self.error.message if self.error else None,
            "errorType": type(self.error).__name__ if self.error else None,
        }


@dataclass(frozen=True, kw_only=True)
class CacheLimits:
    """How much the cache may hold, and for how long.

    >>> CacheLimits(memory_budget_bytes=2 * 2**30, max_models=100, idle_ttl_s=600)
    """

    #: Total measured memory of resident models.
    memory_budget_bytes: int
    #: Resident models at most.
    max_models: int
    #: Unload models idle this long (None: never).
    idle_ttl_s: float | None = None
    #: Timeout of a load, after which the worker is replaced.
    load_timeout_s: float = 300.0
    #: A failed model answers with its error this long before a request retries the load.
    failed_retry_s: float = 5.0


#: Fetches a model's artifact to a local folder; returns (folder, url, artifact bytes).
Fetcher = Callable[[str], Awaitable[tuple[str, str, int]]]


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a failed unload of a dead worker is no news


class ModelCache:
    """Resident models across the worker pool, loaded on demand, evicted by memory."""

    def __init__(self, pool: WorkerPool, fetch: Fetcher, limits: CacheLimits) -> None:
        self._pool = pool
        self._fetch = fetch
        self.limits = limits
        self._entries: dict[str, ModelEntry] = {}
        #: READY models, least recently used first.
        self._lru: OrderedDict[str, ModelEntry] = OrderedDict()
        self._used_bytes = 0
        self._pinned: set[str] = set()
        #: Loads since start, and evictions: for metrics and tests.
        self.loads = 0
        self.evictions = 0

    # -- reading -------------------------------------------------------------------

    def get(self, name: str) -> ModelEntry | None:
        """The entry of a model the cache knows, if any."""
        return self._entries.get(name)

    def entries(self) -> list[ModelEntry]:
        """All known models, sorted by name."""
        return [self._entries[name] for name in sorted(self._entries)]

    @property
    def used_bytes(self) -> int:
        """Measured memory of the resident models."""
        return self._used_bytes

    # -- using ---------------------------------------------------------------------

    async def acquire(self, name: str) -> WorkerProcess:
        """The worker serving ``name``, loading the model first if needed."""
        entry = self._entries.get(name)
        if entry is not None and entry.state is ModelState.READY:
            entry.last_used = time.monotonic()
            self._lru.move_to_end(name)
            return entry.worker  # type: ignore[return-value]
        return await self._load(name, explicit=False)

    async def request(self, name: str, kind: Kind, payload: Any, timeout: float | None) -> Any:
        """Send a request to the worker hosting ``name``, loading it first if needed."""
        for _ in range(5):
            try:
                worker = await self.acquire(name)
                return await worker.request(kind, payload, timeout)
            except (WorkerCrashed, InferenceTimeout) as exc:
                raise type(exc)(f"model {name!r}: {exc.message}") from exc
            except ModelNotResident:
                continue  # evicted between the load and this request: load again
        raise ModelNotResident(
            f"model {name!r} was evicted repeatedly before it could answer: "
            "the memory budget is too small for the models in use"
        )

    async def load(self, name: str, *, pinned: bool = False) -> ModelEntry:
        """Load ``name`` now (explicit load); ModelAlreadyLoaded if it is resident."""
        entry = self._entries.get(name)
        if entry is not None and entry.state is ModelState.READY:
            raise ModelAlreadyLoaded(f"model {name!r} is already loaded")
        if pinned:
            self._pinned.add(name)
        await self._load(name, explicit=True)
        return self._entries[name]

    async def unload(self, name: str) -> None:
        """Unload ``name``; ModelNotFound if the cache does not hold it."""
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFound(f"model {name!r} is not loaded")
        if entry.state is ModelState.LOADING and entry.loading is not None:
            # Let the load finish, then unload: the worker has the model by then.
            with contextlib.suppress(ModelyardError):
                await asyncio.shield(entry.loading)
        self._pinned.discard(name)
        await self._evict(name)

    def forget_worker(self, worker: WorkerProcess, reason: str) -> None:
        """A worker died: its models are no longer resident (they reload on demand)."""
        for name in list(worker.models):
            entry = self._entries.get(name)
            if entry is not None and entry.worker is worker and entry.state is ModelState.READY:
                del self._entries[name]
                self._drop_resident(name)

    async def unload_idle(self) -> list[str]:
        """Unload models unused for longer than the idle TTL; returns their names."""
        ttl = self.limits.idle_ttl_s
        if ttl is None:
            return []
        cutoff = time.monotonic() - ttl
        idle = [
            e.name
            for e in self._lru.values()
            if e.last_used < cutoff and e.name not in self._pinned
        ]
        for name in idle:
            await self._evict(name)
        return idle

    # -- loading and evicting --------------------------------------------------------

    async def _load(self, name: str, *, explicit: bool) -> WorkerProcess:
        entry = self._entries.get(name)
        if entry is not None:
            if entry.state is ModelState.LOADING and entry.loading is not None:
                await asyncio.shield(entry.loading)  # single flight: share the load under way
                return self._ready_worker(name)
            if entry.state is ModelState.READY:
                return entry.worker  # type: ignore[return-value]
            failed_recently = entry.state is ModelState.FAILED and time.monotonic() < entry.retry_at
            if failed_recently and not explicit:
                assert entry.error is not None
                raise entry.error
        loop = asyncio.get_running_loop()
        entry = ModelEntry(
            name=name,
            url=entry.url if entry else "",
            state=ModelState.LOADING,
            pinned=name in self._pinned,
            loading=loop.create_future(),
        )
        self._entries[name] = entry
        try:
            await self._load_into_worker(entry)
        except ModelNotFound as exc:
            # Nothing to remember of a model that does not exist.
            del self._entries[name]
            entry.loading.set_exception(exc)  # type: ignore[union-attr]
            entry.loading.exception()  # type: ignore[union-attr]  # mark retrieved
            raise
        except ModelyardError as exc:
            entry.state = ModelState.FAILED
            entry.error = exc
            entry.worker = None
            entry.retry_at = time.monotonic() + self.limits.failed_retry_s
            entry.loading.set_exception(exc)  # type: ignore[union-attr]
            entry.loading.exception()  # type: ignore[union-attr]  # mark retrieved
            raise
        entry.loading.set_result(None)  # type: ignore[union-attr]
        return self._ready_worker(name)

    def _ready_worker(self, name: str) -> WorkerProcess:
        entry = self._entries.get(name)
        if entry is None or entry.state is not ModelState.READY or entry.worker is None:
            if entry is not None and entry.error is not None:
                raise entry.error
            # Evicted by other loads before this waiter resumed: request() loads it again.
            raise ModelNotResident(f"model {name!r} was evicted right after loading")
        entry.last_used = time.monotonic()
        self._lru.move_to_end(name)
        return entry.worker

    async def _load_into_worker(self, entry: ModelEntry) -> None:
        started = time.perf_counter()
        model_dir, entry.url, artifact_bytes = await self._fetch(entry.name)
        # Make room for the newcomer first by count, and by the artifact size as an estimate.
        await self._evict_until(
            max_models=self.limits.max_models - 1,
            budget_bytes=self.limits.memory_budget_bytes - artifact_bytes,
        )
        worker = await self._pool.place()
        worker.models.add(entry.name)
        entry.worker = worker
        try:
            info = await worker.request(
                Kind.LOAD, (entry.name, model_dir), timeout=self.limits.load_timeout_s
            )
        except ModelyardError:
            worker.models.discard(entry.name)
            raise
        self.loads += 1
        # A small model's RSS delta is allocator noise (freed pages reused, or a new arena):
        # below RSS_NOISE_BYTES the artifact's size stands for it, and it is a floor above.
        rss_delta = int(info["rss_delta_bytes"])
        entry.memory_bytes = max(rss_delta if rss_delta >= RSS_NOISE_BYTES else 0, artifact_bytes)
        entry.load_seconds = float(info["load_seconds"])
        budget = self.limits.memory_budget_bytes
        if entry.memory_bytes > budget:
            worker.models.discard(entry.name)
            with contextlib.suppress(ModelyardError):
                await worker.request(Kind.UNLOAD, entry.name, timeout=self.limits.load_timeout_s)
            raise ModelTooLarge(
                f"model {entry.name!r} needs {entry.memory_bytes / 2**20:.1f} MiB, "
                f"more than the whole memory budget of {budget / 2**20:.1f} MiB"
            )
        entry.state = ModelState.READY
        entry.error = None
        entry.loaded_at = time.time()
        entry.last_used = time.monotonic()
        entry.total_load_seconds = time.perf_counter() - started
        self._lru[entry.name] = entry
        self._used_bytes += entry.memory_bytes
        await self._evict_until(
            max_models=self.limits.max_models,
            budget_bytes=budget,
            keep=entry.name,
        )

    async def _evict_until(self, *, max_models: int, budget_bytes: int, keep: str = "") -> None:
        """Evict least recently used models until both limits hold (or nothing is left)."""
        while len(self._lru) > max_models or self.used_bytes > budget_bytes:
            victim = next(
                (n for n in self._lru if n != keep and n not in self._pinned),
                None,
            )
            if victim is None:
                return
            await self._evict(victim)

    def _drop_resident(self, name: str) -> None:
        entry = self._lru.pop(name, None)
        if entry is not None:
            self._used_bytes -= entry.memory_bytes

    async def _evict(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        self._drop_resident(name)
        if entry is None or entry.worker is None:
            return
        worker = entry.worker
        worker.models.discard(name)
        self.evictions += 1
        # Requests already written to this worker are answered before the unload, and
        # nothing needs to wait for it: frames to one worker are handled in order.
        with contextlib.suppress(ModelyardError):
            worker.send(Kind.UNLOAD, name).add_done_callback(_ignore_outcome)
