"""What the model cache knows of each model (state, worker, measurements) and its limits."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from modelyard.errors import ModelyardError
from modelyard.serving.pool import WorkerProcess

__all__ = ["CacheLimits", "ModelEntry", "ModelState"]


class ModelState(StrEnum):
    """Where a model is in its life in the cache."""

    #: A worker is loading it; requests wait for the load.
    LOADING = "loading"
    #: Loaded and serving.
    READY = "ready"
    #: The last load failed; requests get that error until a retry.
    FAILED = "failed"
    #: It crashed its workers repeatedly; requests get ModelQuarantined until ``retry_at``.
    QUARANTINED = "quarantined"


@dataclass(kw_only=True)
class ModelEntry:
    """A model the cache knows about, and what it measured."""

    #: The model's key (its name, for the model server's own models).
    name: str
    #: Where the artifact came from.
    url: str
    #: The local folder it loads from (for more replicas).
    model_dir: str = ""
    #: Current state.
    state: ModelState
    #: Workers hosting a replica (the first one while loading), in the order they loaded.
    workers: list[WorkerProcess] = field(default_factory=list)
    #: Memory one replica added to its worker, as measured (bytes).
    replica_bytes: int = 0
    #: Replicas wanted (the cache adds missing ones in the background).
    replicas: int = 1
    #: Whether replicas are being added now.
    adding_replicas: bool = field(default=False, repr=False)
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
    #: Resolved with the worker as soon as the load is sent to it (requests may follow).
    sent: asyncio.Future[WorkerProcess] | None = field(default=None, repr=False)
    #: Requests waiting for this load to send themselves: until they have, a fresh model
    #: is not evicted (else, with more models in use than slots, loads evict each other
    #: before anyone is answered).
    waiters: int = field(default=0, repr=False)

    @property
    def worker(self) -> WorkerProcess | None:
        """The first worker hosting the model, if any."""
        return self.workers[0] if self.workers else None

    @property
    def memory_bytes(self) -> int:
        """Memory of all its replicas (bytes)."""
        return self.replica_bytes * len(self.workers) if self.state is ModelState.READY else 0

    def describe(self) -> dict[str, Any]:
        """What GET /models/{name} and the CLI show."""
        return {
            "modelName": self.name,
            "modelUrl": self.url,
            "state": self.state.value,
            "memoryBytes": self.memory_bytes,
            "replicas": len(self.workers) if self.state is ModelState.READY else 0,
            "loadSeconds": round(self.load_seconds, 6),
            "totalLoadSeconds": round(self.total_load_seconds, 6),
            "loadedAt": self.loaded_at,
            "lastUsedSecondsAgo": (
                round(time.monotonic() - self.last_used, 3) if self.last_used else None
            ),
            "pinned": self.pinned,
            "worker": self.worker.index if self.worker else None,
            "workers": [w.index for w in self.workers],
            "error": self.error.message if self.error else None,
            "errorType": type(self.error).__name__ if self.error else None,
            "retryAfterSeconds": (
                round(max(0.0, self.retry_at - time.monotonic()), 3)
                if self.state is ModelState.QUARANTINED
                else None
            ),
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
    #: Two worker crashes by one model within this window quarantine it.
    crash_window_s: float = 60.0
    #: Length of a model's first quarantine; each further one doubles.
    quarantine_s: float = 30.0
