"""The SageMaker inference toolkit convention: ``code/inference.py`` with ``*_fn`` functions.

As ``sagemaker-inference`` and the SageMaker scikit-learn container run it:

- ``model_fn(model_dir)`` loads the model, once, at load time;
- ``input_fn(input_data, content_type)``, ``predict_fn(data, model)`` and
  ``output_fn(prediction, accept)`` answer each request, or ``transform_fn(model,
  input_data, content_type, accept)`` does all three (defining both is an error);
- each function may take one extra trailing ``context`` argument (an MMS context);
- ``input_data`` is ``str`` for ``application/json`` and ``text/csv`` bodies, ``bytes``
  otherwise; an absent or ``*/*`` Accept becomes ``application/json``;
- ``output_fn`` / ``transform_fn`` return the body (bytes or str; anything else is
  JSON-encoded) or a ``(body, content_type)`` tuple; a bare body is labelled with the
  Accept type.

Errors: a function that raises a ``modelyard.errors.InvalidRequest`` subclass blames the
request (4xx, its message as written); anything else it raises is ``InferenceFailed``
(500), as the toolkit answers 500 for any exception that is not its own.

Defaults for what the script leaves out: ``model_fn`` loads ``model.joblib`` (or
``model.pkl``) from the model folder; ``input_fn`` is modelyard's codec for the content
type; ``predict_fn`` calls ``model.predict(data)``; ``output_fn`` encodes with the codec
negotiated from Accept.

``code/requirements.txt`` is NOT installed: the worker has no network. Ship pure-Python
dependencies in ``code/`` (it is on ``sys.path`` while the model loads) or install them
in modelyard's environment.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib  # type: ignore[import-untyped]  # no type information shipped

from modelyard.errors import ModelLoadFailed, ModelyardError, PayloadMalformed
from modelyard.serving.codecs import decode, encode, negotiate
from modelyard.serving.handlers.base import (
    Answer,
    Handler,
    infer_through_invoke,
    inference_failed,
    load_failed,
    media_type,
)
from modelyard.serving.handlers.imports import (
    discard_user_module,
    import_user_module,
    model_import_scope,
    resolve_entrypoint,
)
from modelyard.serving.handlers.mms_context import Context
from modelyard.serving.model_settings import ModelSettings
from modelyard.serving.types import InferenceRequest, InferenceResponse

__all__ = ["InferenceToolkitHandler"]

#: Content types whose body the toolkit hands to ``input_fn`` as text.
UTF8_TYPES = frozenset({"application/json", "text/csv"})
#: Accept used when the client sent none or ``*/*`` (the toolkit's ``default_accept``).
DEFAULT_ACCEPT = "application/json"

_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")


class InferenceToolkitHandler(Handler):
    """Serves a model through a SageMaker inference toolkit script."""

    platform = "sagemaker_inference"

    def __init__(
        self, name: str, model_dir: Path, settings: ModelSettings, entrypoint: str | None = None
    ) -> None:
        super().__init__(name, model_dir, settings)
        path, _ = resolve_entrypoint(
            name, model_dir, settings.entrypoint or entrypoint or "code/inference.py"
        )
        where = path.relative_to(model_dir.resolve()).as_posix()
        self.context = Context(
            name, str(model_dir), {"model": {"modelName": name, "handler": where}}
        )
        self._module: ModuleType | None = None
        with model_import_scope(path.parent):
            try:
                module = self._module = import_user_module(name, path)
            except Exception as exc:
                raise load_failed(name, where, exc) from exc
            user = {fn: getattr(module, fn, None) for fn in _FUNCTIONS}
            if user["transform_fn"] and (
                user["input_fn"] or user["predict_fn"] or user["output_fn"]
            ):
                raise ModelLoadFailed(
                    f"model {name!r}: {where} defines transform_fn together with input_fn, "
                    "predict_fn or output_fn; define transform_fn alone or the other three"
                )
            self._input_fn = self._bind(user["input_fn"], 2) or _default_input_fn
            self._predict_fn = self._bind(user["predict_fn"], 2) or _default_predict_fn
            self._output_fn = self._bind(user["output_fn"], 2) or _default_output_fn
            self._transform_fn = self._bind(user["transform_fn"], 4)
            model_fn = self._bind(user["model_fn"], 1) or self._default_model_fn
            try:
                self.model = model_fn(str(model_dir))
            except ModelyardError:
                raise
            except Exception as exc:
                raise load_failed(name, f"{where}: model_fn", exc) from exc
        if not (
            user["transform_fn"]
            or user["predict_fn"]
            or callable(getattr(self.model, "predict", None))
        ):
            raise ModelLoadFailed(
                f"model {name!r}: {where} defines no predict_fn and the model returned by "
                f"model_fn ({type(self.model).__name__}) has no predict method"
            )

    def _bind(self, user_fn: Any, arity: int) -> Callable[..., Any] | None:
        """``user_fn`` called with ``arity`` arguments, the context appended if it takes one more.

        None when the script does not define it.
        """
        if user_fn is None:
            return None
        try:
            parameters = len(inspect.signature(user_fn).parameters)
        except (TypeError, ValueError):
            return user_fn  # type: ignore[no-any-return]
        if parameters == arity + 1:
            context = self.context
            return lambda *args: user_fn(*args, context)
        return user_fn  # type: ignore[no-any-return]

    def _default_model_fn(self, model_dir: str) -> Any:
        for candidate in ("model.joblib", "model.pkl"):
            path = Path(model_dir) / candidate
            if path.is_file():
                return joblib.load(path)
        raise ModelLoadFailed(
            f"model {self.name!r}: the script defines no model_fn and the folder has no "
            "model.joblib or model.pkl to load by default"
        )

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        if not accept or accept.strip() == "*/*":
            accept = DEFAULT_ACCEPT
        input_data: bytes | str = body
        if media_type(content_type) in UTF8_TYPES:
            try:
                input_data = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PayloadMalformed(f"{content_type} body is not valid UTF-8: {exc}") from exc
        if self._transform_fn is not None:
            result = self._call(
                "transform_fn", self._transform_fn, self.model, input_data, content_type, accept
            )
        else:
            data = self._call("input_fn", self._input_fn, input_data, content_type)
            prediction = self._call("predict_fn", self._predict_fn, data, self.model)
            result = self._call("output_fn", self._output_fn, prediction, accept)
        if isinstance(result, tuple) and len(result) == 2:
            result, answered_type = result
        else:
            answered_type = accept
        if isinstance(result, bytes | bytearray):
            return bytes(result), str(answered_type)
        if isinstance(result, str):
            return result.encode(), str(answered_type)
        body_out, json_type = encode(result, "application/json")
        return body_out, json_type

    def _call(self, where: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except ModelyardError:
            raise
        except Exception as exc:
            raise inference_failed(self.name, where, exc) from exc

    def infer(self, request: InferenceRequest) -> InferenceResponse:
        """V2 infer: the first input as a JSON body; the answer as the output ``output-0``."""
        return infer_through_invoke(self, request)

    def unload(self) -> None:
        discard_user_module(self._module)
        self._module = None
        self.model = None


def _default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def _default_input_fn(input_data: bytes | str, content_type: str) -> Any:
    raw = input_data.encode() if isinstance(input_data, str) else input_data
    return decode(raw, content_type)


def _default_output_fn(prediction: Any, accept: str) -> Answer:
    return encode(prediction, negotiate(accept, DEFAULT_ACCEPT))
