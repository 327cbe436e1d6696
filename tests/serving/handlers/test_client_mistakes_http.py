"""Over HTTP: a client's mistake answers 4xx naming the problem, a model's failure 500.

Issue #11. The rule (see ``modelyard.serving.handlers.base``): what goes wrong while
decoding or validating a request is the client's, what goes wrong inside the model's
own computation is the model's. Covered here: KServe V2 on the built-in scikit-learn
runtime (alone and batched under concurrency), and the example models shipped in
``examples/models``, which handle bad input themselves.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelyard.serving.codecs import encode_request
from modelyard.serving.types import InferenceRequest, Tensor
from tests.fixtures.models import predict_error_model, sklearn_failing_model
from tests.servers import model_server
from tests.serving.conftest import N_FEATURES, StartServer, assert_sagemaker_error

EXAMPLES = Path(__file__).parents[3] / "examples"


def v2_body(data: Any, shape: list[int], datatype: str = "FP64") -> dict[str, Any]:
    return {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}


def assert_v2_error(response: httpx.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    for fragment in fragments:
        assert fragment in body["error"]
    return str(body["error"])


def binary_infer(client: httpx.Client, model: str, data: np.ndarray) -> httpx.Response:
    """A V2 request with the tensor as binary data: the way NaN and infinity travel."""
    tensor = Tensor(name="x", shape=list(data.shape), datatype="FP64", data=data)
    body, headers = encode_request(InferenceRequest(inputs=[tensor]), binary_data=True)
    return client.post(f"/v2/models/{model}/infer", content=body, headers=headers)


# -- KServe V2 on the scikit-learn runtime ------------------------------------------------


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            v2_body([1.0] * 5, [1, 5]),
            f"input 'x' (FP64) has 5 features per row (shape [1, 5]); model 'sklearn' "
            f"takes {N_FEATURES}",
        ),
        (
            v2_body(["1", "2", "3", "4"], [1, 4], "BYTES"),
            "input 'x' (BYTES) holds the bytes b'1' at row 1, column 1, where a number is expected",
        ),
        (v2_body([], [0, 4]), "input 'x' (FP64) has no rows (shape [0, 4])"),
        (v2_body([1.0] * 4, [1, 1, 4]), "input 'x' (FP64) is 3-D (shape [1, 1, 4])"),
        (v2_body([1.0], []), "input 'x' (FP64) is 0-D"),
    ],
    ids=["wrong-width", "bytes", "no-rows", "3-d", "scalar"],
)
def test_v2_input_the_model_cannot_take_answers_400(
    client: httpx.Client, body: dict[str, Any], problem: str
) -> None:
    assert_v2_error(client.post("/v2/models/sklearn/infer", json=body), 400, problem)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (np.nan, "has a missing value (NaN) at row 1, column 2; model 'sklearn'"),
        (np.inf, "has an infinite value at row 1, column 2"),
        (-np.inf, "has an infinite value at row 1, column 2"),
    ],
)
def test_v2_non_finite_values_answer_400(client: httpx.Client, value: float, problem: str) -> None:
    data = np.zeros((1, N_FEATURES))
    data[0, 1] = value
    assert_v2_error(binary_infer(client, "sklearn", data), 400, f"input 'x' (FP64) {problem}")


def test_v2_a_failure_inside_the_model_still_answers_500(client: httpx.Client) -> None:
    response = client.post("/v2/models/predict_error/infer", json=v2_body([1.0], [1]))
    assert_v2_error(response, 500, "ValueError: cannot predict")


def test_a_failure_inside_the_estimator_answers_500(
    start_server: StartServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    sklearn_failing_model(store, name="failing")
    predict_error_model(store)
    with httpx.Client(base_url=start_server(store), timeout=60) as http:
        response = http.post("/v2/models/failing/infer", json=v2_body([1.0] * 4, [1, 4]))
        assert_v2_error(response, 500, "model 'failing': transform: LinAlgError")
        response = http.post(
            "/models/failing/invoke", content=b"1,2,3,4", headers={"content-type": "text/csv"}
        )
        message = assert_sagemaker_error(response, 500, "InferenceFailed")
        assert "transform: LinAlgError" in message
        # The same model refuses the client's mistakes before they reach the estimator.
        response = http.post("/v2/models/failing/infer", json=v2_body([1.0] * 3, [1, 3]))
        assert_v2_error(response, 400, "has 3 features per row")


def test_under_concurrency_each_bad_request_gets_its_own_400(
    client: httpx.Client,
) -> None:
    # Requests queued together are batched into one estimator call; the bad ones must be
    # answered 400 on their own while their neighbours get their predictions.
    rng = np.random.default_rng(3)
    good = [rng.normal(size=(1, N_FEATURES)) for _ in range(24)]
    expected = client.post(
        "/v2/models/sklearn/infer",
        json=v2_body(np.vstack(good).ravel().tolist(), [len(good), N_FEATURES]),
    ).json()["outputs"][0]["data"]

    def good_request(index: int) -> tuple[int, Any]:
        body = v2_body(good[index].ravel().tolist(), [1, N_FEATURES])
        response = client.post("/v2/models/sklearn/infer", json=body)
        return response.status_code, response.json()

    def bad_request(index: int) -> tuple[int, Any]:
        if index % 2:
            data = np.full((1, N_FEATURES), np.nan)
            response = binary_infer(client, "sklearn", data)
        else:
            response = client.post("/v2/models/sklearn/infer", json=v2_body([1.0] * 5, [1, 5]))
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        goods = [pool.submit(good_request, index) for index in range(len(good))]
        bads = [pool.submit(bad_request, index) for index in range(12)]
        for index, future in enumerate(goods):
            status, body = future.result()
            assert status == 200, body
            assert body["outputs"][0]["data"] == [expected[index]]
        for future in bads:
            status, body = future.result()
            assert status == 400, body
            assert "missing value (NaN)" in body["error"] or "5 features" in body["error"]


# -- the example models -------------------------------------------------------------------


@pytest.fixture(scope="module")
def examples_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A model server over the example models, prepared as ``make run`` prepares them."""
    spec = importlib.util.spec_from_file_location(
        "modelyard_examples_prepare", EXAMPLES / "prepare.py"
    )
    assert spec is not None and spec.loader is not None
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    home = tmp_path_factory.mktemp("examples")
    assert {"iris", "iris-toolkit", "text-stats"} <= set(prepare.prepare(home))
    with model_server(home / "store" / "models", tmp_path_factory.mktemp("home")) as url:
        yield url


