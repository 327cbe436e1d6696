"""DocSim: find the fact-checks most similar to a claim.

Fit indexes a fact-check corpus (a CSV with columns ``id,date,claim,verdict,article,topic``);
search takes a claim and returns the ``top_k`` most similar fact-checks, best first, with
their cosine score and fields::

    params = DocSimParams.parse({"embedding": "e5", "top_k": "5", "text_fields": "claim,article"})
    docsim = DocSim.fit_csv("factchecks_de.csv", params)
    docsim.save(folder)
    hits = DocSim.load(folder).search("Impfungen verändern das Erbgut")
    hits[0].as_dict()  # {"id": "fc-3", "score": 0.91, "claim": ..., "verdict": ..., ...}

A saved DocSim is a folder of plain files, never a pickle:

- ``docsim.json``: the parameters, the format version and the number of documents;
- ``docs.json``: each document's returned fields, in index order;
- ``embeddings.npy`` (e5) or ``tfidf_matrix.npz``, ``tfidf_vocabulary.json``,
  ``tfidf_idf.npy`` (TF-IDF): the index (see :mod:`modelyard.algorithms.docsim_index`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from modelyard.algorithms.docsim_index import (
    DenseIndex,
    SearchIndex,
    SparseIndex,
    TfidfAnalyzer,
    e5_encoder,
    top_k,
)
from modelyard.errors import InvalidRequest, ModelLoadFailed

__all__ = [
    "DOCS_FILE",
    "PARAMS_FILE",
    "DocSim",
    "DocSimParams",
    "EmptyQuery",
    "Hit",
    "InvalidCorpus",
    "InvalidDocSimParams",
    "read_corpus",
]

#: The parameters and shape of a saved DocSim.
PARAMS_FILE = "docsim.json"
#: The returned fields of every document, in index order.
DOCS_FILE = "docs.json"
#: Bumped when the files of a saved DocSim change meaning; load refuses other versions.
FORMAT_VERSION = 1


class InvalidDocSimParams(InvalidRequest):
    """The DocSim parameters are invalid."""


class InvalidCorpus(InvalidRequest):
    """The fact-check corpus cannot be indexed."""


class EmptyQuery(InvalidRequest):
    """The query text is empty: give the claim to search for."""


def _split_names(value: Any) -> Any:
    """``"claim,article"`` (as params files write lists) -> ``["claim", "article"]``."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",")]
    return value


#: A list of column names, given as a list or as one comma-separated string.
_Names = Annotated[tuple[str, ...], BeforeValidator(_split_names)]


