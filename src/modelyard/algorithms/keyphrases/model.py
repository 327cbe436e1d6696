"""TopicalPageRank: keyphrase extraction by topic-biased PageRank (Single-TPR).

Sterckx, Demeester, Deleu and Develder (2015), "Topical Word Importance for Fast
Keyphrase Extraction": per document, the nouns and adjectives form a co-occurrence graph,
PageRank runs once on it with the jump biased by each word's topical relevance to the
document (the cosine of ``P(t | w)`` and ``P(t | d)`` under an LDA model trained
beforehand), and each candidate phrase scores the sum of its words' ranks.

A model folder holds ``params.json`` (the params, all strings, as the params file gave
them), ``topics.npz`` and ``vocabulary.json`` (see `TopicModel`), and ``lexicon.json``:
HanTa's analyses of the training words its lexicon lacks, learnt back on load so that a new
process tags the training vocabulary at full speed at once (see `SentenceTagger`); a
lexicon made by another HanTa version is ignored, as it may not match. `fit` trains, `save`
and `load` move a model to and from a folder, `extract` answers for one document. The
HanTa tagger is loaded once per process and language, on first use.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from modelyard.algorithms.keyphrases.candidates import analyze, find_candidates
from modelyard.algorithms.keyphrases.errors import InvalidKeyphraseParams, KeyphraseModelCorrupt
from modelyard.algorithms.keyphrases.grammar import ChunkGrammar
from modelyard.algorithms.keyphrases.normalization import normalizer_for
from modelyard.algorithms.keyphrases.params import KeyphraseParams
from modelyard.algorithms.keyphrases.ranking import biased_pagerank, cooccurrence_matrix
from modelyard.algorithms.keyphrases.tagging import SentenceTagger, tagger_for
from modelyard.algorithms.keyphrases.topics import TopicModel

__all__ = ["LEXICON_FILE", "PARAMS_FILE", "Keyphrase", "Lexicon", "TopicalPageRank"]

#: The params of a saved model.
PARAMS_FILE: Final = "params.json"
#: The tagger's analyses of the training words outside HanTa's lexicon.
LEXICON_FILE: Final = "lexicon.json"

#: A lexicon: HanTa's analyses (tag name, log probability) by normalised word.
Lexicon = dict[str, list[tuple[str, float]]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Keyphrase:
    """One keyphrase of a document and its score (the sum of its words' ranks)."""

    #: The phrase as written in the document (first occurrence).
    phrase: str
    #: Its score; higher is more important. Comparable within one document only.
    score: float


class TopicalPageRank:
    """A trained TopicalPageRank model: params plus topic model; extracts keyphrases."""

    def __init__(
        self, params: KeyphraseParams, topics: TopicModel, lexicon: Lexicon | None = None
    ) -> None:
        if topics.n_topics != params.n_topics:
            raise KeyphraseModelCorrupt(
                f"the topic model has {topics.n_topics} topics, the params say {params.n_topics}"
            )
        #: The parameters the model was trained with.
        self.params = params
        #: The LDA model.
        self.topics = topics
        #: What the tagger learnt of the training words (saved with the model).
        self.lexicon: Lexicon = lexicon or {}
        self._grammar = ChunkGrammar.parse(params.grammar)
        self._normalize = normalizer_for(params.normalization, params.language)
        if self.lexicon:
            try:
                self._tagger.learn(self.lexicon)
            except KeyError as exc:
                raise KeyphraseModelCorrupt(f"{LEXICON_FILE} names unknown tag {exc}") from exc

    @property
    def _tagger(self) -> SentenceTagger:
        return tagger_for(self.params.language)

    @classmethod
    def fit(
        cls, params: KeyphraseParams, documents: Iterable[str], seed: int = 0
    ) -> TopicalPageRank:
        """Train the topic model on ``documents`` (their nouns and adjectives, normalised)."""
        tagger = tagger_for(params.language)
        normalize = normalizer_for(params.normalization, params.language)
        words: list[list[str]] = []
        seen: set[str] = set()
        for text in documents:
            document = analyze(text, tagger, normalize)
            words.append(document.graph_words().keys)
            seen.update(document.tokens.words)
        topics = TopicModel.train(words, params.n_topics, seed=seed)
        return cls(params, topics, tagger.lexicon_of(seen))

    def save(self, folder: Path) -> None:
        """Write the model into ``folder`` (created if missing)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.topics.save(folder)
        lexicon = {"hanta": _hanta_version(), "words": self.lexicon}
        (folder / LEXICON_FILE).write_text(
            json.dumps(lexicon, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )
        (folder / PARAMS_FILE).write_text(
            json.dumps(self.params.to_strings(), ensure_ascii=False, indent=2), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> TopicalPageRank:
        """Read a model written by `save`; raise `KeyphraseModelCorrupt` if it is incomplete."""
        try:
            raw = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyphraseModelCorrupt(f"cannot read {PARAMS_FILE}: {exc}") from exc
        if not isinstance(raw, dict):
            raise KeyphraseModelCorrupt(f"{PARAMS_FILE} is not a JSON object")
        try:
            params = KeyphraseParams.parse(raw)
        except InvalidKeyphraseParams as exc:
            raise KeyphraseModelCorrupt(f"{PARAMS_FILE}: {exc}") from exc
        return cls(params, TopicModel.load(folder), _read_lexicon(folder))

    def extract(self, text: str) -> list[Keyphrase]:
        """Return the document's best keyphrases (at most ``max_count``), best first."""
        document = analyze(text, self._tagger, self._normalize)
        occurrences = document.graph_words()
        if not occurrences.keys:
            return []
        node_index: dict[str, int] = {}
        nodes = np.fromiter(
            (node_index.setdefault(key, len(node_index)) for key in occurrences.keys),
            dtype=np.intp,
            count=len(occurrences.keys),
        )
        node_words = list(node_index)
        topics = self.topics
        doc_topics = topics.infer(topics.word_ids(occurrences.keys))
        bias = topics.relevance(topics.word_ids(node_words), doc_topics)
        weights = cooccurrence_matrix(
            nodes, occurrences.positions, len(node_words), self.params.window
        )
        ranks = dict(zip(node_words, biased_pagerank(weights, bias).tolist(), strict=True))
        scored = [
            (sum(ranks.get(word, 0.0) for word in candidate.key), candidate)
            for candidate in find_candidates(document, self._grammar)
        ]
        scored.sort(key=lambda item: (-item[0], item[1].first))
        keyphrases: list[Keyphrase] = []
        shown: set[str] = set()
        for score, candidate in scored:
            # Phrases differing only in case ("Erneuerbare Energien" opening a sentence) are
            # one keyphrase, shown as it scored best.
            folded = candidate.surface.casefold()
            if folded in shown:
                continue
            shown.add(folded)
            keyphrases.append(Keyphrase(phrase=candidate.surface, score=score))
            if len(keyphrases) == self.params.max_count:
                break
        return keyphrases

    def extract_many(self, texts: Iterable[str]) -> list[list[Keyphrase]]:
        """Return `extract`'s answer for each document."""
        return [self.extract(text) for text in texts]


def _hanta_version() -> str:
    return importlib.metadata.version("hanta")


def _read_lexicon(folder: Path) -> Lexicon:
    """Read ``lexicon.json``; an absent one, or one of another HanTa version, is empty."""
    path = folder / LEXICON_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw["hanta"] != _hanta_version():
            return {}
        return {
            str(word): [(str(tag), float(score)) for tag, score in analyses]
            for word, analyses in raw["words"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyphraseModelCorrupt(f"cannot read {LEXICON_FILE}: {exc!r}") from exc
