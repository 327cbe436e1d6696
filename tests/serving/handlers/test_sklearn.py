"""The built-in scikit-learn runtime: invoke formats, V2 outputs named after methods, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pytest

from modelyard.errors import InferenceFailed, InvalidRequest, ModelLoadFailed, PayloadMalformed
from modelyard.serving.codecs import array_to_records, encode
from modelyard.serving.handlers import Handler, load_handler
from modelyard.serving.types import InferenceRequest, RequestedOutput, Tensor
from tests.fixtures.models import sklearn_failing_model, sklearn_model

ROWS = np.random.default_rng(1).normal(size=(3, 4))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return sklearn_model(tmp_path, n_features=4)


@pytest.fixture
def handler(model_dir: Path) -> Handler:
    return load_handler("sklearn", model_dir)


@pytest.fixture
def estimator(model_dir: Path) -> Any:
    return joblib.load(model_dir / "model.joblib")


def v2(data: np.ndarray, *outputs: str) -> InferenceRequest:
    datatype = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64"}[data.dtype]
    return InferenceRequest(
        inputs=[Tensor(name="input-0", shape=list(data.shape), datatype=datatype, data=data)],
        outputs=[RequestedOutput(name=name) for name in outputs],
        id="req",
    )


def test_invoke_csv_predicts_labels(handler: Handler, estimator: Any) -> None:
    body = "\n".join(",".join(str(v) for v in row) for row in ROWS).encode()
    answer, content_type = handler.invoke(body, "text/csv", None)
    assert content_type == "application/json"
    assert orjson.loads(answer) == estimator.predict(ROWS).tolist()


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": ROWS.tolist()},
        {"inputs": ROWS.tolist()},
        ROWS.tolist(),
        {"instances": [{"features": row} for row in ROWS.tolist()]},
    ],
    ids=["instances", "inputs", "bare-list", "features-objects"],
)
def test_invoke_json_shapes(handler: Handler, payload: object, estimator: Any) -> None:
    answer, _ = handler.invoke(orjson.dumps(payload), "application/json", "application/json")
    assert orjson.loads(answer) == estimator.predict(ROWS).tolist()


def test_invoke_json_single_row_as_flat_list(handler: Handler, estimator: Any) -> None:
    answer, _ = handler.invoke(orjson.dumps(ROWS[0].tolist()), "application/json", None)
    assert orjson.loads(answer) == estimator.predict(ROWS[:1]).tolist()


def test_invoke_json_object_without_rows_is_malformed(handler: Handler) -> None:
    with pytest.raises(PayloadMalformed, match="'instances' or 'inputs' \\(keys: 'rows'\\)"):
        handler.invoke(b'{"rows": [[1, 2, 3, 4]]}', "application/json", None)


def test_invoke_ragged_rows_are_malformed(handler: Handler) -> None:
    with pytest.raises(PayloadMalformed, match="not a rectangular table"):
        handler.invoke(b"[[1, 2, 3, 4], [1]]", "application/json", None)


def test_invoke_answers_csv_when_asked(handler: Handler, estimator: Any) -> None:
    answer, content_type = handler.invoke(
        orjson.dumps(ROWS.tolist()), "application/json", "text/csv"
    )
    assert content_type == "text/csv"
    assert [int(float(v)) for v in answer.decode().split()] == estimator.predict(ROWS).tolist()


def test_settings_method_answers_invoke(model_dir: Path, estimator: Any) -> None:
    (model_dir / "model-settings.json").write_text(json.dumps({"method": "predict_proba"}))
    answer, _ = load_handler("sklearn", model_dir).invoke(
        orjson.dumps(ROWS.tolist()), "application/json", None
    )
    np.testing.assert_allclose(orjson.loads(answer), estimator.predict_proba(ROWS))


def test_wrong_feature_count_is_the_clients_mistake(handler: Handler) -> None:
    with pytest.raises(
        InvalidRequest,
        match=r"the JSON body has 2 features per row \(shape \[1, 2\]\); model 'sklearn' takes 4",
    ):
        handler.invoke(b"[[1, 2]]", "application/json", None)


def test_v2_without_requested_outputs_answers_predict(handler: Handler, estimator: Any) -> None:
    response = handler.infer(v2(ROWS))
    assert response.id == "req"
    [output] = response.outputs
    assert output.name == "predict"
    assert output.datatype == "INT64"
    assert output.shape == [3]
    assert output.data.tolist() == estimator.predict(ROWS).tolist()


def test_v2_requested_outputs_pick_methods(handler: Handler, estimator: Any) -> None:
    response = handler.infer(v2(ROWS, "predict_proba", "decision_function"))
    proba, decision = response.outputs
    assert (proba.name, proba.datatype, proba.shape) == ("predict_proba", "FP64", [3, 2])
    assert proba.data.dtype == np.float64
    np.testing.assert_allclose(proba.data, estimator.predict_proba(ROWS))
    assert (decision.name, decision.shape) == ("decision_function", [3])


def test_v2_settings_method_is_the_default_output(model_dir: Path) -> None:
    (model_dir / "model-settings.json").write_text(json.dumps({"method": "predict_proba"}))
    response = load_handler("sklearn", model_dir).infer(v2(ROWS))
    assert [o.name for o in response.outputs] == ["predict_proba"]


def test_v2_one_dimensional_fp32_input_is_one_row(handler: Handler, estimator: Any) -> None:
    row = ROWS[0].astype(np.float32)
    request = v2(row, "predict_proba")
    assert request.inputs[0].datatype == "FP32"
    [output] = handler.infer(request).outputs
    assert output.shape == [1, 2]
    assert output.datatype == "FP64"
    np.testing.assert_allclose(output.data, estimator.predict_proba(row.reshape(1, -1)), rtol=1e-6)


def test_v2_unknown_output_lists_the_methods(handler: Handler) -> None:
    with pytest.raises(
        InvalidRequest,
        match=r"no output 'transform' \(outputs: predict, predict_proba, predict_log_proba, decision_function\)",
    ):
        handler.infer(v2(ROWS, "transform"))


def test_v2_needs_exactly_one_input(handler: Handler) -> None:
    request = v2(ROWS)
    request.inputs.append(request.inputs[0])
    with pytest.raises(InvalidRequest, match="exactly one input tensor, got 2"):
        handler.infer(request)


def test_v2_estimator_error_is_an_inference_failure(tmp_path: Path) -> None:
    handler = load_handler("failing", sklearn_failing_model(tmp_path))
    with pytest.raises(InferenceFailed, match="model 'failing': transform: LinAlgError"):
        handler.infer(v2(np.ones((1, 4))))
    with pytest.raises(InferenceFailed, match="model 'failing': transform: LinAlgError"):
        handler.invoke(b"1,2,3,4", "text/csv", None)


def test_v2_wrong_feature_count_is_the_clients_mistake(handler: Handler) -> None:
    with pytest.raises(
        InvalidRequest,
        match=r"input 'input-0' \(FP64\) has 3 features per row \(shape \[1, 3\]\); "
        "model 'sklearn' takes 4",
    ):
        handler.infer(v2(np.ones((1, 3)), "predict_proba"))


def test_metadata_describes_features_and_methods(handler: Handler) -> None:
    metadata = handler.metadata()
    assert metadata["platform"] == "sklearn"
    assert metadata["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    outputs = {o["name"]: o for o in metadata["outputs"]}
    assert outputs["predict"]["datatype"] == "INT64"
    assert outputs["predict_proba"]["shape"] == [-1, 2]


def test_method_the_estimator_lacks_fails_the_load(model_dir: Path) -> None:
    (model_dir / "model-settings.json").write_text(json.dumps({"method": "transform"}))
    with pytest.raises(
        ModelLoadFailed, match="LogisticRegression has no method 'transform' \\(available: predict"
    ):
        load_handler("sklearn", model_dir)


def test_unsupported_method_name_fails_the_load(model_dir: Path) -> None:
    (model_dir / "model-settings.json").write_text(json.dumps({"method": "fit"}))
    with pytest.raises(ModelLoadFailed, match="method 'fit' is not one of predict, "):
        load_handler("sklearn", model_dir)


def test_pickle_file_is_served(model_dir: Path, estimator: Any) -> None:
    (model_dir / "model.joblib").unlink()
    (model_dir / "model.pkl").write_bytes(pickle.dumps(estimator))
    answer, _ = load_handler("sklearn", model_dir).invoke(
        orjson.dumps(ROWS.tolist()), "application/json", None
    )
    assert orjson.loads(answer) == estimator.predict(ROWS).tolist()


def test_corrupt_file_fails_the_load_naming_it(model_dir: Path) -> None:
    (model_dir / "model.joblib").write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadFailed, match="model 'sklearn': model.joblib: "):
        load_handler("sklearn", model_dir)


def test_unload_stops_answers(handler: Handler) -> None:
    handler.unload()
    with pytest.raises(InferenceFailed, match="model 'sklearn' was unloaded"):
        handler.infer(v2(ROWS))
    with pytest.raises(InferenceFailed, match="model 'sklearn' was unloaded"):
        handler.infer(v2(ROWS, "predict"))


def test_invoke_libsvm_rows_are_widened_to_the_features(handler: Handler, estimator: Any) -> None:
    answer, _ = handler.invoke(b"0 1:0.5 3:-1.0\n1 0:2.0\n", "text/x-libsvm", None)
    rows = np.array([[0.0, 0.5, 0.0, -1.0], [2.0, 0.0, 0.0, 0.0]])
    assert orjson.loads(answer) == estimator.predict(rows).tolist()


def test_invoke_recordio_protobuf(handler: Handler, estimator: Any) -> None:
    records = array_to_records(ROWS.astype(np.float32))
    body, content_type = encode(records, "application/x-recordio-protobuf")
    answer, _ = handler.invoke(body, content_type, "application/json")
    assert orjson.loads(answer) == estimator.predict(ROWS.astype(np.float32)).tolist()
