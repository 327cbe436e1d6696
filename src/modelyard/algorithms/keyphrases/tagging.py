"""Part-of-speech tagging with HanTa's models, mapped to universal tags, fast enough per document.

HanTa (the Hanover Tagger) ships trained models for German and English. Its own
``tag_sent`` costs about 0.3 ms a word, too slow for 100 documents a second, for two
reasons measured here:

- words missing from the model's lexicon are analysed morpheme by morpheme
  (``analyze_forward``, 0.5 to 2 ms a word), every time they occur;
- the sentence Viterbi tries every tag the previous state can be followed by (~56),
  although only the handful of tags the word can have ever score.

`SentenceTagger` keeps HanTa's model and scores but memoises the analyses of words outside
the lexicon and the per-word tag scores (bounded, per process), and runs the same
second-order Viterbi over the word's possible tags only: the tags are those of
``tag_sent(sent, taglevel=0)`` (a test compares them), about 20 us a word once the words
are known. The analyses made while training are saved with a model and learnt back
(`lexicon_of`, `learn`), so that a new process does not analyse the training vocabulary
again. This relies on HanTa 1.2's model attributes (``LP_trans_word``, ``tag2int``,
``_tag_word``, ``analyze_forward``); the comparison test is what catches a HanTa release
that changes them. Lemmas are never computed: the keyphrase pipeline does not need them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Literal

from HanTa import HanoverTagger as hanta  # type: ignore[import-untyped]

from modelyard.algorithms.keyphrases.tagsets import CLAWS5_TO_UNIVERSAL, STTS_TO_UNIVERSAL

__all__ = ["Language", "SentenceTagger", "tagger_for"]

#: Languages with a HanTa model.
Language = Literal["de", "en"]

_MODELS: Final[dict[str, str]] = {"de": "morphmodel_ger.pgz", "en": "morphmodel_en.pgz"}
_TAG_MAPS: Final[dict[str, MappingProxyType[str, str]]] = {
    "de": STTS_TO_UNIVERSAL,
    "en": CLAWS5_TO_UNIVERSAL,
}

# HanTa's reserved tag numbers (module constants of HanoverTagger.py).
_EMPTY: Final = 0
_START: Final = 1
_END: Final = 2
_UNKNOWN: Final = 3

#: Words longer than this are not analysed (HanTa's analysis is quadratic in the length:
#: URLs and hashes would take tens of milliseconds) and are tagged ``X``.
_MAX_WORD_LENGTH: Final = 48
#: Memoised words kept per tagger before a memo is cleared (a few hundred bytes each).
_MEMO_LIMIT: Final = 500_000
#: HanTa keeps the 5 best states of the previous word, plus those within 1 of the 6th.
_BEAM: Final = 5
_FLOOR: Final = -1e6


class SentenceTagger:
    """Tags sentences with one HanTa model; one instance per language and process."""

    def __init__(self, language: Language) -> None:
        self.language = language
        self._model: Any = hanta.HanoverTagger(_MODELS[language])
        self._transitions: dict[tuple[int, int], dict[int, float]] = self._model.LP_trans_word
        tag_map = _TAG_MAPS[language]
        #: HanTa's tag numbers to universal tags.
        self._universal: dict[int, str] = {
            number: tag_map.get(name, "X") for number, name in self._model.int2tag.items()
        }
        self._hanta_names: dict[int, str] = dict(self._model.int2tag)
        self._memo: dict[tuple[str, bool], dict[int, float]] = {}
        self._analyses: dict[str, list[tuple[int, float]]] = {}
        self._analyse_uncached = self._model.analyze_forward
        # HanTa calls self.analyze_forward for each word outside its lexicon, every time
        # it meets it; this instance attribute routes those calls through the memo.
        self._model.analyze_forward = self._analyse

    def lexicon_of(self, words: Iterable[str]) -> dict[str, list[tuple[str, float]]]:
        """Return the analyses this tagger made of ``words`` (those HanTa's lexicon lacks).

        Keyed by HanTa's normalised (lower-case) word; each analysis is a tag name and its
        log probability. A model ships them so that a fresh process starts warm on its
        training vocabulary (`learn`).
        """
        lexicon: dict[str, list[tuple[str, float]]] = {}
        for word in words:
            key = self._model.normalize(word)
            found = self._analyses.get(key)
            if found is not None:
                lexicon[key] = [(self._hanta_names[tag], score) for tag, score in found]
        return lexicon

    def learn(self, lexicon: Mapping[str, Sequence[tuple[str, float]]]) -> None:
        """Take analyses made by `lexicon_of` (of the same HanTa model) as already done.

        Raises `KeyError` for a tag name the model does not have.
        """
        numbers: dict[str, int] = self._model.tag2int
        for word, analyses in lexicon.items():
            self._analyses[word] = [(numbers[name], float(score)) for name, score in analyses]

    def tag(self, words: Sequence[str]) -> list[str]:
        """Return the universal tag of each word of one sentence."""
        return [self._universal[number] for number in self._decode(words)]

    def tag_hanta(self, words: Sequence[str]) -> list[str]:
        """Return HanTa's own tag (STTS or CLAWS5) of each word of one sentence."""
        return [self._hanta_names[number] for number in self._decode(words)]

    def _analyse(self, word: str) -> list[tuple[int, float]]:
        """HanTa's morphological analysis of a word outside its lexicon, memoised."""
        found = self._analyses.get(word)
        if found is None:
            found = [(int(tag), float(score)) for tag, score in self._analyse_uncached(word)]
            if len(self._analyses) >= _MEMO_LIMIT:
                self._analyses.clear()
            self._analyses[word] = found
        return found

    def _word_scores(self, word: str, case_sensitive: bool) -> dict[int, float]:
        """HanTa's log P(word | tag) for the tags the word can have (empty: unknown)."""
        key = (word, case_sensitive)
        scores = self._memo.get(key)
        if scores is None:
            if len(word) > _MAX_WORD_LENGTH:
                scores = {}
            else:
                scored = self._model._tag_word(
                    word, cutoff=5, casesensitive=case_sensitive, conditional=True
                )
                scores = {int(tag): float(score) for tag, score in scored}
                # A lone UNKNOWN means no analysis: any tag goes, as in HanTa.
                if len(scores) == 1 and _UNKNOWN in scores:
                    scores = {}
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = scores
        return scores

    def _decode(self, words: Sequence[str]) -> list[int]:
        """Second-order Viterbi over (previous tag, tag) states, as HanTa's ``tag_sent``."""
        if not words:
            return []
        transitions = self._transitions
        back: list[dict[tuple[int, int], tuple[int, int]]] = []
        previous: dict[tuple[int, int], float] = {(_EMPTY, _START): 0.0}
        for index, word in enumerate(words):
            # HanTa ignores capitalisation of a sentence's first word.
            scores = self._word_scores(word, index > 0)
            bound = _FLOOR
            if len(previous) > _BEAM:
                bound = sorted(previous.values(), reverse=True)[_BEAM] - 1
            row, pointers = self._step(previous, bound, scores)
            if not row:
                # None of the word's tags can follow: take it as unknown rather than fail.
                row, pointers = self._step(previous, bound, {})
            back.append(pointers)
            previous = row
        best_state = None
        best = -math.inf
        for state, score in previous.items():
            total = score + transitions[state].get(_END, -math.inf)
            if total > best:
                best, best_state = total, state
        if best_state is None:
            # No path reaches the end (HanTa would fail too): fall back to the last row's best.
            best_state = max(previous, key=previous.__getitem__)
        tags: list[int] = []
        state = best_state
        for pointers in reversed(back):
            tags.append(state[1])
            state = pointers[state]
        tags.reverse()
        return tags

    def _step(
        self,
        previous: dict[tuple[int, int], float],
        bound: float,
        scores: dict[int, float],
    ) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], tuple[int, int]]]:
        """One Viterbi column: the best score of each next state, and where it came from."""
        transitions = self._transitions
        row: dict[tuple[int, int], float] = {}
        pointers: dict[tuple[int, int], tuple[int, int]] = {}
        for state, score in previous.items():
            if score < bound:
                continue
            following = transitions[state]
            # Only the word's possible tags can score; an unknown word may be any tag.
            for tag, lp_word in (scores or dict.fromkeys(following, 0.0)).items():
                lp_trans = following.get(tag)
                if lp_trans is None or tag == _END:
                    continue
                total = score + lp_trans + lp_word
                if total > _FLOOR:
                    target = (state[1], tag)
                    if total > row.get(target, -math.inf):
                        row[target] = total
                        pointers[target] = state
        return row, pointers


@functools.cache
def tagger_for(language: Language) -> SentenceTagger:
    """Return this process's tagger for ``language``, loading its model on first use."""
    return SentenceTagger(language)
