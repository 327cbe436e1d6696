"""Turning model results into V2 tensors and V2 requests into model inputs.

Shared by the handlers; the functions on the hot path (``output_tensor``) do one dict
lookup and one dataclass construction for a numeric numpy array, nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelyard.errors import InvalidRequest
from modelyard.serving.codecs import datatype_of
from modelyard.serving.types import InferenceRequest, RequestedOutput, Tensor

__all__ = [
    "DEFAULT_OUTPUT_NAME",
    "answer_tensor",
    "model_inputs",
    "output_tensor",
    "outputs_from_result",
    "select_outputs",
    "tensor_to_jsonable",
]

#: Name of the output of a model returning one unnamed result.
DEFAULT_OUTPUT_NAME = "output-0"

# The common dtypes, for one dict lookup on the hot path (the codec's ``datatype_of``
# handles the rest). Keyed by dtype object: ``array.dtype`` hashes and compares equal to these.
_DATATYPES: dict[np.dtype[Any], str] = {
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint8): "UINT8",
    np.dtype(np.uint16): "UINT16",
    np.dtype(np.uint32): "UINT32",
    np.dtype(np.uint64): "UINT64",
    np.dtype(np.int8): "INT8",
    np.dtype(np.int16): "INT16",
    np.dtype(np.int32): "INT32",
    np.dtype(np.int64): "INT64",
    np.dtype(np.float16): "FP16",
    np.dtype(np.float32): "FP32",
    np.dtype(np.float64): "FP64",
}


def output_tensor(name: str, value: Any) -> Tensor:
    """A V2 output tensor holding ``value`` (an array-like).

    Numeric arrays keep their dtype (float64 stays FP64). Strings, bytes and other
    objects become a ``BYTES`` tensor of UTF-8 bytes, objects as their JSON text.
    """
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    datatype = _DATATYPES.get(array.dtype)
    if datatype is None:
        if array.dtype.kind in "OSU":
            array = _as_bytes_array(array)
            datatype = "BYTES"
        else:  # bfloat16, byte-swapped, ...: the codec knows; complex raises InferenceFailed
            datatype = datatype_of(array)
    return Tensor(name=name, shape=list(array.shape), datatype=datatype, data=array)


def _as_bytes_array(array: np.ndarray) -> np.ndarray:
    """An object array of ``bytes`` with the shape of ``array``."""
    flat = [_to_bytes(item) for item in array.ravel().tolist()]
    result = np.empty(len(flat), dtype=object)
    result[:] = flat
    return result.reshape(array.shape)


def _to_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    return json.dumps(item, default=str).encode()


def outputs_from_result(result: Any, default_name: str) -> list[Tensor]:
    """The outputs of a model result: one per key of a mapping, else one named ``default_name``."""
    if isinstance(result, Mapping):
        return [output_tensor(str(name), value) for name, value in result.items()]
    return [output_tensor(default_name, result)]


def select_outputs(
    model_name: str, outputs: list[Tensor], requested: list[RequestedOutput]
) -> list[Tensor]:
    """The ``outputs`` the client asked for, in the order asked; all when none were named.

    An unknown name raises ``InvalidRequest`` listing the model's outputs.
    """
    if not requested:
        return outputs
    by_name = {tensor.name: tensor for tensor in outputs}
    selected = []
    for output in requested:
        tensor = by_name.get(output.name)
        if tensor is None:
            known = ", ".join(by_name) or "none"
            raise InvalidRequest(
                f"model {model_name!r} has no output {output.name!r} (outputs: {known})"
            )
        selected.append(tensor)
    return selected


def model_inputs(request: InferenceRequest) -> Any:
    """What a native model's ``predict`` receives: the single input's array, or a dict."""
    inputs = request.inputs
    if len(inputs) == 1:
        return inputs[0].data
    return {tensor.name: tensor.data for tensor in inputs}


def tensor_to_jsonable(tensor: Tensor) -> Any:
    """The tensor's values as nested lists (row-major, nested by shape), bytes as text."""
    data = np.asarray(tensor.data).reshape(tensor.shape)
    if tensor.datatype == "BYTES":
        return np.vectorize(_to_text, otypes=[object])(data).tolist() if data.size else []
    return data.tolist()


def _to_text(item: Any) -> Any:
    if isinstance(item, bytes):
        try:
            return item.decode()
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"BYTES element is not UTF-8 text: {exc}") from exc
    return item


def answer_tensor(value: Any, raw: bytes) -> Tensor:
    """The one output ``output-0`` of a handler whose answer was decoded to ``value``.

    Numbers (nested lists of them) make a numeric tensor, strings a ``BYTES`` tensor;
    anything else (an object, ragged lists) makes a ``BYTES`` tensor of shape ``[1]``
    holding the raw answer body.
    """
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError):
        array = None
    if array is not None and (array.dtype.kind in "biuf" or array.dtype.kind in "US"):
        return output_tensor(DEFAULT_OUTPUT_NAME, array)
    if array is not None and array.dtype.kind == "O" and _all_text(array):
        return output_tensor(DEFAULT_OUTPUT_NAME, array)
    return Tensor(
        name=DEFAULT_OUTPUT_NAME,
        shape=[1],
        datatype="BYTES",
        data=np.array([raw], dtype=object),
    )


def _all_text(array: np.ndarray) -> bool:
    return array.size > 0 and all(isinstance(item, str | bytes) for item in array.ravel().tolist())
