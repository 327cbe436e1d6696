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
