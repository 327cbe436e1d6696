"""The handler contract: a model loaded in a worker process, answering predictions.

A ``Handler`` is built by ``load_handler`` inside the worker process that hosts the
model. The worker calls ``invoke_batch`` for ``/invocations``-style requests (raw bytes
in, raw bytes out; one request or all those queued together for the model), its
single-request form ``invoke``, ``infer_batch``/``infer`` for Open Inference Protocol
(KServe V2) requests, ``metadata`` for V2 model metadata, and ``unload`` before
dropping it. Everything runs in the worker process, one call at a time.

Errors, and whose fault they are. ``ModelLoadFailed``: the handler cannot load. While
answering, the rule is where the error was raised:

- while decoding or validating the request, it is the client's: ``InvalidRequest``
  (input the model cannot take: wrong number of features, values that are not finite
  numbers, no rows) or one of its subclasses (``PayloadMalformed``: the body does not
  parse as its content type or is not the structure expected; ``UnsupportedContentType``;
  ``NotAcceptable``), all 4xx, with a message naming the problem;
- inside the model's own computation, it is the model's: ``InferenceFailed`` (500;
  message: model name, where, the exception class and message, chained with ``from``).

So a handler that knows what its model takes (the built-in scikit-learn runtime) checks
the input before calling the model, and lets the codecs' errors through unchanged. User
code draws the line itself: MMS handlers fail a request with a 4xx through
``context.set_response_status``, native models and inference toolkit scripts by raising
an ``InvalidRequest`` subclass; anything else they raise is ``InferenceFailed``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import orjson

from modelyard.errors import (
    InferenceFailed,
    InvalidRequest,
    ModelLoadFailed,
)
from modelyard.serving.codecs import decode
from modelyard.serving.handlers.tensors import answer_tensor, tensor_to_jsonable
from modelyard.serving.model_settings import ModelSettings, TensorSpec
from modelyard.serving.types import InferenceRequest, InferenceResponse

__all__ = [
    "Answer",
    "Handler",
    "InvokeRequest",
    "Reply",
    "first_concrete_type",
    "infer_through_invoke",
    "inference_failed",
    "load_failed",
    "media_type",
]

#: What ``invoke`` returns: the response body and its content type.
Answer = tuple[bytes, str]

#: What ``invoke_batch`` answers a request with: body, content type, and the
#: ``X-Amzn-SageMaker-Custom-Attributes`` the model set on its answer (None: none).
Reply = tuple[bytes, str, str | None]


class InvokeRequest(Protocol):
    """One ``/invocations``-style request, as ``invoke_batch`` receives it."""

    @property
    def body(self) -> bytes: ...

    @property
    def content_type(self) -> str: ...

    @property
    def accept(self) -> str | None: ...

    @property
    def custom_attributes(self) -> str | None:
        """``X-Amzn-SageMaker-Custom-Attributes`` of the request, for the model's code."""
        ...