@pytest.fixture(scope="module")
def examples(examples_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=examples_url, timeout=60) as http:
        yield http


def post(http: httpx.Client, model: str, body: bytes, content_type: str) -> httpx.Response:
    return http.post(
        f"/models/{model}/invoke", content=body, headers={"content-type": content_type}
    )


def test_text_stats_counts_words(examples: httpx.Client) -> None:
    response = post(examples, "text-stats", b"The cat and the hat", "text/plain")
    assert response.status_code == 200, response.text
    assert response.json() == {"characters": 19, "words": 5, "content_words": 2}


def test_text_stats_answers_400_for_a_body_that_is_not_utf8(examples: httpx.Client) -> None:
    response = post(examples, "text-stats", b"\xff\xfe", "text/plain")
    message = assert_sagemaker_error(response, 400, "PayloadMalformed")
    assert "handle set status 400 Bad Request" in message
    assert "the body is not UTF-8 text: byte 0: invalid start byte" in message
    # The model is fine: the next good request is answered.
    assert post(examples, "text-stats", b"hello", "text/plain").status_code == 200


def test_iris_toolkit_names_the_species(examples: httpx.Client) -> None:
    response = post(examples, "iris-toolkit", b"[[5.1, 3.5, 1.4, 0.2]]", "application/json")
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["species"] == "setosa"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "kind", "problem"),
    [
        (b"not json", "application/json", 400, "PayloadMalformed", "the body is not JSON"),
        (b"", "application/json", 400, "PayloadMalformed", "the body is not JSON"),
        (
            b'[["a", "b", "c", "d"]]',
            "application/json",
            400,
            "InvalidRequest",
            "the rows are not a table of numbers",
        ),
        (
            b'{"instances": [[1, 2, 3]]}',
            "application/json",
            400,
            "InvalidRequest",
            "send rows of 4 numbers",
        ),
        (b'"string"', "application/json", 400, "InvalidRequest", "not a table of numbers"),
        (b"[[NaN, 1, 2, 3]]", "application/json", 400, "InvalidRequest", "finite number"),
        (b"5.1,3.5,x,0.2\n", "text/csv", 400, "InvalidRequest", "not a table of numbers"),
        (b"5.1,3.5,1.4\n", "text/csv", 400, "InvalidRequest", "got shape [1, 3]"),
        (b"", "text/csv", 400, "InvalidRequest", "got shape [1, 0]"),
        (b"\xff", "text/csv", 400, "PayloadMalformed", "not valid UTF-8"),
        (b"1 0:5.1", "text/x-libsvm", 415, "UnsupportedContentType", "send application/json"),
    ],
)
def test_iris_toolkit_answers_bad_input_as_the_clients_mistake(
    examples: httpx.Client, body: bytes, content_type: str, status: int, kind: str, problem: str
) -> None:
    message = assert_sagemaker_error(
        post(examples, "iris-toolkit", body, content_type), status, kind
    )
    assert problem in message


@pytest.mark.parametrize(
    ("body", "kind", "problem"),
    [
        (b"", "PayloadMalformed", "the request body is empty"),
        (
            b"5.1,3.5,1.4\n",
            "InvalidRequest",
            "3 features per row (shape [1, 3]); model 'iris' takes 4",
        ),
        (b"5.1,3.5,one,0.2\n", "InvalidRequest", "holds the text 'one' at row 1, column 3"),
    ],
)
def test_iris_on_the_builtin_runtime_answers_400(
    examples: httpx.Client, body: bytes, kind: str, problem: str
) -> None:
    message = assert_sagemaker_error(post(examples, "iris", body, "text/csv"), 400, kind)
    assert problem in message
