"""MMS custom handlers run unchanged: entry-point shapes, the context API, batches, errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import orjson
import pytest

from modelyard.errors import (
    InferenceFailed,
    InvalidRequest,
    ModelLoadFailed,
    NotAcceptable,
    PayloadMalformed,
    UnsupportedContentType,
)
from modelyard.serving.handlers import load_handler
from modelyard.serving.ipc import Invoke
from modelyard.serving.types import InferenceRequest, RequestedOutput, Tensor
from tests.fixtures.models import mms_class_model, mms_model


def write_handler(folder: Path, code: str, filename: str = "model_handler.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(textwrap.dedent(code))
    return folder


def test_module_handle_sums_json(tmp_path: Path) -> None:
    handler = load_handler("mms", mms_model(tmp_path))
    body, content_type = handler.invoke(b"[1, 2, 3]", "application/json", None)
    assert orjson.loads(body) == {"sum": 6}
    assert content_type == "application/json"


def test_bytes_answer_takes_the_accept_type_else_the_request_type(tmp_path: Path) -> None:
    handler = load_handler("mms", mms_model(tmp_path))
    assert handler.invoke(b"a,b\n", "text/csv", None) == (b"a,b\n", "text/csv")
    assert handler.invoke(b"a,b\n", "text/csv", "*/*;q=0.1, text/plain") == (b"a,b\n", "text/plain")


def test_object_answer_is_encoded_for_the_accept_type(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "arr",
        """
        import numpy as np

        def handle(data, context):
            return None if data is None else [np.array([[1.5, 2.0]]) for _ in data]
        """,
    )
    handler = load_handler("arr", folder)
    body, content_type = handler.invoke(b"x", "application/octet-stream", "text/csv")
    assert content_type == "text/csv"
    assert body.decode().strip() == "1.5,2.0"
    assert orjson.loads(handler.invoke(b"x", "application/octet-stream", None)[0]) == [[1.5, 2.0]]
    with pytest.raises(NotAcceptable):
        handler.invoke(b"x", "application/octet-stream", "image/png")


def test_class_with_initialize_reads_the_model_dir(tmp_path: Path) -> None:
    handler = load_handler("mms_class", mms_class_model(tmp_path))
    body, content_type = handler.invoke(b"[1, 2]", "application/json", "text/csv")
    # The handler set the content type itself, which wins over Accept.
    assert content_type == "application/json"
    assert orjson.loads(body) == {"scaled_sum": 9}


def test_context_fields(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "ctx",
        """
        import json

        def handle(data, context):
            if data is None:
                return None
            answers = []
            for idx, _ in enumerate(data):
                context.metrics.add_time("PredictionTime", 1.0)
                context.set_response_header(idx, "X-Seen", "yes")
                answers.append({
                    "system": context.system_properties,
                    "manifest": context.manifest,
                    "model_name": context.model_name,
                    "request_id": context.get_request_id(idx),
                    "ids": list(context.request_ids.values()),
                    "content_type": context.get_request_header(idx, "content-type"),
                    "accept": context.get_request_header(idx, "Accept"),
                    "headers": sorted(context.get_all_request_header(idx)),
                    "status": list(context.get_response_status(idx)),
                    "response_headers": context.get_response_headers(idx),
                    "set_type": context.get_response_content_type(idx),
                })
            return answers
        """,
    )
    handler = load_handler("ctx", folder)
    body, _ = handler.invoke(b"{}", "application/json; charset=utf-8", "application/json")
    seen = orjson.loads(body)
    assert seen["system"] == {
        "model_dir": str(folder),
        "gpu_id": None,
        "batch_size": 1,
        "server_name": "MMS",
        "server_version": seen["system"]["server_version"],
        "limit_max_image_pixels": True,
    }
    assert seen["manifest"]["model"]["modelName"] == "ctx"
    assert seen["manifest"]["model"]["handler"] == "model_handler.py"
    assert seen["model_name"] == "ctx"
    assert seen["ids"] == [seen["request_id"]]
    assert len(seen["request_id"]) == 36
    assert seen["content_type"] == "application/json; charset=utf-8"
    assert seen["accept"] == "application/json"
    assert seen["headers"] == ["Accept", "Content-Type", "body"]
    assert seen["status"] == [200, None]
    assert seen["response_headers"] == {"X-Seen": "yes"}
    assert seen["set_type"] is None


def test_manifest_is_read_from_the_archive(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "mar",
        """
        def handle(data, context):
            return None if data is None else [context.manifest for _ in data]
        """,
    )
    manifest = {
        "runtime": "python",
        "model": {"modelName": "mar", "handler": "model_handler:handle"},
    }
    (folder / "MAR-INF").mkdir()
    (folder / "MAR-INF" / "MANIFEST.json").write_text(json.dumps(manifest))
    assert (
        orjson.loads(load_handler("mar", folder).invoke(b"", "application/json", None)[0])
        == manifest
    )


def test_handle_is_called_once_with_none_at_load(tmp_path: Path) -> None:
    record = tmp_path / "calls.txt"
    folder = write_handler(
        tmp_path / "init",
        f"""
        def handle(data, context):
            with open({str(record)!r}, "a") as file:
                file.write(repr(data) + "\\n")
            return None if data is None else [b"ok" for _ in data]
        """,
    )
    handler = load_handler("init", folder)
    assert record.read_text() == "None\n"
    handler.invoke(b"x", "text/plain", None)
    assert record.read_text() == "None\n[{'body': b'x'}]\n"


def test_batch_goes_through_one_handle_call(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "batch",
        """
        def handle(data, context):
            if data is None:
                return None
            answers = []
            for idx, request in enumerate(data):
                if request["body"] == b"bad":
                    context.set_response_status(400, "Bad Request", idx)
                    answers.append("bad input")
                else:
                    answers.append({"size": len(data), "body": request["body"].decode()})
            return answers
        """,
    )
    handler = load_handler("batch", folder)
    results = handler.invoke_batch(
        [
            Invoke("m", b"a", "text/plain", None),
            Invoke("m", b"bad", "text/plain", None),
            Invoke("m", b"c", "text/plain", None),
        ]
    )
    first, second, third = results
    assert isinstance(first, tuple) and isinstance(third, tuple)
    assert orjson.loads(first[0]) == {"size": 3, "body": "a"}
    assert orjson.loads(third[0]) == {"size": 3, "body": "c"}
    assert isinstance(second, PayloadMalformed)
    assert (
        str(second) == "model 'batch': handle set status 400 Bad Request for the request: bad input"
    )


def test_status_415_means_unsupported_content_type(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "s",
        """
        def handle(data, context):
            if data is None:
                return None
            context.set_response_status(code=415, phrase="Unsupported Media Type")
            return ["only JSON"]
        """,
    )
    with pytest.raises(UnsupportedContentType, match="only JSON"):
        load_handler("s", folder).invoke(b"x", "text/plain", None)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, PayloadMalformed),
        (404, InvalidRequest),
        (422, InvalidRequest),
        (429, InvalidRequest),
        (500, InferenceFailed),
        (503, InferenceFailed),
    ],
)
def test_a_status_set_by_handle_keeps_its_class(
    tmp_path: Path, code: int, error: type[Exception]
) -> None:
    folder = write_handler(
        tmp_path / "status",
        f"""
        def handle(data, context):
            if data is None:
                return None
            context.set_response_status({code}, "Phrase")
            return ["what went wrong"]
        """,
    )
    with pytest.raises(error) as info:
        load_handler("status", folder).invoke(b"x", "text/plain", None)
    assert type(info.value) is error
    assert str(info.value) == (
        f"model 'status': handle set status {code} Phrase for the request: what went wrong"
    )


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("None", "handle returned None; it must return a list with one element per request"),
        ("[]", "handle returned 0 elements for 1 request(s)"),
        ("'text'", "handle returned str; it must return a list"),
    ],
)
def test_bad_return_values_are_named(tmp_path: Path, returned: str, message: str) -> None:
    folder = write_handler(
        tmp_path / "bad",
        f"""
        def handle(data, context):
            return None if data is None else {returned}
        """,
    )
    with pytest.raises(InferenceFailed) as caught:
        load_handler("bad", folder).invoke(b"x", "text/plain", None)
    assert str(caught.value).startswith(f"model 'bad': {message}")


def test_handle_raising_is_an_inference_failure(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "boom",
        """
        def handle(data, context):
            if data is None:
                return None
            raise KeyError("missing feature")
        """,
    )
    handler = load_handler("boom", folder)
    with pytest.raises(InferenceFailed) as caught:
        handler.invoke(b"x", "text/plain", None)
    assert str(caught.value) == "model 'boom': handle: KeyError: 'missing feature'"
    assert isinstance(caught.value.__cause__, KeyError)
    results = handler.invoke_batch(
        [Invoke("m", b"1", "text/plain", None), Invoke("m", b"2", "text/plain", None)]
    )
    assert [type(r) for r in results] == [InferenceFailed, InferenceFailed]


def test_initialize_raising_fails_the_load(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "init_fails",
        """
        class Service:
            def initialize(self, context):
                raise FileNotFoundError("model.bin")

            def handle(self, data, context):
                return data
        """,
    )
    with pytest.raises(ModelLoadFailed) as caught:
        load_handler("init_fails", folder)
    assert str(caught.value) == (
        "model 'init_fails': model_handler.py: Service.initialize: FileNotFoundError: model.bin"
    )


def test_syntax_error_fails_the_load_naming_the_file(tmp_path: Path) -> None:
    folder = write_handler(tmp_path / "syntax", "def handle(data, context)\n    return data\n")
    with pytest.raises(ModelLoadFailed, match=r"model 'syntax': model_handler.py: SyntaxError: "):
        load_handler("syntax", folder)


def test_module_without_entry_point_fails_clearly(tmp_path: Path) -> None:
    folder = write_handler(tmp_path / "none", "VALUE = 1\n")
    with pytest.raises(
        ModelLoadFailed,
        match=r"must define a handle\(data, context\) function .* \(classes found: none\)",
    ):
        load_handler("none", folder)


def test_v2_infer_sends_json_and_reads_one_output(tmp_path: Path) -> None:
    handler = load_handler("mms_class", mms_class_model(tmp_path))
    data = np.array([1.0, 2.0, 3.0])
    request = InferenceRequest(
        inputs=[Tensor(name="x", shape=[3], datatype="FP64", data=data)], id="7"
    )
    response = handler.infer(request)
    assert response.id == "7"
    [output] = response.outputs
    # A JSON object answer is kept whole as one BYTES element.
    assert (output.name, output.datatype, output.shape) == ("output-0", "BYTES", [1])
    assert orjson.loads(output.data[0]) == {"scaled_sum": 18.0}


def test_v2_numeric_answer_becomes_a_numeric_tensor(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "double",
        """
        import json

        def handle(data, context):
            if data is None:
                return None
            return [[2 * x for x in json.loads(r["body"])[0]] for r in data]
        """,
    )
    handler = load_handler("double", folder)
    data = np.array([[1, 2]], dtype=np.int64)
    request = InferenceRequest(inputs=[Tensor(name="x", shape=[1, 2], datatype="INT64", data=data)])
    [output] = handler.infer(request).outputs
    assert (output.name, output.datatype, output.shape) == ("output-0", "INT64", [2])
    assert output.data.tolist() == [2, 4]
    request.outputs = [RequestedOutput(name="other")]
    with pytest.raises(InvalidRequest, match="has one output 'output-0'; asked for other"):
        handler.infer(request)


def test_two_models_with_the_same_handler_file_stay_apart(tmp_path: Path) -> None:
    a = write_handler(tmp_path / "a", "def handle(data, context):\n    return data and [b'A']\n")
    b = write_handler(tmp_path / "b", "def handle(data, context):\n    return data and [b'B']\n")
    handler_a, handler_b = load_handler("a", a), load_handler("b", b)
    assert handler_a.invoke(b"", "text/plain", None)[0] == b"A"
    assert handler_b.invoke(b"", "text/plain", None)[0] == b"B"


def test_custom_attributes_reach_the_handler_and_come_back(tmp_path: Path) -> None:
    folder = write_handler(
        tmp_path / "attrs",
        """
        def handle(data, context):
            if data is None:
                return None
            answers = []
            for idx, _ in enumerate(data):
                given = context.get_request_header(idx, "X-Amzn-SageMaker-Custom-Attributes")
                context.set_response_header(
                    idx, "X-Amzn-SageMaker-Custom-Attributes", f"seen={given}"
                )
                answers.append("ok")
            return answers
        """,
    )
    handler = load_handler("attrs", folder)
    [reply] = handler.invoke_batch([Invoke("m", b"x", "text/plain", None, "trace=1")])
    assert reply == (b"ok", "text/plain", "seen=trace=1")
