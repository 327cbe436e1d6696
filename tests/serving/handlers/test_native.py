"""Native ``Model`` subclasses through ``load_handler``: invoke, V2 infer, batches, errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from modelyard.errors import (
    InferenceFailed,
    InvalidRequest,
    ModelLoadFailed,
    NotAcceptable,
    PayloadMalformed,
)
from modelyard.serving.handlers import load_handler
from modelyard.serving.ipc import Invoke
from modelyard.serving.types import InferenceRequest, RequestedOutput, Tensor
from tests.fixtures.models import load_error_model, predict_error_model, sum_model


def tensor(name: str, values: Sequence[Any], datatype: str = "FP64") -> Tensor:
    data = np.asarray(values, dtype=np.float32 if datatype == "FP32" else np.float64)
    return Tensor(name=name, shape=list(data.shape), datatype=datatype, data=data)


def write_model(folder: Path, code: str, settings: dict[str, object] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.py").write_text("from modelyard.serving.model import Model\n\n" + code)
    if settings is not None:
        (folder / "model-settings.json").write_text(json.dumps(settings))
    return folder


def test_invoke_json_list(tmp_path: Path) -> None:
    handler = load_handler("sum", sum_model(tmp_path))
    assert handler.invoke(b"[1, 2, 3.5]", "application/json", None) == (
        b"[6.5]",
        "application/json",
    )


def test_invoke_csv_answers_csv_when_asked(tmp_path: Path) -> None:
    handler = load_handler("sum", sum_model(tmp_path))
    body, content_type = handler.invoke(b"1,2\n3,4\n", "text/csv", "text/csv")
    assert content_type == "text/csv"
    assert float(body.decode().strip()) == 10.0


def test_invoke_parameters_carry_content_type_and_accept(tmp_path: Path) -> None:
    folder = write_model(
        tmp_path / "params",
        "class Params(Model):\n    def predict(self, inputs, parameters):\n        return parameters\n",
    )
    body, _ = load_handler("params", folder).invoke(b"{}", "application/json", "application/json")
    assert orjson.loads(body) == {"content_type": "application/json", "accept": "application/json"}


def test_codec_errors_pass_through(tmp_path: Path) -> None:
    handler = load_handler("sum", sum_model(tmp_path))
    with pytest.raises(PayloadMalformed):
        handler.invoke(b"[1, 2", "application/json", None)
    with pytest.raises(NotAcceptable):
        handler.invoke(b"[1]", "application/json", "image/png")


def test_v2_single_input_gets_its_array(tmp_path: Path) -> None:
    handler = load_handler("sum", sum_model(tmp_path))
    response = handler.infer(InferenceRequest(inputs=[tensor("x", [[1, 2], [3, 4]])], id="r1"))
    assert response.model_name == "sum"
    assert response.id == "r1"
    [output] = response.outputs
    assert (output.name, output.datatype, output.shape) == ("output-0", "FP64", [1])
    assert output.data.tolist() == [10.0]


def test_v2_several_inputs_arrive_as_a_dict(tmp_path: Path) -> None:
    folder = write_model(
        tmp_path / "keys",
        "class Keys(Model):\n"
        "    def predict(self, inputs, parameters):\n"
        "        return {'names': sorted(inputs), 'total': sum(v.sum() for v in inputs.values())}\n",
    )
    response = load_handler("keys", folder).infer(
        InferenceRequest(inputs=[tensor("b", [1.0]), tensor("a", [2.0, 3.0])])
    )
    outputs = {o.name: o for o in response.outputs}
    assert outputs["names"].datatype == "BYTES"
    assert outputs["names"].data.tolist() == [b"a", b"b"]
    assert outputs["total"].data.tolist() == 6.0
    assert outputs["total"].shape == []


def test_v2_unnamed_output_takes_the_settings_name(tmp_path: Path) -> None:
    folder = sum_model(tmp_path)
    (folder / "model-settings.json").write_text(
        json.dumps({"outputs": [{"name": "total", "datatype": "FP64", "shape": [1]}]})
    )
    response = load_handler("sum", folder).infer(InferenceRequest(inputs=[tensor("x", [1.0])]))
    assert [o.name for o in response.outputs] == ["total"]


def test_v2_requested_outputs_filter_and_order(tmp_path: Path) -> None:
    folder = write_model(
        tmp_path / "many",
        "import numpy as np\n\n"
        "class Many(Model):\n"
        "    def predict(self, inputs, parameters):\n"
        "        return {'a': np.array([1]), 'b': np.array([2.5], dtype=np.float32), 'c': [True]}\n",
    )
    handler = load_handler("many", folder)
    request = InferenceRequest(
        inputs=[tensor("x", [0.0])], outputs=[RequestedOutput(name="c"), RequestedOutput(name="b")]
    )
    outputs = handler.infer(request).outputs
    assert [(o.name, o.datatype) for o in outputs] == [("c", "BOOL"), ("b", "FP32")]
    request.outputs = [RequestedOutput(name="zzz")]
    with pytest.raises(
        InvalidRequest, match=r"model 'many' has no output 'zzz' \(outputs: a, b, c\)"
    ):
        handler.infer(request)


def test_v2_parameters_reach_predict(tmp_path: Path) -> None:
    folder = write_model(
        tmp_path / "p",
        "class P(Model):\n    def predict(self, inputs, parameters):\n        return [parameters['k']]\n",
    )
    request = InferenceRequest(inputs=[tensor("x", [0.0])], parameters={"k": 7})
    assert load_handler("p", folder).infer(request).outputs[0].data.tolist() == [7]


def test_predict_error_names_class_and_message(tmp_path: Path) -> None:
    handler = load_handler("predict_error", predict_error_model(tmp_path))
    with pytest.raises(InferenceFailed) as caught:
        handler.invoke(b"[1]", "application/json", None)
    assert (
        str(caught.value)
        == "model 'predict_error': FailingModel.predict: ValueError: cannot predict"
    )
    assert isinstance(caught.value.__cause__, ValueError)
    with pytest.raises(InferenceFailed, match="ValueError: cannot predict"):
        handler.infer(InferenceRequest(inputs=[tensor("x", [1.0])]))


def test_load_error_names_model_file_and_cause(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadFailed) as caught:
        load_handler("load_error", load_error_model(tmp_path))
    assert str(caught.value) == (
        "model 'load_error': model.py: BrokenModel.load: RuntimeError: weights are corrupt"
    )
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_error_at_import_names_the_file(tmp_path: Path) -> None:
    folder = write_model(tmp_path / "typo", "class M(Model):\n    pass\n\nundefined_name\n")
    with pytest.raises(
        ModelLoadFailed, match=r"model 'typo': model.py: NameError: name 'undefined_name'"
    ):
        load_handler("typo", folder)


def test_model_raising_invalid_request_blames_the_caller(tmp_path: Path) -> None:
    folder = write_model(
        tmp_path / "strict",
        "from modelyard.errors import PayloadMalformed\n\n"
        "class Strict(Model):\n"
        "    def predict(self, inputs, parameters):\n"
        "        raise PayloadMalformed('need 3 features')\n",
    )
    with pytest.raises(PayloadMalformed, match="need 3 features"):
        load_handler("strict", folder).invoke(b"[1]", "application/json", None)


def test_invoke_batch_uses_predict_batch_once(tmp_path: Path) -> None:
    folder = write_model(
        tmp_path / "batched",
        "class Batched(Model):\n"
        "    calls = 0\n"
        "    def predict_batch(self, batch, parameters):\n"
        "        type(self).calls += 1\n"
        "        return [{'n': len(batch), 'calls': self.calls, 'item': item} for item in batch]\n",
    )
    handler = load_handler("batched", folder)
    results = handler.invoke_batch(
        [
            Invoke("m", b"1", "application/json", None),
            Invoke("m", b"not json", "application/json", None),
            Invoke("m", b"3", "application/json", "application/json"),
        ]
    )
    assert isinstance(results[1], PayloadMalformed)
    first, third = results[0], results[2]
    assert isinstance(first, tuple) and isinstance(third, tuple)
    assert orjson.loads(first[0]) == {"n": 2, "calls": 1, "item": 1}
    assert orjson.loads(third[0]) == {"n": 2, "calls": 1, "item": 3}


def test_invoke_batch_failure_reaches_every_item(tmp_path: Path) -> None:
    handler = load_handler("predict_error", predict_error_model(tmp_path))
    results = handler.invoke_batch(
        [Invoke("m", b"1", "application/json", None), Invoke("m", b"2", "application/json", None)]
    )
    assert len(results) == 2
    for result in results:
        assert isinstance(result, InferenceFailed)
        assert "FailingModel.predict_batch: ValueError: cannot predict" in str(result)


def test_metadata_reports_settings_tensors(tmp_path: Path) -> None:
    folder = sum_model(tmp_path)
    (folder / "model-settings.json").write_text(
        json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}]})
    )
    metadata = load_handler("sum", folder).metadata()
    assert metadata["name"] == "sum"
    assert metadata["platform"] == "modelyard"
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP64", "shape": [-1]}]
    assert metadata["outputs"] == []


def test_unload_calls_the_model_and_stops_answers(tmp_path: Path) -> None:
    marker = tmp_path / "unloaded"
    folder = write_model(
        tmp_path / "u",
        "class U(Model):\n"
        "    def predict(self, inputs, parameters):\n        return inputs\n"
        "    def unload(self):\n"
        "        open(self.settings.parameters['marker'], 'w').close()\n",
        settings={"parameters": {"marker": str(marker)}},
    )
    handler = load_handler("u", folder)
    handler.unload()
    assert marker.exists()
    with pytest.raises(InferenceFailed, match="model 'u' was unloaded"):
        handler.invoke(b"1", "application/json", None)
