"""The built-in scikit-learn runtime for a bare ``model.joblib`` / ``model.pkl``.

``/invocations``: the body is decoded by its content type (CSV -> 2-D array; JSON:
``{"instances": [...]}``, ``{"inputs": [...]}`` or a bare list, instances may be
``{"features": [...]}`` objects as SageMaker's built-in algorithms send them;
RecordIO-protobuf records -> their feature matrix; libsvm rows -> a dense matrix as wide
as the model's features), passed to the configured method
(``method`` in model-settings.json, default ``predict``) and the result encoded for the
negotiated Accept type (JSON by default).

V2 ``infer`` follows MLServer's scikit-learn runtime: one input tensor (2-D; a 1-D
tensor of n features is one row, and its datatype is kept: FP32 stays float32); each
requested output names a method (``predict``, ``predict_proba``, ``predict_log_proba``,
``decision_function``, ``transform``) and is named after it; with no requested outputs
the configured method answers. This is the hot path of the benchmark: bound methods are
looked up once at load, and a call costs one dict lookup per output beyond the
estimator itself.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import joblib
import numpy as np

from modelyard.errors import (
    InferenceFailed,
    InvalidRequest,
    ModelLoadFailed,
    ModelyardError,
    PayloadMalformed,
)
from modelyard.serving.codecs import (
    LibSVMData,
    datatype_of,
    decode,
    encode,
    negotiate,
    records_to_array,
)
from modelyard.serving.handlers.base import (
    Answer,
    Handler,
    inference_failed,
    load_failed,
    media_type,
)
from modelyard.serving.handlers.imports import model_import_scope
from modelyard.serving.handlers.reloads import reload_cache
from modelyard.serving.handlers.tensors import output_tensor
from modelyard.serving.model_settings import ModelSettings, TensorSpec
from modelyard.serving.types import InferenceRequest, InferenceResponse, Tensor

__all__ = ["SKLEARN_METHODS", "SKLearnHandler"]

#: Estimator methods that can answer requests, each also the name of a V2 output.
SKLEARN_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
)

RECORDIO = "application/x-recordio-protobuf"


class SKLearnHandler(Handler):
    """Serves a pickled scikit-learn estimator (or anything with its methods)."""

    #: Loading only unpickles a file: the worker may load it twice to measure its memory.
    pure_load: ClassVar[bool] = True

    platform = "sklearn"

    def __init__(
        self, name: str, model_dir: Path, settings: ModelSettings, entrypoint: str | None = None
    ) -> None:
        super().__init__(name, model_dir, settings)
        filename = settings.entrypoint or entrypoint or "model.joblib"
        path = (model_dir / filename).resolve()
        if not path.is_relative_to(model_dir.resolve()) or not path.is_file():
            raise ModelLoadFailed(f"model {name!r}: model file {filename} not found")
        # Custom transformers pickled by reference to a module shipped beside the model
        # need the folder importable while unpickling.
        with model_import_scope(model_dir):
            try:
                self.estimator: Any = _load(path)
            except Exception as exc:
                raise load_failed(name, filename, exc) from exc
        estimator = self.estimator
        #: Bound methods, looked up once: ``hasattr`` honours sklearn's ``available_if``.
        self._methods: dict[str, Callable[[Any], Any]] = {
            method: getattr(estimator, method)
            for method in SKLEARN_METHODS
            if hasattr(estimator, method)
        }
        method = settings.method or "predict"
        if method not in SKLEARN_METHODS:
            raise ModelLoadFailed(
                f"model {name!r}: model-settings.json method {method!r} is not one of "
                f"{', '.join(SKLEARN_METHODS)}"
            )
        if method not in self._methods:
            raise ModelLoadFailed(
                f"model {name!r}: {type(estimator).__name__} has no method {method!r} "
                f"(available: {', '.join(self._methods) or 'none'})"
            )
        self._method = method
        self._default = self._methods[method]
        features = getattr(estimator, "n_features_in_", None)
        self._n_features: int | None = int(features) if features is not None else None

    def infer(self, request: InferenceRequest) -> InferenceResponse:
        inputs = request.inputs
        if len(inputs) != 1:
            raise InvalidRequest(
                f"model {self.name!r} takes exactly one input tensor, got {len(inputs)}"
            )
        data = inputs[0].data
        if data.ndim == 1:
            data = data.reshape(1, -1)
        requested = request.outputs
        if not requested:
            try:
                result = self._default(data)
            except ModelyardError:
                raise
            except Exception as exc:
                raise inference_failed(self.name, self._method, exc) from exc
            outputs = [output_tensor(self._method, result)]
        else:
            outputs = self._requested_outputs(data, requested)
        return InferenceResponse(model_name=self.name, outputs=outputs, id=request.id)

    def _requested_outputs(self, data: np.ndarray, requested: list[Any]) -> list[Tensor]:
        if not self._methods:
            self._unloaded(data)
        outputs = []
        for output in requested:
            method = self._methods.get(output.name)
            if method is None:
                raise InvalidRequest(
                    f"model {self.name!r} has no output {output.name!r} "
                    f"(outputs: {', '.join(self._methods)})"
                )
            try:
                result = method(data)
            except Exception as exc:
                raise inference_failed(self.name, output.name, exc) from exc
            outputs.append(output_tensor(output.name, result))
        return outputs

    def infer_batch(self, requests: list[InferenceRequest]) -> list[InferenceResponse | Exception]:
        """Answer several requests with one call per method on their stacked rows.

        The worker passes the V2 requests queued for this model together. Requests with one
        2-D input of the same width, dtype and requested outputs are stacked, so a
        deep queue costs one estimator call (and one round of input validation) instead
        of many. Anything else, or a batch that fails, is answered request by request,
        so one bad request never fails its neighbours.
        """
        answers: list[InferenceResponse | Exception | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[tuple[int, np.ndarray]]] = {}
        for position, request in enumerate(requests):
            data = request.inputs[0].data if len(request.inputs) == 1 else None
            if data is not None and data.ndim == 1:
                data = data.reshape(1, -1)
            if data is None or data.ndim != 2:
                answers[position] = self._infer_one(request)
                continue
            names = tuple(o.name for o in request.outputs) or (self._method,)
            groups.setdefault((names, data.shape[1], data.dtype.str), []).append((position, data))
        for (names, _, _), members in groups.items():
            if len(members) == 1 or any(name not in self._methods for name in names):
                for position, _ in members:
                    answers[position] = self._infer_one(requests[position])
                continue
            stacked = np.concatenate([data for _, data in members])
            try:
                results = {name: np.asarray(self._methods[name](stacked)) for name in names}
            except Exception:
                for position, _ in members:
                    answers[position] = self._infer_one(requests[position])
                continue
            start = 0
            for position, data in members:
                end = start + data.shape[0]
                request = requests[position]
                outputs = [output_tensor(name, results[name][start:end]) for name in names]
                answers[position] = InferenceResponse(
                    model_name=self.name, outputs=outputs, id=request.id
                )
                start = end
        return answers  # type: ignore[return-value]

    def _infer_one(self, request: InferenceRequest) -> InferenceResponse | Exception:
        try:
            return self.infer(request)
        except Exception as exc:
            return exc

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        answer_type = negotiate(accept, "application/json")
        value = decode(body, content_type)
        if media_type(content_type) == RECORDIO:
            data = records_to_array(value)
        elif isinstance(value, LibSVMData):
            # Features absent from every row still count: the estimator fixes the width.
            data = value.to_dense(getattr(self.estimator, "n_features_in_", None))
        else:
            data = _features(value)
        try:
            result = self._default(data)
        except ModelyardError:
            raise
        except Exception as exc:
            raise inference_failed(self.name, self._method, exc) from exc
        return encode(result, answer_type)

    def tensor_specs(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """The settings' tensors, else what the estimator tells: features, one output per method."""
        inputs, outputs = super().tensor_specs()
        estimator = self.estimator
        if not inputs:
            features = int(getattr(estimator, "n_features_in_", -1))
            inputs = [TensorSpec(name="input-0", datatype="FP64", shape=[-1, features])]
        if not outputs:
            classes = getattr(estimator, "classes_", None)
            n_classes = len(classes) if classes is not None else -1
            shapes = {
                "predict": (
                    [-1],
                    datatype_of(np.asarray(classes)) if classes is not None else "FP64",
                ),
                "predict_proba": ([-1, n_classes], "FP64"),
                "predict_log_proba": ([-1, n_classes], "FP64"),
                "decision_function": ([-1] if n_classes == 2 else [-1, n_classes], "FP64"),
                "transform": ([-1, -1], "FP64"),
            }
            outputs = [
                TensorSpec(name=method, datatype=shapes[method][1], shape=shapes[method][0])
                for method in self._methods
            ]
        return inputs, outputs

    def unload(self) -> None:
        self._methods = {}
        self._default = self._unloaded
        self.estimator = None

    def _unloaded(self, data: Any) -> Any:
        raise InferenceFailed(f"model {self.name!r} was unloaded")