class Handler(ABC):
    """A model loaded in a worker process, answering predictions."""

    #: Platform reported in V2 model metadata.
    platform: ClassVar[str] = "modelyard"
    #: Whether loading has no side effects, so the worker may load twice to measure memory.
    pure_load: ClassVar[bool] = False

    def __init__(self, name: str, model_dir: Path, settings: ModelSettings) -> None:
        #: Name the model is served under.
        self.name = name
        #: The unpacked artefact folder.
        self.model_dir = model_dir
        #: The folder's ``model-settings.json``.
        self.settings = settings

    @abstractmethod
    def invoke(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        """SageMaker /invocations semantics: raw body in, raw body + content type out."""

    @abstractmethod
    def infer(self, request: InferenceRequest) -> InferenceResponse:
        """Open Inference Protocol (KServe V2) infer."""

    def invoke_batch(self, requests: Sequence[InvokeRequest]) -> list[Reply | Exception]:
        """Answer several requests queued together for this model; one result per request.

        A request that fails gets its error in its slot; the others still get answers.
        Handlers able to predict on a whole batch at once (scikit-learn, MMS, native)
        override this; this one answers them one by one with ``invoke``, and sets no
        custom attributes.
        """
        results: list[Reply | Exception] = []
        for request in requests:
            try:
                body, content_type = self.invoke(request.body, request.content_type, request.accept)
                results.append((body, content_type, None))
            except Exception as exc:
                results.append(exc)
        return results

    def infer_batch(
        self, requests: Sequence[InferenceRequest]
    ) -> list[InferenceResponse | Exception]:
        """Answer several V2 requests queued together; one response or error per request.

        This one answers them one by one with ``infer``; the scikit-learn runtime stacks
        their rows into one estimator call.
        """
        answers: list[InferenceResponse | Exception] = []
        for request in requests:
            try:
                answers.append(self.infer(request))
            except Exception as exc:
                answers.append(exc)
        return answers

    def metadata(self) -> dict[str, Any]:
        """V2 model metadata: name, platform, inputs and outputs (name, datatype, shape)."""
        inputs, outputs = self.tensor_specs()
        return {
            "name": self.name,
            "versions": [],
            "platform": self.platform,
            "inputs": [spec.model_dump() for spec in inputs],
            "outputs": [spec.model_dump() for spec in outputs],
        }

    def tensor_specs(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """The inputs and outputs for ``metadata``: by default those of the settings."""
        return list(self.settings.inputs), list(self.settings.outputs)

    def unload(self) -> None:  # noqa: B027 - most handlers have nothing to release
        """Release the model; called once, before the worker drops the handler."""


def load_failed(model_name: str, where: str, exc: BaseException) -> ModelLoadFailed:
    """The ``ModelLoadFailed`` for ``exc`` raised at ``where`` (a file or callable)."""
    return ModelLoadFailed(f"model {model_name!r}: {where}: {type(exc).__name__}: {exc}")


def inference_failed(model_name: str, where: str, exc: BaseException) -> InferenceFailed:
    """The ``InferenceFailed`` for ``exc`` raised by the model's code at ``where``."""
    return InferenceFailed(f"model {model_name!r}: {where}: {type(exc).__name__}: {exc}")


def media_type(content_type: str) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``."""
    return content_type.split(";", 1)[0].strip().lower()


def first_concrete_type(accept: str | None) -> str | None:
    """The first media type of an Accept header that is not a wildcard, if any."""
    if not accept:
        return None
    for part in accept.split(","):
        candidate = part.split(";", 1)[0].strip()
        if candidate and "*" not in candidate:
            return candidate
    return None


def infer_through_invoke(handler: Handler, request: InferenceRequest) -> InferenceResponse:
    """V2 infer for handlers that only speak bytes (MMS, inference toolkit).

    The first input's values are sent as a JSON body (nested lists, row-major, BYTES as
    text) with content type and Accept ``application/json``; the answer is decoded by
    the codec of its content type and becomes the one output ``output-0``: numeric for
    numbers, ``BYTES`` for strings, and otherwise (JSON objects, ragged lists, content
    types without a codec) a ``BYTES`` tensor ``[1]`` holding the raw answer body.
    """
    if not request.inputs:
        raise InvalidRequest(f"model {handler.name!r}: the V2 request has no inputs")
    body = orjson.dumps(tensor_to_jsonable(request.inputs[0]))
    answer, content_type = handler.invoke(body, "application/json", "application/json")
    try:
        value: Any = decode(answer, content_type)
    except InvalidRequest:
        # The handler's answer is not the caller's fault: keep it as raw bytes.
        value = None
    output = answer_tensor(value, answer)
    if request.outputs and [o.name for o in request.outputs] != [output.name]:
        names = ", ".join(o.name for o in request.outputs)
        raise InvalidRequest(
            f"model {handler.name!r} has one output {output.name!r}; asked for {names}"
        )
    return InferenceResponse(model_name=handler.name, outputs=[output], id=request.id)
