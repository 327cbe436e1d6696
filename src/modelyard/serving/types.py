"""The records of the Open Inference Protocol (KServe V2), as the domain sees them.

Plain slotted dataclasses rather than pydantic models: they are built on the hot path of
every V2 request inside the worker process. ``data`` holds a numpy array whose dtype
matches ``datatype`` (``BYTES`` tensors hold an object array of ``bytes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["InferenceRequest", "InferenceResponse", "RequestedOutput", "Tensor"]


@dataclass(slots=True, kw_only=True)
class Tensor:
    """A named tensor: one input of a request or one output of a response."""

    #: Name of the input or output.
    name: str
    #: Shape, outermost dimension first.
    shape: list[int]
    #: V2 datatype name: BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BF16, BYTES.
    datatype: str
    #: The values, as a numpy array of ``shape``.
    data: np.ndarray
    #: Protocol parameters of this tensor (``binary_data_size``, ``content_type``, ...).
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class RequestedOutput:
    """An output the client asked for, by name."""

    #: Name of the output.
    name: str
    #: Protocol parameters (``binary_data``, ``classification``, ...).
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class InferenceRequest:
    """A V2 inference request, decoded."""

    #: The input tensors, in request order.
    inputs: list[Tensor]
    #: The outputs asked for; empty means "all of them".
    outputs: list[RequestedOutput] = field(default_factory=list)
    #: Request identifier, echoed back in the response.
    id: str | None = None
    #: Request-level parameters (``binary_data_output`` and user keys).
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class InferenceResponse:
    """A V2 inference response, before encoding."""

    #: Name of the model that answered.
    model_name: str
    #: The output tensors.
    outputs: list[Tensor]
    #: Version of the model, if it has one.
    model_version: str | None = None
    #: Identifier of the request this answers.
    id: str | None = None
    #: Response-level parameters.
    parameters: dict[str, Any] = field(default_factory=dict)
