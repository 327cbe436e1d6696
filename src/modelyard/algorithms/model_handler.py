"""The MMS handler of the built-in models: TopicalPageRank, DocSim and RatingPrediction.

A trained built-in model's folder (see :mod:`modelyard.algorithms.builtin_layout`) has a
``model_handler.py`` defining a subclass of :class:`ModelHandler`; the model server runs
it as any MMS custom handler: ``initialize(context)`` once at load, in the worker
process, then ``handle(data, context)`` per batch of requests. ``initialize`` reads the
``<Name>-params.json`` of the folder: its ``model_name`` says which algorithm loads
``<Name>-model/`` and how requests are answered:

- **TopicalPageRank**: ``text/plain`` (the text), or JSON ``{"text": "..."}`` or a JSON
  string → ``{"keyphrases": [{"phrase": ..., "score": ...}, ...]}``; JSON ``{"text":
  [...]}`` or a list of texts (strings or ``{"text": ...}``) → a list of those, in order.
- **DocSim**: JSON ``{"query": "...", "k": 5}`` (``k`` optional: the params' ``top_k``),
  or ``text/plain`` as the query → ``{"hits": [{"id", "score", "claim", "verdict", ...}]}``.
- **RatingPrediction**: SageMaker Object2Vec's JSON, ``{"instances": [{"in0": [user],
  "in1": [item]}]}`` → ``{"predictions": [{"scores": [rating]}]}``.

Answers are JSON. A request the model cannot take fails alone, not its whole batch: the
handler sets its status, as MMS handlers do (415 for a content type the model does not
read, else 400), and answers the message naming the problem.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from modelyard.algorithms.builtin_layout import BuiltInAlgorithm, ModelFolder
from modelyard.algorithms.docsim import DocSim
from modelyard.algorithms.keyphrases import Keyphrase, TopicalPageRank
from modelyard.algorithms.rating import RatingModel
from modelyard.algorithms.rating_object2vec import answer_object2vec
from modelyard.errors import (
    InvalidRequest,
    ModelLoadFailed,
    NotAcceptable,
    PayloadMalformed,
    PayloadTooLarge,
    UnsupportedContentType,
)

__all__ = ["BuiltInModel", "ModelHandler", "Request", "load_built_in"]

JSON: Final = "application/json"
TEXT: Final = "text/plain"

#: The status an MMS handler reports for each client error: the model server reads
#: 415, 413 and 406 as those errors, and any other 4xx as a malformed request.
_STATUS: Final[tuple[tuple[type[InvalidRequest], int, str], ...]] = (
    (UnsupportedContentType, 415, "Unsupported Media Type"),
    (PayloadTooLarge, 413, "Payload Too Large"),
    (NotAcceptable, 406, "Not Acceptable"),
    (InvalidRequest, 400, "Bad Request"),
)


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request of a batch, as the model sees it."""

    #: The body: raw bytes, or the JSON an MMS that decodes requests already parsed.
    body: bytes | str | Mapping[str, Any] | list[Any]
    #: Its media type, lower-case, without parameters (``text/plain``).
    media_type: str

    def json(self) -> Any:
        """The body as JSON; PayloadMalformed if it is not."""
        if isinstance(self.body, Mapping | list):
            return self.body
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadMalformed(f"the body is not JSON: {exc}") from None

    def text(self) -> str:
        """The body as UTF-8 text; PayloadMalformed if it is not."""
        if isinstance(self.body, str):
            return self.body
        if isinstance(self.body, bytes):
            try:
                return self.body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PayloadMalformed(f"the body is not UTF-8 text: {exc}") from None
        raise PayloadMalformed("expected text, got a JSON document")

    def require(self, *media_types: str) -> None:
        """UnsupportedContentType unless the request is one of ``media_types``."""
        if self.media_type not in media_types:
            raise UnsupportedContentType(
                f"content type {self.media_type!r} is not read by this model; send "
                f"{' or '.join(media_types)}"
            )


class BuiltInModel(Protocol):
    """A loaded built-in model: answers one request with a JSON-encodable value."""

    def answer(self, request: Request) -> Any:
        """The answer to ``request``; InvalidRequest (or a subclass) for bad input."""
        ...


class _Keyphrases:
    """TopicalPageRank: texts in, keyphrases out."""

    def __init__(self, model: TopicalPageRank) -> None:
        self._model = model

    def answer(self, request: Request) -> Any:
        request.require(TEXT, JSON)
        if request.media_type == TEXT:
            return self._extract(request.text(), "the body")
        document = request.json()
        if isinstance(document, str):
            return self._extract(document, "the body")
        if isinstance(document, Mapping):
            unknown = sorted(set(document) - {"text"})
            if unknown or "text" not in document:
                raise PayloadMalformed(
                    'expected {"text": "..."} or {"text": ["...", ...]}'
                    + (f": unknown key {unknown[0]!r}" if unknown else ": 'text' is missing")
                )
            texts = document["text"]
            if isinstance(texts, list):
                return [self._extract(text, f"text[{n}]") for n, text in enumerate(texts)]
            return self._extract(texts, "text")
        if isinstance(document, list):
            return [self._extract(_text_of(item), f"[{n}]") for n, item in enumerate(document)]
        raise PayloadMalformed(
            f'expected a text, {{"text": ...}} or a list of texts, got {type(document).__name__}'
        )

    def _extract(self, text: Any, where: str) -> dict[str, Any]:
        if not isinstance(text, str):
            raise PayloadMalformed(f"{where} must be a string, got {type(text).__name__}")
        if not text.strip():
            raise InvalidRequest(f"{where} is empty: send the text to find keyphrases in")
        return {"keyphrases": [_keyphrase(k) for k in self._model.extract(text)]}


