"""The frame format between the HTTP process and workers survives any chunking."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from modelyard.serving.ipc import FrameReader, Kind, encode_frame

payloads = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.text(max_size=20), st.binary(max_size=500), st.text(max_size=30)),
    st.none(),
    st.dictionaries(st.text(max_size=5), st.integers()),
)


@given(
    frames=st.lists(
        st.tuples(st.integers(0, 2**64 - 1), st.sampled_from(list(Kind)), payloads), max_size=20
    ),
    cuts=st.lists(st.integers(0, 10_000), max_size=30),
)
def test_frames_round_trip_however_the_stream_is_cut(
    frames: list[tuple[int, Kind, object]], cuts: list[int]
) -> None:
    stream = b"".join(encode_frame(rid, kind, payload) for rid, kind, payload in frames)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    reader = FrameReader()
    received = []
    for start, end in itertools.pairwise(points):
        received += reader.feed(stream[start:end])
    assert received == [(rid, int(kind), payload) for rid, kind, payload in frames]


def test_a_partial_frame_waits_for_the_rest() -> None:
    frame = encode_frame(7, Kind.INVOKE, ("m", b"body", "text/csv", None))
    reader = FrameReader()
    assert reader.feed(frame[:5]) == []
    assert reader.feed(frame[5:-1]) == []
    assert reader.feed(frame[-1:]) == [(7, Kind.INVOKE, ("m", b"body", "text/csv", None))]
