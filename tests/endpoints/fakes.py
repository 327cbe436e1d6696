"""An in-memory serving facade for the endpoints area's own tests (no worker processes).

:class:`FakeInvoker` implements :class:`~modelyard.serving.facade.ModelInvoker`: it
records loads and unloads, can hold loads at a gate or make them fail, and answers an
invocation with JSON naming the model that answered.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelyard.errors import ModelLoadFailed, ModelUrlNotAllowed, ModelyardError
from modelyard.serving.facade import Invocation, ModelRef, ModelStatus, Residency

__all__ = ["FakeInvoker"]


@dataclass
class FakeInvoker:
    """A ModelInvoker in memory."""

    #: (key, replicas) of every load, in order.
    loads: list[tuple[str, int]] = field(default_factory=list)
    #: Keys of every unload, in order.
    unloads: list[str] = field(default_factory=list)
    #: Keys whose load fails with ModelLoadFailed.
    broken: set[str] = field(default_factory=set)
    #: When set, loads wait for it.
    gate: asyncio.Event | None = None
    #: When set, invocations wait for it.
    invocation_gate: asyncio.Event | None = None
    #: Keys loaded now, with their replicas.
    loaded: dict[str, int] = field(default_factory=dict)
    #: Every invocation: (key, url, body, custom attributes).
    invocations: list[tuple[str, str | None, bytes, str | None]] = field(default_factory=list)
    #: Raised by the next invocations, when set.
    failure: ModelyardError | Exception | None = None

    async def invoke(
        self,
        model: ModelRef,
        body: bytes,
        content_type: str,
        accept: str | None,
        custom_attributes: str | None = None,
    ) -> Invocation:
        self.invocations.append((model.key, model.url, body, custom_attributes))
        if self.invocation_gate is not None:
            await self.invocation_gate.wait()
        if self.failure is not None:
            raise self.failure
        self.loaded.setdefault(model.key, 1)
        answer = orjson.dumps({"model": model.key, "url": model.url})
        return Invocation(answer, "application/json", custom_attributes, 0.001)

    async def infer(
        self, model: ModelRef, body: bytes, header_length: int | None
    ) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError

    async def metadata(self, model: ModelRef) -> dict[str, object]:
        raise NotImplementedError

    async def load(self, model: ModelRef, *, replicas: int = 1) -> ModelStatus:
        self.loads.append((model.key, replicas))
        if self.gate is not None:
            await self.gate.wait()
        if model.key in self.broken:
            raise ModelLoadFailed(f"model {model.key!r}: weights are corrupt")
        self.loaded[model.key] = replicas
        return self.status(model)

    async def unload(self, model: ModelRef) -> None:
        self.unloads.append(model.key)
        self.loaded.pop(model.key, None)

    def status(self, model: ModelRef) -> ModelStatus:
        replicas = self.loaded.get(model.key)
        if replicas is None:
            return ModelStatus(key=model.key, residency=Residency.AVAILABLE)
        return ModelStatus(key=model.key, residency=Residency.READY, replicas=replicas)

    def check_url(self, url: str) -> str:
        if url.startswith("/forbidden"):
            raise ModelUrlNotAllowed("model '(artifact)': loading models from there is not allowed")
        return url.replace("s3://", "file:///store/", 1)


def answered_by(invocation: Invocation) -> Any:
    """The key of the model that answered ``invocation``."""
    return orjson.loads(invocation.body)["model"]
