"""SageMaker inference toolkit scripts: defaults, transform_fn, context arguments, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import orjson
import pytest

from modelyard.errors import InferenceFailed, ModelLoadFailed, PayloadMalformed
from modelyard.serving.handlers import load_handler
from modelyard.serving.types import InferenceRequest, Tensor
from tests.fixtures.models import inference_toolkit_model, sklearn_model


def write_script(folder: Path, code: str) -> Path:
    (folder / "code").mkdir(parents=True, exist_ok=True)
    (folder / "code" / "inference.py").write_text(textwrap.dedent(code))
    return folder


def test_fixture_json_with_default_input_and_output(tmp_path: Path) -> None:
    handler = load_handler("toolkit", inference_toolkit_model(tmp_path))
    body, content_type = handler.invoke(b"[1, 2.5]", "application/json", None)
    assert content_type == "application/json"
    assert orjson.loads(body) == [2.0, 5.0]


def test_fixture_csv_in_csv_out(tmp_path: Path) -> None:
    handler = load_handler("toolkit", inference_toolkit_model(tmp_path))
    body, content_type = handler.invoke(b"1,2\n3,4\n", "text/csv", "text/csv")
    assert content_type == "text/csv"
    rows = [[float(v) for v in line.split(",")] for line in body.decode().split()]
    assert rows == [[2.0, 4.0], [6.0, 8.0]]


def test_star_accept_means_json(tmp_path: Path) -> None:
    handler = load_handler("toolkit", inference_toolkit_model(tmp_path))
    assert handler.invoke(b"[1]", "application/json", "*/*")[1] == "application/json"


def test_input_is_text_for_json_and_csv_bytes_otherwise(tmp_path: Path) -> None:
    folder = write_script(
        tmp_path / "types",
        """
        def model_fn(model_dir):
            return None

        def transform_fn(model, input_data, content_type, accept):
            return type(input_data).__name__ + " " + content_type + " " + accept, "text/plain"
        """,
    )
    handler = load_handler("types", folder)
    assert handler.invoke(b"{}", "application/json", None) == (
        b"str application/json application/json",
        "text/plain",
    )
    assert handler.invoke(b"1,2", "text/csv", "text/csv")[0] == b"str text/csv text/csv"
    assert handler.invoke(b"\x00", "application/x-npy", "application/json")[0] == (
        b"bytes application/x-npy application/json"
    )


def test_invalid_utf8_text_body_is_malformed(tmp_path: Path) -> None:
    handler = load_handler("toolkit", inference_toolkit_model(tmp_path))
    with pytest.raises(PayloadMalformed, match="not valid UTF-8"):
        handler.invoke(b"\xff\xfe", "application/json", None)


def test_output_fn_bare_body_is_labelled_with_accept(tmp_path: Path) -> None:
    folder = write_script(
        tmp_path / "out",
        """
        def model_fn(model_dir):
            return "m"

        def predict_fn(data, model):
            return data

        def output_fn(prediction, accept):
            return "<b>" + str(prediction) + "</b>"
        """,
    )
    assert load_handler("out", folder).invoke(b"[1]", "application/json", "text/html") == (
        b"<b>[1]</b>",
        "text/html",
    )


def test_functions_taking_a_context_get_one(tmp_path: Path) -> None:
    folder = write_script(
        tmp_path / "ctx",
        """
        def model_fn(model_dir, context):
            return context.system_properties["model_dir"]

        def input_fn(input_data, content_type, context):
            return context.model_name

        def predict_fn(data, model, context):
            return {"name": data, "dir": model}
        """,
    )
    body, _ = load_handler("ctx", folder).invoke(b"{}", "application/json", None)
    assert orjson.loads(body) == {"name": "ctx", "dir": str(folder)}


def test_default_model_fn_loads_model_joblib(tmp_path: Path) -> None:
    folder = sklearn_model(tmp_path, name="sk", n_features=3)
    write_script(folder, "import numpy\n")
    body, _ = load_handler("sk", folder).invoke(b"[[0.1, 0.2, 0.3]]", "application/json", None)
    assert orjson.loads(body) in ([0], [1])


def test_no_model_fn_and_no_model_file_fails_the_load(tmp_path: Path) -> None:
    folder = write_script(tmp_path / "empty", "def predict_fn(data, model):\n    return data\n")
    with pytest.raises(ModelLoadFailed, match="no model_fn and the folder has no model.joblib"):
        load_handler("empty", folder)


def test_model_without_predict_and_no_predict_fn_fails_the_load(tmp_path: Path) -> None:
    folder = write_script(tmp_path / "nopredict", "def model_fn(model_dir):\n    return {}\n")
    with pytest.raises(
        ModelLoadFailed, match=r"defines no predict_fn and the model .* \(dict\) has no predict"
    ):
        load_handler("nopredict", folder)


def test_transform_fn_with_input_fn_is_refused(tmp_path: Path) -> None:
    folder = write_script(
        tmp_path / "both",
        """
        def model_fn(model_dir):
            return None

        def input_fn(input_data, content_type):
            return input_data

        def transform_fn(model, input_data, content_type, accept):
            return input_data
        """,
    )
    with pytest.raises(ModelLoadFailed, match="defines transform_fn together with input_fn"):
        load_handler("both", folder)


def test_model_fn_error_names_the_script(tmp_path: Path) -> None:
    folder = write_script(tmp_path / "bad", "def model_fn(model_dir):\n    return missing\n")
    with pytest.raises(ModelLoadFailed) as caught:
        load_handler("bad", folder)
    assert str(caught.value) == (
        "model 'bad': code/inference.py: model_fn: NameError: name 'missing' is not defined"
    )


def test_import_error_names_the_script(tmp_path: Path) -> None:
    folder = write_script(tmp_path / "deps", "import not_installed_anywhere\n")
    with pytest.raises(
        ModelLoadFailed,
        match=r"code/inference.py: ModuleNotFoundError: No module named 'not_installed_anywhere'",
    ):
        load_handler("deps", folder)


def test_predict_fn_error_is_an_inference_failure(tmp_path: Path) -> None:
    folder = write_script(
        tmp_path / "boom",
        """
        def model_fn(model_dir):
            return None

        def predict_fn(data, model):
            raise ZeroDivisionError("division by zero")
        """,
    )
    with pytest.raises(InferenceFailed) as caught:
        load_handler("boom", folder).invoke(b"[1]", "application/json", None)
    assert str(caught.value) == "model 'boom': predict_fn: ZeroDivisionError: division by zero"


def test_v2_infer_goes_through_json(tmp_path: Path) -> None:
    handler = load_handler("toolkit", inference_toolkit_model(tmp_path))
    data = np.array([[1.0, 2.0]], dtype=np.float32)
    request = InferenceRequest(inputs=[Tensor(name="x", shape=[1, 2], datatype="FP32", data=data)])
    [output] = handler.infer(request).outputs
    assert (output.name, output.shape) == ("output-0", [1, 2])
    assert output.data.tolist() == [[2.0, 4.0]]
