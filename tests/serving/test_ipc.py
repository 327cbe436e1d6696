"""The frame format between the HTTP process and workers survives any chunking."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from modelyard.serving.ipc import (
    Done,
    Failed,
    Frame,
    FrameReader,
    Infer,
    Invoke,
    Load,
    Metadata,
    Stats,
    Unload,
    encode_frame,
)

_text = st.text(max_size=20)
frames_strategy: st.SearchStrategy[Frame] = st.one_of(
    st.builds(Load, _text, _text),
    st.builds(Unload, _text),
    st.builds(Invoke, _text, st.binary(max_size=2000), _text, st.none() | _text, st.none() | _text),
    st.builds(Infer, _text, st.binary(max_size=500), st.none() | st.integers(0, 2**31)),
    st.builds(Metadata, _text),
    st.builds(Stats),
    st.builds(Done, st.one_of(st.none(), st.binary(), st.dictionaries(_text, st.integers()))),
    st.builds(Failed, _text, _text),
)


@given(
    frames=st.lists(st.tuples(st.integers(0, 2**64 - 1), frames_strategy), max_size=20),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
)
def test_frames_round_trip_however_the_stream_is_cut(
    frames: list[tuple[int, Frame]], cuts: list[int]
) -> None:
    stream = b"".join(encode_frame(rid, frame) for rid, frame in frames)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    reader = FrameReader()
    received = []
    for start, end in itertools.pairwise(points):
        received += reader.feed(stream[start:end])
    assert received == frames


def test_a_partial_frame_waits_for_the_rest() -> None:
    invoke = Invoke("m", b"body", "text/csv", None, "trace=7")
    frame = encode_frame(7, invoke)
    reader = FrameReader()
    assert reader.feed(frame[:5]) == []
    assert reader.feed(frame[5:-1]) == []
    assert reader.feed(frame[-1:]) == [(7, invoke)]


def test_each_kind_has_its_own_byte() -> None:
    kinds = {type(f).KIND for f in (Load("m", "d"), Unload("m"), Stats(), Done(1), Failed("E", ""))}
    assert len(kinds) == 5
