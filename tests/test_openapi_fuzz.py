"""Schemathesis against real servers: answers match the OpenAPI document, and no 5xx.

Both applications are tested, each against the document it serves at
``GET /openapi.json``: the model server (``modelyard serve``) and the whole platform
(``modelyard up``), each running on 127.0.0.1 over the fuzz store's toy models (see
``tests/serving/fuzz.py``) and talked to over a real socket. Every operation gets its
documented examples and a bounded number of generated requests, valid and invalid. Path
parameters and the target-model header name a toy model half of the time, so requests
reach models rather than only 404s.

An answer passes when its status is documented for the operation, its content type and
body match what is documented for that status, its documented headers are right, and it
is not a 5xx — unless the 5xx is a user-code model's own error (the rule of
``tests.serving.fuzz.verdict``; never for the built-in scikit-learn runtime).
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks as openapi_checks
from starlette.applications import Starlette

from modelyard.config import Settings
from modelyard.platform import build_model_server, build_platform
from modelyard.serving.protocols.sagemaker import TARGET_MODEL_HEADER
from tests.servers import model_server, serve_in_thread, settings_for
from tests.serving.fuzz import FUZZ_MODELS, FuzzRequest, build_fuzz_store, verdict
from tests.test_openapi import served_document

pytestmark = pytest.mark.slow

#: Generated requests per operation (the documented examples come on top).
MAX_EXAMPLES = 25
#: The same requests on every run, as ``tests/serving/test_fuzz.py`` (derandomized): a
#: failure is reproducible. Change it (or raise MAX_EXAMPLES) to explore further.
SEED = 20_250_601

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "phases": {
            "examples": {"enabled": True},
            "fuzzing": {"enabled": True},
            # Boundary values of every parameter and body, valid and not, once each.
            "coverage": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "request-timeout": 60,
    }
)

_model_names = st.sampled_from(FUZZ_MODELS)

#: Folders of toy models that ``POST /models`` may register (filled as servers start).
_ARTIFACTS: list[str] = []

# Media types schemathesis has no serializer for: RecordIO-protobuf bodies are bytes, sent
# as generated (valid records or not); AWS JSON protocol bodies are JSON.
schemathesis.serializer.alias("application/x-recordio-protobuf", "application/octet-stream")
schemathesis.serializer.alias("application/x-amz-json-1.0", "application/json")
schemathesis.serializer.alias("application/x-amz-json-1.1", "application/json")


def _document_of(build: Callable[[Settings, Path], Starlette]) -> dict[str, Any]:
    # What the application serves, read in process from one never started.
    with tempfile.TemporaryDirectory() as folder:
        return served_document(build(settings_for(Path(folder) / "home"), Path(folder)))


#: The documents the two applications serve (each test below checks its running server
#: serves the very same).
MODEL_SERVER_DOCUMENT = _document_of(lambda s, store: build_model_server(s, store).app)
PLATFORM_DOCUMENT = _document_of(lambda s, store: build_platform(s).app)


def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Half of the model names are the fuzz store's models, so requests reach a model."""
    if not path_parameters or "name" not in path_parameters:
        return st.just(path_parameters)
    toy = _model_names.map(lambda name: {**path_parameters, "name": name})
    return st.one_of(st.just(path_parameters), toy)


def flatmap_headers(
    context: schemathesis.HookContext, headers: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Half of the ``/invocations`` requests target one of the fuzz store's models."""
    operation = context.operation
    if operation is None or operation.path != "/invocations":
        return st.just(headers)
    toy = _model_names.map(lambda name: {**(headers or {}), TARGET_MODEL_HEADER: name})
    return st.one_of(st.just(headers), toy)


def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Half of the ``POST /models`` bodies point at a toy model, so some registrations succeed."""
    operation = context.operation
    if operation is None or operation.path != "/models" or not isinstance(body, dict):
        return st.just(body)
    if not _ARTIFACTS:
        return st.just(body)
    toy = st.sampled_from(_ARTIFACTS).map(lambda url: {**body, "url": url})
    return st.one_of(st.just(body), toy)


def _schema(document: dict[str, Any]) -> schemathesis.BaseSchema:
    # Loaded at import so that pytest gets one test per operation (``from_fixture``, the
    # lazy loader, does not work with pytest 9's nodes); the base URL is given at each call.
    # A copy: loading resolves references in place.
    loaded = schemathesis.openapi.from_dict(copy.deepcopy(document), config=CONFIG)
    loaded.hook(flatmap_path_parameters)
    loaded.hook(flatmap_headers)
    loaded.hook(flatmap_body)
    return loaded


model_server_schema = _schema(MODEL_SERVER_DOCUMENT)
platform_schema = _schema(PLATFORM_DOCUMENT)


@pytest.fixture(scope="module")
def model_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = build_fuzz_store(tmp_path_factory.mktemp("model-server") / "store")
    _ARTIFACTS.extend(str(store / name) for name in ("sum", "mms", "sklearn"))
    with model_server(store, tmp_path_factory.mktemp("home"), workers=2) as url:
        yield url


@pytest.fixture(scope="module")
def platform_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # With a management token, so the platform's run checks the 401/403 answers (the
    # model server's, without one, checks what management routes do).
    settings = settings_for(
        tmp_path_factory.mktemp("platform"), workers=2, management_token="fuzz-token"
    )
    build_fuzz_store(Path(settings.resolved_store_url) / settings.models_prefix)
    with serve_in_thread(build_platform(settings).app, settings.http) as url:
        yield url


def _model_of(case: schemathesis.Case) -> str | None:
    # The model a request is about, to judge whose fault a 5xx is.
    name = (case.path_parameters or {}).get("name")
    if name is not None:
        return str(name)
    headers = {key.lower(): value for key, value in (case.headers or {}).items()}
    target = headers.get(TARGET_MODEL_HEADER)
    return str(target).strip().lstrip("/").removesuffix(".tar.gz") if target else None


@schemathesis.check
def no_server_error_of_ours(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """No 5xx, unless a user-code model's own code failed (``tests.serving.fuzz.verdict``)."""
    request = FuzzRequest(
        method=case.method,
        path=case.formatted_path,
        headers={key: str(value) for key, value in (case.headers or {}).items()},
        model=_model_of(case),
    )
    headers = [(key, value) for key, values in response.headers.items() for value in values]
    answer = httpx.Response(response.status_code, headers=headers, content=response.content)
    problem = verdict(request, answer)
    if problem is not None:
        raise AssertionError(problem)
    return None


CHECKS = [
    no_server_error_of_ours,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]

_BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    # Examples are slow to make by hypothesis's measure (they cross a socket and a worker),
    # and schemathesis filters generated cases (e.g. headers a client cannot send).
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@model_server_schema.parametrize()
@_BOUNDED
def test_model_server_answers_as_documented(case: schemathesis.Case, model_server_url: str) -> None:
    case.validate_response(case.call(base_url=model_server_url), checks=CHECKS)


@platform_schema.parametrize()
@_BOUNDED
def test_platform_answers_as_documented(case: schemathesis.Case, platform_url: str) -> None:
    case.validate_response(case.call(base_url=platform_url), checks=CHECKS)


def test_the_servers_serve_the_documents_tested(model_server_url: str, platform_url: str) -> None:
    assert httpx.get(f"{model_server_url}/openapi.json").json() == MODEL_SERVER_DOCUMENT
    assert httpx.get(f"{platform_url}/openapi.json").json() == PLATFORM_DOCUMENT