class DocSimParams(BaseModel):
    """DocSim's parameters, as a params file gives them (numbers may arrive as strings).

    Unknown keys are rejected, so a typo (``"topk"``) fails the fit instead of being ignored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: Literal["DocSim"] = "DocSim"
    """The algorithm's name, as the training pipeline's params files carry it."""

    language: str = Field("de", pattern=r"^[a-z]{2}$")
    """The corpus's language (ISO 639-1); e5 is multilingual, so it is recorded, not used."""

    embedding: Literal["e5", "tfidf"] = "e5"
    """``e5``: multilingual-e5-small sentence embeddings (meaning); ``tfidf``: shared words."""

    top_k: int = Field(5, ge=1, le=1000)
    """How many fact-checks a search returns when the caller does not say."""

    text_fields: _Names = ("claim", "article")
    """The columns joined into the text that is embedded, in this order."""

    return_fields: _Names | None = None
    """The columns each hit carries (``id`` always); ``None``: every column of the corpus."""

    max_chars: int = Field(1000, ge=16, le=100_000)
    """Texts (documents and queries) are cut to this many characters before embedding: e5
    reads at most 512 tokens at once, and longer texts cost time for little gain."""

    tfidf_analyzer: TfidfAnalyzer = "char_wb"
    """TF-IDF terms: ``char_wb`` (3-5 character n-grams) or ``word`` (words and word pairs)."""

    batch_size: int = Field(64, ge=1, le=4096)
    """Documents embedded per call to the e5 engine while fitting."""

    query_threads: int = Field(1, ge=1, le=256)
    """Cores the e5 engine spreads one query over when a loaded model serves (fitting uses
    every core). One: a query is short, and a team of threads per query, in each of many
    workers, fights for the cores; on a busy 2-core machine a query took ~370 ms with every
    core against ~60 ms with one."""

    train_df: str | None = None
    """The corpus file the training pipeline reads (relative to its data channel)."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> DocSimParams:
        """Parameters from a params file's mapping; errors name the field at fault."""
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
                for error in exc.errors()
            )
            raise InvalidDocSimParams(f"Invalid DocSim parameters: {problems}") from exc

    @field_validator("text_fields", "return_fields")
    @classmethod
    def _check_names(cls, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """Column lists are non-empty, without blank or repeated names."""
        if names is None:
            return None
        if not names or any(not name for name in names):
            raise ValueError("give one or more column names, comma-separated")
        if len(set(names)) != len(names):
            raise ValueError("a column is named twice")
        return names


@dataclass(frozen=True, kw_only=True, slots=True)
class Hit:
    """One fact-check found by a search."""

    #: The fact-check's ``id``.
    id: str
    #: Cosine similarity to the query, in [-1, 1]; higher is closer.
    score: float
    #: The fact-check's returned fields (claim, verdict, topic, date, ...), ``id`` excluded.
    fields: Mapping[str, str]

    def as_dict(self) -> dict[str, Any]:
        """``{"id": ..., "score": ..., **fields}``: what a search answer renders."""
        return {"id": self.id, "score": self.score, **self.fields}


def read_corpus(path: str | Path) -> list[dict[str, str]]:
    """The rows of a fact-check CSV (UTF-8, with or without BOM), as column -> text."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            rows = [{key: value or "" for key, value in row.items() if key} for row in reader]
            columns = list(reader.fieldnames or ())
    except FileNotFoundError as exc:
        raise InvalidCorpus(f"No corpus file at {path}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidCorpus(f"The corpus {path} is not a readable UTF-8 CSV: {exc}") from exc
    if "id" not in columns:
        raise InvalidCorpus(f"The corpus {path} has no 'id' column (columns: {columns})")
    return rows


class DocSim:
    """A fitted DocSim: the corpus's returned fields and an index over its texts."""

    def __init__(
        self, params: DocSimParams, docs: Sequence[Mapping[str, str]], index: SearchIndex
    ) -> None:
        if len(docs) != index.size:
            raise ValueError(f"{len(docs)} documents but {index.size} index rows")
        self.params = params
        self._docs = [dict(doc) for doc in docs]
        self._index = index

    @property
    def size(self) -> int:
        """Number of indexed fact-checks."""
        return len(self._docs)

    @classmethod
    def fit_csv(cls, path: str | Path, params: DocSimParams) -> DocSim:
        """Index the fact-checks of a CSV file (see :func:`read_corpus`)."""
        return cls.fit(read_corpus(path), params)

    @classmethod
    def fit(cls, rows: Iterable[Mapping[str, str]], params: DocSimParams) -> DocSim:
        """Index fact-checks given as rows (column -> text): embed their text fields."""
        rows = [dict(row) for row in rows]
        if not rows:
            raise InvalidCorpus("The corpus has no fact-checks")
        columns = set(rows[0])
        for name, fields in (
            ("text_fields", params.text_fields),
            ("return_fields", params.return_fields),
        ):
            missing = [field for field in fields or () if field not in columns]
            if missing:
                raise InvalidCorpus(f"{name}: the corpus has no column {', '.join(missing)}")
        seen: set[str] = set()
        for number, row in enumerate(rows, start=1):
            doc_id = (row.get("id") or "").strip()
            if not doc_id:
                raise InvalidCorpus(f"Row {number} has no id")
            if doc_id in seen:
                raise InvalidCorpus(f"Row {number}: the id {doc_id!r} is used twice")
            seen.add(doc_id)
        texts = [_document_text(row, params) for row in rows]
        index: SearchIndex
        if params.embedding == "e5":
            index = DenseIndex.build(texts, batch_size=params.batch_size)
        else:
            index = SparseIndex.build(texts, analyzer=params.tfidf_analyzer)
        return cls(params, [_returned_fields(row, params) for row in rows], index)

    def search(self, query: str, k: int | None = None) -> list[Hit]:
        """The ``k`` (default ``top_k``) fact-checks closest to ``query``, best first.

        ``k`` larger than the corpus returns every fact-check.
        """
        text = query.strip()[: self.params.max_chars]
        if not text:
            raise EmptyQuery()
        k = self.params.top_k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidRequest(f"k must be a whole number of at least 1, not {k!r}")
        scores = self._index.scores(text)
        hits = []
        for row in top_k(scores, k):
            doc = self._docs[row]
            fields = {key: value for key, value in doc.items() if key != "id"}
            hits.append(Hit(id=doc["id"], score=float(scores[row]), fields=fields))
        return hits

    def save(self, folder: str | Path) -> None:
        """Write the DocSim's files into ``folder`` (created if missing)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._index.save(folder)
        (folder / DOCS_FILE).write_text(
            json.dumps(self._docs, ensure_ascii=False), encoding="utf-8"
        )
        # Written last: a folder with a params file holds a complete DocSim.
        description = {
            "format_version": FORMAT_VERSION,
            "documents": self.size,
            "params": self.params.model_dump(mode="json"),
        }
        (folder / PARAMS_FILE).write_text(json.dumps(description, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> DocSim:
        """Read a DocSim :meth:`save` wrote; a missing or damaged file is a load failure."""
        folder = Path(folder)
        try:
            description = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
            if description.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format version {description.get('format_version')!r}")
            params = DocSimParams.parse(description["params"])
            docs = json.loads((folder / DOCS_FILE).read_text(encoding="utf-8"))
            if not isinstance(docs, list) or len(docs) != description["documents"]:
                raise ValueError(f"{DOCS_FILE} does not hold {description['documents']} documents")
            if not all(isinstance(doc, dict) and isinstance(doc.get("id"), str) for doc in docs):
                raise ValueError(f"{DOCS_FILE} holds a document without an id")
            index: SearchIndex
            if params.embedding == "e5":
                e5_encoder().use_threads(params.query_threads)
                index = DenseIndex.load(folder)
            else:
                index = SparseIndex.load(folder, analyzer=params.tfidf_analyzer)
            return cls(params, docs, index)
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            InvalidDocSimParams,
        ) as exc:
            raise ModelLoadFailed(f"Cannot load the DocSim in {folder}: {exc}") from exc


def _document_text(row: Mapping[str, str], params: DocSimParams) -> str:
    """The text embedded for a fact-check: its text fields, one paragraph each, cut short."""
    parts = (row.get(field, "").strip() for field in params.text_fields)
    return "\n\n".join(part for part in parts if part)[: params.max_chars]


def _returned_fields(row: Mapping[str, str], params: DocSimParams) -> dict[str, str]:
    """The fields a hit carries: ``id`` first, then ``return_fields`` (or every column)."""
    names = params.return_fields if params.return_fields is not None else tuple(row)
    fields = {"id": row["id"].strip()}
    fields.update({name: row.get(name, "") for name in names if name != "id"})
    return fields
