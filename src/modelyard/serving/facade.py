"""How every other area calls models: the serving facade, by model reference.

Endpoints, workflows, the gateway and training never reach into the model server: they
hold a :class:`ModelInvoker` (``platform.py`` hands them the one ``DataPlane``) and name
models by :class:`ModelRef`. Every caller shares one worker pool, one cache and one
memory budget, so a thousand endpoints with small models cost what a thousand models
cost in the multi-model server.

A reference's ``key`` is the model's identity in the cache: two callers with one key
share one loaded copy. Keys without a ``/`` are the model server's own names (models of
the store and those registered by ``POST /models``, whose artifacts the repository
finds); keys with a ``/`` belong to platform areas, which say where the artifact is
(``url``): ``sagemaker/<model>`` for a SageMaker model, ``sagemaker/<model>/<target>``
for a target of a multi-model one. A key with a ``/`` is never reachable through the
container contract's routes, whose names cannot hold one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = [
    "Invocation",
    "ModelInvoker",
    "ModelRef",
    "ModelStatus",
    "Residency",
]


@dataclass(frozen=True, slots=True)
class ModelRef:
    """Which model to call, and where its artifact is when the store does not know it.

    >>> ModelRef("iris")                                          # a model of the store
    >>> ModelRef("sagemaker/churn", "s3://models/churn.tar.gz")   # an area's model
    """

    #: Identity in the cache; see the module's docstring for who owns which keys.
    key: str
    #: The artifact (a local path, ``file://`` or fsspec URL), for keys with a ``/``.
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """The answer of a model to one SageMaker-style invocation."""

    #: Response body, as the model encoded it.
    body: bytes
    #: Its content type.
    content_type: str
    #: ``X-Amzn-SageMaker-Custom-Attributes`` the model set on its answer, if any.
    custom_attributes: str | None = None
    #: Seconds the model's own code took (SageMaker's ModelLatency), in its worker.
    model_seconds: float = 0.0


class Residency(StrEnum):
    """Where a model is in its life in the model server."""

    #: Known but not loaded: it loads on its next request.
    AVAILABLE = "available"
    #: A worker is loading it.
    LOADING = "loading"
    #: Loaded and serving.
    READY = "ready"
    #: Its last load failed; it is retried after a while.
    FAILED = "failed"
    #: It crashed its workers repeatedly and may not load for a while.
    QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelStatus:
    """A model's state as the model server sees it."""

    #: The reference's key.
    key: str
    #: Where it is in its life.
    residency: Residency
    #: Replicas serving it (one per worker process hosting it).
    replicas: int = 0
    #: Measured memory of all its replicas (bytes).
    memory_bytes: int = 0
    #: Seconds its last load took in the worker.
    load_seconds: float = 0.0
    #: Why it is failed or quarantined.
    error: str | None = None
    #: Class name of that error.
    error_type: str | None = None


class ModelInvoker(Protocol):
    """The serving facade: call, load and unload models by reference.

    Every method raises :mod:`modelyard.errors` classes: ``ModelNotFound`` for a key the
    store does not know, ``ModelUrlNotAllowed``/``InvalidModelArtifact`` for an artifact
    that may not or cannot be loaded, ``InferenceFailed`` when the model's code failed,
    the codecs' ``InvalidRequest`` errors for the caller's mistakes, ``ModelQuarantined``,
    ``WorkerCrashed``, ``InferenceTimeout``, ``ModelTooLarge``.
    """

    async def invoke(
        self,
        model: ModelRef,
        body: bytes,
        content_type: str,
        accept: str | None,
        custom_attributes: str | None = None,
    ) -> Invocation:
        """SageMaker-style invocation: raw body in, the model's answer out."""
        ...

    async def infer(
        self, model: ModelRef, body: bytes, header_length: int | None
    ) -> tuple[bytes, dict[str, str]]:
        """Open Inference Protocol (KServe V2) inference: request body in, (body, headers) out."""
        ...

    async def metadata(self, model: ModelRef) -> dict[str, object]:
        """V2 model metadata (name, platform, inputs, outputs); loads the model if needed."""
        ...

    async def load(self, model: ModelRef, *, replicas: int = 1) -> ModelStatus:
        """Load ``model`` now on ``replicas`` workers (at most one per worker process).

        The replica count is remembered: after an eviction the model reloads with it.
        Loading a model that is ready only changes its replica count.
        """
        ...

    async def unload(self, model: ModelRef) -> None:
        """Unload ``model`` from every worker; it reloads on its next request."""
        ...

    def status(self, model: ModelRef) -> ModelStatus:
        """The model's state now (``AVAILABLE`` when the server holds nothing of it)."""
        ...

    def check_url(self, url: str) -> str:
        """The normalised ``url`` if models may be loaded from it (the allowed-URL rule).

        ``s3://bucket/key`` names the object store's key ``bucket/key``. Raises
        ``ModelUrlNotAllowed`` or ``InvalidModelArtifact``; reads nothing but links.
        """
        ...
