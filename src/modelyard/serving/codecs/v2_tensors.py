"""Tensor data of the Open Inference Protocol (KServe V2): datatypes and their JSON and binary forms.

Datatypes map to numpy as follows; ``BYTES`` tensors are object arrays of ``bytes``.
``BF16`` has no numpy dtype without extra packages: it is decoded to float32 (exactly,
bfloat16 being the top half of a float32) and encoded from float32 with round-to-nearest-
even; an ``ml_dtypes.bfloat16`` array is written as is. In JSON, BF16 values are read and
written as numbers.

Binary form (Triton's binary tensor data extension): little-endian, row-major, no padding;
``BOOL`` one byte per element; ``BYTES`` each element a uint32 length then the bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from modelyard.errors import InferenceFailed, PayloadMalformed

__all__ = [
    "DATATYPES",
    "array_to_binary",
    "binary_to_array",
    "datatype_of",
    "json_to_array",
    "numpy_dtype",
]

_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BF16": np.dtype(np.float32),
    "BYTES": np.dtype(object),
}
#: Every datatype name of the protocol, as the spec lists them.
DATATYPES: tuple[str, ...] = tuple(_DTYPES)
_DATATYPE_BY_DTYPE = {
    dtype: name for name, dtype in _DTYPES.items() if name not in ("BF16", "BYTES")
}
#: numpy kinds a JSON array may infer to for each datatype family.
_JSON_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}
_LENGTH = struct.Struct("<I")


def numpy_dtype(datatype: str) -> np.dtype:
    """The numpy dtype that holds a V2 datatype (``BYTES``: object, ``BF16``: float32)."""
    try:
        return _DTYPES[datatype]
    except KeyError:
        raise PayloadMalformed(
            f"unknown datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        ) from None


def datatype_of(array: np.ndarray) -> str:
    """The V2 datatype of a numpy array (str, bytes and object arrays are ``BYTES``)."""
    dtype = array.dtype
    if dtype.kind in "OSU":
        return "BYTES"
    if dtype.name == "bfloat16":
        return "BF16"
    name = _DATATYPE_BY_DTYPE.get(dtype.newbyteorder("=") if dtype.byteorder == ">" else dtype)
    if name is None:
        raise InferenceFailed(f"numpy dtype {dtype} has no V2 datatype")
    return name


def element_count(shape: list[int]) -> int:
    """Number of elements of a tensor of ``shape``."""
    return math.prod(shape)


def _flatten_text(data: Any, where: str) -> list[bytes]:
    # Iterative, so deeply nested JSON cannot exhaust the recursion limit.
    out: list[bytes] = []
    stack = [iter(data if isinstance(data, list) else [data])]
    while stack:
        for item in stack[-1]:
            if isinstance(item, str):
                out.append(item.encode("utf-8"))
            elif isinstance(item, list):
                stack.append(iter(item))
                break
            else:
                raise PayloadMalformed(
                    f"{where}: BYTES data must be strings, found {type(item).__name__}"
                )
        else:
            stack.pop()
    return out


def _object_array(items: list[bytes]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def json_to_array(
    data: Any, datatype: str, shape: list[int], name: str, role: str = "input"
) -> np.ndarray:
    """Turn the JSON ``data`` of a tensor (flat or nested, row-major) into an array of ``shape``."""
    dtype = numpy_dtype(datatype)
    if datatype == "BYTES":
        array = _object_array(_flatten_text(data, f"{role} {name!r}"))
    else:
        try:
            inferred = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise PayloadMalformed(f"{role} {name!r}: data is not a regular array: {exc}") from exc
        kind, target = inferred.dtype.kind, dtype.kind
        if kind == "f" and target == "f":
            # The hot path: JSON numbers are float64 already.
            if dtype.itemsize == 8:
                array = inferred
            else:
                # Out-of-range numbers become ±inf, as a C cast would, without a warning.
                with np.errstate(over="ignore"):
                    array = inferred.astype(dtype)
        elif inferred.size == 0:
            array = inferred.astype(dtype)
        elif kind == "f" and target in "iu":
            array = _integral(data, inferred, datatype, dtype, f"{role} {name!r}")
        elif kind not in _JSON_KINDS[target]:
            raise PayloadMalformed(
                f"{role} {name!r}: {datatype} data holds {_describe(inferred.dtype)} values"
            )
        elif target in "iu" and inferred.dtype != dtype:
            info = np.iinfo(dtype)
            low, high = inferred.min(), inferred.max()
            if low < info.min or high > info.max:
                raise PayloadMalformed(
                    f"{role} {name!r}: value {low if low < info.min else high} "
                    f"is out of range for {datatype}"
                )
            array = inferred.astype(dtype)
        elif target == "f" and dtype.itemsize == 2:
            # Integers past float16's range become ±inf, as a C cast would, without a warning.
            with np.errstate(over="ignore"):
                array = inferred.astype(dtype)
        else:
            array = inferred.astype(dtype, copy=False)
    if array.size != math.prod(shape):
        raise PayloadMalformed(
            f"{role} {name!r}: {array.size} elements do not fill shape {shape} "
            f"({math.prod(shape)} elements)"
        )
    return array.reshape(shape)


def _integral(
    data: Any, inferred: np.ndarray, datatype: str, dtype: np.dtype, where: str
) -> np.ndarray:
    """Integers from JSON data that numpy inferred as float64.

    That happens for floats, and for integers mixing the int64 and uint64 ranges
    (``[-1, 2**63]``), which float64 cannot hold exactly; the exact values come from
    converting the parsed Python numbers straight to the target dtype.
    """
    if not np.array_equal(np.floor(inferred), inferred):
        raise PayloadMalformed(f"{where}: {datatype} data holds floating-point values")
    try:
        # Python ints out of range raise OverflowError; floats out of range set the
        # "invalid" flag, raised here instead of warned about.
        with np.errstate(over="raise", invalid="raise"):
            return np.array(data, dtype=dtype)
    except (OverflowError, FloatingPointError) as exc:
        raise PayloadMalformed(f"{where}: a value is out of range for {datatype}") from exc


def _describe(dtype: np.dtype) -> str:
    return {
        "b": "boolean",
        "U": "string",
        "O": "mixed, null or out-of-range",
        "f": "floating-point",
    }.get(dtype.kind, "integer" if dtype.kind in "iu" else str(dtype))


def binary_to_array(
    raw: bytes | memoryview, datatype: str, shape: list[int], name: str, role: str = "input"
) -> np.ndarray:
    """Turn the binary data of a tensor into an array of ``shape`` (copied: owned, writable)."""
    where = f"{role} {name!r}"
    dtype = numpy_dtype(datatype)
    count = element_count(shape)
    if datatype == "BYTES":
        items: list[bytes] = []
        pos, size = 0, len(raw)
        while pos < size:
            if size - pos < 4:
                raise PayloadMalformed(f"{where}: BYTES element at byte {pos} is truncated")
            (length,) = _LENGTH.unpack_from(raw, pos)
            pos += 4
            if length > size - pos:
                raise PayloadMalformed(
                    f"{where}: BYTES element at byte {pos - 4} announces {length} bytes, "
                    f"{size - pos} left"
                )
            items.append(bytes(raw[pos : pos + length]))
            pos += length
        array = _object_array(items)
    else:
        wire = np.dtype(np.uint16) if datatype == "BF16" else dtype.newbyteorder("<")
        if len(raw) != count * wire.itemsize:
            raise PayloadMalformed(
                f"{where}: {len(raw)} bytes of binary data, shape {shape} of {datatype} "
                f"needs {count * wire.itemsize}"
            )
        array = np.frombuffer(raw, dtype=wire, count=count)
        if datatype == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        elif datatype == "BOOL":
            array = np.frombuffer(raw, dtype=np.uint8, count=count) != 0
        else:
            array = array.astype(dtype)  # copy: owned, aligned, writable, native order
    if array.size != count:
        raise PayloadMalformed(
            f"{where}: {array.size} elements do not fill shape {shape} ({count} elements)"
        )
    return array.reshape(shape)


def _as_bytes(item: Any, name: str) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytearray | memoryview):
        return bytes(item)
    raise InferenceFailed(f"output {name!r}: BYTES element is a {type(item).__name__}")


def bytes_items(array: np.ndarray, name: str) -> list[bytes]:
    """The elements of a BYTES tensor as ``bytes``, row-major."""
    return [_as_bytes(item, name) for item in array.ravel().tolist()]


def array_to_binary(array: np.ndarray, datatype: str, name: str) -> bytes | memoryview:
    """The binary form of a tensor's data (a view when no conversion is needed)."""
    if datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(item)) + item for item in bytes_items(array, name))
    if datatype == "BF16":
        if array.dtype.name == "bfloat16":
            return _byte_view(np.ascontiguousarray(array).view(np.uint16))
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        # Round to nearest even on the 16 bits dropped; NaN keeps a quiet-NaN payload.
        rounded = (bits + np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1))) >> 16
        rounded = np.where(np.isnan(array.astype(np.float32)), (bits >> 16) | 0x40, rounded)
        return rounded.astype("<u2").tobytes()
    dtype = numpy_dtype(datatype)
    if datatype == "BOOL":
        dtype = np.dtype(np.uint8)
    return _byte_view(np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")))


def _byte_view(array: np.ndarray) -> bytes | memoryview:
    # A byte view avoids a copy; memoryview refuses to cast empty arrays, hence b"".
    flat: Any = array.reshape(-1)  # numpy arrays export the buffer protocol
    return memoryview(flat).cast("B") if array.size else b""
