"""The wire format between the HTTP process and model worker processes.

A frame is a 13-byte header (payload length u32, request id u64, kind u8, little-endian)
followed by a pickled tuple: the fields of one frozen dataclass per kind of frame
(:class:`Load`, :class:`Unload`, :class:`Invoke`, :class:`Infer`, :class:`Metadata`,
:class:`Stats`; answers :class:`Done` and :class:`Failed`). Tuples rather than the
dataclasses themselves go through pickle because a tuple pickles five times faster,
and every request crosses twice. Frames travel over a Unix socketpair; request bodies
stay raw bytes and are decoded inside the worker, keeping the HTTP process's event
loop free for HTTP. Answers carry the id of the request they answer, so many requests
can be in flight on one socket at once (pipelining) and answers matched as they come.

The kinds are neutral about protocols: :class:`Invoke` is a raw body with a content
type (SageMaker's containers and endpoints, MMS), :class:`Infer` an Open Inference
Protocol request; models are named by the cache's key (see ``serving.facade``).
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import IntEnum
from operator import attrgetter
from typing import Any, ClassVar, TypeVar

__all__ = [
    "HEADER",
    "Done",
    "Failed",
    "Frame",
    "FrameReader",
    "Infer",
    "Invoke",
    "Kind",
    "Load",
    "Metadata",
    "Stats",
    "Unload",
    "encode_frame",
]

HEADER = struct.Struct("<IQB")


class Kind(IntEnum):
    """What a frame asks for, or what kind of answer it is (the header's kind byte)."""

    LOAD = 1
    UNLOAD = 2
    INVOKE = 3
    INFER = 4
    METADATA = 5
    STATS = 6
    DONE = 100
    FAILED = 101


F = TypeVar("F")


def _frame(kind: Kind) -> Callable[[type[F]], type[F]]:
    """Make a frozen dataclass a frame of ``kind``: its fields are its wire tuple."""

    def decorate(cls: type[F]) -> type[F]:
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        cls.KIND = kind  # type: ignore[attr-defined]
        # attrgetter of several names returns the tuple in one C call.
        getter = attrgetter(*names) if len(names) > 1 else None
        if getter is not None:
            cls._wire = getter  # type: ignore[attr-defined]
        elif names:
            only = names[0]
            cls._wire = lambda frame: (getattr(frame, only),)  # type: ignore[attr-defined]
        else:
            cls._wire = lambda frame: ()  # type: ignore[attr-defined]
        _DECODERS[kind] = cls
        return cls

    return decorate


_DECODERS: dict[int, Any] = {}


@_frame(Kind.LOAD)
@dataclass(frozen=True, slots=True)
class Load:
    """Load a model from a local folder; answered with what the load measured."""

    KIND: ClassVar[Kind]
    #: The model's key in the cache (and its name for the handler).
    model: str
    #: The unpacked artifact.
    model_dir: str


@_frame(Kind.UNLOAD)
@dataclass(frozen=True, slots=True)
class Unload:
    """Unload a model; answered with the worker's RSS afterwards."""

    KIND: ClassVar[Kind]
    model: str


@_frame(Kind.INVOKE)
@dataclass(frozen=True, slots=True)
class Invoke:
    """A raw body for a model; answered ``(body, content_type, custom_attributes, seconds)``."""

    KIND: ClassVar[Kind]
    model: str
    body: bytes
    content_type: str
    accept: str | None
    #: ``X-Amzn-SageMaker-Custom-Attributes`` of the request, passed to the model.
    custom_attributes: str | None = None


@_frame(Kind.INFER)
@dataclass(frozen=True, slots=True)
class Infer:
    """An Open Inference Protocol request body; answered ``(body, headers, seconds)``."""

    KIND: ClassVar[Kind]
    model: str
    body: bytes
    #: Triton's binary extension: length of the JSON part of the body.
    header_length: int | None


@_frame(Kind.METADATA)
@dataclass(frozen=True, slots=True)
class Metadata:
    """V2 model metadata; answered with a dict."""

    KIND: ClassVar[Kind]
    model: str


@_frame(Kind.STATS)
@dataclass(frozen=True, slots=True)
class Stats:
    """The worker's memory and models; answered with a dict."""

    KIND: ClassVar[Kind]


@_frame(Kind.DONE)
@dataclass(frozen=True, slots=True)
class Done:
    """A successful answer."""

    KIND: ClassVar[Kind]
    value: Any


@_frame(Kind.FAILED)
@dataclass(frozen=True, slots=True)
class Failed:
    """A failed answer: the domain error's class name and message."""

    KIND: ClassVar[Kind]
    error_type: str
    message: str


#: Any frame.
Frame = Load | Unload | Invoke | Infer | Metadata | Stats | Done | Failed


def encode_frame(request_id: int, frame: Frame) -> bytes:
    """Build one frame."""
    data = pickle.dumps(type(frame)._wire(frame), protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[union-attr]
    return HEADER.pack(len(data), request_id, frame.KIND) + data


class FrameReader:
    """Splits a byte stream into frames, however the stream was chunked."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, Frame]]:
        """Add received bytes; return the complete frames as ``(request_id, frame)``."""
        buffer = self._buffer
        buffer += data
        frames: list[tuple[int, Frame]] = []
        start = 0
        end = len(buffer)
        header_size = HEADER.size
        decoders = _DECODERS
        # The view must be released before the buffer is resized below.
        with memoryview(buffer) as view:
            while end - start >= header_size:
                length, request_id, kind = HEADER.unpack_from(buffer, start)
                frame_end = start + header_size + length
                if frame_end > end:
                    break
                wire = pickle.loads(view[start + header_size : frame_end])
                frames.append((request_id, decoders[kind](*wire)))
                start = frame_end
        if start:
            del buffer[:start]
        return frames
