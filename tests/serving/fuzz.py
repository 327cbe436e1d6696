"""Hostile requests for the model server: every route, every content type, garbage too.

``requests()`` is a hypothesis strategy of :class:`FuzzRequest` over a store of toy
models (see ``FUZZ_MODELS``); ``send`` sends one and ``verdict`` says whether its answer
is acceptable: anything but a 5xx, unless the 5xx is a model's own error (its user code
raised, or its worker crashed) — never ours, and never for the built-in scikit-learn
runtime, whose every failure on client input must be a 4xx. Used by the test suite
(bounded) and by ``bench/hardening.py`` (2,000 requests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from hypothesis import strategies as st

from modelyard.serving.codecs import encode
from tests.fixtures import models

__all__ = ["FUZZ_MODELS", "FuzzRequest", "build_fuzz_store", "requests", "send", "verdict"]

#: Models of the fuzz store: built-in runtime, user code of each contract, an archive.
FUZZ_MODELS = ("sklearn", "sum", "mms", "mms_class", "toolkit", "packed", "predict_error")

#: Models whose 500s may be their own (user code): all but the built-in runtime.
USER_CODE = frozenset(FUZZ_MODELS) - {"sklearn"}

#: Errors a 5xx may carry when it is the model's fault.
MODEL_ERRORS = frozenset({"InferenceFailed", "ModelLoadFailed", "WorkerCrashed"})

N_FEATURES = 4

RECORDIO = "application/x-recordio-protobuf"

CONTENT_TYPES = (
    "application/json",
    "text/csv",
    "text/x-libsvm",
    "application/x-recordio-protobuf",
    "application/jsonlines",
    "text/plain",
    "application/octet-stream",
    "multipart/form-data; boundary=x",
    "",
    "application/json; charset=latin-1",
)
ACCEPTS = (
    None,
    "application/json",
    "text/csv",
    "application/x-recordio-protobuf",
    "*/*",
    "text/html",
    "application/json;q=0, text/csv",
    "garbage;;q=x",
)


@dataclass(frozen=True, kw_only=True)
class FuzzRequest:
    """One request to send."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: The model the request is about, if any (to judge whose fault a 5xx is).
    model: str | None = None

    def __repr__(self) -> str:
        return f"{self.method} {self.path} {self.headers} {self.body[:200]!r}"


def build_fuzz_store(store: Path) -> Path:
    """Write the models of ``FUZZ_MODELS`` into ``store``."""
    store.mkdir(parents=True, exist_ok=True)
    models.sklearn_model(store, n_features=N_FEATURES)
    models.sum_model(store)
    models.mms_model(store)
    models.mms_class_model(store)
    models.inference_toolkit_model(store)
    models.predict_error_model(store)
    archive = models.tarball(models.sum_model(store.parent / "fuzz-archives", name="packed"))
    archive.rename(store / archive.name)
    return store


