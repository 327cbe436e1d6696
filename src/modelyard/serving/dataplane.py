"""The serving facade: what every protocol of the model server, and every other area, calls.

``DataPlane`` implements :class:`~modelyard.serving.facade.ModelInvoker` (invoke, infer,
metadata, load, unload, status, check_url by :class:`ModelRef`), which ``platform.py``
hands to the other areas, and adds what the container contract needs on top (register
by URL, list, describe by name). It knows nothing of HTTP: it takes raw bodies and
returns raw bodies, leaving decoding and encoding to the worker that hosts the model (so
the HTTP process only moves bytes). Errors are :mod:`modelyard.errors` classes, rendered
by each protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from modelyard.config import ServingSettings, Settings
from modelyard.errors import (
    InvalidModelName,
    ModelAlreadyExists,
    ModelAlreadyLoaded,
    ModelNotFound,
    ModelyardError,
)
from modelyard.metrics import Metrics
from modelyard.serving.artifacts import ArtifactLimits, check_model_name
from modelyard.serving.cache import ModelCache
from modelyard.serving.entries import CacheLimits, ModelEntry, ModelState
from modelyard.serving.facade import Invocation, ModelRef, ModelStatus, Residency
from modelyard.serving.ipc import Infer, Invoke, Metadata
from modelyard.serving.memory import pss_bytes
from modelyard.serving.pool import WorkerPool, WorkerProcess
from modelyard.serving.repository import ModelRepository, Registrations

__all__ = ["DataPlane", "build_dataplane"]

logger = logging.getLogger(__name__)

_MIB = 2**20


class DataPlane:
    """Loads, unloads and invokes models across the worker pool."""

    def __init__(
        self,
        settings: ServingSettings,
        repository: ModelRepository,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.repository = repository
        #: Where the model server records what happens (``GET /metrics``).
        self.metrics = metrics if metrics is not None else Metrics()
        budget = int(settings.memory_budget_mb * _MIB)
        limit_mb = settings.worker_memory_limit_mb or settings.memory_budget_mb + 1024
        self.pool = WorkerPool(
            settings.worker_count(),
            int(limit_mb * _MIB),
            on_worker_exit=self._worker_exited,
            preload_modules=settings.worker_preload_modules,
        )
        self.cache = ModelCache(
            self.pool,
            repository.fetch,
            CacheLimits(
                memory_budget_bytes=budget,
                max_models=settings.max_loaded_models,
                idle_ttl_s=settings.idle_ttl_s,
                load_timeout_s=settings.load_timeout_s,
                crash_window_s=settings.crash_window_s,
                quarantine_s=settings.quarantine_s,
            ),
            self.metrics,
        )
        self._timeout = settings.request_timeout_s
        self._sweeper: asyncio.Task[None] | None = None
        #: Names a POST /models is registering right now (a second one answers 409).
        self._registering: set[str] = set()

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers, then preload and pin the configured models."""
        await self.pool.start()
        for name in self.settings.pinned:
            await self._preload(name, pinned=True)
        for name in self.settings.preload:
            if name not in self.settings.pinned:
                await self._preload(name, pinned=False)
        if self.settings.idle_ttl_s is not None:
            self._sweeper = asyncio.create_task(self._sweep_idle(self.settings.idle_ttl_s))

    async def stop(self) -> None:
        """Stop the workers."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.cache.stop()
        await self.pool.stop()

    # -- the facade (ModelInvoker) ------------------------------------------------------

    async def invoke(
        self,
        model: ModelRef,
        body: bytes,
        content_type: str,
        accept: str | None,
        custom_attributes: str | None = None,
    ) -> Invocation:
        """SageMaker-style invocation: raw body in, the model's answer out."""
        frame = Invoke(model.key, body, content_type, accept, custom_attributes)
        answer, answer_type, attributes, seconds = await self.cache.request(
            model, frame, self._timeout
        )
        return Invocation(answer, answer_type, attributes, seconds)

    async def infer(
        self, model: ModelRef, body: bytes, header_length: int | None
    ) -> tuple[bytes, dict[str, str]]:
        """KServe V2 inference: the request body in, (body, headers) out."""
        answer, headers, _ = await self.cache.request(
            model, Infer(model.key, body, header_length), self._timeout
        )
        return answer, headers

    async def metadata(self, model: ModelRef) -> dict[str, Any]:
        """V2 model metadata (loads the model if needed)."""
        found: dict[str, Any] = await self.cache.request(model, Metadata(model.key), self._timeout)
        return found

    async def load(self, model: ModelRef, *, replicas: int = 1) -> ModelStatus:
        """Load ``model`` now on ``replicas`` workers; a ready model only changes replicas."""
        if model.url is None:
            await self._check_known(model.key)
        await self.cache.ensure(model, replicas=replicas)
        return self.status(model)

    async def unload(self, model: ModelRef) -> None:
        """Unload ``model`` from every worker; it reloads on its next request."""
        if self.cache.get(model.key) is not None:
            await self.cache.unload(model.key)

    def status(self, model: ModelRef) -> ModelStatus:
        """The model's state now (``AVAILABLE`` when nothing of it is held)."""
        entry = self.cache.get(model.key)
        if entry is None:
            return ModelStatus(key=model.key, residency=Residency.AVAILABLE)
        return ModelStatus(
            key=model.key,
            residency=Residency(entry.state.value),
            replicas=len(entry.workers) if entry.state is ModelState.READY else 0,
            memory_bytes=entry.memory_bytes,
            load_seconds=entry.load_seconds,
            error=entry.error.message if entry.error else None,
            error_type=type(entry.error).__name__ if entry.error else None,
        )

    def check_url(self, url: str) -> str:
        """The normalised ``url`` if models may come from it; ``s3://`` names the store."""
        return self.repository.check_url(url)

    # -- the container contract -----------------------------------------------------------

    def served(self, name: str) -> ModelRef:
        """The reference of a model the container contract serves by ``name``.

        Keys with a ``/`` belong to other areas (an endpoint's model is ``sagemaker/...``):
        the container routes never reach them, whatever the cache holds.
        """
        check_model_name(name)
        if "/" in name:
            raise ModelNotFound(f"model {name!r} was not found")
        return ModelRef(name)

    async def register(self, name: str, url: str) -> ModelEntry:
        """SageMaker's LoadModel: register ``name`` at ``url``, then load it.

        A failed registration leaves nothing behind: if the load fails, the name is
        registered and known to the cache exactly as before. A second request for a
        name being registered answers ModelAlreadyExists.
        """
        check_model_name(name)
        if "/" in name:
            raise InvalidModelName(
                f"model name {name!r} has a '/': names with one are reserved for platform areas"
            )
        if name in self._registering:
            raise ModelAlreadyExists(f"model {name!r} is being loaded by another request")
        self._registering.add(name)
        try:
            added = await asyncio.to_thread(self.repository.register, name, url)
            entry = self.cache.get(name)
            if entry is not None and entry.state in (ModelState.READY, ModelState.LOADING):
                raise ModelAlreadyLoaded(f"model {name!r} is already loaded")
            try:
                return await self.cache.load(ModelRef(name))
            except BaseException:
                if added:
                    await asyncio.to_thread(self.repository.deregister, name)
                    self.cache.forget(name)
                raise
        finally:
            self._registering.discard(name)

    async def remove(self, name: str) -> None:
        """SageMaker's UnloadModel: unload ``name``, and forget it if it was registered.

        A model registered by URL is forgotten, so the name may be registered again;
        store models stay available and reload on demand.
        """
        check_model_name(name)
        registered = await asyncio.to_thread(self.repository.is_registered, name)
        if self.cache.get(name) is not None:
            await self.cache.unload(name)
        elif not registered:
            raise ModelNotFound(f"model {name!r} is not loaded")
        if registered:
            await asyncio.to_thread(self.repository.deregister, name)

    async def _check_known(self, name: str) -> None:
        check_model_name(name)
        if await asyncio.to_thread(self.repository.url_of, name) is None:
            raise ModelNotFound(f"model {name!r} was not found")

    def describe(self, name: str) -> dict[str, Any]:
        """State of a model the cache holds (loading, ready, failed or quarantined)."""
        entry = self.cache.get(self.served(name).key)
        if entry is None:
            raise ModelNotFound(f"model {name!r} is not loaded")
        return entry.describe()

    def loaded(self) -> list[ModelEntry]:
        """Models of the container contract the cache holds, by name."""
        return [entry for entry in self.cache.entries() if "/" not in entry.name]

    async def names(self) -> list[str]:
        """Every model name available: in the store, or registered."""
        return await asyncio.to_thread(self.repository.names)

    async def index(self) -> list[dict[str, Any]]:
        """Every model in the repository with its state (the V2 repository index)."""
        rows = []
        for name in await self.names():
            entry = self.cache.get(name)
            rows.append(
                {
                    "name": name,
                    "state": entry.state.value if entry else "available",
                    "reason": entry.error.message if entry and entry.error else "",
                }
            )
        return rows

    def is_live(self) -> bool:
        """Whether a worker is up to serve models."""
        return any(worker.is_alive for worker in self.pool.workers)

    def is_ready(self, name: str) -> bool:
        """Whether ``name`` is loaded and serving."""
        entry = self.cache.get(name)
        return entry is not None and entry.state is ModelState.READY

    async def exists(self, name: str) -> bool:
        """Whether a model of that name is known (loaded, in the store or registered)."""
        check_model_name(name)
        if "/" in name:
            return False
        if self.cache.get(name) is not None:
            return True
        return await asyncio.to_thread(self.repository.url_of, name) is not None

    async def stats(self) -> dict[str, Any]:
        """Cache and worker figures, for operators."""
        workers = await self.pool.stats()
        return {
            "memory_budget_bytes": self.cache.limits.memory_budget_bytes,
            "used_bytes": self.cache.used_bytes,
            "loaded": sum(1 for e in self.cache.entries() if e.state is ModelState.READY),
            "loading": self.cache.loading,
            "loads": self.cache.loads,
            "evictions": self.cache.evictions,
            "worker_restarts": self.pool.restarts,
            "workers": workers,
            "quarantined": self.cache.quarantine.describe(),
            # Every process of the server, shared pages counted once (PSS).
            "memory_pss_bytes": pss_bytes()
            + self.pool.template_pss_bytes()
            + sum(w["pss_bytes"] for w in workers),
        }

    # -- internals --------------------------------------------------------------------------

    def _worker_exited(self, worker: WorkerProcess, reason: str, culprits: set[str]) -> None:
        self.metrics.worker_restarted()
        self.cache.forget_worker(worker, reason, culprits)

    async def _preload(self, name: str, *, pinned: bool) -> None:
        try:
            await self.cache.load(ModelRef(name), pinned=pinned)
        except ModelyardError as exc:  # a broken model must not stop the server starting
            logger.error("could not preload model %r: %s", name, exc.message)

    async def _sweep_idle(self, ttl: float) -> None:
        while True:
            await asyncio.sleep(min(ttl / 2, 30.0))
            unloaded = await self.cache.unload_idle()
            if unloaded:
                logger.info("unloaded idle models: %s", ", ".join(unloaded))


def build_dataplane(
    settings: Settings,
    model_store: str,
    registrations: Registrations | None = None,
    store_root: str | None = None,
    metrics: Metrics | None = None,
) -> DataPlane:
    """The model server over ``model_store`` (a folder or fsspec URL), not yet started.

    ``store_root`` is the object store the SageMaker ``s3://`` URLs of other areas name
    (default: ``model_store`` itself).
    """
    serving = settings.serving
    repository = ModelRepository(
        model_store,
        store_root=store_root,
        cache_dir=settings.cache_dir,
        registrations=registrations,
        store_options=settings.store_options,
        allowed_urls=serving.allowed_model_urls,
        limits=ArtifactLimits(
            max_bytes=serving.max_artifact_bytes,
            max_files=serving.max_artifact_files,
            timeout_s=serving.artifact_timeout_s,
        ),
    )
    return DataPlane(serving, repository, metrics)
