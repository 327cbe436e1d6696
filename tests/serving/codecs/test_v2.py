"""Tests for the KServe V2 / Open Inference Protocol codec of modelyard.serving.codecs."""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelyard.errors import InferenceFailed, ModelyardError, PayloadMalformed
from modelyard.serving.codecs import (
    DATATYPES,
    HEADER_LENGTH_HEADER,
    datatype_of,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    numpy_dtype,
)
from modelyard.serving.types import InferenceRequest, InferenceResponse, RequestedOutput, Tensor

DATA = Path(__file__).parent / "data"


def header_length(headers: dict[str, str]) -> int | None:
    value = headers.get(HEADER_LENGTH_HEADER)
    return None if value is None else int(value)


# --- spec examples -----------------------------------------------------------------------


def test_spec_request_example_as_published_is_rejected_naming_input1() -> None:
    body = (DATA / "oip_infer_request.json").read_bytes()
    with pytest.raises(
        PayloadMalformed, match=r"input 'input1': 1 elements do not fill shape \[3\]"
    ):
        decode_request(body)


def test_spec_request_example_corrected() -> None:
    document = json.loads((DATA / "oip_infer_request.json").read_text())
    document["inputs"][1]["data"] = [True, False, True]
    request = decode_request(json.dumps(document).encode())
    assert request.id == "42"
    first, second = request.inputs
    assert (first.name, first.shape, first.datatype) == ("input0", [2, 2], "UINT32")
    assert first.data.dtype == np.uint32
    assert first.data.tolist() == [[1, 2], [3, 4]]
    assert second.data.dtype == np.bool_ and second.data.tolist() == [True, False, True]
    assert request.outputs == [RequestedOutput(name="output0", parameters={})]


def test_spec_response_example() -> None:
    published = (DATA / "oip_infer_response.json").read_text()
    with pytest.raises(PayloadMalformed, match="JSON is malformed"):
        decode_response(published.encode())  # the published example misses a comma
    expected = json.loads(published.replace('"42"\n', '"42",\n'))
    data = np.array([1.0, 1.1, 2.0, 2.1, 3.0, 3.1], dtype=np.float32).reshape(3, 2)
    response = InferenceResponse(
        model_name="mymodel",
        id="42",
        outputs=[Tensor(name="output0", shape=[3, 2], datatype="FP32", data=data)],
    )
    body, headers = encode_response(response)
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body) == {"model_name": "mymodel", **expected}


def test_triton_binary_extension_example() -> None:
    header = (DATA / "triton_binary_request_header.json").read_bytes()
    body = header + struct.pack("<4I", 1, 2, 3, 4) + bytes([1, 0, 1])
    request = decode_request(body, header_length=len(header))
    assert request.inputs[0].data.tolist() == [[1, 2], [3, 4]]
    assert request.inputs[1].data.tolist() == [True, False, True]
    assert request.inputs[0].parameters == {}  # binary_data_size is a transport detail
    output = np.arange(6, dtype=np.float32).reshape(3, 2)
    response = InferenceResponse(
        model_name="mymodel",
        outputs=[Tensor(name="output0", shape=[3, 2], datatype="FP32", data=output)],
    )
    out, headers = encode_response(response, request)
    length = int(headers[HEADER_LENGTH_HEADER])
    assert headers["Content-Type"] == "application/octet-stream"
    assert len(out) == length + 24
    assert json.loads(out[:length])["outputs"] == [
        {
            "name": "output0",
            "shape": [3, 2],
            "datatype": "FP32",
            "parameters": {"binary_data_size": 24},
        }
    ]
    assert out[length:] == output.tobytes()


# --- interoperability with tritonclient ----------------------------------------------------


