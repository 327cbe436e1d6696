"""Fixtures of the serving integration tests: a store of toy models and servers over it.

- ``toy_store`` (session, read only): a model folder holding one model of every kind (see ``TOY_MODELS``),
  plus ``packed.tar.gz``, an archived sum model.
- ``server_url`` (module): one model server over ``toy_store`` shared by a test module,
  for tests that do not depend on what other tests loaded; ``client`` talks to it.
- ``start_server`` (function): starts a fresh server with its own settings, stopped at the
  end of the test, for tests that need a clean cache or other limits.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures import models
from tests.servers import model_server

#: Features of the toy scikit-learn model.
N_FEATURES = 4

#: Every model of ``toy_store`` (``packed`` is the archive).
TOY_MODELS = (
    "echo",
    "load_error",
    "mms",
    "mms_class",
    "packed",
    "predict_error",
    "sklearn",
    "sum",
    "toolkit",
)

StartServer = Callable[..., str]


def build_toy_store(store: Path) -> Path:
    """Write every toy model of ``TOY_MODELS`` into ``store``; returns ``store``."""
    store.mkdir(parents=True, exist_ok=True)
    models.sum_model(store)
    # An echo model: the memory hog with a token 1 MiB of ballast answers its inputs.
    models.memory_hog_model(store, name="echo", mib=1)
    models.sklearn_model(store, n_features=N_FEATURES)
    models.mms_model(store)
    models.mms_class_model(store)
    models.inference_toolkit_model(store)
    models.load_error_model(store)
    models.predict_error_model(store)
    archive = models.tarball(models.sum_model(store.parent / "archives", name="packed"))
    archive.rename(store / archive.name)
    return store


@pytest.fixture(scope="session")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_toy_store(tmp_path_factory.mktemp("toys") / "store")


@pytest.fixture(scope="module")
def server_url(toy_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with model_server(toy_store, tmp_path_factory.mktemp("home")) as url:
        yield url


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=60) as http:
        yield http


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(store, **serving_settings) -> base URL``; stopped after the test."""
    homes = itertools.count()
    with contextlib.ExitStack() as stack:

        def start(store: Path | str, **serving: Any) -> str:
            home = tmp_path / f"home-{next(homes)}"
            return stack.enter_context(model_server(store, home, **serving))

        yield start


def assert_sagemaker_error(response: httpx.Response, status: int, kind: str) -> str:
    """Check the SageMaker/MMS error shape; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-errortype"] == kind
    body = response.json()
    assert body["code"] == status
    assert body["type"] == kind
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])
