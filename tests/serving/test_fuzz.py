"""Fuzzing every route and content type: no 5xx that is not a model's own error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.fixtures.models import sum_model
from tests.servers import model_server
from tests.serving.fuzz import FuzzRequest, build_fuzz_store, requests, send, verdict


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-sources")
    sum_model(folder)
    (folder / "file.txt").write_text("not a model")
    return folder


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    store = build_fuzz_store(tmp_path_factory.mktemp("fuzz") / "store")
    with (
        model_server(store, tmp_path_factory.mktemp("fuzz-home"), max_loaded_models=4) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


@pytest.mark.slow
def test_no_request_gets_a_5xx_that_is_not_the_model_s_own(
    fuzz_client: httpx.Client, fuzz_dir: Path
) -> None:
    @settings(
        max_examples=400,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests(str(fuzz_dir)))
    def fuzz(request: FuzzRequest) -> None:
        response = send(fuzz_client, request)
        problem = verdict(request, response)
        assert problem is None, f"{request!r} -> {problem}"

    fuzz()
    # The server is still whole afterwards.
    assert fuzz_client.post("/models/sum/invoke", json=[1, 2]).json() == [3.0]