def test_decodes_what_tritonclient_sends() -> None:
    inputs = []
    arrays = {
        "fp32": np.random.default_rng(0).random((2, 3), dtype=np.float32),
        "i64": np.array([[-(2**63), 2**63 - 1]], dtype=np.int64),
        "bool": np.array([True, False]),
        "text": np.array([b"a", "é".encode(), b"\x00\xff"], dtype=object),
        "fp16": np.array([0.5, -2.0], dtype=np.float16),
        "bf16": np.array([1.5, -0.25], dtype=ml_dtypes.bfloat16),
    }
    for name, array in arrays.items():
        datatype = {
            "fp32": "FP32",
            "i64": "INT64",
            "bool": "BOOL",
            "text": "BYTES",
            "fp16": "FP16",
            "bf16": "BF16",
        }[name]
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=name != "i64")  # one input as JSON
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput("out", binary_data=True)]
    body, json_size = triton.InferenceServerClient.generate_request_body(
        inputs, outputs=outputs, request_id="7"
    )
    request = decode_request(body, json_size)
    assert request.id == "7"
    decoded = {tensor.name: tensor.data for tensor in request.inputs}
    np.testing.assert_array_equal(decoded["fp32"], arrays["fp32"])
    np.testing.assert_array_equal(decoded["i64"], arrays["i64"])
    np.testing.assert_array_equal(decoded["bool"], arrays["bool"])
    assert decoded["text"].tolist() == arrays["text"].tolist()
    np.testing.assert_array_equal(decoded["fp16"], arrays["fp16"])
    assert decoded["bf16"].dtype == np.float32
    np.testing.assert_array_equal(decoded["bf16"], arrays["bf16"].astype(np.float32))
    assert request.outputs[0].parameters == {"binary_data": True}


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_reads_our_responses(binary: bool) -> None:
    outputs = {
        "scores": np.array([[0.25, 0.75]], dtype=np.float32),
        "ids": np.array([1, 2, 3], dtype=np.uint64),
        "labels": np.array(["cat", "dog"], dtype=object),
        "flags": np.array([[True], [False]]),
    }
    response = InferenceResponse(
        model_name="m",
        model_version="1",
        id="r",
        outputs=[
            Tensor(name=n, shape=list(a.shape), datatype=datatype_of(a), data=a)
            for n, a in outputs.items()
        ],
    )
    request = InferenceRequest(inputs=[], parameters={"binary_data_output": binary})
    body, headers = encode_response(response, request)
    result = triton.InferResult.from_response_body(body, header_length=header_length(headers))
    assert result.get_response()["id"] == "r"
    np.testing.assert_array_equal(result.as_numpy("scores"), outputs["scores"])
    np.testing.assert_array_equal(result.as_numpy("ids"), outputs["ids"])
    np.testing.assert_array_equal(result.as_numpy("flags"), outputs["flags"])
    labels = result.as_numpy("labels").tolist()
    assert [x if isinstance(x, bytes) else x.encode() for x in labels] == [b"cat", b"dog"]


# --- round-trip properties ------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


def arrays_of(datatype: str, *, json_safe: bool) -> st.SearchStrategy[np.ndarray]:
    if datatype == "BYTES":
        items = st.text(max_size=5).map(str.encode) if json_safe else st.binary(max_size=5)
        return shapes.flatmap(
            lambda shape: st.lists(
                items, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))
            ).map(lambda xs: np.array([*xs, None], dtype=object)[:-1].reshape(shape))
        )
    if datatype == "BF16":
        floats = hnp.arrays(
            np.float32,
            shapes,
            elements={"allow_nan": not json_safe, "allow_infinity": not json_safe},
        )
        return floats.map(lambda a: (a.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32))
    dtype = numpy_dtype(datatype)
    elements = (
        {"allow_nan": False, "allow_infinity": False} if json_safe and dtype.kind == "f" else None
    )
    return hnp.arrays(dtype, shapes, elements=elements)


