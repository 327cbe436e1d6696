"""Native models: a ``model.py`` defining one subclass of ``modelyard.serving.model.Model``.

The handler owns the bytes: it decodes request bodies with modelyard's codecs, calls
``predict`` (or ``predict_batch``), and encodes the result for the negotiated Accept
type (JSON by default). For V2 it hands ``predict`` the input arrays and turns the
result into output tensors (see ``Model.predict``).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from modelyard.errors import InferenceFailed, ModelLoadFailed, ModelyardError
from modelyard.serving.codecs import decode, encode, negotiate
from modelyard.serving.handlers.base import (
    Answer,
    Handler,
    InvokeRequest,
    Reply,
    inference_failed,
    load_failed,
)
from modelyard.serving.handlers.imports import (
    discard_user_module,
    import_user_module,
    model_import_scope,
    resolve_entrypoint,
)
from modelyard.serving.handlers.tensors import (
    DEFAULT_OUTPUT_NAME,
    model_inputs,
    outputs_from_result,
    select_outputs,
)
from modelyard.serving.model import Model
from modelyard.serving.model_settings import ModelSettings
from modelyard.serving.types import InferenceRequest, InferenceResponse

__all__ = ["NativeHandler"]


class NativeHandler(Handler):
    """Serves a ``Model`` subclass."""

    platform = "modelyard"

    def __init__(
        self, name: str, model_dir: Path, settings: ModelSettings, entrypoint: str | None = None
    ) -> None:
        super().__init__(name, model_dir, settings)
        path, attr = resolve_entrypoint(
            name, model_dir, settings.entrypoint or entrypoint or "model.py"
        )
        where = path.relative_to(model_dir.resolve()).as_posix()
        self._module: ModuleType | None = None
        with model_import_scope(path.parent):
            try:
                self._module = import_user_module(name, path)
            except Exception as exc:
                raise load_failed(name, where, exc) from exc
            model_class = _find_model_class(name, where, self._module, attr)
            try:
                self.model: Model | None = model_class(name, model_dir, settings)
                self.model.load()
            except ModelyardError:
                raise
            except Exception as exc:
                raise load_failed(name, f"{where}: {model_class.__name__}.load", exc) from exc
        self._label = model_class.__name__
        self._output_name = settings.outputs[0].name if settings.outputs else DEFAULT_OUTPUT_NAME

    def _loaded(self) -> Model:
        if self.model is None:
            raise InferenceFailed(f"model {self.name!r} was unloaded")
        return self.model

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        # Negotiate before predicting: an unanswerable request must not cost a prediction.
        answer_type = negotiate(accept, "application/json")
        inputs = decode(body, content_type)
        parameters = {"content_type": content_type, "accept": accept}
        try:
            result = self._loaded().predict(inputs, parameters)
        except ModelyardError:
            raise
        except Exception as exc:
            raise inference_failed(self.name, f"{self._label}.predict", exc) from exc
        return encode(result, answer_type)

    def invoke_batch(self, requests: Sequence[InvokeRequest]) -> list[Reply | Exception]:
        """Decode every request, one ``predict_batch`` call for those that decoded, encode each.

        All requests of one call share the ``parameters`` of the first (its content type,
        Accept and custom attributes).
        """
        results: list[Reply | Exception | None] = [None] * len(requests)
        pending: list[tuple[int, Any, str]] = []
        for idx, request in enumerate(requests):
            try:
                pending.append(
                    (
                        idx,
                        decode(request.body, request.content_type),
                        negotiate(request.accept, "application/json"),
                    )
                )
            except ModelyardError as exc:
                results[idx] = exc
        if pending:
            first = requests[pending[0][0]]
            parameters = {
                "content_type": first.content_type,
                "accept": first.accept,
                "custom_attributes": first.custom_attributes,
            }
            for idx, answer in zip(
                (p[0] for p in pending), self._predict_batch(pending, parameters), strict=True
            ):
                results[idx] = answer if isinstance(answer, ModelyardError) else (*answer, None)
        return [r for r in results if r is not None]

    def _predict_batch(
        self, pending: list[tuple[int, Any, str]], parameters: dict[str, Any]
    ) -> list[Answer | ModelyardError]:
        where = f"{self._label}.predict_batch"
        try:
            predictions = self._loaded().predict_batch([p[1] for p in pending], parameters)
        except ModelyardError as exc:
            return [exc for _ in pending]
        except Exception as exc:
            failures: list[Answer | ModelyardError] = []
            for _ in pending:
                failure = inference_failed(self.name, where, exc)
                failure.__cause__ = exc
                failures.append(failure)
            return failures
        if not isinstance(predictions, list) or len(predictions) != len(pending):
            count = (
                len(predictions) if isinstance(predictions, list) else type(predictions).__name__
            )
            message = (
                f"model {self.name!r}: {where} returned {count} results for {len(pending)} inputs"
            )
            return [InferenceFailed(message) for _ in pending]
        answers: list[Answer | ModelyardError] = []
        for prediction, (_, _, answer_type) in zip(predictions, pending, strict=True):
            try:
                answers.append(encode(prediction, answer_type))
            except ModelyardError as exc:
                answers.append(exc)
        return answers

    def infer(self, request: InferenceRequest) -> InferenceResponse:
        try:
            result = self._loaded().predict(model_inputs(request), request.parameters)
        except ModelyardError:
            raise
        except Exception as exc:
            raise inference_failed(self.name, f"{self._label}.predict", exc) from exc
        outputs = select_outputs(
            self.name, outputs_from_result(result, self._output_name), request.outputs
        )
        return InferenceResponse(model_name=self.name, outputs=outputs, id=request.id)

    def unload(self) -> None:
        model, self.model = self.model, None
        try:
            if model is not None:
                model.unload()
        except Exception as exc:
            raise ModelyardError(
                f"model {self.name!r}: {self._label}.unload: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            discard_user_module(self._module)
            self._module = None


def _find_model_class(name: str, where: str, module: ModuleType, attr: str | None) -> type[Model]:
    """The ``Model`` subclass named ``attr``, or the only one defined in ``module``."""
    if attr is not None:
        found = getattr(module, attr, None)
        if not (inspect.isclass(found) and issubclass(found, Model)):
            raise ModelLoadFailed(f"model {name!r}: {where} defines no Model subclass {attr!r}")
        return found
    classes = [
        member
        for _, member in inspect.getmembers(module, inspect.isclass)
        if issubclass(member, Model)
        and member is not Model
        and member.__module__ == module.__name__
    ]
    if len(classes) != 1:
        found_names = ", ".join(c.__name__ for c in classes) or "none"
        raise ModelLoadFailed(
            f"model {name!r}: {where} must define exactly one subclass of "
            f"modelyard.serving.model.Model (found: {found_names}); name one with "
            "entrypoint 'model.py:ClassName' in model-settings.json"
        )
    return classes[0]
