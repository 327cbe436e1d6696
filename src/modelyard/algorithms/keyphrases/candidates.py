"""Analysed documents and their candidate phrases: what the grammar matches, once per phrase.

`analyze` tokenises a document, tags each sentence and normalises each word. From that,
`graph_words` picks the words that become graph nodes (nouns, proper nouns, adjectives
with at least one letter) and `find_candidates` the phrases the chunk grammar matches
inside each sentence. A phrase that occurs several times (the same normalised words) is one
candidate, shown as written at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modelyard.algorithms.keyphrases.grammar import ChunkGrammar
from modelyard.algorithms.keyphrases.tagging import SentenceTagger
from modelyard.algorithms.keyphrases.tagsets import GRAPH_TAGS
from modelyard.algorithms.keyphrases.text import Tokens, tokenize

__all__ = ["AnalyzedDocument", "Candidate", "GraphWords", "analyze", "find_candidates"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AnalyzedDocument:
    """A document's tokens with each one's universal tag and normalised form."""

    #: The tokens, their offsets and the sentences.
    tokens: Tokens
    #: Each token's universal POS tag.
    tags: list[str]
    #: Each token's normalised form.
    keys: list[str]

    def graph_words(self) -> GraphWords:
        """Return the words that become graph nodes, with their positions among the words."""
        tags = self.tags
        words = self.tokens.words
        keys = self.keys
        positions: list[int] = []
        node_keys: list[str] = []
        position = 0
        for index, tag in enumerate(tags):
            # Punctuation does not count towards the window: it is not a word.
            if tag == "PUNCT":
                continue
            if tag in GRAPH_TAGS and _has_letter(words[index]):
                positions.append(position)
                node_keys.append(keys[index])
            position += 1
        return GraphWords(keys=node_keys, positions=np.asarray(positions, dtype=np.intp))


@dataclass(frozen=True, kw_only=True, slots=True)
class GraphWords:
    """The occurrences of a document's graph words, in text order."""

    #: Each occurrence's normalised form.
    keys: list[str]
    #: Each occurrence's position among the document's words (punctuation not counted).
    positions: npt.NDArray[np.intp]


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One candidate phrase of a document."""

    #: The phrase's normalised words: what makes two occurrences the same phrase.
    key: tuple[str, ...]
    #: The phrase as written at its first occurrence.
    surface: str
    #: The token index where it first occurs (ties in score are broken by it).
    first: int


def _has_letter(word: str) -> bool:
    return any(char.isalpha() for char in word)


def analyze(text: str, tagger: SentenceTagger, normalize: Callable[[str], str]) -> AnalyzedDocument:
    """Tokenise, tag and normalise one document."""
    tokens = tokenize(text)
    words = tokens.words
    tags: list[str] = []
    for first, end in tokens.sentences:
        tags.extend(tagger.tag(words[first:end]))
    return AnalyzedDocument(tokens=tokens, tags=tags, keys=[normalize(word) for word in words])


def find_candidates(document: AnalyzedDocument, grammar: ChunkGrammar) -> list[Candidate]:
    """Return the document's distinct candidate phrases in order of first occurrence."""
    tokens = document.tokens
    tags = document.tags
    keys = document.keys
    seen: dict[tuple[str, ...], Candidate] = {}
    for first, end in tokens.sentences:
        for start, stop in grammar.find(tags[first:end]):
            start += first
            stop += first
            key = tuple(keys[start:stop])
            if key in seen or not any(_has_letter(word) for word in tokens.words[start:stop]):
                continue
            seen[key] = Candidate(key=key, surface=tokens.surface(start, stop), first=start)
    return list(seen.values())
