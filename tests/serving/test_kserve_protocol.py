"""The Open Inference Protocol (KServe V2) REST API over HTTP, with Triton's extensions.

Reference: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
(health, server and model metadata, model ready, inference), Triton's binary tensor
data extension and its model repository extension.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest

from modelyard.serving.codecs import HEADER_LENGTH_HEADER, decode_response, encode_request
from modelyard.serving.types import InferenceRequest, RequestedOutput, Tensor
from tests.fixtures import models
from tests.serving.conftest import TOY_MODELS, StartServer

ROWS = [[1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, 0.0, 0.0]]


def infer(client: httpx.Client, model: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    return answer


def assert_v2_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    for fragment in fragments:
        assert fragment in body["error"]


# -- health and server metadata -----------------------------------------------------------


def test_server_live(client: httpx.Client) -> None:
    response = client.get("/v2/health/live")
    assert response.status_code == 200
    assert response.json() == {"live": True}


def test_server_ready(client: httpx.Client) -> None:
    response = client.get("/v2/health/ready")
    assert response.status_code == 200
    assert response.json() == {"ready": True}


def test_server_metadata_lists_the_extensions(client: httpx.Client) -> None:
    response = client.get("/v2")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["name"] == "modelyard"
    assert isinstance(metadata["version"], str) and metadata["version"]
    assert {"model_repository", "binary_tensor_data"} <= set(metadata["extensions"])


# -- model metadata and readiness ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v2/models/sklearn", "/v2/models/sklearn/versions/1"])
def test_model_metadata_of_the_sklearn_model(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert metadata["name"] == "sklearn"
    assert metadata["platform"] == "sklearn"
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    outputs = {output["name"]: output for output in metadata["outputs"]}
    assert outputs["predict"] == {"name": "predict", "datatype": "INT64", "shape": [-1]}
    assert outputs["predict_proba"]["shape"] == [-1, 2]


def test_model_metadata_of_an_unknown_model_answers_404(client: httpx.Client) -> None:
    assert_v2_error(client.get("/v2/models/no-such-model"), 404, "no-such-model")


def test_model_ready_follows_load_and_unload(start_server: StartServer, tmp_path: Path) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    url = start_server(store)
    with httpx.Client(base_url=url, timeout=60) as client:
        not_ready = client.get("/v2/models/sum/ready")
        assert not_ready.status_code == 400
        assert not_ready.json() == {"name": "sum", "ready": False}
        assert client.post("/v2/repository/models/sum/load", json={}).status_code == 200
        for path in ("/v2/models/sum/ready", "/v2/models/sum/versions/1/ready"):
            ready = client.get(path)
            assert ready.status_code == 200
            assert ready.json() == {"name": "sum", "ready": True}
        assert client.post("/v2/repository/models/sum/unload", json={}).status_code == 200
        assert client.get("/v2/models/sum/ready").status_code == 400


def test_model_ready_of_an_unknown_model_answers_404(client: httpx.Client) -> None:
    assert_v2_error(client.get("/v2/models/never-asked/ready"), 404, "never-asked")


def test_model_ready_stays_404_after_inferring_an_unknown_model(client: httpx.Client) -> None:
    body = {"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}
    assert client.post("/v2/models/phantom/infer", json=body).status_code == 404
    assert_v2_error(client.get("/v2/models/phantom/ready"), 404, "phantom")


# -- inference, JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datatype", "data", "shape", "expected"),
    [
        ("FP32", [1.5, 2.25, -0.5], [3], [1.5, 2.25, -0.5]),
        ("FP64", [[0.1, 0.2], [0.3, 0.4]], [2, 2], [0.1, 0.2, 0.3, 0.4]),
        ("INT64", [2**40, -3], [2], [2**40, -3]),
        ("BOOL", [True, False, True], [3], [True, False, True]),
        ("BYTES", ["héllo", "world"], [2], ["héllo", "world"]),
    ],
)
def test_infer_echoes_each_datatype(
    client: httpx.Client, datatype: str, data: list[Any], shape: list[int], expected: list[Any]
) -> None:
    body = {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}
    answer = infer(client, "echo", body)
    assert answer["model_name"] == "echo"
    [output] = answer["outputs"]
    assert output["datatype"] == datatype
    assert output["shape"] == shape
    assert output["data"] == expected  # responses carry flat data


def test_infer_sums_inputs_of_several_datatypes(client: httpx.Client) -> None:
    body = {
        "inputs": [
            {"name": "a", "shape": [2], "datatype": "FP32", "data": [1.5, 2.5]},
            {"name": "b", "shape": [1, 2], "datatype": "INT64", "data": [[10, 20]]},
            {"name": "c", "shape": [2], "datatype": "BOOL", "data": [True, True]},
            {"name": "d", "shape": [1], "datatype": "FP64", "data": [0.25]},
        ]
    }
    [output] = infer(client, "sum", body)["outputs"]
    assert output == {"name": "output-0", "shape": [1], "datatype": "FP64", "data": [36.25]}


def test_infer_echoes_the_request_id(client: httpx.Client) -> None:
    body = {
        "id": "request-42",
        "parameters": {"custom": "value", "count": 3},
        "inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}],
    }
    answer = infer(client, "sum", body)
    assert answer["id"] == "request-42"
    assert answer["outputs"][0]["data"] == [1.0]


def test_infer_without_an_id_answers_without_one(client: httpx.Client) -> None:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    assert "id" not in infer(client, "sum", body)


@pytest.mark.parametrize(
    "path", ["/v2/models/sklearn/infer", "/v2/models/sklearn/versions/1/infer"]
)
def test_infer_named_outputs_of_the_sklearn_model(client: httpx.Client, path: str) -> None:
    body = {
        "inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": ROWS}],
        "outputs": [{"name": "predict_proba"}, {"name": "predict"}],
    }
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert [o["name"] for o in outputs] == ["predict_proba", "predict"]
    proba, predict = outputs
    assert predict["datatype"] == "INT64"
    assert predict["data"] == [1, 0]
    assert proba["shape"] == [2, 2]
    probabilities = np.array(proba["data"]).reshape(2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), [1.0, 1.0])
    assert probabilities[0, 1] > 0.5 > probabilities[1, 1]


def test_infer_without_requested_outputs_answers_predict(client: httpx.Client) -> None:
    body = {"inputs": [{"name": "input-0", "shape": [4], "datatype": "FP32", "data": ROWS[0]}]}
    [output] = infer(client, "sklearn", body)["outputs"]
    assert output["name"] == "predict"
    assert output["data"] == [1]


def test_infer_an_unknown_output_answers_400_naming_it(client: httpx.Client) -> None:
    body = {
        "inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": ROWS[:1]}],
        "outputs": [{"name": "embedding"}],
    }
    response = client.post("/v2/models/sklearn/infer", json=body)
    assert_v2_error(response, 400, "embedding", "predict_proba")


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        (b"{not json", ("malformed",)),
        (b"[]", ("JSON object",)),
        (
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP99", "data": [1, 2]}]}',
            ("'x'", "FP99"),
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}',
            ("'x'",),
        ),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}', ("'x'", "shape")),
    ],
    ids=["not-json", "not-object", "bad-datatype", "shape-mismatch", "no-shape"],
)
def test_malformed_infer_requests_answer_400(
    client: httpx.Client, body: bytes, fragments: tuple[str, ...]
) -> None:
    response = client.post(
        "/v2/models/echo/infer", content=body, headers={"content-type": "application/json"}
    )
    assert_v2_error(response, 400, *fragments)


def test_infer_on_an_unknown_model_answers_404(client: httpx.Client) -> None:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    assert_v2_error(client.post("/v2/models/nowhere/infer", json=body), 404, "nowhere")


def test_a_predict_error_answers_500_in_the_v2_shape(client: httpx.Client) -> None:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    response = client.post("/v2/models/predict_error/infer", json=body)
    assert_v2_error(response, 500, "ValueError", "cannot predict")


def test_a_load_error_answers_500_in_the_v2_shape(client: httpx.Client) -> None:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    response = client.post("/v2/models/load_error/infer", json=body)
    assert_v2_error(response, 500, "weights are corrupt")


# -- inference, binary tensor data extension ---------------------------------------------------


def binary_request(
    inputs: list[Tensor], outputs: list[RequestedOutput] | None = None, **parameters: Any
) -> tuple[bytes, dict[str, str]]:
    request = InferenceRequest(inputs=inputs, outputs=outputs or [], parameters=parameters)
    return encode_request(request, binary_data=True)


def decoded(response: httpx.Response) -> dict[str, np.ndarray]:
    assert response.status_code == 200, response.text
    raw_length = response.headers.get(HEADER_LENGTH_HEADER)
    answer = decode_response(response.content, int(raw_length) if raw_length else None)
    return {tensor.name: tensor.data for tensor in answer.outputs}


def test_binary_inputs_and_outputs_round_trip(client: httpx.Client) -> None:
    values = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    body, headers = binary_request(
        [Tensor(name="x", shape=[2, 3], datatype="FP32", data=values)], binary_data_output=True
    )
    assert HEADER_LENGTH_HEADER in headers
    response = client.post("/v2/models/echo/infer", content=body, headers=headers)
    assert response.headers["content-type"] == "application/octet-stream"
    header_length = int(response.headers[HEADER_LENGTH_HEADER])
    header = orjson.loads(response.content[:header_length])
    assert header["outputs"][0]["parameters"]["binary_data_size"] == values.nbytes
    assert response.content[header_length:] == values.tobytes()
    result = decoded(response)["output-0"]
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, values)


def test_binary_bytes_tensors_use_length_prefixed_elements(client: httpx.Client) -> None:
    items = [b"\x00\xffraw", b"", "text ünïcode".encode()]
    array = np.array(items, dtype=object)
    body, headers = binary_request(
        [Tensor(name="x", shape=[3], datatype="BYTES", data=array)],
        [RequestedOutput(name="output-0", parameters={"binary_data": True})],
    )
    response = client.post("/v2/models/echo/infer", content=body, headers=headers)
    header_length = int(response.headers[HEADER_LENGTH_HEADER])
    tail = response.content[header_length:]
    expected = b"".join(struct.pack("<I", len(item)) + item for item in items)
    assert tail == expected
    assert decoded(response)["output-0"].tolist() == items


def test_binary_inputs_with_json_outputs(client: httpx.Client) -> None:
    values = np.array([[1, 2, 3, 4], [-1, -2, 0, 0]], dtype=np.float64)
    body, headers = binary_request(
        [Tensor(name="input-0", shape=[2, 4], datatype="FP64", data=values)],
        [RequestedOutput(name="predict")],
    )
    response = client.post("/v2/models/sklearn/infer", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert HEADER_LENGTH_HEADER.lower() not in response.headers
    assert response.json()["outputs"][0]["data"] == [1, 0]


def test_a_hand_built_binary_request(client: httpx.Client) -> None:
    # As a client without our codecs writes it: JSON header, then raw little-endian data.
    raw = np.array([3, 4, 5], dtype="<i4").tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [3],
                    "datatype": "INT32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ],
            "outputs": [{"name": "output-0", "parameters": {"binary_data": False}}],
        }
    )
    response = client.post(
        "/v2/models/sum/infer",
        content=header + raw,
        headers={
            "content-type": "application/octet-stream",
            HEADER_LENGTH_HEADER: str(len(header)),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [12.0]


@pytest.mark.parametrize(
    ("header_length", "fragment"),
    [("abc", "Inference-Header-Content-Length"), ("9999", "9999")],
)
def test_a_bad_header_length_answers_400(
    client: httpx.Client, header_length: str, fragment: str
) -> None:
    body = b'{"inputs": []}'
    response = client.post(
        "/v2/models/echo/infer", content=body, headers={HEADER_LENGTH_HEADER: header_length}
    )
    assert_v2_error(response, 400, fragment)


def test_binary_data_shorter_than_declared_answers_400(client: httpx.Client) -> None:
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [4],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 32},
                }
            ]
        }
    )
    response = client.post(
        "/v2/models/echo/infer",
        content=header + b"\x00" * 8,
        headers={HEADER_LENGTH_HEADER: str(len(header))},
    )
    assert_v2_error(response, 400, "'x'", "binary_data_size")


# -- model repository extension -------------------------------------------------------------


def test_repository_index_lists_every_model_with_its_state(
    start_server: StartServer, toy_store: Path
) -> None:
    url = start_server(toy_store)
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/v2/repository/models/sum/load", json={}).status_code == 200
        failed = client.post("/v2/repository/models/load_error/load", json={})
        assert_v2_error(failed, 500, "weights are corrupt")
        response = client.post("/v2/repository/index", json={})
        assert response.status_code == 200
        rows = {row["name"]: row for row in response.json()}
        assert sorted(rows) == sorted(TOY_MODELS)
        assert rows["sum"] == {"name": "sum", "version": "1", "state": "READY", "reason": ""}
        assert rows["load_error"]["state"] == "UNAVAILABLE"
        assert "weights are corrupt" in rows["load_error"]["reason"]
        assert rows["echo"]["state"] == "UNAVAILABLE"
        ready_only = client.post("/v2/repository/index", json={"ready": True}).json()
        assert [row["name"] for row in ready_only] == ["sum"]
        # An empty body is an empty options object.
        assert len(client.post("/v2/repository/index").json()) == len(TOY_MODELS)


def test_repository_load_and_unload(start_server: StartServer, tmp_path: Path) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    url = start_server(store)
    with httpx.Client(base_url=url, timeout=60) as client:
        loaded = client.post("/v2/repository/models/sum/load", json={})
        assert loaded.status_code == 200
        assert loaded.json() == {}
        # Loading a loaded model succeeds, as in Triton.
        assert client.post("/v2/repository/models/sum/load").status_code == 200
        assert client.get("/models/sum").json()["state"] == "ready"
        unloaded = client.post("/v2/repository/models/sum/unload", json={})
        assert unloaded.status_code == 200
        assert unloaded.json() == {}
        assert client.get("/models/sum").status_code == 404
        # Unloading it again succeeds, as in Triton; an unknown model is a 404.
        assert client.post("/v2/repository/models/sum/unload", json={}).status_code == 200
        missing = client.post("/v2/repository/models/no-such-model/unload", json={})
        assert_v2_error(missing, 404, "no-such-model")
        # The model stays available: inference loads it again.
        body = {"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}]}
        assert infer(client, "sum", body)["outputs"][0]["data"] == [3.0]


def test_repository_load_of_an_unknown_model_answers_404(client: httpx.Client) -> None:
    response = client.post("/v2/repository/models/no-such-model/load", json={})
    assert_v2_error(response, 404, "no-such-model")


def test_repository_load_with_a_malformed_body_answers_400(client: httpx.Client) -> None:
    response = client.post(
        "/v2/repository/models/sum/load",
        content=b"[1]",
        headers={"content-type": "application/json"},
    )
    assert_v2_error(response, 400, "JSON object")
