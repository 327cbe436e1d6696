"""Where models may come from, over HTTP, as a hostile client would try it.

Each test is a reproduction from the hardening issue: arbitrary paths, system folders,
special files, outbound connections, names taken over, stuck names, the management token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.fixtures.models import marker_model, sum_model, tarball
from tests.serving.conftest import StartServer, assert_sagemaker_error


def _listed(client: httpx.Client) -> list[str]:
    return [m["modelName"] for m in client.get("/models").json()["models"]]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    sum_model(folder, "lr")
    return folder


# -- arbitrary paths ----------------------------------------------------------------------


def test_code_outside_the_allowed_places_never_runs(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    marker = tmp_path / "ran"
    evil = marker_model(tmp_path / "outside", marker)
    url = start_server(store, allowed_model_urls=[f"file://{os.path.realpath(store)}/.*"])
    with httpx.Client(base_url=url) as client:
        for target in (str(evil), f"file://{evil}", f"{store}/../outside/evil"):
            response = client.post("/models", json={"model_name": "x", "url": target})
            message = assert_sagemaker_error(response, 403, "ModelUrlNotAllowed")
            assert "'x'" in message
            assert str(tmp_path) not in message
        assert not marker.exists()
        assert _listed(client) == []


@pytest.mark.parametrize("target", ["/proc/self", "file:///proc/self", "/", "/sys", "/dev/zero"])
def test_system_places_are_refused_at_once(
    store: Path, start_server: StartServer, target: str
) -> None:
    with httpx.Client(base_url=start_server(store), timeout=10) as client:
        started = time.monotonic()
        response = client.post("/models", json={"model_name": "x", "url": target})
        assert time.monotonic() - started < 5
        assert_sagemaker_error(response, 403, "ModelUrlNotAllowed")
        assert _listed(client) == []
        assert client.get("/models/x").status_code == 404


@pytest.mark.parametrize("target", ["/etc", "file:///etc", "{store}/../../../../etc"])
def test_host_folders_that_are_no_model_leave_nothing_behind(
    store: Path, start_server: StartServer, target: str
) -> None:
    with httpx.Client(base_url=start_server(store), timeout=60) as client:
        body = {"model_name": "etc", "url": target.format(store=store)}
        response = client.post("/models", json=body)
        assert response.status_code != 200
        message = response.json()["message"]
        assert "'etc'" in message
        assert "/etc" not in message
        assert "etc" not in _listed(client)
        assert client.get("/models/etc").status_code == 404


def test_a_fifo_does_not_freeze_the_server(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def race(url: str) -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            return await asyncio.gather(
                client.post("/models", json={"model_name": "f", "url": str(fifo)}),
                client.get("/ping"),
            )

    refused, ping = asyncio.run(race(start_server(store)))
    assert ping.status_code == 200
    assert_sagemaker_error(refused, 400, "InvalidModelArtifact")


def test_a_huge_folder_is_refused_without_blocking_pings(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):
        (big / f"f{i}").write_text("x")
    url = start_server(store, max_artifact_files=30)
    with httpx.Client(base_url=url, timeout=10) as client:
        response = client.post("/models", json={"model_name": "big", "url": str(big)})
        assert_sagemaker_error(response, 400, "InvalidModelArtifact")
        assert "more than 30 files" in response.json()["message"]
        assert client.get("/ping").status_code == 200


def test_no_outbound_connection_to_a_client_chosen_address(
    store: Path, start_server: StartServer
) -> None:
    accepted: list[object] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]

        def watch() -> None:
            with contextlib.suppress(OSError):
                accepted.append(listener.accept())

        watcher = threading.Thread(target=watch)
        watcher.start()
        with httpx.Client(base_url=start_server(store), timeout=10) as client:
            for target in (f"ftp://127.0.0.1:{port}/x", f"http://127.0.0.1:{port}/m.tar.gz"):
                response = client.post("/models", json={"model_name": "x", "url": target})
                assert_sagemaker_error(response, 403, "ModelUrlNotAllowed")
        watcher.join()
    assert accepted == []


@pytest.mark.parametrize(
    ("url", "status", "kind", "problem"),
    [
        ("/tmp/" + "x" * 5000, 400, "InvalidModelArtifact", "at most 4096"),
        ("nosuchscheme://host/x", 400, "InvalidModelArtifact", "unknown url scheme"),
        ("relative/path", 400, "InvalidModelArtifact", "absolute path"),
    ],
)
def test_bad_urls_are_bad_requests(
    store: Path, start_server: StartServer, url: str, status: int, kind: str, problem: str
) -> None:
    with httpx.Client(base_url=start_server(store), timeout=10) as client:
        response = client.post("/models", json={"model_name": "x", "url": url})
        assert problem in assert_sagemaker_error(response, status, kind)
        assert _listed(client) == []


def test_a_file_that_is_not_an_archive_is_a_bad_request(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\n")
    with httpx.Client(base_url=start_server(store)) as client:
        response = client.post("/models", json={"model_name": "p", "url": str(passwd)})
        message = assert_sagemaker_error(response, 400, "InvalidModelArtifact")
        assert "not a tar archive" in message and "passwd" not in message
        assert _listed(client) == []


# -- names that are taken -------------------------------------------------------------------


def test_a_store_model_cannot_be_taken_over_once_unloaded(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    other = sum_model(tmp_path / "elsewhere", "other")
    (other / "model.py").write_text(
        "from modelyard.serving.model import Model\n\n"
        "class Other(Model):\n    def predict(self, inputs, parameters):\n        return ['other']\n"
    )
    with httpx.Client(base_url=start_server(store)) as client:
        assert client.post("/models/lr/invoke", json=[1, 2]).json() == [3.0]
        assert client.post("/v2/repository/models/lr/unload", json={}).status_code == 200
        response = client.post("/models", json={"model_name": "lr", "url": str(other)})
        assert_sagemaker_error(response, 409, "ModelAlreadyExists")
        assert client.post("/models/lr/invoke", json=[1, 2]).json() == [3.0]
        # Its own artifact again is no takeover: loaded, then 409 as the contract says.
        own = {"model_name": "lr", "url": str(store / "lr")}
        assert assert_sagemaker_error(client.post("/models", json=own), 409, "ModelAlreadyLoaded")


def test_a_registered_name_is_released_only_by_delete(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    first = sum_model(tmp_path / "a", "m")
    second = sum_model(tmp_path / "b", "m")
    with httpx.Client(base_url=start_server(store, max_loaded_models=1)) as client:
        assert (
            client.post("/models", json={"model_name": "m", "url": str(first)}).status_code == 200
        )
        client.post("/models/lr/invoke", json=[1])  # evicts m (one model at a time)
        assert client.get("/models/m").status_code == 404
        taken = client.post("/models", json={"model_name": "m", "url": str(second)})
        assert_sagemaker_error(taken, 409, "ModelAlreadyExists")
        # The same artifact again loads it back.
        assert (
            client.post("/models", json={"model_name": "m", "url": str(first)}).status_code == 200
        )
        assert client.delete("/models/m").status_code == 200
        assert client.post("/models/m/invoke", json=[1]).status_code == 404
        assert (
            client.post("/models", json={"model_name": "m", "url": str(second)}).status_code == 200
        )


def test_two_concurrent_registrations_of_a_new_name_answer_200_and_409(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    from tests.fixtures.models import slow_load_model

    slow = slow_load_model(tmp_path / "src", tmp_path / "loads.txt", seconds=1.0)

    async def both(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            body = {"model_name": "new", "url": str(slow)}
            return await asyncio.gather(
                client.post("/models", json=body), client.post("/models", json=body)
            )

    responses = asyncio.run(both(start_server(store)))
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert len((tmp_path / "loads.txt").read_text().splitlines()) == 1


def test_a_failed_registration_leaves_nothing_behind(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    from tests.fixtures.models import load_error_model

    broken = load_error_model(tmp_path / "src", "broken")
    with httpx.Client(base_url=start_server(store)) as client:
        response = client.post("/models", json={"model_name": "b", "url": str(broken)})
        assert response.status_code == 500
        assert response.json()["type"] == "ModelLoadFailed"
        assert _listed(client) == []
        assert client.get("/models/b").status_code == 404
        assert client.post("/models/b/invoke", json=[1]).status_code == 404
        fixed = sum_model(tmp_path / "fixed", "b")
        assert (
            client.post("/models", json={"model_name": "b", "url": str(fixed)}).status_code == 200
        )


# -- names that get stuck -------------------------------------------------------------------


def test_a_long_unknown_name_is_not_found_and_never_stuck(
    store: Path, start_server: StartServer
) -> None:
    name = "b" * 300
    with httpx.Client(base_url=start_server(store), timeout=10) as client:
        for _ in range(2):
            response = client.post(f"/v2/models/{name}/infer", json={"inputs": []})
            assert response.status_code == 404, response.text
            target = {"X-Amzn-SageMaker-Target-Model": name}
            assert client.post("/invocations", json=[1], headers=target).status_code == 404
        assert client.delete(f"/models/{name}").status_code == 404
        assert client.get(f"/models/{name}").status_code == 404


def test_names_no_contract_allows_answer_400(store: Path, start_server: StartServer) -> None:
    with httpx.Client(base_url=start_server(store), timeout=10) as client:
        too_long = "c" * 1025
        response = client.post(f"/models/{too_long}/invoke", json=[1])
        assert_sagemaker_error(response, 400, "InvalidModelName")
        target = {"X-Amzn-SageMaker-Target-Model": too_long}
        response = client.post("/invocations", json=[1], headers=target)
        assert_sagemaker_error(response, 400, "InvalidModelName")
        response = client.post("/models/%09tab/invoke", json=[1])
        assert "control character" in assert_sagemaker_error(response, 400, "InvalidModelName")
        v2 = client.post(f"/v2/models/{too_long}/infer", json={"inputs": []})
        assert v2.status_code == 400 and "1025 characters" in v2.json()["error"]
        body = {"model_name": too_long, "url": str(store / "lr")}
        assert_sagemaker_error(client.post("/models", json=body), 400, "InvalidModelName")


def test_a_long_name_serves_an_archive_through_a_safe_cache_key(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    archive = tarball(sum_model(tmp_path / "src", "packed"))
    name = "long-" + "n" * 600
    home_cache = tmp_path / "home-0" / "cache"
    with httpx.Client(base_url=start_server(store), timeout=30) as client:
        assert (
            client.post("/models", json={"model_name": name, "url": str(archive)}).status_code
            == 200
        )
        assert client.post(f"/models/{name}/invoke", json=[2, 3]).json() == [5.0]
    folders = [p.name for p in (home_cache / "models").iterdir()]
    assert len(folders) == 1 and len(folders[0]) <= 100


# -- the management token ------------------------------------------------------------------


def test_management_routes_need_the_token_when_one_is_set(
    store: Path, start_server: StartServer
) -> None:
    url = start_server(store, management_token=SecretStr("s3cret"))
    good = {"Authorization": "Bearer s3cret"}
    bad = {"Authorization": "Bearer guess"}
    body = {"model_name": "alias", "url": str(store / "lr")}
    with httpx.Client(base_url=url) as client:
        missing = client.post("/models", json=body)
        assert_sagemaker_error(missing, 401, "AuthenticationRequired")
        assert missing.headers["www-authenticate"] == "Bearer"
        assert_sagemaker_error(client.post("/models", json=body, headers=bad), 403, "AccessDenied")
        assert client.post("/v2/repository/models/lr/load", json={}).status_code == 401
        assert client.post("/v2/repository/models/lr/unload", json={}).status_code == 401
        assert client.delete("/models/lr").status_code == 401
        assert _listed(client) == []
        # Inference and reading stay open.
        assert client.post("/models/lr/invoke", json=[1]).json() == [1.0]
        assert client.get("/models/lr").status_code == 200
        # With the token, everything works.
        assert client.post("/models", json=body, headers=good).status_code == 200
        assert (
            client.post("/v2/repository/models/lr/unload", json={}, headers=good).status_code == 200
        )
        assert client.delete("/models/alias", headers=good).status_code == 200


def test_area_keys_are_out_of_reach_of_the_container_routes(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    folder = sum_model(tmp_path / "src", "a")
    with httpx.Client(base_url=start_server(store)) as client:
        body = {"model_name": "team/a", "url": str(folder)}
        response = client.post("/models", json=body)
        assert "'/'" in assert_sagemaker_error(response, 400, "InvalidModelName")
        target = {"X-Amzn-SageMaker-Target-Model": "sagemaker/lr"}
        assert client.post("/invocations", json=[1], headers=target).status_code == 404


def test_a_link_repointed_after_registration_is_checked_again_at_the_next_load(
    store: Path, tmp_path: Path, start_server: StartServer
) -> None:
    allowed = tmp_path / "allowed"
    sum_model(allowed, "real")
    outside = marker_model(tmp_path / "outside", tmp_path / "ran")
    link = allowed / "current"
    link.symlink_to(allowed / "real")
    url = start_server(
        store, allowed_model_urls=[f"file://{os.path.realpath(allowed)}/.*"], max_loaded_models=1
    )
    with httpx.Client(base_url=url) as client:
        body = {"model_name": "cur", "url": str(link)}
        assert client.post("/models", json=body).status_code == 200
        assert client.post("/models/cur/invoke", json=[1, 2]).json() == [3.0]
        assert client.post("/models/lr/invoke", json=[1]).status_code == 200  # evicts cur
        link.unlink()
        link.symlink_to(outside)
        refused = client.post("/models/cur/invoke", json=[1, 2])
        assert_sagemaker_error(refused, 403, "ModelUrlNotAllowed")
    assert not (tmp_path / "ran").exists()