def same(left: np.ndarray, right: np.ndarray) -> bool:
    if left.dtype.kind == "f":
        return left.shape == right.shape and left.tobytes() == right.tobytes()
    return left.shape == right.shape and left.tolist() == right.tolist()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("datatype", DATATYPES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_request_round_trip_of_every_datatype(
    datatype: str, binary: bool, data: st.DataObject
) -> None:
    array = data.draw(arrays_of(datatype, json_safe=not binary))
    request = InferenceRequest(
        id=data.draw(st.none() | st.text(max_size=5)),
        inputs=[
            Tensor(
                name="x",
                shape=list(array.shape),
                datatype=datatype,
                data=array,
                parameters={"content_type": "np"},
            )
        ],
        outputs=[RequestedOutput(name="y", parameters={"binary_data": binary})],
        parameters={"custom": 1},
    )
    body, headers = encode_request(request, binary_data=binary)
    decoded = decode_request(body, header_length(headers))
    (tensor,) = decoded.inputs
    assert (tensor.name, tensor.shape, tensor.datatype) == ("x", list(array.shape), datatype)
    assert tensor.parameters == {"content_type": "np"}
    assert tensor.data.dtype == numpy_dtype(datatype)
    assert tensor.data.flags.writeable and tensor.data.flags.aligned
    assert same(tensor.data, array)
    assert (decoded.id, decoded.outputs, decoded.parameters) == (
        request.id,
        request.outputs,
        request.parameters,
    )


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_response_round_trip(binary: bool, data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(DATATYPES), min_size=1, max_size=4))
    outputs = []
    for index, datatype in enumerate(chosen):
        array = data.draw(arrays_of(datatype, json_safe=not binary))
        outputs.append(
            Tensor(name=f"o{index}", shape=list(array.shape), datatype=datatype, data=array)
        )
    response = InferenceResponse(
        model_name="m", outputs=outputs, model_version="2", parameters={"p": "q"}
    )
    request = InferenceRequest(inputs=[], id="abc", parameters={"binary_data_output": binary})
    body, headers = encode_response(response, request)
    assert (HEADER_LENGTH_HEADER in headers) == binary
    decoded = decode_response(body, header_length(headers))
    assert (decoded.model_name, decoded.model_version, decoded.id) == ("m", "2", "abc")
    for original, tensor in zip(outputs, decoded.outputs, strict=True):
        assert (tensor.name, tensor.shape, tensor.datatype) == (
            original.name,
            original.shape,
            original.datatype,
        )
        assert same(tensor.data, original.data)


def test_json_data_may_be_nested_or_flat() -> None:
    for data in ([[1, 2, 3], [4, 5, 6]], [1, 2, 3, 4, 5, 6]):
        body = orjson.dumps(
            {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": data}]}
        )
        assert decode_request(body).inputs[0].data.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_per_output_binary_choice_overrides_the_request_default() -> None:
    request = InferenceRequest(
        inputs=[],
        outputs=[
            RequestedOutput(name="a", parameters={"binary_data": False}),
            RequestedOutput(name="b"),
        ],
        parameters={"binary_data_output": True},
    )
    response = InferenceResponse(
        model_name="m",
        outputs=[
            Tensor(name="a", shape=[1], datatype="INT32", data=np.array([1], np.int32)),
            Tensor(name="b", shape=[1], datatype="INT32", data=np.array([2], np.int32)),
        ],
    )
    body, headers = encode_response(response, request)
    length = int(headers[HEADER_LENGTH_HEADER])
    a, b = json.loads(body[:length])["outputs"]
    assert a["data"] == [1] and "parameters" not in a
    assert b["parameters"] == {"binary_data_size": 4} and body[length:] == struct.pack("<i", 2)


# --- validation ---------------------------------------------------------------------------


def request_body(**tensor: Any) -> bytes:
    return orjson.dumps({"inputs": [{"name": "x", **tensor}]})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            request_body(shape=[2], datatype="FP32", data=[1.0]),
            "input 'x': 1 elements do not fill shape \\[2\\]",
        ),
        (
            request_body(shape=[1], datatype="FP31", data=[1.0]),
            "input 'x': unknown datatype 'FP31'",
        ),
        (
            request_body(shape=[1], datatype="FP32"),
            "input 'x' has neither data nor binary_data_size",
        ),
        (
            request_body(shape=[1], datatype="FP32", data=["1.0"]),
            "input 'x': FP32 data holds string values",
        ),
        (
            request_body(shape=[1], datatype="INT32", data=[1.5]),
            "input 'x': INT32 data holds floating-point values",
        ),
        (
            request_body(shape=[1], datatype="UINT8", data=[256]),
            "input 'x': value 256 is out of range for UINT8",
        ),
        (
            request_body(shape=[1], datatype="INT8", data=[-129]),
            "value -129 is out of range for INT8",
        ),
        (
            request_body(shape=[1], datatype="BOOL", data=[1]),
            "input 'x': BOOL data holds integer values",
        ),
        (
            request_body(shape=[1], datatype="FP64", data=[None]),
            "FP64 data holds mixed, null or out-of-range values",
        ),
        (
            request_body(shape=[2], datatype="FP64", data=[[1.0], 2.0]),
            "input 'x': data is not a regular array",
        ),
        (
            request_body(shape=[1], datatype="BYTES", data=[1]),
            "input 'x': BYTES data must be strings, found int",
        ),
        (
            request_body(shape=[-1], datatype="FP32", data=[1.0]),
            "input 'x': shape must be a list of non-negative",
        ),
        (
            request_body(shape=[1], datatype="FP32", data=[1.0], parameters=[]),
            "input 'x': parameters must be a JSON object",
        ),
        (
            request_body(shape=[1], datatype="FP32", parameters={"binary_data_size": 4}),
            "binary_data_size but no Inference-Header-Content-Length",
        ),
        (b'{"inputs": {}}', "inputs must be a JSON array"),
        (b'{"inputs": [{"shape": [1]}]}', "input 0 has no name"),
        (b'{"inputs": [], "id": 5}', "request id must be a string"),
        (b'{"inputs": [], "outputs": [{}]}', "requested output 0 has no name"),
        (b"[]", "inference request must be a JSON object"),
        (b'{"inputs": [', "inference request JSON is malformed"),
    ],
)
def test_malformed_requests_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(PayloadMalformed, match=message):
        decode_request(body)


