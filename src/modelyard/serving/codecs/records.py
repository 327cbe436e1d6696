"""SageMaker's ``aialgs.data.Record`` message: the dataclasses, their protobuf form, array helpers.

The field numbers follow SageMaker's ``record.proto`` (see ``recordio`` for the schema).
Tensor values are copied out of the body into owned, aligned, writable numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelyard.errors import NotAcceptable, PayloadMalformed
from modelyard.serving.codecs.protobuf import (
    FIXED32,
    FIXED64,
    LENGTH_DELIMITED,
    VARINT,
    decode_varints,
    encode_varints,
    iter_fields,
)
from modelyard.serving.codecs.protobuf import field as pb_field

__all__ = [
    "Record",
    "RecordBytes",
    "RecordTensor",
    "RecordValue",
    "array_to_records",
    "read_record",
    "records_to_array",
    "resolve_tensor_dtype",
    "write_record",
]

_EMPTY_KEYS = np.empty(0, dtype=np.uint64)
#: Value oneof field numbers, by the numpy dtype of the tensor's values.
_TENSOR_FIELDS: dict[np.dtype[Any], int] = {
    np.dtype(np.float32): 2,
    np.dtype(np.float64): 3,
    np.dtype(np.int32): 7,
}
_FIELD_DTYPES = {number: dtype for dtype, number in _TENSOR_FIELDS.items()}
_BYTES_FIELD = 9
#: Densifying a sparse tensor larger than this is refused rather than attempted.
_MAX_DENSE = 1 << 31


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RecordTensor:
    """A ``Float32Tensor``, ``Float64Tensor`` or ``Int32Tensor``: dense, or sparse with keys."""

    #: The values, 1-D; their dtype (float32, float64, int32) says which message it is.
    values: np.ndarray
    #: Positions of the values in the flattened tensor (uint64); empty when dense.
    keys: np.ndarray = field(default_factory=lambda: _EMPTY_KEYS)
    #: Shape of the tensor; required when sparse, optional when dense.
    shape: tuple[int, ...] = ()

    def __eq__(self, other: object) -> bool:
        # Bitwise comparison, so NaN values compare equal to themselves in round trips.
        if not isinstance(other, RecordTensor):
            return NotImplemented
        return (
            self.values.dtype == other.values.dtype
            and self.values.tobytes() == other.values.tobytes()
            and np.array_equal(self.keys, other.keys)
            and tuple(self.shape) == tuple(other.shape)
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dense(self) -> np.ndarray:
        """Return the values as a flat dense array (sparse values placed at their keys)."""
        size = math.prod(self.shape) if self.shape else None
        if len(self.keys) == 0:
            if size is not None and size != len(self.values):
                raise PayloadMalformed(
                    f"dense tensor has {len(self.values)} values but shape {list(self.shape)}"
                )
            return self.values
        if size is None:
            raise PayloadMalformed("sparse tensor (with keys) has no shape")
        if len(self.keys) != len(self.values):
            raise PayloadMalformed(
                f"sparse tensor has {len(self.keys)} keys but {len(self.values)} values"
            )
        if size > _MAX_DENSE:
            raise PayloadMalformed(f"sparse tensor shape {list(self.shape)} is too large")
        if int(self.keys.max()) >= size:
            raise PayloadMalformed(
                f"sparse tensor key {int(self.keys.max())} is out of range for shape "
                f"{list(self.shape)}"
            )
        dense = np.zeros(size, dtype=self.values.dtype)
        dense[self.keys.astype(np.intp)] = self.values
        return dense


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordBytes:
    """A ``Bytes`` value: opaque binary items (images, text) with an optional content type."""

    #: The items.
    values: tuple[bytes, ...]
    #: Their content type, when the writer knew it.
    content_type: str | None = None


#: One entry of a record's ``features`` or ``label`` map.
RecordValue = RecordTensor | RecordBytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One ``aialgs.data.Record``: named feature and label values plus free-text fields."""

    #: Feature values by name; vectors conventionally under ``"values"``.
    features: dict[str, RecordValue] = field(default_factory=dict)
    #: Label values by name: ``"values"`` in training data, ``"score"`` etc. in predictions.
    label: dict[str, RecordValue] = field(default_factory=dict)
    #: Identifier of the record in its dataset (proto field ``uid``).
    uid: str | None = None
    #: Free-text metadata, often JSON.
    metadata: str | None = None
    #: Per-record configuration, a JSON string (used by batch inference).
    configuration: str | None = None


