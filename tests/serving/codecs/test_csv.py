"""Tests for the text/csv codec of modelyard.serving.codecs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelyard.errors import (
    ModelyardError,
    NotAcceptable,
    PayloadMalformed,
    UnsupportedContentType,
)
from modelyard.serving.codecs import decode, encode

CSV = "text/csv"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6)))
def test_round_trip_of_float64_is_exact(array: np.ndarray) -> None:
    body, content_type = encode(array, CSV)
    assert content_type == CSV
    decoded = decode(body, CSV)
    assert decoded.dtype == np.float64
    # Exact, so -0.0, NaN, ±inf and subnormals all survive (a NaN's sign and payload aside).
    np.testing.assert_array_equal(decoded, array)
    numbers = ~np.isnan(array)
    np.testing.assert_array_equal(np.signbit(decoded[numbers]), np.signbit(array[numbers]))


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=1, max_side=8)))
def test_float32_column_reads_back_to_the_same_float32(array: np.ndarray) -> None:
    decoded = decode(encode(array, CSV)[0], CSV)
    assert decoded.shape == (len(array), 1)
    np.testing.assert_array_equal(decoded[:, 0].astype(np.float32), array)


@given(hnp.arrays(np.int64, (3, 4)))
@settings(max_examples=50)
def test_round_trip_of_integers_that_float64_holds(array: np.ndarray) -> None:
    assume(np.all(np.abs(array) < 2**53))
    np.testing.assert_array_equal(decode(encode(array, CSV)[0], CSV), array)


fields = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\t1.é')), max_size=6)


rows_of_fields = st.integers(1, 4).flatmap(
    lambda width: st.lists(st.lists(fields, min_size=width, max_size=width), min_size=1, max_size=5)
)


@given(rows_of_fields)
def test_round_trip_of_strings_with_commas_quotes_and_newlines(rows: list[list[str]]) -> None:
    flat = [field for row in rows for field in row]
    assume(not all(_is_number(field) or field == "" for field in flat))
    decoded = decode(encode(rows, CSV)[0], CSV)
    assert decoded.tolist() == rows


def test_decode_numbers_is_a_float64_matrix() -> None:
    decoded = decode(b"1.5,16.0,14,23.0\n2,3e-2,-4,inf\n", CSV)
    assert decoded.dtype == np.float64
    assert decoded.tolist() == [[1.5, 16.0, 14.0, 23.0], [2.0, 0.03, -4.0, float("inf")]]


def test_decode_empty_fields_are_missing_values() -> None:
    decoded = decode(b"1,,3\n,5,6\n", CSV)
    assert decoded.dtype == np.float64
    np.testing.assert_array_equal(decoded, [[1, np.nan, 3], [np.nan, 5, 6]])


def test_decode_text_keeps_every_field_as_written() -> None:
    assert decode(b"a,1\n b ,2\n", CSV).tolist() == [["a", "1"], [" b ", "2"]]


def test_decode_rfc_4180_quoted_fields() -> None:
    body = b'"aaa","b\r\nbb","ccc"\r\nzzz,"y""yy",xxx\r\n'
    assert decode(body, CSV).tolist() == [["aaa", "b\r\nbb", "ccc"], ["zzz", 'y"yy', "xxx"]]


def test_decode_quoted_numbers_are_numbers() -> None:
    assert decode(b'"1.5","2"\n', CSV).tolist() == [[1.5, 2.0]]


@pytest.mark.parametrize("body", [b"1,2\r\n3,4\r\n", b"1,2\r3,4", b"1,2\n\n3,4\n\n"])
def test_decode_line_ends_and_blank_lines(body: bytes) -> None:
    assert decode(body, CSV).tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_decode_empty_body() -> None:
    assert decode(b"", CSV).shape == (0, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"1,2,3\n4,5\n", "CSV row 2 has 2 fields, expected 3"),
        (b"1,2\n3,4\n5,6,7,8\n", "CSV row 3 has 4 fields, expected 2"),
        (b'"a",b\nc,"d\n', "CSV line 2 is malformed: unexpected end of data"),
        (b'"a"x,b\n', "CSV line 1 is malformed"),
        (b"1,\xff\n", "not valid utf-8 text: byte offset 2"),
    ],
)
def test_decode_malformed_names_the_row(body: bytes, message: str) -> None:
    with pytest.raises(PayloadMalformed, match=message):
        decode(body, CSV)


def test_encode_shapes() -> None:
    assert encode(2.5, CSV)[0] == b"2.5\n"
    assert encode([1, 2, 3], CSV)[0] == b"1\n2\n3\n"
    assert encode(np.array([[1.0, 0.1], [2.0, 1e300]]), CSV)[0] == b"1.0,0.1\n2.0,1e+300\n"
    assert encode(np.array([True, False]), CSV)[0] == b"1\n0\n"
    assert encode(np.array([0.1], dtype=np.float32), CSV)[0] == b"0.1\n"


def test_encode_quotes_only_when_needed() -> None:
    body = encode([["plain", "a,b", 'say "hi"', "two\nlines"], ["", "x", "y", "z"]], CSV)[0]
    assert body == b'plain,"a,b","say ""hi""","two\nlines"\n,x,y,z\n'


def test_encode_lone_empty_field_is_quoted_so_the_row_survives() -> None:
    body = encode(np.array(["", "a"]), CSV)[0]
    assert body == b'""\na\n'
    assert decode(body, CSV).tolist() == [[""], ["a"]]


@pytest.mark.parametrize("value", [{"a": 1}, np.zeros((2, 2, 2)), [[1, 2], [3]], np.array([1j])])
def test_encode_unrepresentable_is_not_acceptable(value: object) -> None:
    with pytest.raises(NotAcceptable, match="text/csv"):
        encode(value, CSV)


@given(st.binary(max_size=200) | st.text(alphabet=',"\r\n1a. ', max_size=60).map(str.encode))
@settings(max_examples=400)
def test_decode_never_crashes(body: bytes) -> None:
    try:
        decoded = decode(body, CSV)
    except ModelyardError:
        return
    assert decoded.ndim == 2


@pytest.mark.parametrize(
    ("body", "charset", "error"),
    [
        (b"xn--", "idna", PayloadMalformed),  # idna raises UnicodeError, not its subclass
        (b"\xff", "punycode", PayloadMalformed),
        (b"1,2", "base64", UnsupportedContentType),  # a codec, but not a text encoding
        (b"1,2", "utf\x008", UnsupportedContentType),  # NUL in the name: ValueError
    ],
)
def test_decode_with_an_odd_charset_is_a_domain_error(
    body: bytes, charset: str, error: type[ModelyardError]
) -> None:
    with pytest.raises(error, match=r"charset|text"):
        decode(body, f"{CSV}; charset={charset}")


CHARSETS = st.sampled_from(
    ["utf-8", "latin-1", "utf-16", "utf-7", "idna", "punycode", "rot13", "hex", "undefined"]
) | st.text(max_size=12)


@given(st.binary(max_size=60), CHARSETS)
@settings(max_examples=300)
def test_decode_never_crashes_whatever_the_charset(body: bytes, charset: str) -> None:
    try:
        decoded = decode(body, f"{CSV}; charset={charset}")
    except ModelyardError:
        return
    assert decoded.ndim == 2
