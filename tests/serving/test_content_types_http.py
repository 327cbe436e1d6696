"""SageMaker content types over HTTP, on the built-in scikit-learn runtime.

Bodies are built and answers parsed with ``modelyard.serving.codecs``, the codecs the
server uses, so each test checks the wire format end to end: JSON, CSV, LibSVM and
RecordIO-protobuf in, JSON, CSV and RecordIO-protobuf out, Accept negotiation and the
errors a client gets for what the server cannot read or write.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import joblib  # type: ignore[import-untyped]  # no type information shipped
import numpy as np
import pytest

from modelyard.serving.codecs import array_to_records, decode, encode, records_to_array
from tests.serving.conftest import N_FEATURES, assert_sagemaker_error

RECORDIO = "application/x-recordio-protobuf"

#: Two rows of the toy sklearn model: class 1 (first two features sum > 0), then class 0.
ROWS = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, 0.0, 0.0]])
CLASSES = [1, 0]


@pytest.fixture(scope="module")
def expected(toy_store: Path) -> list[int]:
    """What the estimator itself predicts for ``ROWS``."""
    estimator = joblib.load(toy_store / "sklearn" / "model.joblib")
    assert estimator.n_features_in_ == N_FEATURES
    predicted = estimator.predict(ROWS).tolist()
    assert predicted == CLASSES  # the toy model learned its rule
    return list(predicted)


def invoke(
    client: httpx.Client, body: bytes, content_type: str | None, accept: str | None = None
) -> httpx.Response:
    headers = {}
    if content_type is not None:
        headers["content-type"] = content_type
    if accept is not None:
        headers["accept"] = accept
    return client.post("/models/sklearn/invoke", content=body, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        ROWS.tolist(),
        {"instances": ROWS.tolist()},
        {"inputs": ROWS.tolist()},
        {"instances": [{"features": row} for row in ROWS.tolist()]},
    ],
    ids=["list", "instances", "inputs", "features-objects"],
)
def test_json_in_json_out(client: httpx.Client, body: object, expected: list[int]) -> None:
    response = client.post("/models/sklearn/invoke", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == expected


def test_a_body_without_content_type_is_read_as_json(
    client: httpx.Client, expected: list[int]
) -> None:
    response = invoke(client, encode(ROWS, "application/json")[0], None)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_csv_in_csv_out(client: httpx.Client, expected: list[int]) -> None:
    body, _ = encode(ROWS, "text/csv")
    response = invoke(client, body, "text/csv", accept="text/csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert decode(response.content, "text/csv").ravel().tolist() == expected


def test_csv_with_a_charset_parameter(client: httpx.Client, expected: list[int]) -> None:
    response = invoke(client, b"1,2,3,4\r\n-1,-2,0,0\r\n", "text/csv; charset=utf-8")
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize("content_type", ["text/x-libsvm", "text/libsvm"])
def test_libsvm_in_json_out(client: httpx.Client, content_type: str, expected: list[int]) -> None:
    body = b"0 0:1 1:2 2:3 3:4\n0 0:-1 1:-2\n"
    response = invoke(client, body, content_type)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_recordio_protobuf_in_and_out(client: httpx.Client, expected: list[int]) -> None:
    body, content_type = encode(array_to_records(ROWS), RECORDIO)
    response = invoke(client, body, content_type, accept=RECORDIO)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == RECORDIO
    records = decode(response.content, RECORDIO)
    scores = records_to_array(records, "score", part="label")
    assert scores.ravel().tolist() == expected


def test_recordio_protobuf_in_json_out(client: httpx.Client, expected: list[int]) -> None:
    body, _ = encode(array_to_records(ROWS.astype(np.float32)), RECORDIO)
    response = invoke(client, body, RECORDIO)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_csv_in_recordio_protobuf_out(client: httpx.Client, expected: list[int]) -> None:
    response = invoke(client, encode(ROWS, "text/csv")[0], "text/csv", accept=RECORDIO)
    assert response.status_code == 200, response.text
    records = decode(response.content, RECORDIO)
    assert len(records) == len(expected)
    assert records_to_array(records, "score", part="label").ravel().tolist() == expected


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("*/*", "application/json"),
        ("text/*", "text/csv"),
        ("application/*", "application/json"),
        ("text/csv;q=0.5, application/json", "application/json"),
        ("application/json;q=0.1, text/csv;q=0.9", "text/csv"),
        ("image/png, text/csv;q=0.2", "text/csv"),
        ("TEXT/CSV", "text/csv"),
    ],
)
def test_accept_negotiation_picks_the_best_supported_type(
    client: httpx.Client, accept: str, media_type: str, expected: list[int]
) -> None:
    response = invoke(client, encode(ROWS, "text/csv")[0], "text/csv", accept=accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media_type
    assert np.ravel(decode(response.content, media_type)).tolist() == expected


@pytest.mark.parametrize("accept", ["image/png", "application/xml, text/html", "text/csv;q=0"])
def test_an_unsupported_accept_answers_406(client: httpx.Client, accept: str) -> None:
    response = invoke(client, b"1,2,3,4", "text/csv", accept=accept)
    message = assert_sagemaker_error(response, 406, "NotAcceptable")
    assert "text/csv" in message  # the supported types are listed


@pytest.mark.parametrize("content_type", ["image/png", "application/x-npy", "text/plain"])
def test_an_unknown_content_type_answers_415(client: httpx.Client, content_type: str) -> None:
    response = invoke(client, b"1,2,3,4", content_type)
    message = assert_sagemaker_error(response, 415, "UnsupportedContentType")
    assert content_type in message


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"1,2,3,4\n-1,-2,0\n", "CSV row 2 has 3 fields, expected 4"),
        (b"1,2,3,4\n\xff\xfe,0,0,0\n", "not valid utf-8"),
    ],
)
def test_malformed_csv_answers_400_naming_the_problem(
    client: httpx.Client, body: bytes, problem: str
) -> None:
    message = assert_sagemaker_error(invoke(client, body, "text/csv"), 400, "PayloadMalformed")
    assert problem in message


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[1, 2,", "JSON"),
        (b'{"rows": [[1, 2, 3, 4]]}', "instances"),
    ],
)
def test_malformed_json_answers_400_naming_the_problem(
    client: httpx.Client, body: bytes, problem: str
) -> None:
    response = invoke(client, body, "application/json")
    message = assert_sagemaker_error(response, 400, "PayloadMalformed")
    assert problem in message


def test_malformed_recordio_answers_400(client: httpx.Client) -> None:
    response = invoke(client, b"\x00\x01\x02\x03garbage", RECORDIO)
    message = assert_sagemaker_error(response, 400, "PayloadMalformed")
    assert "RecordIO" in message or "magic" in message


# -- client mistakes answer 400 naming the problem (issue #11) ----------------------------


def invocations(client: httpx.Client, body: bytes, content_type: str) -> httpx.Response:
    """``POST /invocations`` to the toy sklearn model, as SageMaker's runtime sends it."""
    headers = {"content-type": content_type, "x-amzn-sagemaker-target-model": "sklearn.tar.gz"}
    return client.post("/invocations", content=body, headers=headers)


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/csv", "text/x-libsvm", RECORDIO, None]
)
def test_an_empty_body_answers_400(client: httpx.Client, content_type: str | None) -> None:
    message = assert_sagemaker_error(invoke(client, b"", content_type), 400, "PayloadMalformed")
    assert "the request body is empty; model 'sklearn' needs rows of features" in message


