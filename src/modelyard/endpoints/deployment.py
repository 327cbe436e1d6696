"""Deploying endpoints in the background: create, update (blue/green), delete, resume.

CreateEndpoint and UpdateEndpoint answer at once; the :class:`Deployer` loads the models
in a task it owns and moves the endpoint on when they are ready:

- **create**: every SingleModel variant loads with its instance count as replicas
  (MultiModel variants load nothing: targets load on first use); all loaded → InService,
  a failure → Failed with the error's message.
- **update** (a new config, or new weights and instance counts): the pending variants
  load while the current ones keep serving; then the new traffic split is published in
  one step, the old split drains its invocations in flight, and models no endpoint uses
  any more are unloaded. A failure rolls back: the endpoint stays InService on its
  current variants, with the reason in FailureReason, as SageMaker does.
- **delete**: the endpoint stops taking invocations at once; once those in flight are
  done its models are unloaded (unless another endpoint uses them) and it is gone.

Each step that changes the database and the traffic table holds the endpoint's lock,
so what invocations see always matches the status the database has. On start, endpoints
left Creating, Updating or Deleting by a stop are taken up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, TypeVar

from modelyard.endpoints.traffic import LiveEndpoint, TrafficSplit, TrafficTable, model_ref
from modelyard.errors import ModelyardError
from modelyard.serving.facade import ModelInvoker, ModelRef
from modelyard.storage.endpoints import (
    DeployedVariant,
    Deployment,
    Endpoint,
    Endpoints,
    EndpointStatus,
)
from modelyard.storage.listing import name_key

__all__ = ["Deployer", "settled"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: FailureReason's longest value in SageMaker's model.
MAX_FAILURE_REASON = 1024


def settled(deployment: Deployment) -> Deployment:
    """``deployment`` once its desired weights and instance counts are in place."""
    return replace(deployment, variants=tuple(v.settled() for v in deployment.variants))


class Deployer:
    """Runs the background work of the endpoints: one task per endpoint at a time."""

    def __init__(
        self,
        invoker: ModelInvoker,
        endpoints: Endpoints,
        table: TrafficTable,
        *,
        drain_timeout_s: float,
    ) -> None:
        self._invoker = invoker
        self._endpoints = endpoints
        self._table = table
        self._drain_timeout_s = drain_timeout_s
        #: The latest task of each endpoint (a delete cancels it).
        self._tasks: dict[str, asyncio.Task[None]] = {}
        #: Every task not yet done (stop cancels them all).
        self._running: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        #: Deployments whose models are loading, by endpoint: not to be unloaded meanwhile.
        self._loading: dict[str, Deployment] = {}

    def lock(self, name: str) -> asyncio.Lock:
        """The lock held while the endpoint's status and published split change together."""
        return self._locks.setdefault(name_key(name), asyncio.Lock())

    async def settled(self, name: str) -> None:
        """Wait until a status change of ``name`` under way is published as well as stored.

        A change is stored, then published, under the endpoint's lock: a status read from
        the database in between is one invocations cannot see yet.
        """
        lock = self._locks.get(name_key(name))
        if lock is not None and lock.locked():
            # Taken once the change is published; nothing to do while holding it.
            await lock.acquire()
            lock.release()

    # -- starting work ----------------------------------------------------------------------

    def create(self, endpoint: Endpoint) -> None:
        """Deploy a Creating endpoint."""
        self._spawn(endpoint.name, self._create(endpoint))

    def update(self, endpoint: Endpoint) -> None:
        """Deploy an Updating endpoint's pending variants, blue/green."""
        self._spawn(endpoint.name, self._update(endpoint))

    def delete(self, endpoint: Endpoint, split: TrafficSplit | None) -> None:
        """Finish deleting a Deleting endpoint (withdrawn already; ``split`` was its traffic)."""
        running = self._tasks.get(name_key(endpoint.name))
        self._spawn(endpoint.name, self._delete(endpoint, split, running))

    async def resume(self) -> None:
        """Publish every endpoint the database has and take up unfinished work (at start)."""
        for endpoint in await asyncio.to_thread(self._endpoints.with_status, set(EndpointStatus)):
            status = endpoint.status
            if status is EndpointStatus.DELETING:
                self.delete(endpoint, None)
                continue
            serves = status in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)
            split = _split(endpoint) if serves else None
            self._table.publish(LiveEndpoint(name=endpoint.name, status=status, split=split))
            if status is EndpointStatus.CREATING:
                self.create(endpoint)
            elif status is EndpointStatus.UPDATING:
                self.update(endpoint)
            elif status is EndpointStatus.IN_SERVICE:
                # Models load on their first invocation anyway; those with several
                # replicas load now, as the model server would otherwise load one.
                replicated = [v for v in endpoint.current.variants if v.current_instance_count > 1]
                if replicated:
                    self._spawn(endpoint.name, self._restore(endpoint.name, replicated))

    async def stop(self) -> None:
        """Cancel the work under way; what was Creating or Updating resumes at next start."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._running.clear()

    def _spawn(self, name: str, work: Any) -> None:
        key = name_key(name)
        task: asyncio.Task[None] = asyncio.create_task(work, name=f"endpoint {name}")
        self._tasks[key] = task
        self._running.add(task)

        def forget(done: asyncio.Task[None]) -> None:
            self._running.discard(done)
            if self._tasks.get(key) is done:
                del self._tasks[key]
            if not done.cancelled() and done.exception() is not None:
                logger.error("deploying endpoint %s failed", name, exc_info=done.exception())

        task.add_done_callback(forget)

    # -- the work -----------------------------------------------------------------------------

    async def _create(self, endpoint: Endpoint) -> None:
        name = endpoint.name
        reason = await self._load(name, endpoint.current, previous=None)
        async with self.lock(name):
            if reason is None:
                done = await self._db(self._endpoints.complete, name, settled(endpoint.current))
                if done is not None:
                    self.publish(done)
                    return
            else:
                failed = await self._db(self._endpoints.fail, name, reason)
                if failed is not None:
                    self.publish(failed)
        await self.unload_unused(_refs(endpoint.current.variants))

    async def _update(self, endpoint: Endpoint) -> None:
        name = endpoint.name
        pending = endpoint.pending
        if pending is None:  # nothing to deploy: only the status is left to settle
            pending = endpoint.current
        reason = await self._load(name, pending, previous=endpoint.current)
        async with self.lock(name):
            if reason is not None:
                rolled_back = await self._db(self._endpoints.roll_back, name, reason)
                if rolled_back is not None:
                    self.publish(rolled_back)
                old: LiveEndpoint | None = None
            else:
                done = await self._db(self._endpoints.complete, name, settled(pending))
                if done is None:
                    return
                old = self.publish(done)
        if reason is not None:
            await self.unload_unused(_refs(pending.variants))
            return
        if old is not None and old.split is not None:
            live = self._table.get(name)
            if live is not None and live.split is not None:
                # Targets the new split still covers stay known to it, for a later unload.
                live.split.targets |= {t for t in old.split.targets if live.split.covers(t)}
            await old.split.drained(self._drain_timeout_s)
            await self.unload_unused(old.split.refs())

    async def _delete(
        self, endpoint: Endpoint, split: TrafficSplit | None, running: asyncio.Task[None] | None
    ) -> None:
        if running is not None and not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
        refs = _refs(endpoint.current.variants)
        if endpoint.pending is not None:
            refs |= _refs(endpoint.pending.variants)
        if split is not None:
            await split.drained(self._drain_timeout_s)
            refs |= split.refs()
        await self.unload_unused(refs)
        async with self.lock(endpoint.name):
            await self._db(self._endpoints.remove, endpoint.name)
        self._locks.pop(name_key(endpoint.name), None)

    async def _restore(self, name: str, variants: list[DeployedVariant]) -> None:
        for variant in variants:
            ref = model_ref(variant)
            if ref is None:
                continue
            try:
                await self._invoker.load(ref, replicas=variant.current_instance_count)
            except ModelyardError as exc:
                logger.warning("endpoint %s: could not reload %s: %s", name, ref.key, exc.message)

    # -- helpers --------------------------------------------------------------------------------

    async def _load(
        self, name: str, deployment: Deployment, *, previous: Deployment | None
    ) -> str | None:
        """Load ``deployment``'s SingleModel variants; the failure reason, or ``None``.

        Variants that serve the same model with the same replicas as in ``previous`` are
        already in place and are not loaded again.
        """
        serving: set[tuple[ModelRef | None, int]] = set()
        if previous is not None:
            serving = {(model_ref(v), v.current_instance_count) for v in previous.variants}
        wanted = [
            (ref, v.desired_instance_count)
            for v in deployment.variants
            if (ref := model_ref(v)) is not None and (ref, v.desired_instance_count) not in serving
        ]
        self._loading[name_key(name)] = deployment
        try:
            results = await asyncio.gather(
                *(self._invoker.load(ref, replicas=count) for ref, count in wanted),
                return_exceptions=True,
            )
        finally:
            self._loading.pop(name_key(name), None)
        for result in results:
            if isinstance(result, ModelyardError):
                return result.message[:MAX_FAILURE_REASON]
            if isinstance(result, Exception):
                logger.error("endpoint %s: loading failed", name, exc_info=result)
                return f"internal error while loading models: {type(result).__name__}"
            if isinstance(result, BaseException):  # cancelled: the task is being stopped
                raise result
        return None

    async def unload_unused(self, refs: Iterable[ModelRef]) -> None:
        """Unload each of ``refs`` that no published endpoint nor deployment under way uses."""
        loading = {r.key for d in self._loading.values() for r in _refs(d.variants)}
        for ref in refs:
            if ref.key in loading or self._table.in_use(ref):
                continue
            try:
                await self._invoker.unload(ref)
            except ModelyardError as exc:  # not loaded (evicted, never used): nothing to free
                logger.debug("unloading %s: %s", ref.key, exc.message)

    def publish(self, endpoint: Endpoint) -> LiveEndpoint | None:
        """Show invocations ``endpoint`` as the database has it; returns what was shown.

        Call it holding the endpoint's lock, right after the change in the database.
        """
        serves = endpoint.status in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING)
        live = self._table.get(endpoint.name)
        split: TrafficSplit | None = None
        if serves:
            shown = live.split if live is not None else None
            if (
                shown is not None
                and shown.deployed == endpoint.current.variants
                and shown.capture_document == endpoint.current.data_capture_config
            ):
                # A status change alone keeps the split, and its invocations in flight.
                split = shown
            else:
                split = _split(endpoint)
        return self._table.publish(
            LiveEndpoint(name=endpoint.name, status=endpoint.status, split=split)
        )

    async def _db(self, query: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(query, *args)


def _split(endpoint: Endpoint) -> TrafficSplit:
    return TrafficSplit(endpoint.current.variants, endpoint.current.data_capture_config)


def _refs(variants: Iterable[DeployedVariant]) -> set[ModelRef]:
    return {ref for v in variants if (ref := model_ref(v)) is not None}
