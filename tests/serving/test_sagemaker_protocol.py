"""The SageMaker multi-model container contract over HTTP, on a real server on 127.0.0.1.

Reference: "Custom Containers Contract for Multi-Model Endpoints" (LoadModel, ListModels,
GetModel, UnloadModel, InvokeModel) and the hosting contract (``/ping``, ``/invocations``).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.fixtures import models
from tests.serving.conftest import StartServer, assert_sagemaker_error

TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def listed_names(client: httpx.Client) -> list[str]:
    """Every name of GET /models, following the pages."""
    names: list[str] = []
    token = None
    while True:
        params: dict[str, str] = {"next_page_token": token} if token else {}
        page = client.get("/models", params=params).json()
        names += [model["modelName"] for model in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            return names


# -- /ping ------------------------------------------------------------------------------


def test_ping_answers_200(client: httpx.Client) -> None:
    response = client.get("/ping")
    assert response.status_code == 200


# -- LoadModel: POST /models ---------------------------------------------------------------


def test_load_model_registers_it_and_lists_it(client: httpx.Client, toy_store: Path) -> None:
    name = unique("registered")
    response = client.post("/models", json={"model_name": name, "url": str(toy_store / "sum")})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "ready"
    assert name in listed_names(client)
    answer = client.post(f"/models/{name}/invoke", json=[1, 2, 3])
    assert answer.json() == [6.0]


def test_loading_a_loaded_model_again_answers_409(client: httpx.Client, toy_store: Path) -> None:
    name = unique("twice")
    body = {"model_name": name, "url": str(toy_store / "sum")}
    assert client.post("/models", json=body).status_code == 200
    message = assert_sagemaker_error(client.post("/models", json=body), 409, "ModelAlreadyLoaded")
    assert name in message


def test_loading_from_a_url_with_nothing_there_answers_404(
    client: httpx.Client, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    name = unique("gone")
    response = client.post("/models", json={"model_name": name, "url": str(missing)})
    message = assert_sagemaker_error(response, 404, "ModelNotFound")
    assert name in message
    assert str(tmp_path) not in message  # host paths are not the client's business
    assert name not in [m["modelName"] for m in client.get("/models").json()["models"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model_name": "m"}, "url"),
        ({"url": "/tmp/x"}, "model_name"),
        ({"model_name": "", "url": "/tmp/x"}, "model_name"),
    ],
)
def test_an_invalid_load_request_answers_400_naming_the_field(
    client: httpx.Client, body: dict[str, str], field: str
) -> None:
    message = assert_sagemaker_error(client.post("/models", json=body), 400, "PayloadMalformed")
    assert field in message


def test_a_load_request_that_is_not_json_answers_400(client: httpx.Client) -> None:
    response = client.post("/models", content=b"model_name=m", headers={"content-type": "text"})
    message = assert_sagemaker_error(response, 400, "PayloadMalformed")
    assert "JSON" in message


def test_a_model_larger_than_the_budget_answers_507(
    start_server: StartServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    folder = models.memory_hog_model(store, name="hog", mib=64)
    url = start_server(store, memory_budget_mb=32)
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/models", json={"model_name": "hog", "url": str(folder)})
        message = assert_sagemaker_error(response, 507, "ModelTooLarge")
        assert "budget" in message
        invoked = client.post("/models/hog/invoke", json=[1])
        assert_sagemaker_error(invoked, 507, "ModelTooLarge")


# -- ListModels: GET /models -------------------------------------------------------------


def test_list_models_pages_through_every_loaded_model(
    start_server: StartServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    names = [f"model-{i}" for i in range(5)]
    for name in names:
        models.sum_model(store, name=name)
    url = start_server(store)
    with httpx.Client(base_url=url, timeout=60) as client:
        for name in names:
            loaded = client.post("/models", json={"model_name": name, "url": str(store / name)})
            assert loaded.status_code == 200, loaded.text
        pages = []
        token = None
        while True:
            params: dict[str, str | int] = {"max_results": 2}
            if token:
                params["next_page_token"] = token
            response = client.get("/models", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            pages.append([m["modelName"] for m in page["models"]])
            token = page.get("nextPageToken")
            if not token:
                break
            assert len(pages) < 10, "pagination does not end"
    assert [len(page) for page in pages] == [2, 2, 1]
    seen = [name for page in pages for name in page]
    assert sorted(seen) == names
    assert len(set(seen)) == len(seen)


def test_list_models_entries_name_the_model_and_its_url(
    client: httpx.Client, toy_store: Path
) -> None:
    assert client.post("/models/sum/invoke", json=[1]).status_code == 200
    entries = {m["modelName"]: m for m in client.get("/models").json()["models"]}
    assert entries["sum"]["modelUrl"] == str(toy_store / "sum")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"max_results": "many"}, "max_results"),
        ({"max_results": "0"}, "max_results"),
        ({"next_page_token": "a"}, "next_page_token"),
        ({"next_page_token": "%%%"}, "next_page_token"),
    ],
)
def test_list_models_rejects_bad_paging_parameters(
    client: httpx.Client, params: dict[str, str], problem: str
) -> None:
    message = assert_sagemaker_error(client.get("/models", params=params), 400, "InvalidRequest")
    assert problem in message


# -- GetModel, UnloadModel -----------------------------------------------------------------


def test_get_model_describes_a_loaded_model(client: httpx.Client, toy_store: Path) -> None:
    name = unique("described")
    client.post("/models", json={"model_name": name, "url": str(toy_store / "sum")})
    response = client.get(f"/models/{name}")
    assert response.status_code == 200
    info = response.json()
    assert info["modelName"] == name
    assert info["state"] == "ready"
    assert info["memoryBytes"] > 0
    assert info["loadSeconds"] >= 0
    assert info["error"] is None


def test_get_model_of_an_unknown_model_answers_404(client: httpx.Client) -> None:
    assert_sagemaker_error(client.get("/models/no-such-model"), 404, "ModelNotFound")


def test_unloading_an_unknown_model_answers_404(client: httpx.Client) -> None:
    assert_sagemaker_error(client.delete("/models/no-such-model"), 404, "ModelNotFound")


def test_unloading_a_loaded_model_removes_it_from_the_list(
    client: httpx.Client, toy_store: Path
) -> None:
    name = unique("unloaded")
    client.post("/models", json={"model_name": name, "url": str(toy_store / "sum")})
    assert name in listed_names(client)
    response = client.delete(f"/models/{name}")
    assert response.status_code == 200, response.text
    assert name not in listed_names(client)
    assert_sagemaker_error(client.get(f"/models/{name}"), 404, "ModelNotFound")


# -- InvokeModel: POST /models/{name}/invoke ----------------------------------------------------


def test_invoke_lazily_loads_a_model_of_the_store(
    start_server: StartServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    url = start_server(store)
    with httpx.Client(base_url=url, timeout=60) as client:
        assert listed_names(client) == []
        response = client.post("/models/sum/invoke", json=[1, 2, 3])
        assert response.status_code == 200, response.text
        assert response.json() == [6.0]
        assert response.headers["content-type"] == "application/json"
        assert listed_names(client) == ["sum"]
        assert client.get("/models/sum").json()["state"] == "ready"


def test_invoking_an_unknown_model_answers_404_in_the_sagemaker_shape(
    client: httpx.Client,
) -> None:
    response = client.post("/models/no-such-model/invoke", json=[1])
    message = assert_sagemaker_error(response, 404, "ModelNotFound")
    assert "no-such-model" in message


def test_invoking_an_unknown_model_does_not_make_it_known(
    start_server: StartServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    url = start_server(store)
    with httpx.Client(base_url=url, timeout=60) as client:
        assert client.post("/models/ghost/invoke", json=[1]).status_code == 404
        assert listed_names(client) == []
        assert_sagemaker_error(client.get("/models/ghost"), 404, "ModelNotFound")


def test_invoking_a_model_served_from_an_archive(client: httpx.Client) -> None:
    response = client.post("/models/packed/invoke", json=[2, 3])
    assert response.status_code == 200, response.text
    assert response.json() == [5.0]


def test_a_predict_error_answers_500_naming_the_exception(client: httpx.Client) -> None:
    response = client.post("/models/predict_error/invoke", json=[1])
    message = assert_sagemaker_error(response, 500, "InferenceFailed")
    assert "ValueError" in message
    assert "cannot predict" in message


def test_a_model_whose_load_fails_answers_500_and_a_load_retries_it(
    start_server: StartServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    folder = models.load_error_model(store, name="flaky")
    url = start_server(store)
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/models/flaky/invoke", json=[1, 2])
        message = assert_sagemaker_error(response, 500, "ModelLoadFailed")
        assert "weights are corrupt" in message
        info = client.get("/models/flaky").json()
        assert info["state"] == "failed"
        assert "weights are corrupt" in info["error"]
        # Repair the artifact: an explicit load must try again instead of answering the
        # remembered error.
        (folder / "model.py").unlink()
        models.sum_model(store, name="flaky")
        loaded = client.post("/models", json={"model_name": "flaky", "url": str(folder)})
        assert loaded.status_code == 200, loaded.text
        assert client.get("/models/flaky").json()["state"] == "ready"
        assert client.post("/models/flaky/invoke", json=[1, 2]).json() == [3.0]


# -- /invocations ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["packed.tar.gz", "packed", "/packed.tar.gz", "sum"])
def test_invocations_routes_by_the_target_model_header(client: httpx.Client, target: str) -> None:
    response = client.post("/invocations", json=[4, 5], headers={TARGET_MODEL: target})
    assert response.status_code == 200, response.text
    assert response.json() == [9.0]


def test_invocations_without_the_target_header_on_many_models_answers_400(
    client: httpx.Client,
) -> None:
    response = client.post("/invocations", json=[1])
    message = assert_sagemaker_error(response, 400, "InvalidRequest")
    assert "X-Amzn-SageMaker-Target-Model" in message


def test_invocations_without_the_target_header_on_one_model_uses_it(
    start_server: StartServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    models.sum_model(store, name="only")
    url = start_server(store)
    response = httpx.post(f"{url}/invocations", json=[1, 1], timeout=60)
    assert response.status_code == 200, response.text
    assert response.json() == [2.0]


def test_invocations_of_an_unknown_target_answers_404(client: httpx.Client) -> None:
    response = client.post("/invocations", json=[1], headers={TARGET_MODEL: "nothing.tar.gz"})
    message = assert_sagemaker_error(response, 404, "ModelNotFound")
    assert "nothing" in message


def test_a_body_over_the_payload_limit_answers_413(
    start_server: StartServer, toy_store: Path
) -> None:
    url = start_server(toy_store, max_payload_bytes=1024)
    big = b"[" + b",".join([b"1"] * 1000) + b"]"
    assert len(big) > 1024
    with httpx.Client(base_url=url, timeout=60) as client:
        response = client.post(
            "/invocations",
            content=big,
            headers={TARGET_MODEL: "sum", "content-type": "application/json"},
        )
        message = assert_sagemaker_error(response, 413, "PayloadTooLarge")
        assert "1024" in message
        # A chunked upload (no Content-Length) is cut off too.
        chunked = client.post(
            "/models/sum/invoke",
            content=iter([big[:600], big[600:]]),
            headers={"content-type": "application/json"},
        )
        assert_sagemaker_error(chunked, 413, "PayloadTooLarge")
        small = client.post("/models/sum/invoke", json=[1, 2])
        assert small.json() == [3.0]
