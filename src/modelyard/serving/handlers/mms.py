"""Multi Model Server custom handlers (``model_handler.py``), run unchanged.

Two shapes are accepted, as MMS accepts them:

- a module-level ``handle(data, context)``; MMS calls it once at load with
  ``data=None`` so it can initialise (the SageMaker examples' ``_service = Handler()``
  plus lazy ``initialize`` pattern relies on that), and so do we;
- a class with ``handle(data, context)`` and optionally ``initialize(context)``: it is
  instantiated without arguments and ``initialize`` is called at load.

``data`` is a list with one dict per request, ``{"body": <raw bytes>}``: the key MMS
uses for a non-multipart body, and raw bytes as SageMaker's MMS configuration
(``decode_input_request=false``) delivers them. The request's ``Content-Type`` and
``Accept`` headers are readable through the context.

``handle`` must return a list with one element per request. An element may be bytes,
str, or anything JSON can encode (dicts, lists, numbers, numpy arrays). Its content type
is the one the handler set with ``context.set_response_content_type(idx, ...)`` (objects
are then JSON-encoded whatever the type, as MMS does); otherwise, for objects, the type
negotiated from the Accept header (default JSON); for bytes and str, the first concrete
type of the Accept header, else the request's own content type. A status >= 400 set
with ``context.set_response_status`` fails that request with the returned text as the
message: 400, 406, 413 and 415 answer that status; another 4xx is the client's mistake
all the same and answers 400 (``InvalidRequest``); a 5xx answers 500 (``InferenceFailed``).
"""

from __future__ import annotations

import inspect
import json
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from modelyard.errors import (
    InferenceFailed,
    InvalidRequest,
    ModelLoadFailed,
    ModelyardError,
    NotAcceptable,
    PayloadMalformed,
    PayloadTooLarge,
    UnsupportedContentType,
)
from modelyard.serving.codecs import encode, negotiate
from modelyard.serving.handlers.base import (
    Answer,
    Handler,
    InvokeRequest,
    Reply,
    first_concrete_type,
    infer_through_invoke,
    inference_failed,
    load_failed,
)
from modelyard.serving.handlers.detection import MANIFEST_PATH
from modelyard.serving.handlers.imports import (
    discard_user_module,
    import_user_module,
    model_import_scope,
    resolve_entrypoint,
)
from modelyard.serving.handlers.mms_context import Context
from modelyard.serving.model_settings import ModelSettings
from modelyard.serving.types import InferenceRequest, InferenceResponse

__all__ = ["MMSHandler"]

# A status the handler set on a request, read as the domain error it stands for.
_STATUS_ERRORS: dict[int, type[ModelyardError]] = {
    400: PayloadMalformed,
    406: NotAcceptable,
    413: PayloadTooLarge,
    415: UnsupportedContentType,
}

HandleFunction = Callable[[Any, Context], Any]