@pytest.mark.parametrize(
    ("tail", "header_length_delta", "message"),
    [
        (b"\x00" * 3, 0, "input 'x': binary_data_size is 4, 3 bytes left"),
        (b"\x00" * 5, 0, "1 bytes of binary data follow the last input"),
        (b"\x00" * 4, 10_000, "Inference-Header-Content-Length is"),
    ],
)
def test_malformed_binary_requests(tail: bytes, header_length_delta: int, message: str) -> None:
    header = request_body(shape=[1], datatype="FP32", parameters={"binary_data_size": 4})
    with pytest.raises(PayloadMalformed, match=message):
        decode_request(header + tail, len(header) + header_length_delta)


def test_binary_size_must_match_the_shape() -> None:
    header = request_body(shape=[2], datatype="FP32", parameters={"binary_data_size": 4})
    with pytest.raises(
        PayloadMalformed, match="input 'x': 4 bytes of binary data, shape \\[2\\] of FP32 needs 8"
    ):
        decode_request(header + b"\x00" * 4, len(header))


def test_truncated_binary_bytes_element() -> None:
    header = request_body(shape=[1], datatype="BYTES", parameters={"binary_data_size": 6})
    with pytest.raises(
        PayloadMalformed, match="input 'x': BYTES element at byte 0 announces 9 bytes, 2 left"
    ):
        decode_request(header + struct.pack("<I", 9) + b"ab", len(header))


def test_fp32_out_of_range_becomes_infinity_without_warning() -> None:
    body = request_body(shape=[2], datatype="FP32", data=[1e39, -1e39])
    assert decode_request(body).inputs[0].data.tolist() == [float("inf"), float("-inf")]


def test_fp16_out_of_range_integers_become_infinity_without_warning() -> None:
    body = request_body(shape=[2], datatype="FP16", data=[70000, -70000])
    assert decode_request(body).inputs[0].data.tolist() == [float("inf"), float("-inf")]


@pytest.mark.parametrize("binary", [False, True])
def test_shapes_of_more_than_32_dimensions_are_malformed(binary: bool) -> None:
    shape = [1] * 65
    if binary:
        header = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "x",
                        "shape": shape,
                        "datatype": "FP32",
                        "parameters": {"binary_data_size": 4},
                    }
                ]
            }
        )
        body, length = header + struct.pack("<f", 1.0), len(header)
    else:
        body, length = request_body(shape=shape, datatype="FP32", data=[1.0]), None
    with pytest.raises(PayloadMalformed, match=r"input 'x': shape must be .*\(at most 32\)"):
        decode_request(body, length)


def test_encode_response_checks_outputs() -> None:
    bad_shape = InferenceResponse(
        model_name="m", outputs=[Tensor(name="y", shape=[3], datatype="FP32", data=np.zeros(2))]
    )
    with pytest.raises(InferenceFailed, match="output 'y': 2 elements do not fill shape \\[3\\]"):
        encode_response(bad_shape)
    not_text = InferenceResponse(
        model_name="m",
        outputs=[
            Tensor(name="y", shape=[1], datatype="BYTES", data=np.array([b"\xff"], dtype=object))
        ],
    )
    with pytest.raises(InferenceFailed, match="output 'y': BYTES element is not UTF-8 text"):
        encode_response(not_text)
    body, _headers = encode_response(
        not_text, InferenceRequest(inputs=[], parameters={"binary_data_output": True})
    )
    assert body.endswith(struct.pack("<I", 1) + b"\xff")
    unknown = InferenceResponse(
        model_name="m", outputs=[Tensor(name="y", shape=[1], datatype="FP8", data=np.zeros(1))]
    )
    with pytest.raises(InferenceFailed, match="output 'y': unknown datatype 'FP8'"):
        encode_response(unknown)


