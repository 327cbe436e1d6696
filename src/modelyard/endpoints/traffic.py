"""Which model answers an invocation: live variants, the weighted split, the routing table.

Every endpoint that serves has a :class:`TrafficSplit`, an immutable snapshot of its
variants and weights. A change of weights or a switch to a new config publishes a new
split in the :class:`TrafficTable` in one assignment: an invocation holds the split it
started with, so it finishes on the variant it chose, and the old split counts its
invocations in flight so the old models are unloaded only once they are done
(blue/green without failed requests).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelyard.endpoints.capture_config import CaptureConfig
from modelyard.endpoints.errors import (
    EndpointNotInService,
    InvalidTargetModel,
    ResourceNotFound,
    VariantNotFound,
)
from modelyard.errors import ModelyardError
from modelyard.serving.facade import ModelRef
from modelyard.storage.endpoints import DeployedVariant, EndpointStatus
from modelyard.storage.listing import name_key
from modelyard.storage.sagemaker_models import ContainerMode

__all__ = ["LiveEndpoint", "TrafficSplit", "TrafficTable", "model_ref", "target_ref"]

logger = logging.getLogger(__name__)

#: Longest model key the model server takes (its names: 1 to 1,024 characters).
MAX_KEY_LENGTH = 1024

#: SageMaker's TargetModelHeader: printable, not starting with white space, 1 to 1,024.
_TARGET = re.compile(r"\S[\x20-\x7e]{0,1023}")


def model_ref(variant: DeployedVariant) -> ModelRef | None:
    """The model a SingleModel variant serves (``None`` for MultiModel: one per target)."""
    if variant.mode is ContainerMode.MULTI_MODEL:
        return None
    return ModelRef(f"sagemaker/{variant.model_name}", variant.model_data_url)


def target_ref(variant: DeployedVariant, target: str) -> ModelRef:
    """The model ``target`` names under a MultiModel variant's prefix.

    InvalidTargetModel for a target that is not a relative path inside the prefix.
    """
    parts = target.split("/")
    if (
        not _TARGET.fullmatch(target)
        or target.startswith("/")
        or "\\" in target
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise InvalidTargetModel(
            f"TargetModel {target!r} is not a relative path of a model under the endpoint's "
            "ModelDataUrl"
        )
    key = f"sagemaker/{variant.model_name}/{target}"
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidTargetModel(
            f"TargetModel is {len(target)} characters long; under this model at most "
            f"{MAX_KEY_LENGTH - len(key) + len(target)} are allowed"
        )
    return ModelRef(key, f"{variant.model_data_url.rstrip('/')}/{target}")


@dataclass(frozen=True, kw_only=True)
class LiveVariant:
    """A variant taking traffic."""

    #: The deployed variant (model, URL, mode, weights, counts).
    variant: DeployedVariant
    #: Its model (SingleModel); ``None`` for MultiModel.
    ref: ModelRef | None

    @property
    def name(self) -> str:
        """The variant's name."""
        return self.variant.variant_name

    def model_for(self, target: str | None) -> ModelRef:
        """The model to invoke for a request naming ``target`` (``TargetModel``), if any."""
        if self.ref is not None:
            if target is not None:
                raise InvalidTargetModel(
                    f"variant {self.name!r} serves one model: TargetModel is only for "
                    "multi-model endpoints"
                )
            return self.ref
        if target is None:
            raise InvalidTargetModel(
                f"variant {self.name!r} is a multi-model variant: the request must name its "
                "model in X-Amzn-SageMaker-Target-Model"
            )
        return target_ref(self.variant, target)


def _capture(document: Mapping[str, Any] | None) -> CaptureConfig | None:
    if document is None:
        return None
    try:
        config = CaptureConfig.from_api(document)
    except ModelyardError as exc:  # the control plane checked it: only a bug gets here
        logger.error("data capture is off: %s", exc.message)
        return None
    return config if config.enabled else None


