"""Tests for the text/x-libsvm codec of modelyard.serving.codecs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import ModelyardError, NotAcceptable, PayloadMalformed
from modelyard.serving.codecs import LibSVMData, decode, encode
from modelyard.serving.codecs.libsvm import MAX_DENSE

LIBSVM = "text/x-libsvm"


def assert_same(left: LibSVMData, right: LibSVMData) -> None:
    np.testing.assert_array_equal(left.labels, right.labels)
    np.testing.assert_array_equal(left.indptr, right.indptr)
    np.testing.assert_array_equal(left.indices, right.indices)
    np.testing.assert_array_equal(left.values, right.values)


@st.composite
def libsvm_data(draw: st.DrawFn) -> LibSVMData:
    n_rows = draw(st.integers(1, 6))
    counts = draw(st.lists(st.integers(0, 5), min_size=n_rows, max_size=n_rows))
    total = sum(counts)
    labels = draw(st.lists(st.floats() | st.just(float("nan")), min_size=n_rows, max_size=n_rows))
    indices = draw(st.lists(st.integers(0, 2**62), min_size=total, max_size=total))
    values = draw(st.lists(st.floats(), min_size=total, max_size=total))
    return LibSVMData(
        labels=np.array(labels, dtype=np.float64),
        indptr=np.cumsum([0, *counts]).astype(np.int64),
        indices=np.array(indices, dtype=np.int64),
        values=np.array(values, dtype=np.float64),
    )


@given(libsvm_data())
def test_round_trip(data: LibSVMData) -> None:
    body, content_type = encode(data, LIBSVM)
    assert content_type == LIBSVM
    assert_same(decode(body, LIBSVM), data)


@given(
    st.lists(st.lists(st.floats(allow_nan=False), min_size=3, max_size=3), min_size=1, max_size=5)
)
def test_dense_array_round_trips_through_to_dense(rows: list[list[float]]) -> None:
    dense = np.array(rows)
    decoded = decode(encode(dense, LIBSVM)[0], LIBSVM)
    np.testing.assert_array_equal(decoded.labels, np.zeros(len(rows)))
    np.testing.assert_array_equal(decoded.to_dense(3), dense)


def test_decode_example() -> None:
    data = decode(b"1 0:1.5 3:2\n0\t1:-1e3\n2:5\n\n", LIBSVM)
    np.testing.assert_array_equal(data.labels, [1.0, 0.0, np.nan])
    assert data.indptr.tolist() == [0, 2, 3, 4]
    assert data.indices.tolist() == [0, 3, 1, 2]
    assert data.values.tolist() == [1.5, 2.0, -1000.0, 5.0]
    assert data.n_rows == 3
    assert data.to_dense().tolist() == [[1.5, 0, 0, 2], [0, -1000, 0, 0], [0, 0, 5, 0]]


def test_one_based_indices_are_kept_as_written() -> None:
    data = decode(b"1 1:10 2:20\n", LIBSVM)
    assert data.indices.tolist() == [1, 2]
    assert data.to_dense().tolist() == [[0.0, 10.0, 20.0]]
    assert encode(data, LIBSVM)[0] == b"1.0 1:10.0 2:20.0\n"


def test_label_only_line_is_a_row_of_zeros() -> None:
    assert decode(b"3\n1 0:1\n", LIBSVM).to_dense().tolist() == [[0.0], [1.0]]


def test_to_dense_sums_repeated_indices_and_checks_width() -> None:
    data = decode(b"0 1:1 1:2\n0 4:1\n", LIBSVM)
    assert data.to_dense(5)[0].tolist() == [0, 3, 0, 0, 0]
    with pytest.raises(
        PayloadMalformed, match="libsvm line 2 has feature index 4, out of range for 3"
    ):
        data.to_dense(3)


def test_encode_dense_leaves_zeros_out() -> None:
    assert encode(np.array([[0.0, 1.5, 0.0], [0.0, 0.0, 0.0]]), LIBSVM)[0] == b"0.0 1:1.5\n0.0\n"
    assert encode([1.0, 0.0, 2.0], LIBSVM)[0] == b"0.0 0:1.0 2:2.0\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"1 0:1\nx 1:2\n", "libsvm line 2 token 1 'x': label is not a number"),
        (b"1 0:1 2\n", "libsvm line 1 token 3 '2': expected index:value"),
        (b"1 0:1 1:2:3\n", "libsvm line 1 token 3 '1:2:3': expected index:value"),
        (b"1 a:1\n", "libsvm line 1 token 2 'a:1': index is not a non-negative integer"),
        (b"1 -1:1\n", "libsvm line 1 token 2 '-1:1': index is not a non-negative integer"),
        (b"1 1.5:1\n", "libsvm line 1 token 2 '1.5:1': index is not a non-negative integer"),
        (b"1 0:x\n", "libsvm line 1 token 2 '0:x': value is not a number"),
        (b"\n\n1 0:1 :2\n", "libsvm line 3 token 3 ':2': index is not"),
        (b"1 99999999999999999999:1\n", "index is too large"),
        (b"1 0:\xff\n", "not valid UTF-8: byte offset 4"),
    ],
)
def test_decode_malformed_names_line_and_token(body: bytes, message: str) -> None:
    with pytest.raises(PayloadMalformed, match=message):
        decode(body, LIBSVM)


@pytest.mark.parametrize("value", [{"a": 1}, "1 0:1", np.zeros((2, 2, 2))])
def test_encode_unrepresentable_is_not_acceptable(value: object) -> None:
    with pytest.raises(NotAcceptable, match="text/x-libsvm"):
        encode(value, LIBSVM)


@given(
    st.binary(max_size=200)
    | st.text(alphabet=" \t\n:0123456789.-eanx", max_size=60).map(str.encode)
)
@settings(max_examples=400)
def test_decode_never_crashes(body: bytes) -> None:
    try:
        data = decode(body, LIBSVM)
    except ModelyardError:
        return
    assert len(data.indptr) == data.n_rows + 1
    assert data.indptr[-1] == len(data.indices) == len(data.values)
    # As the scikit-learn runtime densifies: as wide as the model, or refused.
    try:
        dense = data.to_dense(4)
    except PayloadMalformed:
        assert int(data.indices.max()) >= 4
        return
    assert dense.shape == (data.n_rows, 4)


@pytest.mark.parametrize(
    ("body", "n_features", "message"),
    [
        (b"1 4000000000:1\n", None, "libsvm line 1 has feature index 4000000000: 1 rows"),
        (b"1 9223372036854775806:1\n", None, "feature index 9223372036854775806"),
        (b"1 0:1\n" * 3, MAX_DENSE // 2, "libsvm body has 3 rows of 1073741824 features"),
    ],
)
def test_to_dense_refuses_matrices_too_large_to_attempt(
    body: bytes, n_features: int | None, message: str
) -> None:
    data = decode(body, LIBSVM)
    with pytest.raises(PayloadMalformed, match=message):
        data.to_dense(n_features)