def test_encode_response_echoes_the_request_id() -> None:
    response = InferenceResponse(model_name="m", outputs=[])
    body, _ = encode_response(response, InferenceRequest(inputs=[], id="req-1"))
    assert json.loads(body) == {"model_name": "m", "id": "req-1", "outputs": []}


@pytest.mark.parametrize(
    ("array", "datatype"),
    [
        (np.zeros(1, np.bool_), "BOOL"),
        (np.zeros(1, np.uint8), "UINT8"),
        (np.zeros(1, np.uint16), "UINT16"),
        (np.zeros(1, np.uint32), "UINT32"),
        (np.zeros(1, np.uint64), "UINT64"),
        (np.zeros(1, np.int8), "INT8"),
        (np.zeros(1, np.int16), "INT16"),
        (np.zeros(1, np.int32), "INT32"),
        (np.zeros(1, np.int64), "INT64"),
        (np.zeros(1, np.float16), "FP16"),
        (np.zeros(1, np.float32), "FP32"),
        (np.zeros(1, np.float64), "FP64"),
        (np.zeros(1, ml_dtypes.bfloat16), "BF16"),
        (np.array(["a"]), "BYTES"),
        (np.array([b"a"]), "BYTES"),
        (np.array([b"a"], dtype=object), "BYTES"),
        (np.zeros(1, ">f4"), "FP32"),
    ],
)
def test_datatype_of_and_numpy_dtype(array: np.ndarray, datatype: str) -> None:
    assert datatype_of(array) == datatype
    if datatype not in ("BYTES", "BF16"):
        assert numpy_dtype(datatype) == array.dtype.newbyteorder("=")


def test_numpy_dtype_of_special_datatypes() -> None:
    assert numpy_dtype("BYTES") == np.dtype(object)
    assert numpy_dtype("BF16") == np.dtype(np.float32)
    with pytest.raises(PayloadMalformed, match="unknown datatype 'STRING'"):
        numpy_dtype("STRING")
    with pytest.raises(InferenceFailed, match="complex128 has no V2 datatype"):
        datatype_of(np.zeros(1, np.complex128))


# --- never crash ----------------------------------------------------------------------------


@given(st.binary(max_size=300), st.none() | st.integers(-5, 400))
@settings(max_examples=300)
def test_decode_request_never_crashes_on_bytes(body: bytes, length: int | None) -> None:
    with contextlib.suppress(ModelyardError):
        decode_request(body, length)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=4)
)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=12,
)
tensor_docs = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=3) | json_values,
        "shape": st.lists(st.integers(-1, 4), max_size=3)
        | st.lists(st.integers(0, 1), min_size=30, max_size=70)
        | json_values,
        "datatype": st.sampled_from([*DATATYPES, "FP8"]) | json_values,
        "data": json_values,
        "parameters": st.fixed_dictionaries(
            {}, optional={"binary_data_size": st.integers(-1, 40) | json_values}
        )
        | json_values,
    },
)
request_docs = st.fixed_dictionaries(
    {"inputs": st.lists(tensor_docs, max_size=3) | json_values},
    optional={"id": json_values, "outputs": json_values, "parameters": json_values},
)


@given(request_docs, st.binary(max_size=40), st.booleans())
@settings(max_examples=150, deadline=None)
def test_decode_request_never_crashes_on_json_documents(
    document: dict[str, Any], tail: bytes, binary: bool
) -> None:
    try:
        header = orjson.dumps(document)
    except orjson.JSONEncodeError:
        return
    try:
        request = decode_request(
            header + tail if binary else header, len(header) if binary else None
        )
    except ModelyardError:
        return
    for tensor in request.inputs:
        assert list(tensor.data.shape) == tensor.shape
        assert tensor.data.dtype == numpy_dtype(tensor.datatype)


@given(st.binary(max_size=300), st.none() | st.integers(-5, 400))
@settings(max_examples=200)
def test_decode_response_never_crashes(body: bytes, length: int | None) -> None:
    with contextlib.suppress(ModelyardError):
        decode_response(body, length)
