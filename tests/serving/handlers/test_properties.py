"""Properties: garbage requests and settings files raise only modelyard's domain errors."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import modelyard.serving.handlers as handlers_package
from modelyard.errors import InvalidRequest, ModelLoadFailed, ModelyardError
from modelyard.serving.codecs import numpy_dtype
from modelyard.serving.handlers import Handler, SKLearnHandler, load_handler
from modelyard.serving.model_settings import ModelSettings, read_model_settings
from modelyard.serving.types import InferenceRequest, Tensor
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


NUMBERS_TEXT = st.text(alphabet='0123456789,.-+e naif:\n[]{}"', max_size=60)
#: JSON values whose numbers a linear model can take without overflowing.
BOUNDED_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(-1e6, 1e6)
    | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=16,
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=64)
    | NUMBERS_TEXT.map(str.encode)
    | BOUNDED_JSON.map(lambda v: json.dumps(v).encode())
    | st.lists(st.lists(BOUNDED_JSON, min_size=3, max_size=3), min_size=1, max_size=3).map(
        lambda rows: json.dumps({"instances": rows}).encode()
    ),
    content_type=CONTENT_TYPES,
)
def test_sklearn_blames_the_client_for_whatever_it_cannot_take(
    loaded: dict[str, Handler], body: bytes, content_type: str
) -> None:
    """Whatever the body, the built-in runtime answers or raises a 4xx, never a 500."""
    with warnings.catch_warnings():
        # Large finite values may overflow inside the estimator (a RuntimeWarning, which
        # this suite turns into an error); in the worker they are mere warnings.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            answer, _ = loaded["sklearn"].invoke(body, content_type, None)
        except InvalidRequest:
            return
    assert isinstance(answer, bytes)


TENSORS = st.sampled_from(["BOOL", "INT32", "UINT8", "FP16", "FP32", "FP64", "BYTES"]).flatmap(
    lambda datatype: st.tuples(
        st.just(datatype),
        hnp.arrays(
            numpy_dtype(datatype) if datatype != "BYTES" else np.dtype("S2"),
            hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
            elements={"allow_subnormal": False} if datatype.startswith("FP") else None,
        ),
    )
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tensors=st.lists(TENSORS, min_size=1, max_size=4))
def test_sklearn_infer_batch_blames_the_client_for_whatever_it_cannot_take(
    loaded: dict[str, Handler], tensors: list[tuple[str, np.ndarray]]
) -> None:
    """Batched V2 requests of any shape and datatype: answers or 4xx, one per request."""
    handler = loaded["sklearn"]
    assert isinstance(handler, SKLearnHandler)
    requests = []
    for datatype, array in tensors:
        data = array.astype(object) if datatype == "BYTES" else array
        tensor = Tensor(name="x", shape=list(array.shape), datatype=datatype, data=data)
        requests.append(InferenceRequest(inputs=[tensor]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        answers = handler.infer_batch(requests)
    assert len(answers) == len(requests)
    for request, answer in zip(requests, answers, strict=True):
        if isinstance(answer, Exception):
            assert isinstance(answer, InvalidRequest), answer
        else:
            rows = request.inputs[0].data.reshape(-1, 3).shape[0]
            assert answer.outputs[0].shape == [rows]


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
