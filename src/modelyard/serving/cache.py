"""The model cache: which models are resident, in which worker, and which to evict.

Models load on first use. Concurrent first requests for one model share a single load
(single-flight). After each load the cache knows what the model measurably added to its
worker's memory, and evicts least-recently-used models until the total fits the budget
and the count fits the maximum. Pinned models are never evicted.

Limits hold in the workers, not only in these books: a load reserves its slot and its
estimated memory (the model's last measurement, else its artifact's size) before it is
sent, and evictions to make that room are sent to a worker before the load, so the
worker unloads first. A load that finds no room because other loads are in flight waits
for them. A load always ends: ready, failed (with its error, retried later) or gone, so
no name is ever stuck loading; it runs in its own task, unaffected by the request that
started it going away.

The cache lives in the HTTP process and runs on its event loop: its bookkeeping is plain
dict and OrderedDict operations with no locks, because nothing here awaits between reading
and updating an entry except where a comment says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from modelyard.errors import (
    AccessDenied,
    InferenceTimeout,
    InvalidRequest,
    ModelAlreadyLoaded,
    ModelLoadFailed,
    ModelNotFound,
    ModelNotResident,
    ModelQuarantined,
    ModelTooLarge,
    ModelyardError,
    RequestNotStarted,
    WorkerCrashed,
)
from modelyard.metrics import Metrics
from modelyard.serving.artifacts import check_model_name
from modelyard.serving.entries import CacheLimits, ModelEntry, ModelState
from modelyard.serving.facade import ModelRef
from modelyard.serving.ipc import Frame, Load, Unload
from modelyard.serving.memory import RSS_NOISE_BYTES
from modelyard.serving.pool import WorkerPool, WorkerProcess
from modelyard.serving.quarantine import Quarantine

__all__ = ["Fetcher", "ModelCache"]

logger = logging.getLogger(__name__)

#: Errors after which a model is not remembered at all: nothing of it exists to retry.
_FORGOTTEN = (ModelNotFound, InvalidRequest, AccessDenied)

#: Remembered measurements of models' memory, for estimates at their next load.
_MAX_ESTIMATES = 100_000


#: Fetches a model's artifact to a local folder; returns (folder, url, artifact bytes).
Fetcher = Callable[[ModelRef], Awaitable[tuple[str, str, int]]]


def _in_flight(worker: WorkerProcess) -> int:
    return worker.in_flight


class ModelCache:
    """Resident models across the worker pool, loaded on demand, evicted by memory."""

    def __init__(
        self, pool: WorkerPool, fetch: Fetcher, limits: CacheLimits, metrics: Metrics | None = None
    ) -> None:
        self._pool = pool
        self._fetch = fetch
        self.limits = limits
        self._metrics = metrics if metrics is not None else Metrics()
        self.quarantine = Quarantine(limits.crash_window_s, limits.quarantine_s)
        self._entries: dict[str, ModelEntry] = {}
        #: READY models, least recently used first.
        self._lru: OrderedDict[str, ModelEntry] = OrderedDict()
        self._used_bytes = 0
        self._pinned: set[str] = set()
        #: Slots and estimated bytes held by loads under way.
        self._reserved_count = 0
        self._reserved_bytes = 0
        #: Loads waiting for room, woken whenever a slot or memory is released.
        self._room_waiters: list[asyncio.Future[None]] = []
        #: Each model's last measured memory, its estimate at the next load.
        self._estimates: dict[str, int] = {}
        #: Replicas wanted per model (``ensure``), kept for its reloads.
        self._replicas_wanted: dict[str, int] = {}
        self._load_tasks: set[asyncio.Task[None]] = set()
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

    @property
    def loading(self) -> int:
        """Loads under way."""
        return self._reserved_count

    # -- using ---------------------------------------------------------------------

    async def acquire(self, model: ModelRef) -> WorkerProcess:
        """A worker serving ``model``, loading the model first if needed.

        With several replicas, the one with the fewest requests in flight.
        """
        entry = self._entries.get(model.key)
        if entry is not None and entry.state is ModelState.READY:
            entry.last_used = time.monotonic()
            self._lru.move_to_end(model.key)
            self._metrics.cache_hit(model.key)
            workers = entry.workers
            if len(workers) == 1 and entry.replicas == 1:
                return workers[0]
            return self._pick(entry)
        self._metrics.cache_miss(model.key)
        return await self._load(model, explicit=False)

    async def request(self, model: ModelRef, frame: Frame, timeout: float | None) -> Any:
        """Send ``frame`` to a worker hosting ``model``, loading it first if needed.

        A request its worker never started (the worker died of another request, or the
        model was evicted meanwhile) is sent again, loading the model anew if need be.
        """
        for _ in range(5):
            try:
                worker = await self.acquire(model)
                return await worker.request(frame, timeout)
            except (WorkerCrashed, InferenceTimeout) as exc:
                raise type(exc)(f"model {model.key!r}: {exc.message}") from exc
            except ModelNotResident:
                continue
        raise ModelNotResident(
            f"model {model.key!r} was evicted repeatedly before it could answer: "
            "the memory budget is too small for the models in use"
        )

    async def load(self, model: ModelRef, *, pinned: bool = False) -> ModelEntry:
        """Load ``model`` now (explicit load); ModelAlreadyLoaded if it is resident."""
        entry = self._entries.get(model.key)
        if entry is not None and entry.state is ModelState.READY:
            raise ModelAlreadyLoaded(f"model {model.key!r} is already loaded")
        if pinned:
            self._pinned.add(model.key)
        await self._load(model, explicit=True)
        return self._entries[model.key]

    async def ensure(self, model: ModelRef, *, replicas: int = 1) -> ModelEntry:
        """Have ``model`` loaded on ``replicas`` workers (at most one per worker).

        The count is remembered for the model's later reloads. A ready model only gains
        or sheds replicas; the call returns once the first replica serves (the others
        follow in the background).
        """
        replicas = max(1, min(replicas, self._pool.size))
        self._replicas_wanted[model.key] = replicas
        entry = self._entries.get(model.key)
        if entry is not None and entry.state is ModelState.READY:
            entry.replicas = replicas
            while len(entry.workers) > replicas:
                self._drop_replica(entry, entry.workers[-1])
            if len(entry.workers) < replicas:
                self._spawn_replicas(entry)
            return entry
        await self._load(model, explicit=True)
        return self._entries[model.key]

    async def unload(self, name: str) -> None:
        """Unload ``name`` (a key) from every worker; ModelNotFound if the cache lacks it."""
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFound(f"model {name!r} is not loaded")
        if entry.state is ModelState.LOADING and entry.loading is not None:
            # Let the load finish, then unload: the worker has the model by then. Loads
            # always end (see _run_load), so this cannot wait forever.
            with contextlib.suppress(ModelyardError):
                await asyncio.shield(entry.loading)
        self._pinned.discard(name)
        current = self._entries.get(name)
        if current is not None and current.state is not ModelState.READY:
            if current.state is not ModelState.QUARANTINED:
                del self._entries[name]  # a failed load: nothing resident to unload
            return
        await self._evict(name, asked=True)

    def forget(self, name: str) -> None:
        """Drop what the cache remembers of a model that is not resident (a failed load)."""
        entry = self._entries.get(name)
        if entry is not None and entry.state is ModelState.FAILED:
            del self._entries[name]
        self._estimates.pop(name, None)

    def forget_worker(self, worker: WorkerProcess, reason: str, culprits: set[str]) -> None:
        """A worker died: its models are no longer resident (they reload on demand).

        ``culprits`` are the models whose requests were running when it died: each such
        crash counts towards the model's quarantine.
        """
        for name in list(worker.models):
            entry = self._entries.get(name)
            if entry is None or entry.state is not ModelState.READY or worker not in entry.workers:
                continue
            entry.workers.remove(worker)
            self._used_bytes -= entry.replica_bytes
            if not entry.workers:  # its last replica: the model is not resident any more
                del self._entries[name]
                self._lru.pop(name, None)
                self._metrics.unloaded(name)
        for name in culprits:
            self._metrics.crashed(name)
            length = self.quarantine.record_crash(name)
            if not length:
                continue
            self._metrics.quarantined(name)
            logger.error("model %r quarantined for %.0f s: %s", name, length, reason)
            previous = self._entries.get(name)
            if previous is not None and previous.state is ModelState.LOADING:
                continue  # its load is failing right now; the next one will be refused
            self._entries[name] = ModelEntry(
                name=name,
                url=previous.url if previous else "",
                state=ModelState.QUARANTINED,
                pinned=name in self._pinned,
                error=ModelQuarantined(
                    f"model {name!r} crashed its worker process repeatedly ({reason}) and "
                    f"is quarantined for {length:.0f} s",
                    retry_after_s=length,
                ),
                retry_at=time.monotonic() + length,
            )
        self._wake_room_waiters()

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

    async def stop(self) -> None:
        """Cancel the loads under way (at shutdown)."""
        for task in list(self._load_tasks):
            task.cancel()
        await asyncio.gather(*self._load_tasks, return_exceptions=True)

    # -- loading and evicting --------------------------------------------------------

    async def _load(self, model: ModelRef, *, explicit: bool) -> WorkerProcess:
        name = model.key
        entry = self._entries.get(name)
        if entry is not None:
            if entry.state is ModelState.LOADING and entry.loading is not None:
                # Single flight: share the load under way.
                return await self._await_load(entry, pipelined=not explicit)
            if entry.state is ModelState.READY:
                return entry.worker  # type: ignore[return-value]
            failed_recently = entry.state is ModelState.FAILED and time.monotonic() < entry.retry_at
            if failed_recently and not explicit:
                assert entry.error is not None
                raise entry.error
        check_model_name(name)
        try:
            self.quarantine.check(name)
        except ModelQuarantined as exc:
            self._entries[name] = ModelEntry(
                name=name,
                url=entry.url if entry else "",
                state=ModelState.QUARANTINED,
                pinned=name in self._pinned,
                error=exc,
                retry_at=time.monotonic() + exc.retry_after_s,
            )
            raise
        loop = asyncio.get_running_loop()
        entry = ModelEntry(
            name=name,
            url=entry.url if entry else (model.url or ""),
            state=ModelState.LOADING,
            pinned=name in self._pinned,
            replicas=self._replicas_wanted.get(name, 1),
            loading=loop.create_future(),
            sent=loop.create_future(),
        )
        self._entries[name] = entry
        # The load runs in a task of its own: a client that goes away (cancelling its
        # request) must not cancel a load others are waiting for, nor leave it half done.
        task = loop.create_task(self._run_load(entry, model))
        self._load_tasks.add(task)
        task.add_done_callback(self._load_tasks.discard)
        return await self._await_load(entry, pipelined=not explicit)

    async def _await_load(self, entry: ModelEntry, *, pipelined: bool) -> WorkerProcess:
        """Wait for ``entry``'s load; the worker, protected from eviction until returned.

        ``pipelined``: return as soon as the load has been sent to its worker. A request
        written then reaches the worker after the load and is answered once the model
        is in, which saves a round trip to the worker on every miss; should the load
        fail, the request fails with ModelNotResident and ``request`` meets the load's
        error on its next try.
        """
        assert entry.loading is not None and entry.sent is not None
        entry.waiters += 1
        try:
            if pipelined:
                worker = await asyncio.shield(entry.sent)
                if worker.is_alive and not entry.loading.done():
                    return worker
            await asyncio.shield(entry.loading)
            # No await between here and the caller writing its request to the worker.
            return self._ready_worker(entry.name)
        finally:
            entry.waiters -= 1
            if not entry.waiters:
                self._wake_room_waiters()

    async def _run_load(self, entry: ModelEntry, model: ModelRef) -> None:
        """Load ``entry`` and settle it: ready, failed, or forgotten. Never leaves it loading."""
        loading = entry.loading
        assert loading is not None
        failure: ModelyardError | None = None
        try:
            await self._load_into_worker(entry, model)
        except (*_FORGOTTEN, RequestNotStarted) as exc:
            # Nothing to remember of a model that does not exist or may not be loaded; a
            # load whose worker stopped under it is simply tried again by the next request.
            if self._entries.get(entry.name) is entry:
                del self._entries[entry.name]
            failure = exc
        except ModelyardError as exc:
            failure = exc
        except asyncio.CancelledError:
            failure = ModelLoadFailed(f"model {entry.name!r}: the load was cancelled")
            raise
        except Exception as exc:  # a bug, or an OS error on the way: fail, never hang
            logger.exception("loading model %r failed", entry.name)
            failure = ModelLoadFailed(
                f"model {entry.name!r}: the load failed: {type(exc).__name__}: {exc}"
            )
        finally:
            sent = entry.sent
            if sent is not None and not sent.done():
                if failure is not None:
                    sent.set_exception(failure)
                    sent.exception()  # retrieved: waiters meet it through ``loading``
                else:
                    sent.set_result(entry.workers[0])
            if failure is not None:
                remembered = not isinstance(failure, (*_FORGOTTEN, RequestNotStarted))
                if entry.state is not ModelState.READY and remembered:
                    entry.state = ModelState.FAILED
                    entry.error = failure
                    entry.workers = []
                    entry.retry_at = time.monotonic() + self.limits.failed_retry_s
                if not loading.done():
                    loading.set_exception(failure)
                    loading.exception()  # retrieved: waiters get it through _ready_worker
            elif not loading.done():
                loading.set_result(None)

    def _ready_worker(self, name: str) -> WorkerProcess:
        entry = self._entries.get(name)
        if entry is None or entry.state is not ModelState.READY or entry.worker is None:
            if entry is not None and entry.error is not None:
                raise entry.error
            if entry is None or entry.state is not ModelState.LOADING:
                # Evicted by other loads before this waiter resumed, or its worker died:
                # request() loads it again.
                raise ModelNotResident(f"model {name!r} was evicted right after loading")
            raise ModelNotResident(f"model {name!r} is loading again")
        entry.last_used = time.monotonic()
        self._lru.move_to_end(name)
        return self._pick(entry)

    def _pick(self, entry: ModelEntry) -> WorkerProcess:
        """The replica with the fewest requests in flight; adds missing replicas."""
        if len(entry.workers) < entry.replicas:
            self._spawn_replicas(entry)
        return min(entry.workers, key=_in_flight)

    async def _load_into_worker(self, entry: ModelEntry, model: ModelRef) -> None:
        started = time.perf_counter()
        model_dir, entry.url, artifact_bytes = await self._fetch(model)
        entry.model_dir = model_dir
        estimate = max(artifact_bytes, self._estimates.get(entry.name, 0))
        await self._reserve(estimate)
        try:
            info = await self._send_load(entry, model_dir)
        finally:
            self._release(estimate)
        self.loads += 1
        imported = info.get("imported")
        if imported:
            self._pool.warm(list(imported))
        # A small model's RSS delta is allocator noise (freed pages reused, or a new arena):
        # below RSS_NOISE_BYTES the artifact's size stands for it, and it is a floor above.
        rss_delta = int(info["rss_delta_bytes"])
        entry.replica_bytes = max(rss_delta if rss_delta >= RSS_NOISE_BYTES else 0, artifact_bytes)
        entry.load_seconds = float(info["load_seconds"])
        if len(self._estimates) >= _MAX_ESTIMATES:
            self._estimates.clear()
        self._estimates[entry.name] = entry.replica_bytes
        budget = self.limits.memory_budget_bytes
        worker = entry.worker
        assert worker is not None
        if entry.replica_bytes > budget:
            worker.models.discard(entry.name)
            with contextlib.suppress(ModelyardError):
                await worker.request(Unload(entry.name), timeout=self.limits.load_timeout_s)
            raise ModelTooLarge(
                f"model {entry.name!r} needs {entry.replica_bytes / 2**20:.1f} MiB, "
                f"more than the whole memory budget of {budget / 2**20:.1f} MiB"
            )
        if self._entries.get(entry.name) is not entry or not worker.is_alive:
            # Its worker died while the answer was on its way: it is not resident.
            worker.models.discard(entry.name)
            raise RequestNotStarted(f"model {entry.name!r}: its worker stopped after loading")
        entry.state = ModelState.READY
        entry.error = None
        entry.loaded_at = time.time()
        entry.last_used = time.monotonic()
        entry.total_load_seconds = time.perf_counter() - started
        self._lru[entry.name] = entry
        self._used_bytes += entry.replica_bytes
        self._metrics.loaded(entry.name, entry.load_seconds, entry.memory_bytes)
        await self._evict_until(
            max_models=self.limits.max_models,
            budget_bytes=budget,
            keep=entry.name,
        )
        if entry.replicas > 1:
            self._spawn_replicas(entry)

    async def _send_load(self, entry: ModelEntry, model_dir: str) -> dict[str, Any]:
        """Load into a worker; a worker that dies before starting the load is replaced.

        Requests may follow the load to its worker without waiting for its answer only
        when the model is known to fit: a model measured before, within the budget (a
        first load may turn out too large, and must then answer no request).
        """
        known = self._estimates.get(entry.name)
        pipeline = known is not None and known <= self.limits.memory_budget_bytes
        for _ in range(5):
            worker = await self._pool.place()
            worker.models.add(entry.name)
            entry.workers = [worker]
            if entry.sent is not None and not entry.sent.done() and pipeline:
                # The waiters resume after this coroutine's next await, by which time the
                # Load below is queued: their requests follow it to the worker.
                entry.sent.set_result(worker)
            try:
                info: dict[str, Any] = await worker.request(
                    Load(entry.name, model_dir), timeout=self.limits.load_timeout_s
                )
                return info
            except RequestNotStarted:
                worker.models.discard(entry.name)
                continue
            except ModelyardError:
                worker.models.discard(entry.name)
                raise
        raise WorkerCrashed(f"model {entry.name!r}: its workers kept stopping before it loaded")

    async def _reserve(self, estimate: int, *, slot: bool = True) -> None:
        """Make room for one more model (or, without ``slot``, replica) of ``estimate``
        bytes, then hold it until ``_release``."""
        limits = self.limits
        extra = 1 if slot else 0
        while True:
            over_count = len(self._lru) + self._reserved_count + extra > limits.max_models
            over_bytes = (
                self._used_bytes + self._reserved_bytes + estimate > limits.memory_budget_bytes
            )
            if not (over_count or over_bytes):
                break
            victim = self._victim()
            if victim is not None:
                await self._evict(victim)
                continue
            if self._reserved_count or any(e.waiters for e in self._lru.values()):
                await self._wait_for_room()  # loads under way will become evictable
                continue
            if over_count:
                raise ModelTooLarge(
                    f"no room for another model: all {len(self._lru)} resident models are "
                    "pinned and the model limit is reached"
                )
            break  # the estimate alone is over budget: the measurement after the load decides
        self._reserved_count += extra
        self._reserved_bytes += estimate

    def _release(self, estimate: int, *, slot: bool = True) -> None:
        self._reserved_count -= 1 if slot else 0
        self._reserved_bytes -= estimate
        self._wake_room_waiters()

    # -- replicas --------------------------------------------------------------------

    def _spawn_replicas(self, entry: ModelEntry) -> None:
        if entry.adding_replicas:
            return
        entry.adding_replicas = True
        task = asyncio.get_running_loop().create_task(self._add_replicas(entry))
        self._load_tasks.add(task)
        task.add_done_callback(self._load_tasks.discard)

    async def _add_replicas(self, entry: ModelEntry) -> None:
        """Load ``entry`` on more workers until it has the replicas it wants, or none is left."""
        try:
            while (
                self._entries.get(entry.name) is entry
                and entry.state is ModelState.READY
                and len(entry.workers) < entry.replicas
            ):
                free = [w for w in self._pool.workers if w.is_alive and w not in entry.workers]
                if not free:
                    return  # more replicas than live workers: the rest wait for a worker
                worker = min(free, key=lambda w: (len(w.models), w.index))
                await self._reserve(entry.replica_bytes, slot=False)
                worker.models.add(entry.name)
                try:
                    await worker.request(
                        Load(entry.name, entry.model_dir), timeout=self.limits.load_timeout_s
                    )
                except ModelyardError as exc:
                    worker.models.discard(entry.name)
                    logger.warning("model %r: a replica failed to load: %s", entry.name, exc)
                    return
                finally:
                    self._release(entry.replica_bytes, slot=False)
                if (
                    self._entries.get(entry.name) is not entry
                    or entry.state is not ModelState.READY
                ):
                    self._unload_from(worker, entry.name)  # evicted meanwhile
                    return
                entry.workers.append(worker)
                self._used_bytes += entry.replica_bytes
                self._metrics.loaded(entry.name, entry.load_seconds, entry.memory_bytes)
        finally:
            entry.adding_replicas = False

    def _drop_replica(self, entry: ModelEntry, worker: WorkerProcess) -> None:
        entry.workers.remove(worker)
        self._used_bytes -= entry.replica_bytes
        self._unload_from(worker, entry.name)
        self._wake_room_waiters()

    async def _wait_for_room(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._room_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout=self.limits.load_timeout_s)
        except TimeoutError:
            raise ModelTooLarge("no room for the model: the loads under way did not end") from None

    def _wake_room_waiters(self) -> None:
        waiters, self._room_waiters = self._room_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _evict_until(self, *, max_models: int, budget_bytes: int, keep: str = "") -> None:
        """Evict least recently used models until both limits hold (or nothing is left)."""
        while len(self._lru) > max_models or self.used_bytes > budget_bytes:
            victim = self._victim(keep)
            if victim is None:
                return
            await self._evict(victim)

    def _victim(self, keep: str = "") -> str | None:
        """The least recently used model that may be evicted now, if any."""
        for name, entry in self._lru.items():
            if name != keep and name not in self._pinned and not entry.waiters:
                return name
        return None

    def _drop_resident(self, name: str) -> None:
        entry = self._lru.pop(name, None)
        if entry is not None:
            self._used_bytes -= entry.memory_bytes

    async def _evict(self, name: str, *, asked: bool = False) -> None:
        """Drop ``name`` from every worker: an eviction, or an unload ``asked`` for."""
        entry = self._entries.pop(name, None)
        self._drop_resident(name)
        if entry is None or not entry.workers:
            return
        if asked:
            self._metrics.unloaded(name)
        else:
            self.evictions += 1
            self._metrics.evicted(name)
        for worker in entry.workers:
            self._unload_from(worker, name)

    def _unload_from(self, worker: WorkerProcess, name: str) -> None:
        worker.models.discard(name)
        # Requests already written to this worker are answered before the unload, and
        # nothing needs to wait for it: frames to one worker are handled in order.
        with contextlib.suppress(ModelyardError):
            worker.notify(Unload(name))