def _load(path: Path) -> Any:
    return reload_cache.load(path, _read)


def _read(path: Path) -> Any:
    if path.suffix == ".pkl":
        with path.open("rb") as file:
            return pickle.load(file)
    return joblib.load(path)


def _features(value: Any) -> Any:
    """The feature matrix in a decoded request body."""
    if isinstance(value, dict):
        for key in ("instances", "inputs"):
            if key in value:
                value = value[key]
                break
        else:
            keys = ", ".join(map(repr, value)) or "none"
            raise PayloadMalformed(
                f"JSON object must hold the rows under 'instances' or 'inputs' (keys: {keys})"
            )
    if isinstance(value, list) and value and isinstance(value[0], dict):
        try:
            value = [instance["features"] for instance in value]
        except (KeyError, TypeError) as exc:
            raise PayloadMalformed("every instance object must have a 'features' list") from exc
    if isinstance(value, np.ndarray):
        return value.reshape(1, -1) if value.ndim == 1 else value
    if isinstance(value, list):
        try:
            array = np.asarray(value)
        except ValueError as exc:
            raise PayloadMalformed(
                f"rows of the request are not a rectangular table: {exc}"
            ) from exc
        return array.reshape(1, -1) if array.ndim == 1 else array
    # Anything else (a scipy sparse matrix from a custom codec, ...) goes to the estimator.
    return value
