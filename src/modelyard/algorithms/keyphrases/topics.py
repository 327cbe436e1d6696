"""TopicModel: LDA trained on the training documents, and topic inference for one document.

Training fits scikit-learn's `LatentDirichletAllocation` to the documents' normalised
nouns and adjectives (the words that later become graph nodes). What is kept is only
numbers: the topic-word pseudo-counts ``lambda`` (topics x words) and the document-topic
prior ``alpha``, saved as ``topics.npz`` beside ``vocabulary.json`` (the words in column order); no
pickle.

From them:

- a word's topic distribution is ``P(t | w) ~ P(w | t) P(t) ~ lambda[t, w]``, taking ``P(t)``
  as each topic's share of the pseudo-counts. Only its direction matters (it enters a
  cosine), so rows of ``lambda.T`` scaled to unit length are kept. A word outside the
  vocabulary gets the uniform distribution.
- a document's topic distribution ``P(t | d)`` is inferred by the variational E-step of
  LDA (Blei, Ng and Jordan, 2003, with the update as in Hoffman, Blei and Bach, 2010):
  ``gamma <- alpha + exp(E[log theta]) * ((n / phi_norm) . exp(E[log beta]).T)`` from
  ``gamma = 1`` until the
  mean change is below 1e-3, the same stopping rule scikit-learn's ``transform`` uses,
  written here in numpy so that one document costs a few small matrix products.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.special import psi  # type: ignore[import-untyped]
from sklearn.decomposition import LatentDirichletAllocation  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import CountVectorizer  # type: ignore[import-untyped]

from modelyard.algorithms.keyphrases.errors import InvalidTrainingData, KeyphraseModelCorrupt

__all__ = ["TOPICS_FILE", "VOCABULARY_FILE", "TopicModel"]

#: The arrays of a saved topic model.
TOPICS_FILE: Final = "topics.npz"
#: The words of a saved topic model, in the order of the arrays' columns.
VOCABULARY_FILE: Final = "vocabulary.json"

#: The most words kept in the vocabulary (the most frequent); rarer words count as unknown.
MAX_VOCABULARY: Final = 50_000
_MAX_E_STEPS: Final = 100
_MEAN_CHANGE_TOL: Final = 1e-3

FloatArray = npt.NDArray[np.float64]


def _as_is(words: list[str]) -> list[str]:
    return words


class TopicModel:
    """An LDA model's word-topic and inference arrays, with its vocabulary."""

    def __init__(
        self, *, vocabulary: Sequence[str], topic_word: FloatArray, doc_topic_prior: float
    ) -> None:
        n_topics, n_words = topic_word.shape
        if n_words != len(vocabulary):
            raise KeyphraseModelCorrupt(
                f"topic model has {n_words} word columns but {len(vocabulary)} words"
            )
        #: The words, in column order.
        self.vocabulary: tuple[str, ...] = tuple(vocabulary)
        #: Each word's column.
        self.index: dict[str, int] = {word: i for i, word in enumerate(self.vocabulary)}
        #: LDA's topic-word pseudo-counts lambda (topics x words).
        self.topic_word = topic_word
        #: LDA's document-topic prior alpha.
        self.doc_topic_prior = doc_topic_prior
        self.n_topics = n_topics
        # exp(E[log beta]) of the variational E-step, words x topics so a document's columns
        # are one row gather.
        exp_elog_beta = np.exp(psi(topic_word) - psi(topic_word.sum(axis=1, keepdims=True)))
        self._exp_elog_beta_t: FloatArray = np.ascontiguousarray(exp_elog_beta.T)
        # P(t | w) ~ lambda[t, w], scaled to unit length: a cosine becomes a dot product.
        word_topic = topic_word.T
        norms = np.linalg.norm(word_topic, axis=1, keepdims=True)
        self._word_directions: FloatArray = np.ascontiguousarray(
            word_topic / np.where(norms > 0, norms, 1.0)
        )
        self._unknown_direction = 1.0 / math.sqrt(n_topics)

    @classmethod
    def train(cls, documents: Sequence[list[str]], n_topics: int, seed: int = 0) -> TopicModel:
        """Fit LDA with ``n_topics`` topics to documents given as lists of normalised words."""
        if not any(documents):
            raise InvalidTrainingData("the training documents contain no nouns or adjectives")
        vectorizer = CountVectorizer(
            analyzer=_as_is, lowercase=False, max_features=MAX_VOCABULARY, dtype=np.float64
        )
        counts = vectorizer.fit_transform(documents)
        lda = LatentDirichletAllocation(
            n_components=n_topics, learning_method="batch", random_state=seed
        )
        lda.fit(counts)
        return cls(
            vocabulary=[str(word) for word in vectorizer.get_feature_names_out()],
            # Rounded to what `save` keeps, so a loaded model answers exactly as this one.
            topic_word=np.asarray(lda.components_, dtype=np.float32).astype(np.float64),
            doc_topic_prior=float(lda.doc_topic_prior_),
        )

    def word_ids(self, words: Sequence[str]) -> npt.NDArray[np.intp]:
        """Return each word's column, ``-1`` for words outside the vocabulary."""
        index = self.index
        return np.fromiter((index.get(word, -1) for word in words), dtype=np.intp, count=len(words))

    def infer(self, word_ids: npt.NDArray[np.intp]) -> FloatArray:
        """Return P(t | d) for a document given as the columns of its words (``-1`` ignored)."""
        known = word_ids[word_ids >= 0]
        alpha = self.doc_topic_prior
        if known.size == 0:
            return np.full(self.n_topics, 1.0 / self.n_topics)
        ids, counts = np.unique(known, return_counts=True)
        beta = self._exp_elog_beta_t[ids]  # words x topics
        weights = counts.astype(np.float64)
        gamma = np.ones(self.n_topics)
        for _ in range(_MAX_E_STEPS):
            exp_elog_theta = np.exp(psi(gamma) - psi(gamma.sum()))
            phi_norm = beta @ exp_elog_theta + 1e-100
            updated = alpha + exp_elog_theta * ((weights / phi_norm) @ beta)
            change = float(np.mean(np.abs(updated - gamma)))
            gamma = updated
            if change < _MEAN_CHANGE_TOL:
                break
        result: FloatArray = gamma / gamma.sum()
        return result

    def relevance(self, word_ids: npt.NDArray[np.intp], doc_topics: FloatArray) -> FloatArray:
        """Return cos(P(t | w), P(t | d)) for each word column (``-1``: the uniform P(t | w))."""
        direction = doc_topics / np.linalg.norm(doc_topics)
        scores = np.empty(word_ids.shape[0])
        known = word_ids >= 0
        scores[known] = self._word_directions[word_ids[known]] @ direction
        scores[~known] = self._unknown_direction * float(direction.sum())
        return scores

    def save(self, folder: Path) -> None:
        """Write ``topics.npz`` and ``vocabulary.json`` into ``folder``."""
        np.savez(
            folder / TOPICS_FILE,
            topic_word=self.topic_word.astype(np.float32),
            doc_topic_prior=np.array([self.doc_topic_prior]),
        )
        (folder / VOCABULARY_FILE).write_text(
            json.dumps(list(self.vocabulary), ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> TopicModel:
        """Read a topic model saved by `save`; raise `KeyphraseModelCorrupt` if it is not."""
        try:
            with np.load(folder / TOPICS_FILE, allow_pickle=False) as arrays:
                topic_word = np.asarray(arrays["topic_word"], dtype=np.float64)
                prior = float(arrays["doc_topic_prior"][0])
            vocabulary = json.loads((folder / VOCABULARY_FILE).read_text(encoding="utf-8"))
        except (OSError, KeyError, ValueError, IndexError) as exc:
            raise KeyphraseModelCorrupt(f"cannot read the topic model: {exc}") from exc
        if (
            not isinstance(vocabulary, list)
            or not all(isinstance(word, str) for word in vocabulary)
            or topic_word.ndim != 2
            or not np.all(np.isfinite(topic_word))
            or np.any(topic_word <= 0)
        ):
            raise KeyphraseModelCorrupt("the topic model's arrays or vocabulary are malformed")
        return cls(vocabulary=vocabulary, topic_word=topic_word, doc_topic_prior=prior)
