"""NVIDIA's ``tritonclient`` (HTTP) against the model server: the V2 protocol as Triton clients speak it.

Every call goes through tritonclient's own request building and response parsing,
including its binary tensor data extension (the default) and its repository API.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as httpclient  # type: ignore[import-untyped]  # no type information
from tritonclient.utils import InferenceServerException  # type: ignore[import-untyped]

from tests.fixtures import models
from tests.servers import model_server

ROWS = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, 0.0, 0.0]])


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpclient.InferenceServerClient]:
    """A client of a server over a sum, an echo, a sklearn and a ``lifecycle`` (sum) model.

    ``lifecycle`` is loaded and unloaded by one test only, so states seen there are its own.
    """
    store = tmp_path_factory.mktemp("triton") / "store"
    models.sum_model(store)
    models.sum_model(store, name="lifecycle")
    models.memory_hog_model(store, name="echo", mib=1)
    models.sklearn_model(store, n_features=4)
    with model_server(store, tmp_path_factory.mktemp("home")) as url:
        client = httpclient.InferenceServerClient(url=url.removeprefix("http://"))
        try:
            yield client
        finally:
            client.close()


def sklearn_input(binary_data: bool) -> httpclient.InferInput:
    tensor = httpclient.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=binary_data)
    return tensor


def test_the_server_lifecycle_through_tritonclient(
    triton: httpclient.InferenceServerClient,
) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    metadata = triton.get_server_metadata()
    assert metadata["name"] == "modelyard"
    assert "binary_tensor_data" in metadata["extensions"]

    index = {row["name"]: row for row in triton.get_model_repository_index()}
    assert sorted(index) == ["echo", "lifecycle", "sklearn", "sum"]
    assert index["lifecycle"]["state"] == "UNAVAILABLE"
    assert not triton.is_model_ready("lifecycle")

    triton.load_model("lifecycle")
    assert triton.is_model_ready("lifecycle")
    assert triton.is_model_ready("lifecycle", model_version="1")
    index = {row["name"]: row for row in triton.get_model_repository_index()}
    assert index["lifecycle"]["state"] == "READY"

    metadata = triton.get_model_metadata("sklearn")
    assert metadata["name"] == "sklearn"
    assert metadata["inputs"][0]["shape"] == [-1, 4]
    assert {"predict", "predict_proba"} <= {output["name"] for output in metadata["outputs"]}

    triton.unload_model("lifecycle")
    assert not triton.is_model_ready("lifecycle")


@pytest.mark.parametrize("binary_data", [True, False], ids=["binary", "json"])
def test_infer_sklearn_with_requested_outputs(
    triton: httpclient.InferenceServerClient, binary_data: bool
) -> None:
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=binary_data),
        # The other output in the other form: one response mixes JSON and binary data.
        httpclient.InferRequestedOutput("predict_proba", binary_data=not binary_data),
    ]
    result = triton.infer(
        "sklearn", [sklearn_input(binary_data)], outputs=outputs, request_id="r-1"
    )
    response = result.get_response()
    assert response["model_name"] == "sklearn"
    assert response["id"] == "r-1"
    predicted = result.as_numpy("predict")
    assert predicted is not None
    assert predicted.dtype == np.int64
    assert predicted.tolist() == [1, 0]
    proba = result.as_numpy("predict_proba")
    assert proba is not None
    assert proba.shape == (2, 2)
    np.testing.assert_allclose(proba.sum(axis=1), [1.0, 1.0])
    by_name = {output["name"]: output for output in response["outputs"]}
    assert ("binary_data_size" in by_name["predict"].get("parameters", {})) is binary_data
    assert ("binary_data_size" in by_name["predict_proba"].get("parameters", {})) is not (
        binary_data
    )


def test_infer_without_requested_outputs(triton: httpclient.InferenceServerClient) -> None:
    result = triton.infer("sklearn", [sklearn_input(binary_data=True)])
    predicted = result.as_numpy("predict")
    assert predicted is not None
    assert predicted.tolist() == [1, 0]


@pytest.mark.parametrize("binary_data", [True, False], ids=["binary", "json"])
def test_infer_several_datatypes(
    triton: httpclient.InferenceServerClient, binary_data: bool
) -> None:
    arrays: dict[str, np.ndarray] = {
        "fp32": np.array([[0.5, 1.5]], dtype=np.float32),
        "int64": np.array([7, -2], dtype=np.int64),
        "int32": np.array([3], dtype=np.int32),
        "bool": np.array([True, False, True]),
    }
    datatypes = {"fp32": "FP32", "int64": "INT64", "int32": "INT32", "bool": "BOOL"}
    inputs = []
    for name, array in arrays.items():
        tensor = httpclient.InferInput(name, list(array.shape), datatypes[name])
        tensor.set_data_from_numpy(array, binary_data=binary_data)
        inputs.append(tensor)
    output = httpclient.InferRequestedOutput("output-0", binary_data=binary_data)
    result = triton.infer("sum", inputs, outputs=[output])
    total = result.as_numpy("output-0")
    assert total is not None
    assert total.tolist() == [0.5 + 1.5 + 7 - 2 + 3 + 2]


@pytest.mark.parametrize("binary_data", [True, False], ids=["binary", "json"])
def test_infer_bytes_tensors(triton: httpclient.InferenceServerClient, binary_data: bool) -> None:
    items = np.array([b"alpha", b"", "b\xc3\xa9ta".encode("latin-1")], dtype=object)
    tensor = httpclient.InferInput("text", [3], "BYTES")
    tensor.set_data_from_numpy(items, binary_data=binary_data)
    output = httpclient.InferRequestedOutput("output-0", binary_data=binary_data)
    result = triton.infer("echo", [tensor], outputs=[output])
    echoed = result.as_numpy("output-0")
    assert echoed is not None
    # tritonclient gives bytes for binary BYTES outputs and str for JSON ones.
    as_bytes = [item if isinstance(item, bytes) else item.encode() for item in echoed.tolist()]
    assert as_bytes == items.tolist()


def test_errors_reach_tritonclient_with_status_and_message(
    triton: httpclient.InferenceServerClient,
) -> None:
    with pytest.raises(InferenceServerException) as unknown:
        triton.get_model_metadata("no-such-model")
    assert unknown.value.status() == "404"
    assert "no-such-model" in unknown.value.message()

    with pytest.raises(InferenceServerException) as wrong_output:
        triton.infer(
            "sklearn",
            [sklearn_input(binary_data=True)],
            outputs=[httpclient.InferRequestedOutput("embedding")],
        )
    assert wrong_output.value.status() == "400"
    assert "embedding" in wrong_output.value.message()

    with pytest.raises(InferenceServerException) as not_there:
        triton.load_model("no-such-model")
    assert "no-such-model" in not_there.value.message()