def _text_of(item: Any) -> Any:
    """A list item: a text, or ``{"text": ...}``."""
    if isinstance(item, Mapping) and set(item) == {"text"}:
        return item["text"]
    return item


def _keyphrase(keyphrase: Keyphrase) -> dict[str, Any]:
    return {"phrase": keyphrase.phrase, "score": keyphrase.score}


class _Similar:
    """DocSim: a claim in, the most similar fact-checks out."""

    def __init__(self, docsim: DocSim) -> None:
        self._docsim = docsim

    def answer(self, request: Request) -> Any:
        request.require(JSON, TEXT)
        if request.media_type == TEXT:
            query, k = request.text(), None
        else:
            document = request.json()
            if not isinstance(document, Mapping) or "query" not in document:
                raise PayloadMalformed(
                    'expected a JSON object {"query": "<claim>", "k": <number of hits>}: '
                    "'query' is missing"
                )
            unknown = sorted(set(document) - {"query", "k"})
            if unknown:
                raise PayloadMalformed(f"unknown key {unknown[0]!r}: only 'query' and 'k'")
            query, k = document["query"], document.get("k")
            if not isinstance(query, str):
                raise PayloadMalformed(f"'query' must be a string, got {type(query).__name__}")
        hits = self._docsim.search(query, k)
        return {"hits": [hit.as_dict() for hit in hits]}


class _Ratings:
    """RatingPrediction: Object2Vec's (user, item) instances in, one score each out."""

    def __init__(self, model: RatingModel) -> None:
        self._model = model

    def answer(self, request: Request) -> Any:
        request.require(JSON)
        document = request.json()
        if not isinstance(document, Mapping):
            raise PayloadMalformed(
                "expected a JSON object with 'instances' "
                '({"instances": [{"in0": [user], "in1": [item]}]})'
            )
        return answer_object2vec(self._model, document)


#: How each algorithm's saved model is loaded and served.
_LOADERS: Final[dict[BuiltInAlgorithm, Callable[[Path], BuiltInModel]]] = {
    BuiltInAlgorithm.TOPICAL_PAGERANK: lambda path: _Keyphrases(TopicalPageRank.load(path)),
    BuiltInAlgorithm.DOCSIM: lambda path: _Similar(DocSim.load(path)),
    BuiltInAlgorithm.RATING_PREDICTION: lambda path: _Ratings(RatingModel.load(path)),
}


def load_built_in(root: Path) -> BuiltInModel:
    """The built-in model in folder ``root``, loaded; ModelLoadFailed saying what is wrong."""
    folder = ModelFolder.find(root)
    try:
        params = json.loads(folder.params_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadFailed(f"cannot read {folder.params_file.name}: {exc}") from exc
    name = params.get("model_name") if isinstance(params, dict) else None
    try:
        algorithm = BuiltInAlgorithm(str(name))
    except ValueError:
        known = ", ".join(a.value for a in BuiltInAlgorithm)
        raise ModelLoadFailed(
            f"{folder.params_file.name}: model_name {name!r} is no built-in algorithm ({known})"
        ) from None
    if not folder.model_dir.is_dir():
        raise ModelLoadFailed(f"the model folder has no {folder.model_dir.name}/")
    return _LOADERS[algorithm](folder.model_dir)


class ModelHandler:
    """The MMS handler of a built-in model (see the module)."""

    def __init__(self) -> None:
        self._model: BuiltInModel | None = None

    @property
    def initialized(self) -> bool:
        """Whether ``initialize`` has loaded the model."""
        return self._model is not None

    def initialize(self, context: Any) -> None:
        """Load the model of ``context.system_properties["model_dir"]``; called once, at load."""
        self._model = load_built_in(Path(context.system_properties["model_dir"]))

    def handle(self, data: list[dict[str, Any]] | None, context: Any) -> list[Any] | None:
        """One answer per request of ``data``; a bad request gets its status and message."""
        if data is None:  # MMS's call at load time, for handlers that initialise lazily
            return None
        if self._model is None:
            self.initialize(context)
        model = self._model
        assert model is not None  # initialize set it or raised
        answers: list[Any] = []
        for idx, row in enumerate(data):
            content_type = context.get_request_header(idx, "Content-Type") or JSON
            body = row.get("body")
            if body is None:
                body = row.get("data", b"")
            request = Request(
                body=bytes(body) if isinstance(body, bytearray | memoryview) else body,
                media_type=str(content_type).split(";", 1)[0].strip().lower(),
            )
            try:
                answer = model.answer(request)
            except InvalidRequest as exc:
                code, phrase = next((c, p) for kind, c, p in _STATUS if isinstance(exc, kind))
                context.set_response_status(code, phrase, idx)
                answers.append(exc.message)
                continue
            context.set_response_content_type(idx, JSON)
            answers.append(answer)
        return answers
