"""Which queued requests the worker answers together (``serving.batching.runs``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from modelyard.serving.batching import runs
from modelyard.serving.ipc import Frame, Infer, Invoke, Load, Unload


def _no_limits(model: str) -> tuple[int | None, float]:
    return None, 0.0


def test_requests_for_one_model_form_one_run_and_barriers_split_them() -> None:
    frames: list[tuple[int, Frame]] = [
        (1, Infer("a", b"", None)),
        (2, Invoke("b", b"", "text/csv", None)),
        (3, Infer("a", b"", None)),
        (4, Unload("a")),
        (5, Infer("a", b"", None)),
    ]
    grouped = [[rid for rid, _ in run] for run in runs(frames, _no_limits)]
    assert grouped == [[1, 3], [2], [4], [5]]


def test_invoke_and_infer_for_one_model_do_not_mix() -> None:
    frames: list[tuple[int, Frame]] = [(1, Infer("a", b"", None)), (2, Invoke("a", b"", "x", None))]
    assert len(runs(frames, _no_limits)) == 2


def test_max_batch_size_caps_runs() -> None:
    frames: list[tuple[int, Frame]] = [(i, Invoke("a", b"", "x", None)) for i in range(7)]
    grouped = runs(frames, lambda model: (3, 0.0))
    assert [len(run) for run in grouped] == [3, 3, 1]


_frames = st.lists(
    st.one_of(
        st.builds(Infer, st.sampled_from("abc"), st.just(b""), st.none()),
        st.builds(Invoke, st.sampled_from("abc"), st.just(b""), st.just("x"), st.none()),
        st.builds(Load, st.sampled_from("abc"), st.just("d")),
        st.builds(Unload, st.sampled_from("abc")),
    ),
    max_size=40,
)


@given(_frames, st.none() | st.integers(1, 5))
def test_every_frame_is_answered_once_and_no_request_crosses_a_barrier(
    frames: list[Frame], cap: int | None
) -> None:
    numbered = list(enumerate(frames))
    grouped = runs(numbered, lambda model: (cap, 0.0))
    flat = [rid for run in grouped for rid, _ in run]
    assert sorted(flat) == list(range(len(frames)))
    barriers = [rid for rid, f in numbered if isinstance(f, Load | Unload)]
    for run in grouped:
        ids = [rid for rid, _ in run]
        kinds = {(type(f), getattr(f, "model", None)) for _, f in run}
        assert len(kinds) == 1  # one kind, one model
        if cap is not None:
            assert len(run) <= cap
        for barrier in barriers:  # all on one side of every barrier
            assert all(i < barrier for i in ids) or all(i >= barrier for i in ids)
