"""Protocol Buffers wire format, by hand: just what SageMaker's ``Record`` message needs.

Reading walks a message's fields and hands back, per field, either an integer (varint,
fixed32, fixed64) or the bounds of a length-delimited payload; unknown fields are thus
skipped by the caller simply by ignoring them, as protobuf's forward compatibility
requires. Packed repeated scalars are decoded with numpy in one pass (no per-element
Python loop), varints included. Offsets in errors are absolute positions in the body.

Groups (wire types 3 and 4, deprecated since proto2) are not read: SageMaker's schema has
none, and an encoder that writes them is treated as malformed input.

Reference: https://protobuf.dev/programming-guides/encoding/
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from modelyard.errors import PayloadMalformed

__all__ = [
    "FIXED32",
    "FIXED64",
    "LENGTH_DELIMITED",
    "VARINT",
    "decode_varints",
    "encode_varint",
    "encode_varints",
    "field",
    "iter_fields",
]

#: Wire type of int32, uint64, bool, enum.
VARINT = 0
#: Wire type of double, fixed64.
FIXED64 = 1
#: Wire type of strings, bytes, embedded messages and packed repeated fields.
LENGTH_DELIMITED = 2
#: Wire type of float, fixed32.
FIXED32 = 5

_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)
_POSITIONS = np.arange(10)


def _read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    start = pos
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise PayloadMalformed(f"protobuf varint at byte {start} is longer than 10 bytes")
    raise PayloadMalformed(f"protobuf varint at byte {start} is truncated")


def iter_fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_number, wire_type, a, b)`` for each field of ``buf[start:end]``.

    For length-delimited fields ``a:b`` are the payload bounds; otherwise ``a`` is the value
    (fixed-width values as their unsigned integer bits) and ``b`` the offset of the field.
    """
    pos = start
    while pos < end:
        at = pos
        key, pos = _read_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise PayloadMalformed(f"protobuf field number 0 at byte {at}")
        if wire_type == VARINT:
            value, pos = _read_varint(buf, pos, end)
            yield number, wire_type, value, at
        elif wire_type == LENGTH_DELIMITED:
            length, pos = _read_varint(buf, pos, end)
            if length > end - pos:
                raise PayloadMalformed(
                    f"protobuf field {number} at byte {at} is truncated: "
                    f"{length} bytes announced, {end - pos} left"
                )
            yield number, wire_type, pos, pos + length
            pos += length
        elif wire_type in (FIXED32, FIXED64):
            size = 4 if wire_type == FIXED32 else 8
            if size > end - pos:
                raise PayloadMalformed(f"protobuf field {number} at byte {at} is truncated")
            yield number, wire_type, int.from_bytes(buf[pos : pos + size], "little"), at
            pos += size
        else:
            raise PayloadMalformed(
                f"protobuf field {number} at byte {at} has unsupported wire type {wire_type}"
            )


def decode_varints(buf: bytes, start: int, end: int) -> np.ndarray:
    """Decode the packed varints of ``buf[start:end]`` into a uint64 array, vectorised."""
    raw = np.frombuffer(buf, dtype=np.uint8, count=end - start, offset=start)
    if raw.size == 0:
        return np.empty(0, dtype=np.uint64)
    if raw[-1] & 0x80:
        raise PayloadMalformed(f"protobuf packed varints at byte {start} are truncated")
    ends = np.flatnonzero(raw < 0x80)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if int(lengths.max()) > 10:
        raise PayloadMalformed(f"protobuf packed varint at byte {start} is longer than 10 bytes")
    position = np.arange(raw.size) - np.repeat(starts, lengths)
    parts = (raw & 0x7F).astype(np.uint64) << _SHIFTS[position]
    return np.bitwise_or.reduceat(parts, starts)


def encode_varint(value: int) -> bytes:
    """Encode one unsigned integer (below 2**64) as a varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_varints(values: np.ndarray) -> bytes:
    """Encode a uint64 array as packed varints, vectorised (negative int32s: pass their
    64-bit two's complement, as protobuf does)."""
    values = np.asarray(values, dtype=np.uint64).ravel()
    if values.size == 0:
        return b""
    shifted = values[:, None] >> _SHIFTS[None, :]
    # The number of 7-bit groups is how many shifts leave something non-zero (at least 1).
    length = np.maximum(1, np.count_nonzero(shifted, axis=1))
    groups = (shifted & np.uint64(0x7F)).astype(np.uint8)
    groups |= np.where(_POSITIONS[None, :] < (length - 1)[:, None], 0x80, 0).astype(np.uint8)
    packed: bytes = groups[_POSITIONS[None, :] < length[:, None]].tobytes()
    return packed


def field(number: int, wire_type: int, payload: bytes | int) -> bytes:
    """Encode one field: a varint (int payload) or a length-delimited payload (bytes)."""
    key = encode_varint(number << 3 | wire_type)
    if wire_type == VARINT:
        assert isinstance(payload, int)
        return key + encode_varint(payload)
    assert isinstance(payload, bytes)
    return key + encode_varint(len(payload)) + payload
