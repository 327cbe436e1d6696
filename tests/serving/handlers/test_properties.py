"""Properties: garbage requests and settings files raise only modelyard's domain errors."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelyard.serving.handlers as handlers_package
from modelyard.errors import ModelLoadFailed, ModelyardError
from modelyard.serving.handlers import Handler, load_handler
from modelyard.serving.model_settings import ModelSettings, read_model_settings
from tests.fixtures.models import mms_model, sklearn_model, sum_model

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/csv",
        "text/x-libsvm",
        "application/x-recordio-protobuf",
        "application/octet-stream",
        "text/csv; charset=latin-1",
    ]
)
ACCEPTS = st.sampled_from([None, "*/*", "application/json", "text/csv", "image/png", "text/*;q=0"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def loaded() -> dict[str, Handler]:
    folder = Path(tempfile.mkdtemp())
    return {
        "sklearn": load_handler("sklearn", sklearn_model(folder, n_features=3)),
        "sum": load_handler("sum", sum_model(folder)),
        "mms": load_handler("mms", mms_model(folder)),
    }


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["sklearn", "sum", "mms"]),
    body=st.binary(max_size=64) | JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    content_type=CONTENT_TYPES,
    accept=ACCEPTS,
)
def test_invoke_raises_only_domain_errors(
    loaded: dict[str, Handler], kind: str, body: bytes, content_type: str, accept: str | None
) -> None:
    try:
        answer, answer_type = loaded[kind].invoke(body, content_type, accept)
    except ModelyardError:
        return
    assert isinstance(answer, bytes)
    assert answer_type


@settings(max_examples=200, deadline=None)
@given(
    raw=st.dictionaries(
        st.sampled_from(["handler", "method", "inputs", "parameters", "x"]), JSON_VALUES, max_size=3
    )
)
def test_any_settings_file_reads_or_fails_as_load_failure(raw: dict[str, object]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model-settings.json").write_text(json.dumps(raw))
        try:
            settings_read = read_model_settings("m", Path(folder))
        except ModelLoadFailed as exc:
            assert str(exc).startswith("model 'm': model-settings.json")
            return
        assert isinstance(settings_read, ModelSettings)


def test_exported_members_match_all() -> None:
    exported = handlers_package.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(handlers_package, name), name