def _string(buf: bytes, start: int, end: int) -> str:
    try:
        return buf[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadMalformed(f"protobuf string at byte {start} is not valid UTF-8") from exc


def _fixed(buf: bytes, start: int, end: int, dtype: str, field_name: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    if (end - start) % width:
        raise PayloadMalformed(
            f"packed {field_name} at byte {start} has {end - start} bytes, "
            f"not a multiple of {width}"
        )
    return np.frombuffer(buf, dtype=dtype, count=(end - start) // width, offset=start)


def _read_tensor(buf: bytes, start: int, end: int, dtype: np.dtype) -> RecordTensor:
    values: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    shape: list[np.ndarray] = []
    for number, wire_type, a, b in iter_fields(buf, start, end):
        if number == 1:
            if dtype.kind == "f" and wire_type == LENGTH_DELIMITED:
                values.append(_fixed(buf, a, b, "<f4" if dtype.itemsize == 4 else "<f8", "values"))
            elif dtype.itemsize == 4 and dtype.kind == "f" and wire_type == FIXED32:
                values.append(np.array([a], dtype=np.uint32).view(np.float32))
            elif dtype.itemsize == 8 and wire_type == FIXED64:
                values.append(np.array([a], dtype=np.uint64).view(np.float64))
            elif dtype.kind == "i" and wire_type in (LENGTH_DELIMITED, VARINT):
                if wire_type == LENGTH_DELIMITED:
                    raw = decode_varints(buf, a, b)
                else:
                    raw = np.array([a], dtype=np.uint64)
                # int32 is sent sign-extended to 64 bits; keep the low 32 bits, as protobuf does.
                values.append((raw & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32))
        elif number in (2, 3):
            target = keys if number == 2 else shape
            if wire_type == LENGTH_DELIMITED:
                target.append(decode_varints(buf, a, b))
            elif wire_type == VARINT:
                target.append(np.array([a], dtype=np.uint64))
    return RecordTensor(
        # concatenate copies, so the tensor owns aligned, writable memory.
        values=np.concatenate(values).astype(dtype, copy=False)
        if values
        else np.empty(0, dtype=dtype),
        keys=np.concatenate(keys) if keys else _EMPTY_KEYS,
        shape=tuple(int(s) for s in np.concatenate(shape)) if shape else (),
    )


def _read_bytes(buf: bytes, start: int, end: int) -> RecordBytes:
    items: list[bytes] = []
    content_type = None
    for number, wire_type, a, b in iter_fields(buf, start, end):
        if wire_type != LENGTH_DELIMITED:
            continue
        if number == 1:
            items.append(buf[a:b])
        elif number == 2:
            content_type = _string(buf, a, b)
    return RecordBytes(values=tuple(items), content_type=content_type)


def _read_value(buf: bytes, start: int, end: int) -> RecordValue | None:
    value: RecordValue | None = None
    # A oneof sent twice keeps the last member, as protobuf parsers do.
    for number, wire_type, a, b in iter_fields(buf, start, end):
        if wire_type != LENGTH_DELIMITED:
            continue
        if number in _FIELD_DTYPES:
            value = _read_tensor(buf, a, b, _FIELD_DTYPES[number])
        elif number == _BYTES_FIELD:
            value = _read_bytes(buf, a, b)
    return value


def _read_entry(buf: bytes, start: int, end: int) -> tuple[str, RecordValue | None]:
    key, value = "", None
    for number, wire_type, a, b in iter_fields(buf, start, end):
        if wire_type != LENGTH_DELIMITED:
            continue
        if number == 1:
            key = _string(buf, a, b)
        elif number == 2:
            value = _read_value(buf, a, b)
    return key, value


def read_record(buf: bytes, start: int, end: int) -> Record:
    """Parse the ``Record`` message in ``buf[start:end]``."""
    maps: tuple[dict[str, RecordValue], dict[str, RecordValue]] = ({}, {})
    strings: dict[int, str] = {}
    for number, wire_type, a, b in iter_fields(buf, start, end):
        if wire_type != LENGTH_DELIMITED:
            continue
        if number in (1, 2):
            key, value = _read_entry(buf, a, b)
            if value is not None:
                maps[number - 1][key] = value
        elif number in (3, 4, 5):
            strings[number] = _string(buf, a, b)
    return Record(
        features=maps[0],
        label=maps[1],
        uid=strings.get(3),
        metadata=strings.get(4),
        configuration=strings.get(5),
    )


def _tensor_message(tensor: RecordTensor) -> tuple[int, bytes]:
    values = np.asarray(tensor.values).ravel()
    number = _TENSOR_FIELDS.get(values.dtype)
    if number is None:
        raise NotAcceptable(
            f"record tensor values of dtype {values.dtype} have no protobuf form; "
            "use float32, float64 or int32"
        )
    parts = []
    if values.size:
        if values.dtype.kind == "f":
            payload = values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
        else:
            payload = encode_varints(values.astype(np.int64).view(np.uint64))
        parts.append(pb_field(1, LENGTH_DELIMITED, payload))
    if len(tensor.keys):
        parts.append(pb_field(2, LENGTH_DELIMITED, encode_varints(np.asarray(tensor.keys))))
    if tensor.shape:
        try:
            shape = np.array(tensor.shape, dtype=np.uint64)
        except (OverflowError, ValueError, TypeError) as exc:
            raise NotAcceptable(
                f"record tensor shape {tensor.shape} is not unsigned 64-bit"
            ) from exc
        parts.append(pb_field(3, LENGTH_DELIMITED, encode_varints(shape)))
    return number, b"".join(parts)


def _value_message(value: RecordValue) -> bytes:
    if isinstance(value, RecordTensor):
        number, payload = _tensor_message(value)
        return pb_field(number, LENGTH_DELIMITED, payload)
    if isinstance(value, RecordBytes):
        parts = [pb_field(1, LENGTH_DELIMITED, bytes(item)) for item in value.values]
        if value.content_type is not None:
            parts.append(pb_field(2, LENGTH_DELIMITED, value.content_type.encode("utf-8")))
        return pb_field(_BYTES_FIELD, LENGTH_DELIMITED, b"".join(parts))
    raise NotAcceptable(
        f"a record value must be RecordTensor or RecordBytes, not {type(value).__name__}"
    )


def write_record(record: Record) -> bytes:
    """Serialise a ``Record`` to its protobuf bytes."""
    parts = []
    for number, mapping in ((1, record.features), (2, record.label)):
        for key, value in mapping.items():
            entry = pb_field(1, LENGTH_DELIMITED, key.encode("utf-8"))
            entry += pb_field(2, LENGTH_DELIMITED, _value_message(value))
            parts.append(pb_field(number, LENGTH_DELIMITED, entry))
    for number, text in ((3, record.uid), (4, record.metadata), (5, record.configuration)):
        if text is not None:
            parts.append(pb_field(number, LENGTH_DELIMITED, text.encode("utf-8")))
    return b"".join(parts)


def resolve_tensor_dtype(array: np.ndarray) -> np.dtype:
    """The tensor dtype an array is written as: float32/float64 kept, float16 widened,
    integers and booleans as int32 (when they fit), as SageMaker's SDK resolves them."""
    kind, dtype = array.dtype.kind, array.dtype
    if kind == "f" and dtype.itemsize in (4, 8):
        return np.dtype(f"f{dtype.itemsize}")
    if kind == "f" and dtype.itemsize < 4:
        return np.dtype(np.float32)
    if kind in "iub":
        if array.size and kind != "b":
            low, high = int(array.min()), int(array.max())
            if low < -(2**31) or high >= 2**31:
                raise NotAcceptable(f"integer values {low}..{high} do not fit an Int32Tensor")
        return np.dtype(np.int32)
    raise NotAcceptable(f"an array of dtype {dtype} has no RecordIO-protobuf tensor form")


def array_to_records(array: Any, labels: Any = None) -> list[Record]:
    """Turn feature rows into records as SageMaker's ``write_numpy_to_dense_tensor`` does.

    Row ``i`` becomes ``features["values"]`` (a 1-D array is one row, as the SDK's
    ``RecordSerializer`` treats it) and ``labels[i]``, when given, ``label["values"]``.
    """
    matrix = np.asarray(array)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2:
        raise NotAcceptable(f"feature rows must be a 1-D or 2-D array, not {matrix.ndim}-D")
    matrix = matrix.astype(resolve_tensor_dtype(matrix), copy=False)
    label_array = None
    if labels is not None:
        label_array = np.asarray(labels)
        if label_array.shape != (matrix.shape[0],):
            raise NotAcceptable(
                f"labels of shape {label_array.shape} do not match {matrix.shape[0]} rows"
            )
        label_array = label_array.astype(resolve_tensor_dtype(label_array), copy=False)
    records = []
    for index, row in enumerate(matrix):
        label: dict[str, RecordValue] = {}
        if label_array is not None:
            label["values"] = RecordTensor(values=label_array[index : index + 1].copy())
        records.append(Record(features={"values": RecordTensor(values=row.copy())}, label=label))
    return records


def records_to_array(
    records: list[Record], key: str = "values", *, part: str = "features"
) -> np.ndarray:
    """Stack one tensor of every record into a dense 2-D array, one row per record.

    ``part`` is ``"features"`` or ``"label"``; sparse tensors are densified with their
    shape. ``PayloadMalformed`` names the record that is missing the key, holds bytes,
    or has a different length from the first.
    """
    if part not in ("features", "label"):
        raise ValueError(f"part must be 'features' or 'label', not {part!r}")
    rows: list[np.ndarray] = []
    for index, record in enumerate(records):
        mapping = record.features if part == "features" else record.label
        value = mapping.get(key)
        if value is None:
            raise PayloadMalformed(
                f"record {index} has no {part} {key!r} (it has: {', '.join(mapping) or 'none'})"
            )
        if not isinstance(value, RecordTensor):
            raise PayloadMalformed(f"record {index} {part} {key!r} holds bytes, not a tensor")
        try:
            row = value.to_dense()
        except PayloadMalformed as exc:
            raise PayloadMalformed(f"record {index} {part} {key!r}: {exc.message}") from exc
        if rows and len(row) != len(rows[0]):
            raise PayloadMalformed(
                f"record {index} {part} {key!r} has {len(row)} values, record 0 has {len(rows[0])}"
            )
        rows.append(row)
    if not rows:
        return np.empty((0, 0), dtype=np.float32)
    return np.stack(rows)