@pytest.mark.parametrize(
    ("body", "content_type", "kind", "problem"),
    [
        (
            b"1,2,3,4\n4,five,6,7\n",
            "text/csv",
            "InvalidRequest",
            "the CSV body holds the text 'five' at row 2, column 2, where a number is expected",
        ),
        (
            b"1,2,nan,4\n",
            "text/csv",
            "InvalidRequest",
            "the CSV body has a missing value (NaN) at row 1, column 3",
        ),
        (b"1,2,,4\n", "text/csv", "InvalidRequest", "missing value (NaN) at row 1, column 3"),
        (b"1,2,3,4\n4,5\n", "text/csv", "PayloadMalformed", "CSV row 2 has 2 fields, expected 4"),
        (
            b"1 1:1e400\n",
            "text/x-libsvm",
            "InvalidRequest",
            "the libsvm body has an infinite value at row 1, column 2",
        ),
        (b"1 0:inf\n", "text/x-libsvm", "InvalidRequest", "infinite value at row 1, column 1"),
        (b"1 2:-inf\n", "text/libsvm", "InvalidRequest", "infinite value at row 1, column 3"),
        (b"1 3:nan\n", "text/x-libsvm", "InvalidRequest", "missing value (NaN) at row 1, column 4"),
        (b"1 3:one\n", "text/x-libsvm", "PayloadMalformed", "value is not a number"),
        (
            b"[[1, 2, 3, 4]]",
            "text/csv",
            "InvalidRequest",
            "holds the text '[[1' at row 1, column 1, where a number is expected "
            "(is the body JSON? send it as application/json)",
        ),
        (b'"string"', "application/json", "PayloadMalformed", "a JSON string is not rows"),
        (b"true", "application/json", "PayloadMalformed", "a JSON boolean is not rows"),
        (
            b'{"instances": {"rows": [1, 2, 3, 4]}}',
            "application/json",
            "PayloadMalformed",
            "a JSON object is not rows of features",
        ),
        (
            b'{"inputs": [["a", "b", "c", "d"]]}',
            "application/json",
            "InvalidRequest",
            "the JSON body holds the text 'a' at row 1, column 1",
        ),
        (
            b"[[1, 2, 3, [4]]]",
            "application/json",
            "PayloadMalformed",
            "not a rectangular table",
        ),
        (
            b"[[1, 2, 3, null]]",
            "application/json",
            "InvalidRequest",
            "missing value (NaN) at row 1, column 4",
        ),
        (
            b"[[[1, 2, 3, 4]]]",
            "application/json",
            "InvalidRequest",
            "the JSON body is 3-D (shape [1, 1, 4])",
        ),
        (b"[]", "application/json", "InvalidRequest", "0 features per row"),
    ],
)
def test_a_payload_the_model_cannot_take_answers_400_naming_the_problem(
    client: httpx.Client, body: bytes, content_type: str, kind: str, problem: str
) -> None:
    message = assert_sagemaker_error(invoke(client, body, content_type), 400, kind)
    assert problem in message


