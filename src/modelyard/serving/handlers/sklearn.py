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

Input is checked before the estimator sees it, so that the client's mistakes answer
``InvalidRequest`` (400) and only failures of the estimator itself ``InferenceFailed``
(500): at least one row, a 2-D array of numbers (bool, integer or float; a request whose
values are not all numbers is refused), as many columns as the estimator's
``n_features_in_`` when it has one, and every value finite. NaN (an empty CSV field, a
JSON ``null``) passes only to estimators whose scikit-learn tags say they take missing
values (``HistGradientBoosting*``); infinity never does. A model whose
model-settings.json declares a ``BYTES`` input (a pipeline starting with an encoder of
text or categories) skips the number checks. The checks are vectorised (a dtype kind, a
shape, one ``isfinite`` pass over floats); the slow paths only find what to name in the
message.
"""

from __future__ import annotations

import functools
import os
import pickle
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import joblib  # type: ignore[import-untyped]  # no type information shipped
import numpy as np

from modelyard.errors import (
    InferenceFailed,
    InvalidRequest,
    ModelLoadFailed,
    ModelyardError,
    PayloadMalformed,
)
from modelyard.serving.codecs import (
    SUPPORTED_CONTENT_TYPES,
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
    InvokeRequest,
    Reply,
    inference_failed,
    load_failed,
    media_type,
)
from modelyard.serving.handlers.imports import model_import_scope
from modelyard.serving.handlers.reloads import reload_cache
from modelyard.serving.handlers.sklearn_input import as_numbers, features, first_true
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

#: How the body of each content type is named in messages about its rows.
_BODY_NAMES = {
    "application/json": "the JSON body",
    "text/csv": "the CSV body",
    "text/x-libsvm": "the libsvm body",
    "text/libsvm": "the libsvm body",
    RECORDIO: "the RecordIO-protobuf body",
}


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
        # A relative name without '..' stays inside the folder; no need to resolve links
        # (two realpath walks cost more than the rest of a reload of a small model).
        if os.path.isabs(filename) or ".." in filename.replace("\\", "/").split("/"):
            raise ModelLoadFailed(f"model {name!r}: model file {filename} is outside its folder")
        path = Path(os.path.join(model_dir, filename))
        if not os.path.isfile(path):
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
        self._estimator_name = type(estimator).__name__
        #: Whether inputs must be numbers: unless the settings declare a BYTES input.
        self._numeric = not (settings.inputs and settings.inputs[0].datatype == "BYTES")

    def infer(self, request: InferenceRequest) -> InferenceResponse:
        inputs = request.inputs
        if len(inputs) != 1:
            raise InvalidRequest(
                f"model {self.name!r} takes exactly one input tensor, got {len(inputs)}"
            )
        tensor = inputs[0]
        data = self._matrix(tensor.data, f"input {tensor.name!r} ({tensor.datatype})")
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

    def infer_batch(
        self, requests: Sequence[InferenceRequest]
    ) -> list[InferenceResponse | Exception]:
        """Answer several requests with one call per method on their stacked rows.

        The worker passes the V2 requests queued for this model together. Requests with one
        2-D input of the same width, dtype and requested outputs are stacked, so a
        deep queue costs one estimator call (and one round of input validation) instead
        of many. Anything else, or a batch that fails, is answered request by request,
        so one bad request never fails its neighbours: it gets its own 400 (or 500),
        they get their answers.
        """
        answers: list[InferenceResponse | Exception | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[tuple[int, np.ndarray]]] = {}
        for position, request in enumerate(requests):
            data = request.inputs[0].data if len(request.inputs) == 1 else None
            if data is not None and data.ndim == 1:
                data = data.reshape(1, -1)
            if data is None or data.ndim != 2 or data.shape[0] == 0:
                answers[position] = self._infer_one(request)
                continue
            names = tuple(o.name for o in request.outputs) or (self._method,)
            groups.setdefault((names, data.shape[1], data.dtype.str), []).append((position, data))
        for (names, width, _), members in groups.items():
            if (
                len(members) == 1
                or any(name not in self._methods for name in names)
                or not self._stackable(width, members[0][1].dtype)
            ):
                for position, _ in members:
                    answers[position] = self._infer_one(requests[position])
                continue
            stacked = np.concatenate([data for _, data in members])
            if stacked.dtype.kind == "f" and not np.isfinite(stacked).all():
                try:
                    self._refuse_non_finite(stacked, "the batch")
                except InvalidRequest:
                    # Some member holds what the model refuses: each gets its own answer.
                    for position, _ in members:
                        answers[position] = self._infer_one(requests[position])
                    continue
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

    def _stackable(self, width: int, dtype: np.dtype[Any]) -> bool:
        """Whether rows this wide of this dtype pass the checks of ``_matrix`` but finiteness."""
        if self._n_features is not None and width != self._n_features:
            return False
        return dtype.kind in "biuf" or not self._numeric

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        answer_type = negotiate(accept, "application/json")
        data = self._rows(body, content_type)
        try:
            result = self._default(data)
        except ModelyardError:
            raise
        except Exception as exc:
            raise inference_failed(self.name, self._method, exc) from exc
        return encode(result, answer_type)

    def invoke_batch(self, requests: Sequence[InvokeRequest]) -> list[Reply | Exception]:
        """Answer requests queued together with one estimator call on their stacked rows.

        Each request is decoded and checked on its own (a bad one gets its own 400 and
        never reaches the estimator); the rows of the others, whatever their content
        types, go to the configured method at once and are split back, each encoded for
        its own Accept. Should the estimator fail on the stack, each request is answered
        alone, so one request the model cannot take fails only itself.
        """
        replies: list[Reply | Exception | None] = [None] * len(requests)
        members: list[tuple[int, np.ndarray, str]] = []
        for position, request in enumerate(requests):
            try:
                answer_type = negotiate(request.accept, "application/json")
                members.append(
                    (position, self._rows(request.body, request.content_type), answer_type)
                )
            except Exception as exc:
                replies[position] = exc
        stacked_ok = len(members) > 1 and len({m[1].shape[1] for m in members}) == 1
        if stacked_ok:
            try:
                result = np.asarray(self._default(np.concatenate([m[1] for m in members])))
            except Exception:
                stacked_ok = False
        if not stacked_ok:
            for position, _, _ in members:
                request = requests[position]
                try:
                    body, answer_type = self.invoke(
                        request.body, request.content_type, request.accept
                    )
                    replies[position] = (body, answer_type, None)
                except Exception as exc:
                    replies[position] = exc
            return replies  # type: ignore[return-value]
        start = 0
        for position, rows, answer_type in members:
            end = start + rows.shape[0]
            try:
                body, answer_type = encode(result[start:end], answer_type)
                replies[position] = (body, answer_type, None)
            except Exception as exc:
                replies[position] = exc
            start = end
        return replies  # type: ignore[return-value]

    def _rows(self, body: bytes, content_type: str) -> np.ndarray:
        """The checked feature rows of an invocation's body (``InvalidRequest`` if unusable)."""
        kind = media_type(content_type)
        where = _BODY_NAMES.get(kind, "the body")
        if not body and kind in SUPPORTED_CONTENT_TYPES:
            raise PayloadMalformed(
                f"the request body is empty; model {self.name!r} needs rows of features"
            )
        value = decode(body, content_type)
        if kind == RECORDIO:
            data = records_to_array(value)
        elif isinstance(value, LibSVMData):
            # Features absent from every row still count: the estimator fixes the width.
            data = value.to_dense(self._n_features)
        else:
            data = features(value)
        return self._matrix(data, where)

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

    def _matrix(self, data: np.ndarray, where: str) -> np.ndarray:
        """``data`` as the estimator's input: rows of finite numbers, as wide as the model.

        A 1-D array is one row. The client's mistakes raise ``InvalidRequest`` naming
        ``where`` (the V2 input, or the body by its format) and the problem.
        """
        shape = data.shape  # as sent, for messages
        if data.ndim == 1:
            data = data.reshape(1, -1)
        elif data.ndim != 2:
            raise InvalidRequest(
                f"{where} is {data.ndim}-D (shape {list(shape)}); model {self.name!r} takes "
                "rows of features (2-D, or 1-D for one row)"
            )
        if self._numeric and data.dtype.kind not in "biuf":
            data = as_numbers(data, where, self.name)
        rows, width = data.shape
        if rows == 0:
            raise InvalidRequest(
                f"{where} has no rows (shape {list(shape)}); model {self.name!r} needs at least one"
            )
        if self._n_features is not None and width != self._n_features:
            raise InvalidRequest(
                f"{where} has {width} feature{'' if width == 1 else 's'} per row (shape "
                f"{list(shape)}); model {self.name!r} takes {self._n_features}"
            )
        if width == 0:
            raise InvalidRequest(f"{where} has rows without features (shape {list(shape)})")
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            self._refuse_non_finite(data, where)
        return data

    def _refuse_non_finite(self, data: np.ndarray, where: str) -> None:
        """Raise ``InvalidRequest`` for the first infinity, or NaN the estimator does not take."""
        infinite = np.isinf(data)
        if infinite.any():
            row, column = first_true(infinite)
            raise InvalidRequest(
                f"{where} has an infinite value at row {row}, column {column} (inf, or a "
                f"number too large for {data.dtype}); model {self.name!r} takes finite numbers"
            )
        if self._accepts_nan:
            return
        row, column = first_true(np.isnan(data))
        raise InvalidRequest(
            f"{where} has a missing value (NaN) at row {row}, column {column}; model "
            f"{self.name!r} ({self._estimator_name}) does not accept missing values"
        )

    @functools.cached_property
    def _accepts_nan(self) -> bool:
        """Whether the estimator's scikit-learn tags say it takes NaN as a missing value.

        Asked only when a request holds NaN, so loads (a hot path under eviction) skip it.
        ``allow_nan`` in model-settings.json overrides the tags (pipelines that impute
        missing values do not say so in theirs).
        """
        if self.settings.allow_nan is not None:
            return self.settings.allow_nan
        try:
            from sklearn.utils import get_tags  # type: ignore[import-untyped]
        except ImportError:  # scikit-learn < 1.6 has the dict of ``_get_tags`` instead
            get_tags = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tags of third-party estimators may warn
            try:
                if get_tags is not None:
                    return bool(get_tags(self.estimator).input_tags.allow_nan)
                return bool(self.estimator._get_tags().get("allow_nan", False))
            except Exception:  # not a scikit-learn estimator: it does not say so
                return False

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