class TrafficSplit:
    """One generation of an endpoint's variants, and the weighted choice among them."""

    def __init__(
        self,
        variants: Sequence[DeployedVariant],
        capture_document: Mapping[str, Any] | None = None,
    ) -> None:
        #: The variants as deployed.
        self.deployed = tuple(variants)
        #: The endpoint config's ``DataCaptureConfig``, as given.
        self.capture_document = capture_document
        #: What invocations through this split capture, if anything.
        self.capture = _capture(capture_document)
        self.variants = tuple(LiveVariant(variant=v, ref=model_ref(v)) for v in variants)
        self._by_name = {name_key(v.name): v for v in self.variants}
        weights = [max(0.0, v.variant.current_weight) for v in self.variants]
        self._cumulative = list(itertools.accumulate(weights))
        self._total = self._cumulative[-1] if self._cumulative else 0.0
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        #: Targets of MultiModel variants invoked through this split (to unload them later).
        self.targets: set[ModelRef] = set()

    def choose(
        self, target_variant: str | None = None, *, draw: float | None = None
    ) -> LiveVariant:
        """The variant for one invocation: ``target_variant`` if given, else by weight.

        ``draw`` (in [0, 1)) replaces the random draw, for tests.
        """
        if target_variant is not None:
            found = self._by_name.get(name_key(target_variant))
            if found is None:
                raise VariantNotFound(f"Variant {target_variant!r} was not found")
            return found
        if self._total <= 0:
            raise EndpointNotInService("no variant of the endpoint takes traffic (all weights 0)")
        point = (random.random() if draw is None else draw) * self._total
        index = bisect.bisect_right(self._cumulative, point)
        return self.variants[min(index, len(self.variants) - 1)]

    def refs(self) -> set[ModelRef]:
        """Every model this split has served: its SingleModel models and targets invoked."""
        return {v.ref for v in self.variants if v.ref is not None} | self.targets

    def covers(self, ref: ModelRef) -> bool:
        """Whether an invocation through this split may use the model of ``ref``'s key."""
        for live in self.variants:
            if live.ref is not None:
                if live.ref.key == ref.key:
                    return True
            elif ref.key.startswith(f"sagemaker/{live.variant.model_name}/"):
                return True
        return False

    @contextlib.contextmanager
    def invocation(self) -> Iterator[None]:
        """Count one invocation in flight on this split for the block."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until no invocation is in flight (at most ``timeout_s``); whether it is so."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._in_flight == 0


@dataclass(frozen=True, kw_only=True)
class LiveEndpoint:
    """What the runtime knows of an endpoint: its status and, if it serves, its split."""

    #: The endpoint's name.
    name: str
    #: Its status.
    status: EndpointStatus
    #: Its variants, when it serves (InService, or Updating on its current variants).
    split: TrafficSplit | None = None


@dataclass
class TrafficTable:
    """Every endpoint the runtime can route to, by (lower-case) name."""

    _endpoints: dict[str, LiveEndpoint] = field(default_factory=dict)
    #: Bumped at every publish and withdrawal: what was derived from an older version of
    #: the endpoints (their statuses) may be out of date.
    version: int = 0

    def publish(self, endpoint: LiveEndpoint) -> LiveEndpoint | None:
        """Make ``endpoint`` the one invocations see; returns the one it replaced."""
        key = name_key(endpoint.name)
        previous = self._endpoints.get(key)
        self._endpoints[key] = endpoint
        self.version += 1
        return previous

    def withdraw(self, name: str) -> LiveEndpoint | None:
        """Forget the endpoint ``name``; returns what was there."""
        self.version += 1
        return self._endpoints.pop(name_key(name), None)

    def get(self, name: str) -> LiveEndpoint | None:
        """The endpoint ``name`` as published, or ``None``."""
        return self._endpoints.get(name_key(name))

    def serving(self, name: str) -> TrafficSplit:
        """The split of ``name`` to route an invocation with.

        ResourceNotFound if there is no such endpoint, EndpointNotInService if it does
        not serve.
        """
        live = self._endpoints.get(name_key(name))
        if live is None:
            raise ResourceNotFound(f"Endpoint {name} not found.")
        if live.split is None:
            raise EndpointNotInService(
                f"Endpoint {live.name} is not in service (status {live.status.value})."
            )
        return live.split

    def in_use(self, ref: ModelRef, *, besides: str | None = None) -> bool:
        """Whether a published endpoint (other than ``besides``) may still invoke ``ref``."""
        skip = name_key(besides) if besides is not None else None
        return any(
            key != skip and live.split is not None and live.split.covers(ref)
            for key, live in self._endpoints.items()
        )

    def endpoints(self) -> list[LiveEndpoint]:
        """Every published endpoint."""
        return list(self._endpoints.values())
