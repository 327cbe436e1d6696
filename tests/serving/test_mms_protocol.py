"""Multi Model Server's inference API and the SageMaker inference toolkit, over HTTP.

MMS handlers answer ``POST /predictions/{model}`` (and ``/invocations``, as in a SageMaker
MMS container); inference toolkit scripts (``model_fn``/``predict_fn``) answer
``/invocations`` with the toolkit's default JSON, CSV and NPY input handling.
"""

from __future__ import annotations

import httpx
import pytest

from tests.serving.conftest import assert_sagemaker_error

TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"


def test_a_module_level_mms_handler_answers_predictions(client: httpx.Client) -> None:
    response = client.post("/predictions/mms", json=[1, 2, 3])
    assert response.status_code == 200, response.text
    assert response.json() == {"sum": 6}
    assert response.headers["content-type"].startswith("application/json")


def test_an_mms_handler_sees_the_request_content_type(client: httpx.Client) -> None:
    # The handler sums JSON lists and echoes any other body: the text must come back as is.
    response = client.post(
        "/predictions/mms", content=b"[1, 2]", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert response.content == b"[1, 2]"


def test_an_mms_handler_class_answers_with_the_content_type_it_set(client: httpx.Client) -> None:
    response = client.post("/predictions/mms_class", json=[1, 2, 3])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"scaled_sum": 18}


def test_predictions_accept_a_version_in_the_path(client: httpx.Client) -> None:
    response = client.post("/predictions/mms_class/1.0", json=[2])
    assert response.status_code == 200, response.text
    assert response.json() == {"scaled_sum": 6}


def test_an_mms_handler_answers_invocations_too(client: httpx.Client) -> None:
    response = client.post("/invocations", json=[4, 4], headers={TARGET_MODEL: "mms"})
    assert response.status_code == 200, response.text
    assert response.json() == {"sum": 8}


def test_predictions_of_an_unknown_model_answer_404_in_the_mms_shape(
    client: httpx.Client,
) -> None:
    response = client.post("/predictions/no-such-model", json=[1])
    message = assert_sagemaker_error(response, 404, "ModelNotFound")
    assert "no-such-model" in message


def test_the_inference_toolkit_model_answers_json_invocations(client: httpx.Client) -> None:
    response = client.post("/invocations", json=[1, 2.5], headers={TARGET_MODEL: "toolkit"})
    assert response.status_code == 200, response.text
    assert response.json() == [2.0, 5.0]


def test_the_inference_toolkit_model_reads_csv(client: httpx.Client) -> None:
    response = client.post(
        "/invocations",
        content=b"1,2\n3,4\n",
        headers={TARGET_MODEL: "toolkit", "content-type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == [[2.0, 4.0], [6.0, 8.0]]


@pytest.mark.parametrize("path", ["/predictions/toolkit", "/models/toolkit/invoke"])
def test_the_inference_toolkit_model_answers_every_invoke_route(
    client: httpx.Client, path: str
) -> None:
    response = client.post(path, json=[[1], [2]])
    assert response.status_code == 200, response.text
    assert response.json() == [[2.0], [4.0]]
