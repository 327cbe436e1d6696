"""The ``application/x-recordio-protobuf`` codec: SageMaker's ``Record`` messages in RecordIO frames.

Each frame is a little-endian uint32 magic ``0xCED7230A``, a uint32 whose low 29 bits are
the payload length and whose top 3 bits are the continuation flag (0: whole record; 1, 2,
3: first, middle, last part of a record split by MXNet's writer, rejoined here with the
magic between parts), the payload, then zero padding to a multiple of 4 bytes. We always
write whole records, as the SageMaker Python SDK does.

The payload is ``aialgs.data.Record`` from SageMaker's ``record.proto`` (proto2)::

    Record  { map<string, Value> features = 1; map<string, Value> label = 2;
              optional string uid = 3; optional string metadata = 4;
              optional string configuration = 5; }
    Value   { oneof value { Float32Tensor float32_tensor = 2; Float64Tensor float64_tensor = 3;
                            Int32Tensor int32_tensor = 7; Bytes bytes = 9; } }
    *Tensor { repeated <float|double|int32> values = 1 [packed]; repeated uint64 keys = 2
              [packed]; repeated uint64 shape = 3 [packed]; }
    Bytes   { repeated bytes value = 1; optional string content_type = 2; }

Unknown fields are skipped; a ``Value`` holding only a kind this codec does not know is
left out of its map. Message types live in ``modelyard.serving.codecs.records``.

Encoding takes a list of ``Record`` (written as they are, so ``decode(encode(records))``
gives them back) or an array of predictions: as SageMaker's built-in algorithms answer,
each element of a 1-D array, or each row of a 2-D array, becomes one record whose
``label["score"]`` holds it (float32 stays float32, float64 stays float64, integers
become Int32Tensor). To write feature rows the way the SDK's ``write_numpy_to_dense_tensor``
does, build them with ``array_to_records`` and encode the list.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelyard.errors import NotAcceptable, PayloadMalformed
from modelyard.serving.codecs.records import (
    Record,
    RecordTensor,
    read_record,
    resolve_tensor_dtype,
    write_record,
)

__all__ = ["CONTENT_TYPE", "MAGIC", "decode", "encode", "iter_frames"]

#: The media type this codec reads and writes.
CONTENT_TYPE = "application/x-recordio-protobuf"
#: The magic number that opens every RecordIO frame.
MAGIC = 0xCED7230A

_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_MASK = (1 << 29) - 1
_HEADER = struct.Struct("<II")


def iter_frames(body: bytes) -> list[tuple[int, bytes | None, int, int]]:
    """Split a RecordIO body into records: ``(offset, joined, start, end)`` per record.

    For a whole record, ``joined`` is None and the payload is ``body[start:end]``; for a
    record written in parts, ``joined`` holds the rejoined payload (``start`` is 0).
    """
    frames: list[tuple[int, bytes | None, int, int]] = []
    parts: list[bytes] = []
    first = 0
    pos, size = 0, len(body)
    while pos < size:
        if size - pos < 8:
            raise PayloadMalformed(
                f"RecordIO frame at byte {pos} is truncated: {size - pos} bytes, header needs 8"
            )
        magic, header = _HEADER.unpack_from(body, pos)
        if magic != MAGIC:
            raise PayloadMalformed(
                f"RecordIO frame at byte {pos} has bad magic {magic:#010x}, expected {MAGIC:#010x}"
            )
        flag, length = header >> 29, header & _LENGTH_MASK
        start = pos + 8
        if length > size - start:
            raise PayloadMalformed(
                f"RecordIO frame at byte {pos} is truncated: payload of {length} bytes, "
                f"{size - start} left"
            )
        if flag == 0:
            if parts:
                raise PayloadMalformed(f"RecordIO record split at byte {first} is never finished")
            frames.append((pos, None, start, start + length))
        elif flag == 1:
            if parts:
                raise PayloadMalformed(f"RecordIO record split at byte {first} is never finished")
            first, parts = pos, [body[start : start + length]]
        elif not parts:
            raise PayloadMalformed(f"RecordIO frame at byte {pos} continues no record")
        else:
            parts.append(body[start : start + length])
            if flag == 3:
                joined = _MAGIC_BYTES.join(parts)
                frames.append((first, joined, 0, len(joined)))
                parts = []
        # Padding may be missing after the very last frame; some writers stop there.
        pos = min(start + ((length + 3) & ~3), size)
    if parts:
        raise PayloadMalformed(f"RecordIO record split at byte {first} is never finished")
    return frames


def decode(body: bytes) -> list[Record]:
    """Parse a RecordIO-protobuf body into ``Record`` objects, in order."""
    data = bytes(body)
    records = []
    for index, (offset, joined, start, end) in enumerate(iter_frames(data)):
        try:
            records.append(read_record(data if joined is None else joined, start, end))
        except PayloadMalformed as exc:
            raise PayloadMalformed(
                f"RecordIO record {index} (frame at byte {offset}): {exc.message}"
            ) from exc
    return records


def _frame(payload: bytes) -> bytes:
    length = len(payload)
    if length > _LENGTH_MASK:
        raise NotAcceptable(f"a record of {length} bytes does not fit a RecordIO frame")
    return _HEADER.pack(MAGIC, length) + payload + b"\x00" * (-length % 4)


def _score_records(value: Any) -> list[Record]:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise NotAcceptable(f"cannot encode the result as {CONTENT_TYPE}: {exc}") from exc
    if array.ndim == 0 or array.ndim > 2:
        raise NotAcceptable(
            f"cannot encode a {array.ndim}-D array as {CONTENT_TYPE}; expected 1-D or 2-D"
        )
    scores = array.astype(resolve_tensor_dtype(array), copy=False)
    rows = scores.reshape(len(scores), -1)
    return [Record(label={"score": RecordTensor(values=row.copy())}) for row in rows]


def encode(value: Any) -> bytes:
    """Write records, or an array of predictions as ``label["score"]`` records."""
    if isinstance(value, Record):
        value = [value]
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        if all(isinstance(item, Record) for item in value):
            return b"".join(_frame(write_record(record)) for record in value)
        if any(isinstance(item, Record) for item in value):
            raise NotAcceptable(
                f"cannot encode a mix of records and other values as {CONTENT_TYPE}"
            )
    if isinstance(value, dict | str | bytes) or value is None:
        raise NotAcceptable(f"cannot encode a {type(value).__name__} as {CONTENT_TYPE}")
    return b"".join(_frame(write_record(record)) for record in _score_records(value))
