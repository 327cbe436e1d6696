"""The Open Inference Protocol (KServe V2) REST codec, with Triton's binary tensor data extension.

Server side: ``decode_request`` and ``encode_response``; client side (tests, benchmarks):
``encode_request`` and ``decode_response``.

JSON form: ``data`` may be flat or nested (row-major), ``BYTES`` elements are strings and
``BOOL`` elements ``true``/``false``; responses always carry flat data, as Triton does.
Non-finite floats have no JSON form and are written as ``null``; ask for binary outputs to
get them through.

Binary form: the JSON header comes first, its length in the ``Inference-Header-Content-Length``
header, then the raw data of every tensor whose ``parameters.binary_data_size`` is set, in
tensor order. ``binary_data_size`` is a transport detail: it is removed from the decoded
tensors' parameters and set by the encoders. An output is sent in binary when its
requested ``parameters.binary_data`` is true or, when that is not given, the request's
``parameters.binary_data_output`` is true.

Decoded tensor data is always an owned, writable numpy array (see ``v2_tensors`` for the
datatype mapping, including BF16).

Reference: https://kserve.github.io/website/ (Open Inference Protocol, Binary Tensor Data
Extension) and Triton's docs/protocol/extension_binary_data.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelyard.errors import InferenceFailed, ModelyardError, PayloadMalformed
from modelyard.serving.codecs.v2_tensors import (
    DATATYPES,
    array_to_binary,
    binary_to_array,
    bytes_items,
    element_count,
    json_to_array,
    numpy_dtype,
)
from modelyard.serving.types import InferenceRequest, InferenceResponse, RequestedOutput, Tensor

__all__ = [
    "HEADER_LENGTH_HEADER",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
]

#: Most dimensions a tensor may have: numpy 1.x's limit (numpy 2 allows 64), far beyond
#: any model's input, so that reshaping never fails.
_MAX_DIMS = 32
#: The HTTP header that gives the length of the JSON part of a binary body.
HEADER_LENGTH_HEADER = "Inference-Header-Content-Length"
_BINARY_SIZE = "binary_data_size"
_JSON_HEADERS = {"Content-Type": "application/json"}
_DATATYPE_SET = frozenset(DATATYPES)


def _is_shape(shape: list[Any]) -> bool:
    if len(shape) > _MAX_DIMS:
        return False
    # A plain loop: measurably faster than all() over a generator on this hot path.
    for dim in shape:  # noqa: SIM110
        if type(dim) is not int or dim < 0:
            return False
    return True


def _load(body: bytes, header_length: int | None, what: str) -> tuple[dict[str, Any], int]:
    if header_length is None:
        header, end = body, len(body)
    else:
        if not 0 <= header_length <= len(body):
            raise PayloadMalformed(
                f"{HEADER_LENGTH_HEADER} is {header_length}, the body has {len(body)} bytes"
            )
        header, end = body[:header_length], header_length
    try:
        document = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        raise PayloadMalformed(f"{what} JSON is malformed: {exc}") from exc
    if type(document) is not dict:
        raise PayloadMalformed(f"{what} must be a JSON object")
    return document, end


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise PayloadMalformed(f"{where} parameters must be a JSON object")
    return value


def _read_tensors(
    items: Any, role: str, body: bytes, pos: int, binary: bool
) -> tuple[list[Tensor], int]:
    """Read request inputs or response outputs; ``pos`` is where binary data starts."""
    if type(items) is not list:
        raise PayloadMalformed(f"{role}s must be a JSON array")
    view = memoryview(body) if binary else None
    tensors = []
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise PayloadMalformed(f"{role} {index} must be a JSON object")
        name = item.get("name")
        if type(name) is not str:
            raise PayloadMalformed(f"{role} {index} has no name")
        shape = item.get("shape")
        if type(shape) is not list or not _is_shape(shape):
            raise PayloadMalformed(
                f"{role} {name!r}: shape must be a list of non-negative integers "
                f"(at most {_MAX_DIMS})"
            )
        datatype = item.get("datatype")
        if type(datatype) is not str:
            raise PayloadMalformed(f"{role} {name!r} has no datatype")
        if datatype not in _DATATYPE_SET:
            raise PayloadMalformed(
                f"{role} {name!r}: unknown datatype {datatype!r}; "
                f"expected one of {', '.join(DATATYPES)}"
            )
        parameters = item.get("parameters")
        if parameters is None:
            parameters = {}
        elif type(parameters) is not dict:
            raise PayloadMalformed(f"{role} {name!r}: parameters must be a JSON object")
        if _BINARY_SIZE in parameters:
            size = parameters[_BINARY_SIZE]
            if not binary:
                raise PayloadMalformed(
                    f"{role} {name!r} has binary_data_size but no {HEADER_LENGTH_HEADER} was given"
                )
            if type(size) is not int or size < 0:
                raise PayloadMalformed(f"{role} {name!r}: binary_data_size must be an integer >= 0")
            if size > len(body) - pos:
                raise PayloadMalformed(
                    f"{role} {name!r}: binary_data_size is {size}, {len(body) - pos} bytes left"
                )
            assert view is not None
            data = binary_to_array(view[pos : pos + size], datatype, shape, name, role)
            pos += size
            parameters = {k: v for k, v in parameters.items() if k != _BINARY_SIZE}
        elif "data" in item:
            data = json_to_array(item["data"], datatype, shape, name, role)
        else:
            raise PayloadMalformed(f"{role} {name!r} has neither data nor binary_data_size")
        tensors.append(
            Tensor(name=name, shape=shape, datatype=datatype, data=data, parameters=parameters)
        )
    return tensors, pos


def _optional_str(document: dict[str, Any], key: str, what: str) -> str | None:
    value = document.get(key)
    if value is not None and type(value) is not str:
        raise PayloadMalformed(f"{what} {key} must be a string")
    return value


def decode_request(body: bytes, header_length: int | None = None) -> InferenceRequest:
    """Decode a V2 inference request body; ``header_length`` is ``Inference-Header-Content-Length``.

    Raises ``PayloadMalformed`` naming the input (or field) at fault.
    """
    document, pos = _load(body, header_length, "inference request")
    inputs, pos = _read_tensors(
        document.get("inputs"), "input", body, pos, header_length is not None
    )
    if pos != len(body):
        raise PayloadMalformed(f"{len(body) - pos} bytes of binary data follow the last input")
    outputs = []
    raw_outputs = document.get("outputs")
    if raw_outputs is not None:
        if type(raw_outputs) is not list:
            raise PayloadMalformed("outputs must be a JSON array")
        for index, item in enumerate(raw_outputs):
            if type(item) is not dict or type(item.get("name")) is not str:
                raise PayloadMalformed(f"requested output {index} has no name")
            name = item["name"]
            parameters = _parameters(item.get("parameters"), f"requested output {name!r}")
            outputs.append(RequestedOutput(name=name, parameters=parameters))
    return InferenceRequest(
        inputs=inputs,
        outputs=outputs,
        id=_optional_str(document, "id", "request"),
        parameters=_parameters(document.get("parameters"), "request"),
    )


def _json_data(tensor: Tensor, error: type[ModelyardError], role: str) -> Any:
    array = tensor.data
    if tensor.datatype == "BYTES":
        try:
            return [item.decode("utf-8") for item in bytes_items(array, tensor.name)]
        except UnicodeDecodeError as exc:
            raise error(
                f"{role} {tensor.name!r}: BYTES element is not UTF-8 text; send it as binary data"
            ) from exc
    if array.dtype.name == "bfloat16" or tensor.datatype == "BF16":
        return np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
    return np.ascontiguousarray(array, dtype=numpy_dtype(tensor.datatype)).reshape(-1)


def _write_tensors(
    tensors: list[Tensor], binary_for: Any, error: type[ModelyardError], role: str
) -> tuple[list[dict[str, Any]], list[Any]]:
    entries, chunks = [], []
    for tensor in tensors:
        try:
            numpy_dtype(tensor.datatype)
        except PayloadMalformed as exc:
            raise error(f"{role} {tensor.name!r}: {exc.message}") from exc
        data = tensor.data if isinstance(tensor.data, np.ndarray) else np.asarray(tensor.data)
        tensor = Tensor(
            name=tensor.name,
            shape=[int(d) for d in tensor.shape],
            datatype=tensor.datatype,
            data=data,
            parameters=tensor.parameters,
        )
        if data.size != element_count(tensor.shape):
            raise error(
                f"{role} {tensor.name!r}: {data.size} elements do not fill shape {tensor.shape}"
            )
        entry: dict[str, Any] = {
            "name": tensor.name,
            "shape": tensor.shape,
            "datatype": tensor.datatype,
        }
        parameters = {k: v for k, v in tensor.parameters.items() if k != _BINARY_SIZE}
        try:
            if binary_for(tensor.name):
                raw = array_to_binary(data, tensor.datatype, tensor.name)
                parameters[_BINARY_SIZE] = len(raw) if isinstance(raw, bytes) else raw.nbytes
                chunks.append(raw)
            else:
                entry["data"] = _json_data(tensor, error, role)
        except (ValueError, TypeError, OverflowError, InferenceFailed) as exc:
            message = exc.message if isinstance(exc, ModelyardError) else str(exc)
            raise error(f"{role} {tensor.name!r}: {message}") from exc
        if parameters:
            entry["parameters"] = parameters
        entries.append(entry)
    return entries, chunks


def _finish(
    document: dict[str, Any], chunks: list[Any], error: type[ModelyardError]
) -> tuple[bytes, dict[str, str]]:
    try:
        header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError as exc:
        raise error(f"cannot encode as JSON: {exc}") from exc
    if not chunks:
        return header, dict(_JSON_HEADERS)
    return b"".join([header, *chunks]), {
        "Content-Type": "application/octet-stream",
        HEADER_LENGTH_HEADER: str(len(header)),
    }


def encode_response(
    response: InferenceResponse, request: InferenceRequest | None = None
) -> tuple[bytes, dict[str, str]]:
    """Encode a V2 response: the body and its headers (``Content-Type``, and
    ``Inference-Header-Content-Length`` when some outputs are sent as binary data).

    Raises ``InferenceFailed`` when an output's data does not match its shape or datatype.
    """
    requested: dict[str, dict[str, Any]] = {}
    default_binary = False
    if request is not None:
        requested = {output.name: output.parameters for output in request.outputs}
        default_binary = request.parameters.get("binary_data_output") is True

    def binary_for(name: str) -> bool:
        choice = requested.get(name, {}).get("binary_data")
        return default_binary if choice is None else choice is True

    outputs, chunks = _write_tensors(response.outputs, binary_for, InferenceFailed, "output")
    document: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version is not None:
        document["model_version"] = response.model_version
    response_id = response.id
    if response_id is None and request is not None:
        response_id = request.id
    if response_id is not None:
        document["id"] = response_id
    if response.parameters:
        document["parameters"] = response.parameters
    document["outputs"] = outputs
    return _finish(document, chunks, InferenceFailed)


def encode_request(
    request: InferenceRequest, *, binary_data: bool = False
) -> tuple[bytes, dict[str, str]]:
    """Encode a V2 request as a client would (all inputs in JSON, or all in binary)."""
    inputs, chunks = _write_tensors(
        request.inputs, lambda _: binary_data, PayloadMalformed, "input"
    )
    document: dict[str, Any] = {}
    if request.id is not None:
        document["id"] = request.id
    if request.parameters:
        document["parameters"] = request.parameters
    document["inputs"] = inputs
    if request.outputs:
        document["outputs"] = [
            {"name": o.name, "parameters": o.parameters} if o.parameters else {"name": o.name}
            for o in request.outputs
        ]
    return _finish(document, chunks, PayloadMalformed)


def decode_response(body: bytes, header_length: int | None = None) -> InferenceResponse:
    """Decode a V2 response body, as a client would."""
    document, pos = _load(body, header_length, "inference response")
    outputs, pos = _read_tensors(
        document.get("outputs"), "output", body, pos, header_length is not None
    )
    if pos != len(body):
        raise PayloadMalformed(f"{len(body) - pos} bytes of binary data follow the last output")
    model_name = document.get("model_name")
    if type(model_name) is not str:
        raise PayloadMalformed("inference response has no model_name")
    return InferenceResponse(
        model_name=model_name,
        outputs=outputs,
        model_version=_optional_str(document, "model_version", "response"),
        id=_optional_str(document, "id", "response"),
        parameters=_parameters(document.get("parameters"), "response"),
    )