_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 1e308, 1e-320]),
)
_json_values = st.recursive(
    st.none() | st.booleans() | _numbers | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def _matrix(draw: st.DrawFn) -> list[list[float]]:
    rows = draw(st.integers(0, 3))
    width = draw(st.sampled_from([0, 1, N_FEATURES - 1, N_FEATURES, N_FEATURES + 1, 20]))
    return [[draw(_numbers) for _ in range(width)] for _ in range(rows)]


def _dumps(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def _body(draw: st.DrawFn, content_type: str) -> bytes:
    kind = content_type.split(";")[0]
    garbage = st.binary(max_size=64)
    if kind == "application/json":
        shaped = st.one_of(
            _matrix().map(_dumps),
            _matrix().map(lambda m: _dumps({"instances": m})),
            _matrix().map(lambda m: _dumps({"inputs": m})),
            _matrix().map(lambda m: _dumps({"instances": [{"features": r} for r in m]})),
            _json_values.map(_dumps),
        )
        return draw(st.one_of(shaped, garbage))
    if kind == "text/csv":
        cells = st.one_of(_numbers.map(repr), st.text(max_size=4), st.just(""))
        row = st.lists(cells, min_size=0, max_size=6).map(",".join)
        text = st.lists(row, max_size=4).map("\n".join).map(str.encode)
        return draw(st.one_of(text, garbage))
    if kind == "text/x-libsvm":
        pair = st.tuples(st.integers(-2, 25), st.one_of(_numbers.map(repr), st.text(max_size=3)))
        row = st.tuples(_numbers.map(repr), st.lists(pair, max_size=5)).map(
            lambda r: " ".join([r[0], *(f"{i}:{v}" for i, v in r[1])])
        )
        text = st.lists(row, max_size=3).map("\n".join).map(str.encode)
        return draw(st.one_of(text, garbage))
    if kind == "application/x-recordio-protobuf":
        valid = (
            _matrix()
            .filter(lambda m: bool(m) and bool(m[0]))
            .map(lambda m: encode(np.asarray(m, dtype=np.float64), RECORDIO)[0])
        )
        return draw(st.one_of(valid, garbage))
    return draw(st.one_of(garbage, _json_values.map(_dumps)))


@st.composite
def _tensor(draw: st.DrawFn) -> dict[str, object]:
    datatype = draw(
        st.sampled_from(["FP64", "FP32", "INT64", "BYTES", "BOOL", "UINT8", "FP16", "XX"])
    )
    shape = draw(st.lists(st.integers(-1, 6), max_size=3))
    data = draw(st.one_of(_json_values, st.lists(_numbers, max_size=24)))
    tensor: dict[str, object] = {
        "name": draw(st.text(max_size=6)),
        "datatype": datatype,
        "shape": shape,
        "data": data,
    }
    if draw(st.booleans()):
        tensor["parameters"] = draw(st.dictionaries(st.text(max_size=5), _json_values, max_size=2))
    return tensor


@st.composite
def _v2_body(draw: st.DrawFn) -> bytes:
    good = {
        "inputs": [
            {
                "name": "x",
                "datatype": "FP64",
                "shape": [1, N_FEATURES],
                "data": [draw(_numbers) for _ in range(N_FEATURES)],
            }
        ]
    }
    outputs = st.lists(
        st.fixed_dictionaries({"name": st.sampled_from(["predict", "predict_proba", "x", ""])}),
        max_size=2,
    )
    doc = st.fixed_dictionaries(
        {"inputs": st.lists(_tensor(), max_size=2)},
        optional={"outputs": outputs, "id": st.text(max_size=4), "parameters": _json_values},
    )
    return draw(
        st.one_of(
            st.just(_dumps(good)), doc.map(_dumps), _json_values.map(_dumps), st.binary(max_size=64)
        )
    )


#: What an HTTP client will put in a header value (others never leave the client).
_header_chars = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")

_names = st.one_of(
    st.sampled_from(FUZZ_MODELS),
    st.sampled_from(["nope", "a" * 300, "b" * 1100, "..", "%2e%2e", "%00", "x%09y", "ünï"]),
)


@st.composite
def requests(draw: st.DrawFn, fuzz_dir: str) -> FuzzRequest:
    """A request to one of the routes, with a body shaped for it or not at all.

    ``fuzz_dir`` is a folder of artifacts for ``POST /models`` URLs to point at.
    """
    name = draw(_names)
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    accept = draw(st.sampled_from(ACCEPTS))
    headers = {"content-type": content_type} if content_type else {}
    if accept is not None:
        headers["accept"] = accept
    route = draw(
        st.sampled_from(
            [
                "invoke",
                "invocations",
                "predictions",
                "v2_infer",
                "v2_meta",
                "v2_ready",
                "load",
                "list",
                "get",
                "delete",
                "v2_index",
                "v2_load",
                "v2_unload",
                "plain",
            ]
        )
    )
    if route == "invoke":
        body = draw(_body(content_type))
        return FuzzRequest(
            method="POST", path=f"/models/{name}/invoke", headers=headers, body=body, model=name
        )
    if route == "invocations":
        target = draw(
            st.one_of(st.just(name), st.just(f"{name}.tar.gz"), st.text(_header_chars, max_size=10))
        )
        headers["x-amzn-sagemaker-target-model"] = target.encode("latin-1", "replace").decode(
            "latin-1"
        )
        return FuzzRequest(
            method="POST",
            path="/invocations",
            headers=headers,
            body=draw(_body(content_type)),
            model=name,
        )
    if route == "predictions":
        return FuzzRequest(
            method="POST",
            path=f"/predictions/{name}",
            headers=headers,
            body=draw(_body(content_type)),
            model=name,
        )
    if route == "v2_infer":
        version = draw(st.sampled_from(["", "/versions/1", "/versions/x"]))
        return FuzzRequest(
            method="POST",
            path=f"/v2/models/{name}{version}/infer",
            headers={"content-type": "application/json"},
            body=draw(_v2_body()),
            model=name,
        )
    if route in ("v2_meta", "v2_ready"):
        suffix = "/ready" if route == "v2_ready" else ""
        return FuzzRequest(method="GET", path=f"/v2/models/{name}{suffix}", model=name)
    if route == "load":
        url = draw(
            st.one_of(
                st.sampled_from(
                    [
                        f"{fuzz_dir}/sum",
                        f"{fuzz_dir}/nothing",
                        f"{fuzz_dir}/file.txt",
                        "/proc/self",
                        "/",
                        "s3://bucket/x",
                        "ftp://127.0.0.1/x",
                        "nosuch://x",
                        "",
                    ]
                ),
                st.text(max_size=20),
            )
        )
        spec = draw(
            st.one_of(
                st.just({"model_name": draw(st.text(max_size=8)) or "fz", "url": url}),
                _json_values,
            )
        )
        return FuzzRequest(
            method="POST",
            path="/models",
            headers={"content-type": "application/json"},
            body=_dumps(spec),
            model=None,
        )
    if route == "list":
        params = draw(
            st.sampled_from(
                [
                    "",
                    "?max_results=2",
                    "?max_results=0",
                    "?max_results=x",
                    "?next_page_token=%%%",
                    "?next_page_token=c3Vt",
                ]
            )
        )
        return FuzzRequest(method="GET", path=f"/models{params}")
    if route == "get":
        return FuzzRequest(method="GET", path=f"/models/{name}", model=name)
    if route == "delete":
        # Only names of the fuzz folder: the store's models stay for other requests.
        return FuzzRequest(
            method="DELETE", path=f"/models/{draw(st.sampled_from(['fz', 'nope', name]))}"
        )
    if route in ("v2_load", "v2_unload"):
        action = "load" if route == "v2_load" else "unload"
        body = draw(st.one_of(st.just(b"{}"), _json_values.map(_dumps), st.binary(max_size=16)))
        return FuzzRequest(
            method="POST",
            path=f"/v2/repository/models/{name}/{action}",
            headers={"content-type": "application/json"},
            body=body,
            model=name,
        )
    if route == "v2_index":
        body = draw(
            st.one_of(
                st.just(b"{}"),
                st.just(b'{"ready": true}'),
                _json_values.map(_dumps),
                st.binary(max_size=16),
            )
        )
        return FuzzRequest(method="POST", path="/v2/repository/index", body=body)
    path = draw(
        st.sampled_from(
            ["/ping", "/stats", "/v2", "/v2/health/live", "/v2/health/ready", "/nowhere"]
        )
    )
    return FuzzRequest(
        method=draw(st.sampled_from(["GET", "POST", "PUT"])),
        path=path,
        body=draw(st.binary(max_size=8)),
    )


def send(client: httpx.Client, request: FuzzRequest) -> httpx.Response:
    """Send ``request`` as it is."""
    # What an HTTP client can send: latin-1, no whitespace around the value.
    headers = {
        key: value.strip().encode("latin-1", "replace") for key, value in request.headers.items()
    }
    return client.request(request.method, request.path, headers=headers, content=request.body)


def verdict(request: FuzzRequest, response: httpx.Response) -> str | None:
    """Why ``response`` is not acceptable for ``request``; None when it is."""
    if response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} with a body that is not JSON: {response.text[:200]!r}"
    kind = response.headers.get("x-modelyard-error-type")
    if kind in MODEL_ERRORS and request.model in USER_CODE:
        return None  # the model's own code failed: its error, honestly reported
    return f"{response.status_code} {kind}: {str(body)[:300]}"
