"""The scikit-learn runtime checks its input: the client's mistakes are ``InvalidRequest``.

Only what goes wrong inside the estimator itself is ``InferenceFailed`` (issue #11). The
same checks hold request by request when V2 requests are batched into one estimator call.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import joblib  # type: ignore[import-untyped]  # no type information shipped
import numpy as np
import orjson
import pytest

from modelyard.errors import InvalidRequest, PayloadMalformed
from modelyard.serving.codecs import array_to_records, encode
from modelyard.serving.handlers import SKLearnHandler, load_handler
from modelyard.serving.types import InferenceRequest, InferenceResponse, Tensor
from tests.fixtures.models import sklearn_model

RECORDIO = "application/x-recordio-protobuf"
GOOD_ROW = [0.5, -1.0, 2.0, 0.0]


def load_sklearn(name: str, folder: Path) -> SKLearnHandler:
    handler = load_handler(name, folder)
    assert isinstance(handler, SKLearnHandler)
    return handler


@pytest.fixture(scope="module")
def handler(tmp_path_factory: pytest.TempPathFactory) -> SKLearnHandler:
    return load_sklearn("lr", sklearn_model(tmp_path_factory.mktemp("models"), n_features=4))


def v2(data: np.ndarray, datatype: str = "FP64", name: str = "x") -> InferenceRequest:
    return InferenceRequest(
        inputs=[Tensor(name=name, shape=list(data.shape), datatype=datatype, data=data)]
    )


def recordio(rows: np.ndarray) -> bytes:
    return encode(array_to_records(rows), RECORDIO)[0]


@pytest.mark.parametrize(
    ("body", "content_type", "error", "message"),
    [
        (b"", "application/json", PayloadMalformed, "the request body is empty"),
        (b"", "text/csv", PayloadMalformed, "the request body is empty"),
        (b"", "text/x-libsvm", PayloadMalformed, "the request body is empty"),
        (b"", RECORDIO, PayloadMalformed, "the request body is empty"),
        (b"\n\n", "text/csv", InvalidRequest, "the CSV body has no rows"),
        (
            b"1,2,3,4\n4,five,6,7",
            "text/csv",
            InvalidRequest,
            "the CSV body holds the text 'five' at row 2, column 2, where a number is expected",
        ),
        (
            b"1,,3,x",
            "text/csv",
            InvalidRequest,
            "holds the text 'x' at row 1, column 4",
        ),
        (
            b"1,2,nan,4",
            "text/csv",
            InvalidRequest,
            "the CSV body has a missing value (NaN) at row 1, column 3; model 'lr' "
            "(LogisticRegression) does not accept missing values",
        ),
        (b"1,2,,4", "text/csv", InvalidRequest, "missing value (NaN) at row 1, column 3"),
        (b"1,2,3,4\n5,6,7", "text/csv", PayloadMalformed, "CSV row 2 has 3 fields, expected 4"),
        (
            b"[[1, 2, 3, 4]]",
            "text/csv",
            InvalidRequest,
            "the text '[[1' at row 1, column 1, where a number is expected (is the body JSON?",
        ),
        (
            b"1 1:1e400",
            "text/x-libsvm",
            InvalidRequest,
            "the libsvm body has an infinite value at row 1, column 2",
        ),
        (b"1 0:-inf", "text/x-libsvm", InvalidRequest, "infinite value at row 1, column 1"),
        (b"1 3:nan", "text/x-libsvm", InvalidRequest, "missing value (NaN) at row 1, column 4"),
        (
            b'"string"',
            "application/json",
            PayloadMalformed,
            "a JSON string is not rows of features",
        ),
        (b"42", "application/json", PayloadMalformed, "a JSON number is not rows of features"),
        (
            b'{"instances": {"a": 1}}',
            "application/json",
            PayloadMalformed,
            "a JSON object is not rows of features",
        ),
        (
            b'[["a", "b", "c", "d"]]',
            "application/json",
            InvalidRequest,
            "the JSON body holds the text 'a' at row 1, column 1",
        ),
        (
            b'[["1", "2", "3", "4"]]',
            "application/json",
            InvalidRequest,
            "the JSON body holds the text '1' at row 1, column 1, where a number is expected",
        ),
        (
            b'[[1, 2, 3, {"a": 1}]]',
            "application/json",
            InvalidRequest,
            "the JSON body holds a dict at row 1, column 4",
        ),
        (
            b"[[1, 2, 3, null]]",
            "application/json",
            InvalidRequest,
            "missing value (NaN) at row 1, column 4",
        ),
        (b"[[[1, 2, 3, 4]]]", "application/json", InvalidRequest, "the JSON body is 3-D"),
        (b"[]", "application/json", InvalidRequest, "has 0 features per row (shape [0])"),
        (b"[[1, 2], [3]]", "application/json", PayloadMalformed, "not a rectangular table"),
        (
            b"[1, 2, 3, 4, 5]",
            "application/json",
            InvalidRequest,
            "the JSON body has 5 features per row (shape [5]); model 'lr' takes 4",
        ),
        (
            b'{"instances": [{"features": [1, 2]}]}',
            "application/json",
            InvalidRequest,
            "the JSON body has 2 features per row (shape [1, 2]); model 'lr' takes 4",
        ),
        (
            b"1,2,3",
            "text/csv",
            InvalidRequest,
            "the CSV body has 3 features per row (shape [1, 3]); model 'lr' takes 4",
        ),
        (
            b"0 7:1",
            "text/x-libsvm",
            PayloadMalformed,
            "libsvm line 1 has feature index 7, out of range for 4 features",
        ),
        (
            recordio(np.ones((2, 5))),
            RECORDIO,
            InvalidRequest,
            "the RecordIO-protobuf body has 5 features per row (shape [2, 5]); model 'lr' takes 4",
        ),
    ],
)
def test_invoke_refuses_what_the_model_cannot_take(
    handler: SKLearnHandler, body: bytes, content_type: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        handler.invoke(body, content_type, None)
    assert type(info.value) is error
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("data", "datatype", "message"),
    [
        (np.ones((1, 5)), "FP64", "input 'x' (FP64) has 5 features per row (shape [1, 5])"),
        (
            np.ones(3, dtype=np.float32),
            "FP32",
            "input 'x' (FP32) has 3 features per row (shape [3])",
        ),
        (np.ones((0, 4)), "FP64", "input 'x' (FP64) has no rows (shape [0, 4])"),
        (np.ones((1, 4, 1)), "FP64", "input 'x' (FP64) is 3-D (shape [1, 4, 1])"),
        (np.array(1.0), "FP64", "input 'x' (FP64) is 0-D"),
        (
            np.array([[b"1", b"2", b"3", b"4"]], dtype=object),
            "BYTES",
            "input 'x' (BYTES) holds the bytes b'1' at row 1, column 1, where a number is expected",
        ),
        (
            np.array([[1.0, np.nan, 0.0, 0.0]]),
            "FP64",
            "input 'x' (FP64) has a missing value (NaN) at row 1, column 2",
        ),
        (
            np.array([[1.0, 0.0], [0.0, np.inf]], dtype=np.float16).reshape(1, 4),
            "FP16",
            "input 'x' (FP16) has an infinite value at row 1, column 4",
        ),
    ],
)
def test_infer_refuses_what_the_model_cannot_take(
    handler: SKLearnHandler, data: np.ndarray, datatype: str, message: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        handler.infer(v2(data, datatype))
    assert type(info.value) is InvalidRequest
    assert message in str(info.value)
    [answer] = handler.infer_batch([v2(data, datatype)])
    assert isinstance(answer, InvalidRequest)
    assert message in str(answer)


@pytest.mark.parametrize(
    ("data", "datatype"),
    [
        (np.array([[True, False, True, False]]), "BOOL"),
        (np.array([[1, 2, 3, 4]], dtype=np.int32), "INT32"),
        (np.array([[1, 2, 3, 4]], dtype=np.uint8), "UINT8"),
        (np.array([[1e10, -1e10, 0, 0]]), "FP64"),
    ],
)
def test_infer_takes_any_finite_numbers(
    handler: SKLearnHandler, data: np.ndarray, datatype: str
) -> None:
    estimator = handler.estimator
    [output] = handler.infer(v2(data, datatype)).outputs
    assert output.data.tolist() == estimator.predict(data).tolist()


def answer_rows(answer: InferenceResponse | Exception) -> list[int]:
    assert isinstance(answer, InferenceResponse), answer
    return [int(v) for v in answer.outputs[0].data.tolist()]


def test_a_bad_request_in_a_batch_gets_its_own_error(handler: SKLearnHandler) -> None:
    estimator = handler.estimator
    good = np.array([GOOD_ROW, [-1.0, -2.0, 0.0, 0.0]])
    requests = [
        v2(good),
        v2(np.array([[1.0, np.nan, 0.0, 0.0]])),
        v2(np.ones((1, 5))),
        v2(np.array([[np.inf, 0.0, 0.0, 0.0]])),
        v2(good[::-1].copy()),
    ]
    answers = handler.infer_batch(requests)
    assert answer_rows(answers[0]) == estimator.predict(good).tolist()
    assert isinstance(answers[1], InvalidRequest) and "missing value (NaN)" in str(answers[1])
    assert isinstance(answers[2], InvalidRequest) and "5 features per row" in str(answers[2])
    assert isinstance(answers[3], InvalidRequest) and "infinite value" in str(answers[3])
    assert answer_rows(answers[4]) == estimator.predict(good[::-1]).tolist()


RECORDER = """
import numpy as np


