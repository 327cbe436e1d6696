"""Tests for content-type negotiation and the content-type facade of modelyard.serving.codecs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modelyard.serving.codecs as codecs
from modelyard.errors import NotAcceptable, UnsupportedContentType
from modelyard.serving.codecs import SUPPORTED_CONTENT_TYPES, decode, encode, negotiate

CASES = json.loads((Path(__file__).parent / "data" / "negotiation.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[str(c["accept"]) for c in CASES])
def test_negotiate_spec_cases(case: dict[str, Any]) -> None:
    if case["expected"] is None:
        with pytest.raises(NotAcceptable, match="supported: application/json"):
            negotiate(case["accept"], case["default"])
    else:
        assert negotiate(case["accept"], case["default"]) == case["expected"]


def test_negotiate_refuses_an_unsupported_default() -> None:
    with pytest.raises(NotAcceptable, match="'text/html'"):
        negotiate(None, "text/html")


@given(st.text(max_size=200))
@settings(max_examples=300)
def test_negotiate_never_crashes(header: str) -> None:
    try:
        chosen = negotiate(header, "application/json")
    except NotAcceptable:
        return
    assert chosen in SUPPORTED_CONTENT_TYPES


def test_supported_content_types() -> None:
    assert SUPPORTED_CONTENT_TYPES == (
        "application/json",
        "text/csv",
        "text/x-libsvm",
        "text/libsvm",
        "application/x-recordio-protobuf",
    )


@pytest.mark.parametrize(
    "content_type",
    ["text/csv", "text/csv; charset=utf-8", "Text/CSV;Charset=UTF-8", " text/csv ;header=absent"],
)
def test_decode_matches_content_type_with_parameters(content_type: str) -> None:
    assert decode(b"1,2\n", content_type).tolist() == [[1.0, 2.0]]


def test_decode_json_with_charset() -> None:
    assert decode(b'{"a": [1]}', "application/json; charset=utf-8") == {"a": [1]}


def test_decode_csv_honours_charset() -> None:
    assert decode("é,x\n".encode("latin-1"), "text/csv; charset=latin-1").tolist() == [["é", "x"]]


def test_decode_csv_unknown_charset() -> None:
    with pytest.raises(UnsupportedContentType, match="charset 'klingon'"):
        decode(b"1\n", "text/csv; charset=klingon")


def test_decode_unknown_type_names_it_and_the_supported_ones() -> None:
    with pytest.raises(UnsupportedContentType) as info:
        decode(b"<a/>", "application/xml")
    assert "'application/xml'" in str(info.value)
    assert "text/csv" in str(info.value) and "application/x-recordio-protobuf" in str(info.value)


def test_decode_libsvm_alias() -> None:
    assert decode(b"1 0:2\n", "text/libsvm").to_dense().tolist() == [[2.0]]


@pytest.mark.parametrize("accept", SUPPORTED_CONTENT_TYPES)
def test_encode_answers_with_the_accepted_type(accept: str) -> None:
    body, content_type = encode(np.array([[1.0, 2.0]]), accept.upper() + "; q=1")
    assert content_type == accept
    assert isinstance(body, bytes) and body


def test_encode_unknown_type() -> None:
    with pytest.raises(NotAcceptable, match="'image/png'"):
        encode([1], "image/png")


def test_encode_wildcard_is_not_a_content_type() -> None:
    with pytest.raises(NotAcceptable):
        encode([1], "*/*")


def test_exported_members_match_all() -> None:
    exported = {name for name in dir(codecs) if not name.startswith("_")}
    modules = {"content_types", "csv", "json", "libsvm", "negotiation", "protobuf", "recordio"}
    modules |= {"records", "v2", "v2_tensors", "annotations"}
    assert set(codecs.__all__) == exported - modules
    # ruff's isort-style order: CONSTANTS, then Classes, then functions.
    assert codecs.__all__ == sorted(
        codecs.__all__, key=lambda name: (not name.isupper(), not name[0].isupper(), name)
    )
