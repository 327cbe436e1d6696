"""The wire format between the HTTP process and model worker processes.

A frame is a 13-byte header (payload length u32, request id u64, kind u8, little-endian)
followed by a pickled payload. Frames travel over a Unix socketpair, so there is no
serialisation beyond one ``pickle.dumps`` of a small tuple holding the raw request bytes:
request bodies are decoded inside the worker, keeping the HTTP process's event loop free
for HTTP. Replies carry the id of the request they answer, so many requests can be in
flight on one socket at once (pipelining) and answers matched as they come back.
"""

from __future__ import annotations

import pickle
import struct
from enum import IntEnum
from typing import Any

__all__ = ["HEADER", "FrameReader", "Kind", "encode_frame"]

HEADER = struct.Struct("<IQB")


class Kind(IntEnum):
    """What a frame asks for, or what kind of answer it is."""

    #: Load a model: payload ``(name, model_dir)``.
    LOAD = 1
    #: Unload a model: payload ``name``.
    UNLOAD = 2
    #: SageMaker-style invocation: payload ``(name, body, content_type, accept)``.
    INVOKE = 3
    #: KServe V2 inference: payload ``(name, body, header_length)``.
    INFER = 4
    #: V2 model metadata: payload ``name``.
    METADATA = 5
    #: Worker statistics (memory): payload ``None``.
    STATS = 6
    #: A successful answer: payload is the result.
    OK = 100
    #: A failed answer: payload ``(error class name, message)``.
    ERROR = 101


def encode_frame(request_id: int, kind: Kind, payload: Any) -> bytes:
    """Build one frame."""
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data), request_id, kind) + data


class FrameReader:
    """Splits a byte stream into frames, however the stream was chunked."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, Any]]:
        """Add received bytes; return the complete frames as ``(request_id, kind, payload)``."""
        buffer = self._buffer
        buffer += data
        frames: list[tuple[int, int, Any]] = []
        start = 0
        end = len(buffer)
        header_size = HEADER.size
        # The view must be released before the buffer is resized below.
        with memoryview(buffer) as view:
            while end - start >= header_size:
                length, request_id, kind = HEADER.unpack_from(buffer, start)
                frame_end = start + header_size + length
                if frame_end > end:
                    break
                frames.append(
                    (request_id, kind, pickle.loads(view[start + header_size : frame_end]))
                )
                start = frame_end
        if start:
            del buffer[:start]
        return frames