class Recorder:
    \"\"\"Predicts row sums and records the number of rows of every call.\"\"\"

    n_features_in_ = 4

    def __init__(self):
        self.calls = []

    def predict(self, rows):
        self.calls.append(len(rows))
        return np.asarray(rows).sum(axis=1)
"""


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SKLearnHandler:
    """A handler over an estimator that records its calls (pickled by reference to its module)."""
    folder = tmp_path / "recorder"
    folder.mkdir()
    (folder / "batch_recorder.py").write_text(RECORDER)
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("batch_recorder")
    joblib.dump(module.Recorder(), folder / "model.joblib")
    monkeypatch.delitem(sys.modules, "batch_recorder")
    return load_sklearn("recorder", folder)


def test_checked_requests_are_still_stacked_into_one_call(recorder: SKLearnHandler) -> None:
    rows = np.arange(12, dtype=np.float64).reshape(3, 4)
    requests = [v2(rows[:1]), v2(rows[1:]), v2(np.ones((1, 3))), v2(rows[:1].copy())]
    answers = recorder.infer_batch(requests)
    assert [a.outputs[0].data.tolist() for a in answers if isinstance(a, InferenceResponse)] == [
        [6.0],
        [22.0, 38.0],
        [6.0],
    ]
    assert isinstance(answers[2], InvalidRequest)
    # The three good requests (four rows) in one call; the bad one never reached the model.
    assert recorder.estimator.calls == [4]


def test_nan_passes_to_estimators_that_take_missing_values(tmp_path: Path) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]

    rng = np.random.default_rng(0)
    features = rng.normal(size=(100, 4))
    labels = (features[:, 0] > 0).astype(np.int64)
    features[::7, 1] = np.nan
    folder = tmp_path / "hgb"
    folder.mkdir()
    estimator = HistGradientBoostingClassifier(max_iter=5).fit(features, labels)
    joblib.dump(estimator, folder / "model.joblib")
    handler = load_sklearn("hgb", folder)
    answer, _ = handler.invoke(b"1,,0,0\n-1,2,,0\n", "text/csv", None)
    assert orjson.loads(answer) == [1, 0]
    with pytest.raises(InvalidRequest, match="infinite value at row 1, column 2"):
        handler.invoke(b"1,inf,0,0", "text/csv", None)


def test_a_declared_bytes_input_lets_text_through(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import OneHotEncoder  # type: ignore[import-untyped]

    colours = np.array([["red"], ["blue"], ["red"], ["green"]])
    pipeline = make_pipeline(OneHotEncoder(), LogisticRegression())
    pipeline.fit(colours, [1, 0, 1, 0])
    folder = tmp_path / "colours"
    folder.mkdir()
    joblib.dump(pipeline, folder / "model.joblib")
    with pytest.raises(InvalidRequest, match="the CSV body holds the text 'red' at row 1"):
        load_handler("c", folder).invoke(b"red\n", "text/csv", None)
    inputs = [{"name": "colour", "datatype": "BYTES", "shape": [-1, 1]}]
    (folder / "model-settings.json").write_text(json.dumps({"inputs": inputs}))
    answer, _ = load_handler("c", folder).invoke(b"red\nblue\n", "text/csv", None)
    assert orjson.loads(answer) == [1, 0]


def test_an_imputing_pipeline_takes_nan_when_its_settings_say_so(tmp_path: Path) -> None:
    from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]

    rng = np.random.default_rng(0)
    features = rng.normal(size=(100, 4))
    labels = (features[:, 0] > 0).astype(np.int64)
    pipeline = make_pipeline(SimpleImputer(), LogisticRegression()).fit(features, labels)
    folder = tmp_path / "imputing"
    folder.mkdir()
    joblib.dump(pipeline, folder / "model.joblib")
    # Its tags do not say it takes NaN: without the setting, NaN is the client's mistake.
    with pytest.raises(InvalidRequest, match="missing value"):
        load_handler("imp", folder).invoke(b"1,,0,0", "text/csv", None)
    (folder / "model-settings.json").write_text(json.dumps({"allow_nan": True}))
    answer, _ = load_handler("imp", folder).invoke(b"1,,0,0\n-1,,0,0", "text/csv", None)
    assert orjson.loads(answer) == [1, 0]
