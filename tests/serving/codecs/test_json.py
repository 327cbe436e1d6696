"""Tests for the application/json codec of modelyard.serving.codecs."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelyard.errors import ModelyardError, NotAcceptable, PayloadMalformed
from modelyard.serving.codecs import decode, encode

JSON = "application/json"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_of_python_values(value: Any) -> None:
    body, content_type = encode(value, JSON)
    assert content_type == JSON
    assert decode(body, JSON) == value


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32, np.float16]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
def test_round_trip_of_float_arrays_including_extremes(array: np.ndarray) -> None:
    decoded = np.array(decode(encode(array, JSON)[0], JSON), dtype=array.dtype)
    np.testing.assert_array_equal(decoded.reshape(array.shape), array)


@given(hnp.arrays(dtype=hnp.integer_dtypes() | hnp.unsigned_integer_dtypes(), shape=(3, 2)))
def test_round_trip_of_integer_arrays(array: np.ndarray) -> None:
    assert decode(encode(array, JSON)[0], JSON) == array.tolist()


def test_extreme_floats_are_exact() -> None:
    values = np.array([np.finfo(np.float64).max, np.finfo(np.float64).tiny, 5e-324, -0.0, 0.1])
    decoded = decode(encode(values, JSON)[0], JSON)
    assert decoded == values.tolist()
    assert math.copysign(1.0, decoded[3]) == -1.0


def test_non_finite_floats_become_null() -> None:
    assert decode(encode(np.array([np.nan, np.inf, 1.0]), JSON)[0], JSON) == [None, None, 1.0]


def test_non_contiguous_and_object_arrays_fall_back_to_tolist() -> None:
    grid = np.arange(12.0).reshape(3, 4)
    assert decode(encode(grid[:, ::2], JSON)[0], JSON) == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]
    mixed = np.array([1, "a", None], dtype=object)
    assert decode(encode({"m": mixed}, JSON)[0], JSON) == {"m": [1, "a", None]}


def test_numpy_scalars_and_bytes() -> None:
    value = {"f": np.float32(0.5), "i": np.int64(-3), "b": np.bool_(True), "s": b"hi"}
    assert decode(encode(value, JSON)[0], JSON) == {"f": 0.5, "i": -3, "b": True, "s": "hi"}


def test_string_and_bytes_arrays() -> None:
    assert decode(encode(np.array(["a", "é"]), JSON)[0], JSON) == ["a", "é"]
    assert decode(encode(np.array([b"x", b"yz"]), JSON)[0], JSON) == ["x", "yz"]


def test_unencodable_value_is_not_acceptable() -> None:
    with pytest.raises(NotAcceptable, match="application/json.*object"):
        encode({"x": object()}, JSON)
    with pytest.raises(NotAcceptable):
        encode(b"\xff\xfe", JSON)


def test_malformed_json_names_the_position() -> None:
    with pytest.raises(PayloadMalformed, match="JSON body is malformed.*column 7"):
        decode(b'{"a": }', JSON)


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_decode_never_crashes(body: bytes) -> None:
    with contextlib.suppress(ModelyardError):
        decode(body, JSON)
