"""Where the server finds models, over HTTP: an S3 model store (moto), archives, registrations.

Models in S3 are downloaded once into ``<home>/cache`` and loaded from there; an archive is
unpacked once; unloading a model keeps its local copy, so the next load reuses it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelyard.serving.artifacts import STORE_MANIFEST
from modelyard.storage.objectstore import open_store
from tests.conftest import S3Server
from tests.fixtures import models
from tests.servers import model_server


def cache_snapshot(home: Path) -> dict[str, tuple[int, int]]:
    """Every file of the home's cache with its inode and modification time."""
    cache = home / "cache"
    snapshot = {}
    for folder, _, files in os.walk(cache):
        for file in files:
            path = Path(folder) / file
            stat = path.stat()
            snapshot[path.relative_to(cache).as_posix()] = (stat.st_ino, stat.st_mtime_ns)
    return snapshot


@pytest.fixture(scope="module")
def s3_models(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``s3://<bucket>/models`` holding ``folder_sum/`` and ``archived_sum.tar.gz``, and a
    training pipeline's folder ``trained/`` (a store of models: not a model itself)."""
    local = tmp_path_factory.mktemp("s3-models")
    url = f"s3://{s3_server.new_bucket()}/models"
    store = open_store(url, s3_server.options)
    store.upload(models.sum_model(local, name="folder_sum"), "folder_sum")
    store.upload(
        models.tarball(models.sum_model(local, name="archived_sum")), "archived_sum.tar.gz"
    )
    store.upload(models.sum_model(local, name="inner_sum"), "trained/inner_sum")
    store.put(f"trained/{STORE_MANIFEST}", b"{}")
    return url


@pytest.fixture(scope="module")
def s3_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("s3-home")


@pytest.fixture(scope="module")
def s3_client(s3_models: str, s3_server: S3Server, s3_home: Path) -> Iterator[httpx.Client]:
    with (
        model_server(s3_models, s3_home, store_options=s3_server.options) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def test_the_s3_store_lists_its_models(s3_client: httpx.Client) -> None:
    rows = s3_client.post("/v2/repository/index", json={}).json()
    assert sorted(row["name"] for row in rows) == ["archived_sum", "folder_sum"]


def test_a_pipeline_folder_of_the_store_is_not_a_model(
    s3_client: httpx.Client, tmp_path: Path
) -> None:
    # Its models are served by a MultiModel endpoint over the folder, each by name.
    response = s3_client.post("/models/trained/invoke", json=[1, 2, 3])
    assert response.status_code == 404, response.text
    assert "trained" in response.json()["message"]

    local = tmp_path / "store"
    models.sum_model(local / "trained", name="inner_sum")
    (local / "trained" / STORE_MANIFEST).write_text("{}")
    models.sum_model(local, name="plain_sum")
    with (
        model_server(str(local), tmp_path / "home") as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        rows = client.post("/v2/repository/index", json={}).json()
        assert [row["name"] for row in rows] == ["plain_sum"]
        assert client.post("/models/trained/invoke", json=[1, 2, 3]).status_code == 404
        assert client.post("/models/plain_sum/invoke", json=[1, 2, 3]).status_code == 200


@pytest.mark.parametrize("name", ["folder_sum", "archived_sum"])
def test_models_in_s3_are_served(s3_client: httpx.Client, s3_models: str, name: str) -> None:
    response = s3_client.post(f"/models/{name}/invoke", json=[1, 2, 3])
    assert response.status_code == 200, response.text
    assert response.json() == [6.0]
    info = s3_client.get(f"/models/{name}").json()
    assert info["state"] == "ready"
    key = name if name == "folder_sum" else f"{name}.tar.gz"
    assert info["modelUrl"] == f"{s3_models}/{key}"


@pytest.mark.parametrize("name", ["folder_sum", "archived_sum"])
def test_a_reload_after_unload_reuses_the_local_copy(
    s3_client: httpx.Client, s3_home: Path, name: str
) -> None:
    assert s3_client.post(f"/models/{name}/invoke", json=[1]).status_code == 200
    before = {k: v for k, v in cache_snapshot(s3_home).items() if k.startswith(f"models/{name}/")}
    assert any(key.endswith("model.py") for key in before)  # downloaded and unpacked here
    assert s3_client.delete(f"/models/{name}").status_code == 200
    assert s3_client.get(f"/models/{name}").status_code == 404
    again = s3_client.post(f"/models/{name}/invoke", json=[2, 2])
    assert again.status_code == 200, again.text
    assert again.json() == [4.0]
    after = {k: v for k, v in cache_snapshot(s3_home).items() if k.startswith(f"models/{name}/")}
    assert after == before  # same files, not fetched again


def test_an_unknown_model_in_s3_answers_404(s3_client: httpx.Client) -> None:
    response = s3_client.post("/models/absent/invoke", json=[1])
    assert response.status_code == 404
    assert "absent" in response.json()["message"]


def test_a_model_registered_by_an_allowed_s3_url(
    s3_models: str, s3_server: S3Server, tmp_path: Path
) -> None:
    local_store = tmp_path / "store"
    local_store.mkdir()
    with (
        model_server(
            local_store,
            tmp_path / "home",
            store_options=s3_server.options,
            allowed_model_urls=[re.escape(s3_models) + "/.*"],
        ) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        body = {"model_name": "remote", "url": f"{s3_models}/archived_sum.tar.gz"}
        loaded = client.post("/models", json=body)
        assert loaded.status_code == 200, loaded.text
        assert client.post("/models/remote/invoke", json=[5, 5]).json() == [10.0]
        missing = client.post(
            "/models", json={"model_name": "nothing", "url": f"{s3_models}/nothing.tar.gz"}
        )
        assert missing.status_code == 404
        assert "nothing" in missing.json()["message"]
        # Local paths are no longer allowed once the list is set: it replaces the default.
        local = client.post("/models", json={"model_name": "local", "url": str(tmp_path)})
        assert local.status_code == 403


def test_an_s3_url_outside_the_store_is_refused_by_default(
    s3_models: str, s3_server: S3Server, tmp_path: Path
) -> None:
    local_store = tmp_path / "store"
    local_store.mkdir()
    with (
        model_server(local_store, tmp_path / "home", store_options=s3_server.options) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        body = {"model_name": "remote", "url": f"{s3_models}/archived_sum.tar.gz"}
        refused = client.post("/models", json=body)
        assert refused.status_code == 403
        assert refused.headers["x-amzn-errortype"] == "ModelUrlNotAllowed"
        assert "remote" in refused.json()["message"]
        assert client.get("/models/remote").status_code == 404


def test_an_s3_url_inside_the_store_is_allowed_by_default(
    s3_models: str, s3_server: S3Server, tmp_path: Path
) -> None:
    with (
        model_server(s3_models, tmp_path / "home", store_options=s3_server.options) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        body = {"model_name": "alias", "url": f"{s3_models}/folder_sum"}
        loaded = client.post("/models", json=body)
        assert loaded.status_code == 200, loaded.text
        assert client.post("/models/alias/invoke", json=[1, 2]).json() == [3.0]


# -- local archives --------------------------------------------------------------------------


def test_a_local_archive_is_unpacked_once_and_again_when_replaced(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    home = tmp_path / "home"
    source = tmp_path / "sources"
    models.tarball(models.sum_model(source, name="model")).rename(store / "model.tar.gz")
    with (
        model_server(store, home) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        assert client.post("/models/model/invoke", json=[1, 2]).json() == [3.0]
        unpacked = cache_snapshot(home)
        assert any(key.endswith("model.py") for key in unpacked)
        assert client.delete("/models/model").status_code == 200
        assert client.post("/models/model/invoke", json=[1, 2]).json() == [3.0]
        assert cache_snapshot(home) == unpacked

        # Replace the archive with an echo model: the next load must see the new one.
        time.sleep(0.01)  # a distinct modification time
        archive = models.tarball(models.memory_hog_model(source / "v2", name="model", mib=1))
        os.replace(archive, store / "model.tar.gz")
        assert client.delete("/models/model").status_code == 200
        assert client.post("/models/model/invoke", json=[1, 2]).json() == [1, 2]


def test_a_missing_bucket_is_not_found(s3_server: S3Server, tmp_path: Path) -> None:
    local_store = tmp_path / "store"
    local_store.mkdir()
    with (
        model_server(
            local_store,
            tmp_path / "home",
            store_options=s3_server.options,
            allowed_model_urls=["s3://.*"],
        ) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        body = {"model_name": "gone", "url": "s3://no-such-bucket-here/m.tar.gz"}
        response = client.post("/models", json=body)
        assert response.status_code == 404, response.text
        assert "gone" in response.json()["message"]
        assert client.get("/models/gone").status_code == 404
