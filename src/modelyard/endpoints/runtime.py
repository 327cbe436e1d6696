"""InvokeEndpoint, without HTTP: route an invocation to a variant and call its model.

The runtime looks the endpoint up in the :class:`TrafficTable` (memory only: no database
on the request path), picks a variant by weight unless the request targets one, names
the model (a MultiModel variant's ``TargetModel`` loads on first use), and calls it
through the serving facade.

Every invocation, answered or failed, ends as one :class:`InvocationRecord` handed to
the runtime's observers: that is the seam where data capture (``endpoints/capture.py``)
and the endpoint metrics attach, off the request path's decisions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from modelyard.endpoints.capture_config import CaptureConfig
from modelyard.endpoints.errors import InvalidTargetModel
from modelyard.endpoints.traffic import TrafficTable
from modelyard.errors import (
    InvalidModelArtifact,
    InvalidModelName,
    ModelNotFound,
    ModelUrlNotAllowed,
    ModelyardError,
)
from modelyard.serving.facade import Invocation, ModelInvoker, ModelRef

__all__ = [
    "EndpointRuntime",
    "InvocationObserver",
    "InvocationRecord",
    "InvocationRequest",
    "InvocationResult",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class InvocationRequest:
    """An InvokeEndpoint request, parsed."""

    #: The endpoint invoked.
    endpoint_name: str
    #: The request body, as sent.
    body: bytes
    #: Its content type.
    content_type: str
    #: The response types accepted, if said.
    accept: str | None = None
    #: ``X-Amzn-SageMaker-Custom-Attributes``, passed to the model verbatim.
    custom_attributes: str | None = None
    #: ``X-Amzn-SageMaker-Target-Model``: the model of a multi-model variant.
    target_model: str | None = None
    #: ``X-Amzn-SageMaker-Target-Variant``: the variant, instead of the weighted choice.
    target_variant: str | None = None
    #: ``X-Amzn-SageMaker-Inference-Id``: the caller's id of this inference (for capture).
    inference_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class InvocationResult:
    """The answer of an invocation."""

    #: The variant that answered (``x-Amzn-Invoked-Production-Variant``).
    variant_name: str
    #: The model's answer.
    answer: Invocation


@dataclass(frozen=True, kw_only=True)
class InvocationRecord:
    """One invocation, whole: what data capture and metrics need, in one place."""

    #: The request.
    request: InvocationRequest
    #: The variant chosen; ``None`` if it failed before one was.
    variant_name: str | None
    #: The model called; ``None`` if it failed before one was named.
    model: ModelRef | None
    #: The model's answer; ``None`` if it failed.
    answer: Invocation | None
    #: Why it failed; ``None`` if it was answered.
    error: ModelyardError | None
    #: When it arrived (epoch seconds).
    started_at: float
    #: Seconds it took in the runtime, model included (``answer.model_seconds`` is the model's).
    seconds: float
    #: What the endpoint's config captures (``None``: nothing, or it failed before routing).
    capture: CaptureConfig | None = None


class InvocationObserver(Protocol):
    """Something told of every invocation (data capture, metrics); must not block."""

    def observe(self, record: InvocationRecord) -> None: ...


class EndpointRuntime:
    """Routes invocations to variants and calls their models through the facade."""

    def __init__(
        self,
        invoker: ModelInvoker,
        table: TrafficTable,
        observers: Sequence[InvocationObserver] = (),
    ) -> None:
        self._invoker = invoker
        self._table = table
        #: Seam: data capture's writer and the endpoint metrics are observers here.
        self.observers = list(observers)

    async def invoke(self, request: InvocationRequest) -> InvocationResult:
        """Invoke ``request.endpoint_name``; raises the domain error of whatever failed."""
        started_at = time.time()
        clock = time.perf_counter()
        variant_name: str | None = None
        model: ModelRef | None = None
        capture: CaptureConfig | None = None
        try:
            split = self._table.serving(request.endpoint_name)
            capture = split.capture
            variant = split.choose(request.target_variant)
            variant_name = variant.name
            model = variant.model_for(request.target_model)
            with split.invocation():
                if variant.ref is None:
                    split.targets.add(model)
                answer = await self._call(model, request, multi_model=variant.ref is None)
        except ModelyardError as exc:
            self._finished(
                InvocationRecord(
                    request=request,
                    variant_name=variant_name,
                    model=model,
                    answer=None,
                    error=exc,
                    started_at=started_at,
                    seconds=time.perf_counter() - clock,
                    capture=capture,
                )
            )
            raise
        self._finished(
            InvocationRecord(
                request=request,
                variant_name=variant.name,
                model=model,
                answer=answer,
                error=None,
                started_at=started_at,
                seconds=time.perf_counter() - clock,
                capture=capture,
            )
        )
        return InvocationResult(variant_name=variant.name, answer=answer)

    async def _call(
        self, model: ModelRef, request: InvocationRequest, *, multi_model: bool
    ) -> Invocation:
        try:
            return await self._invoker.invoke(
                model, request.body, request.content_type, request.accept, request.custom_attributes
            )
        except (ModelNotFound, ModelUrlNotAllowed, InvalidModelArtifact, InvalidModelName) as exc:
            if not multi_model:
                raise
            # A target is the caller's choice: one that is not there, or not a model, is
            # the caller's mistake (SageMaker answers ValidationError), not the endpoint's.
            raise InvalidTargetModel(
                f"could not load target model {request.target_model!r}: {exc.message}"
            ) from exc

    def _finished(self, record: InvocationRecord) -> None:
        for observer in self.observers:
            try:
                observer.observe(record)
            except Exception:  # an observer must never fail an invocation
                logger.exception("invocation observer %s failed", type(observer).__name__)