@pytest.mark.parametrize(
    ("body", "content_type", "kind", "problem"),
    [
        (
            encode(np.ones((2, 5)), "application/json")[0],
            "application/json",
            "InvalidRequest",
            "the JSON body has 5 features per row (shape [2, 5]); model 'sklearn' takes 4",
        ),
        (
            b'{"instances": [{"features": [1, 2, 3]}]}',
            "application/json",
            "InvalidRequest",
            "the JSON body has 3 features per row (shape [1, 3]); model 'sklearn' takes 4",
        ),
        (
            b"1,2,3,4,5\n",
            "text/csv",
            "InvalidRequest",
            "the CSV body has 5 features per row (shape [1, 5]); model 'sklearn' takes 4",
        ),
        (
            b"1 0:1 4:1\n",
            "text/x-libsvm",
            "PayloadMalformed",
            "libsvm line 1 has feature index 4, out of range for 4 features",
        ),
        (
            encode(array_to_records(np.ones((2, 5), dtype=np.float32)), RECORDIO)[0],
            RECORDIO,
            "InvalidRequest",
            "the RecordIO-protobuf body has 5 features per row (shape [2, 5]); "
            "model 'sklearn' takes 4",
        ),
        (
            encode(array_to_records(np.ones((1, 3), dtype=np.int32)), RECORDIO)[0],
            RECORDIO,
            "InvalidRequest",
            "3 features per row (shape [1, 3])",
        ),
    ],
    ids=["json", "json-features", "csv", "libsvm", "recordio", "recordio-int32"],
)
def test_the_wrong_number_of_features_answers_400_in_every_content_type(
    client: httpx.Client, body: bytes, content_type: str, kind: str, problem: str
) -> None:
    for response in (invoke(client, body, content_type), invocations(client, body, content_type)):
        message = assert_sagemaker_error(response, 400, kind)
        assert problem in message


def test_a_failure_inside_the_model_still_answers_500(client: httpx.Client) -> None:
    response = client.post("/models/predict_error/invoke", json=[1, 2, 3])
    message = assert_sagemaker_error(response, 500, "InferenceFailed")
    assert "ValueError: cannot predict" in message


def test_the_model_answers_again_after_client_mistakes(
    client: httpx.Client, expected: list[int]
) -> None:
    for body in (b"", b"1,x,3,4", b"1,2,3,4,5", b"1,2,nan,4"):
        assert invoke(client, body, "text/csv").status_code == 400
    response = invoke(client, encode(ROWS, "text/csv")[0], "text/csv")
    assert response.status_code == 200, response.text
    assert response.json() == expected