class MMSHandler(Handler):
    """Serves a model through an MMS custom handler module."""

    platform = "mms"

    def __init__(
        self, name: str, model_dir: Path, settings: ModelSettings, entrypoint: str | None = None
    ) -> None:
        super().__init__(name, model_dir, settings)
        spec = settings.entrypoint or entrypoint or "model_handler.py"
        path, attr = resolve_entrypoint(name, model_dir, spec)
        self._where = path.relative_to(model_dir.resolve()).as_posix()
        self.context = Context(name, str(model_dir), _read_manifest(name, model_dir, spec))
        # MMS runs one batch at a time per worker; the context holds per-batch state.
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        with model_import_scope(path.parent):
            try:
                self._module = import_user_module(name, path)
            except Exception as exc:
                raise load_failed(name, self._where, exc) from exc
            self._handle = self._initialize(self._module, attr)

    def _initialize(self, module: ModuleType, attr: str | None) -> HandleFunction:
        """Find the entry point, initialise it as MMS does, return the ``handle`` callable."""
        entry = self._find_entry(module, attr)
        label = getattr(entry, "__qualname__", repr(entry))
        try:
            if inspect.isclass(entry):
                service: Any = entry()
                initialize = getattr(service, "initialize", None)
                if callable(initialize):
                    label = f"{entry.__qualname__}.initialize"
                    initialize(self.context)
                handle: HandleFunction = service.handle
                return handle
            entry(None, self.context)
            return entry  # type: ignore[no-any-return]
        except ModelyardError:
            raise
        except Exception as exc:
            raise load_failed(self.name, f"{self._where}: {label}", exc) from exc

    def _find_entry(self, module: ModuleType, attr: str | None) -> Any:
        if attr is not None:
            entry = getattr(module, attr, None)
            if entry is None:
                raise ModelLoadFailed(f"model {self.name!r}: {self._where} defines no {attr!r}")
            return entry
        handle = getattr(module, "handle", None)
        if callable(handle) and not inspect.isclass(handle):
            return handle
        classes = [
            member
            for _, member in inspect.getmembers(module, inspect.isclass)
            if member.__module__ == module.__name__ and callable(getattr(member, "handle", None))
        ]
        if len(classes) != 1:
            found = ", ".join(c.__name__ for c in classes) or "none"
            raise ModelLoadFailed(
                f"model {self.name!r}: {self._where} must define a handle(data, context) function "
                f"or exactly one class with a handle method (classes found: {found})"
            )
        return classes[0]

    def invoke(self, body: bytes, content_type: str, accept: str | None) -> Answer:
        result = self.invoke_batch([_Request(body, content_type, accept, None)])[0]
        if isinstance(result, Exception):
            raise result
        return result[0], result[1]

    def invoke_batch(self, requests: Sequence[InvokeRequest]) -> list[Reply | Exception]:
        """All requests in one ``handle`` call, as MMS batching does.

        ``X-Amzn-SageMaker-Custom-Attributes`` reaches the handler as a request header,
        and the one it sets on a response (``context.set_response_header``) goes back.
        """
        data = [{"body": request.body} for request in requests]
        headers = [
            _request_headers(r.content_type, r.accept, r.custom_attributes) for r in requests
        ]
        request_ids = [str(uuid.uuid4()) for _ in requests]
        with self._lock:
            self.context.begin_batch(headers, request_ids)
            try:
                returned = self._handle(data, self.context)
            except ModelyardError as exc:
                return [exc for _ in requests]
            except Exception as exc:
                return [_chained(inference_failed(self.name, "handle", exc), exc) for _ in requests]
            problem = _check_returned(returned, len(requests))
            if problem is not None:
                return [InferenceFailed(f"model {self.name!r}: handle {problem}") for _ in requests]
            results: list[Reply | Exception] = []
            for idx, (value, request) in enumerate(zip(returned, requests, strict=True)):
                try:
                    body, content_type = self._render(
                        idx, value, request.content_type, request.accept
                    )
                    attributes = _custom_attributes(self.context.get_response_headers(idx))
                    results.append((body, content_type, attributes))
                except ModelyardError as exc:
                    results.append(exc)
            return results

    def _render(self, idx: int, value: Any, content_type: str, accept: str | None) -> Answer:
        """Turn element ``idx`` of ``handle``'s answer into a body and its content type."""
        code, phrase = self.context.get_response_status(idx)
        if code >= 400:
            text = _as_text(value)
            error = _STATUS_ERRORS.get(code, InvalidRequest if code < 500 else InferenceFailed)
            status = f"{code} {phrase}".strip()
            raise error(f"model {self.name!r}: handle set status {status} for the request: {text}")
        chosen = self.context.get_response_content_type(idx)
        if value is None:
            raise InferenceFailed(f"model {self.name!r}: handle returned None for request {idx}")
        if isinstance(value, bytes | bytearray | memoryview | str):
            raw = value.encode() if isinstance(value, str) else bytes(value)
            return raw, chosen or first_concrete_type(accept) or content_type
        if chosen:
            body, _ = encode(value, "application/json")
            return body, chosen
        return encode(value, negotiate(accept, "application/json"))

    def infer(self, request: InferenceRequest) -> InferenceResponse:
        """V2 infer: the first input as a JSON body; the answer as the output ``output-0``."""
        return infer_through_invoke(self, request)

    def unload(self) -> None:
        discard_user_module(self._module)
        self._module = None


#: SageMaker's header for attributes passed to the model and back.
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


class _Request:
    """One request of ``invoke``, in the shape ``invoke_batch`` takes."""

    __slots__ = ("accept", "body", "content_type", "custom_attributes")

    def __init__(
        self, body: bytes, content_type: str, accept: str | None, custom_attributes: str | None
    ) -> None:
        self.body = body
        self.content_type = content_type
        self.accept = accept
        self.custom_attributes = custom_attributes


def _request_headers(
    content_type: str, accept: str | None, custom_attributes: str | None = None
) -> dict[str, Any]:
    # Request-level headers plus the parameter-level entry MMS adds for the "body" input.
    headers: dict[str, Any] = {"Content-Type": content_type, "body": {"content-type": content_type}}
    if accept:
        headers["Accept"] = accept
    if custom_attributes is not None:
        headers[CUSTOM_ATTRIBUTES] = custom_attributes
    return headers


def _custom_attributes(headers: dict[str, str]) -> str | None:
    """The custom attributes a handler set on its answer (header names ignore case)."""
    wanted = CUSTOM_ATTRIBUTES.lower()
    for name, value in headers.items():
        if name.lower() == wanted:
            return str(value)
    return None


def _check_returned(returned: Any, expected: int) -> str | None:
    """Why ``handle``'s return value is unusable for ``expected`` requests, or None."""
    if returned is None:
        return "returned None; it must return a list with one element per request"
    if not isinstance(returned, list | tuple):
        return f"returned {type(returned).__name__}; it must return a list with one element per request"
    if len(returned) != expected:
        return f"returned {len(returned)} elements for {expected} request(s)"
    return None


def _chained(error: ModelyardError, cause: BaseException) -> ModelyardError:
    error.__cause__ = cause
    return error


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        text = repr(value)
    return text.strip()[:2000]


def _read_manifest(name: str, model_dir: Path, handler: str) -> dict[str, Any]:
    """``MAR-INF/MANIFEST.json`` if the folder has one, else the manifest MMS would write."""
    path = model_dir / MANIFEST_PATH
    if path.is_file():
        try:
            manifest = json.loads(path.read_bytes())
        except ValueError as exc:
            raise ModelLoadFailed(
                f"model {name!r}: {MANIFEST_PATH} is not valid JSON: {exc}"
            ) from exc
        if isinstance(manifest, dict):
            return manifest
        raise ModelLoadFailed(f"model {name!r}: {MANIFEST_PATH} must hold a JSON object")
    return {
        "runtime": "python",
        "model": {"modelName": name, "handler": handler, "modelVersion": "1.0"},
    }
