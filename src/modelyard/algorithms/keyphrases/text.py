"""Tokens and sentences: a document cut into words with their offsets, and into sentences.

Tokenisation is one regular expression: words (letters and digits, with inner hyphens and
apostrophes: ``E-Auto``, ``don't``), a word ending in a hyphen when a conjunction follows
(German ``Wind- und Sonnenkraft``), numbers with inner separators (``1.000,5``), and
every other non-space character on its own. Sentences end at ``.``, ``!``, ``?`` (or
``…``) when the next token starts with a capital, a digit or an opening quote, unless the
``.`` closes a short abbreviation (``z. B.``, ``Dr.``, ``Mr.``), and at blank lines.
It is simple on purpose: sentence ends only bound the tagger's context and the chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["Tokens", "tokenize"]

_TOKEN: Final = re.compile(
    r"\d+(?:[.,:/]\d+)*"
    r"|\w+(?:[-'\u2019]\w+)*-(?=\s+(?:und|oder|bzw|sowie|and|or)\b)"
    r"|\w+(?:[-'\u2019]\w+)*"
    r"|\S",
)
_SENTENCE_END: Final = frozenset({".", "!", "?", "…"})
_OPENERS: Final = frozenset({'"', "\u201e", "\u201c", "\u2018", "'", "\u00ab", "\u00bb", "(", "["})
#: Abbreviations whose full stop does not end a sentence (compared in lower case).
_ABBREVIATIONS: Final = frozenset(
    {
        "bzw",
        "ca",
        "dr",
        "etc",
        "evtl",
        "ggf",
        "inkl",
        "mio",
        "mr",
        "mrd",
        "mrs",
        "ms",
        "nr",
        "prof",
        "st",
        "usw",
        "vgl",
        "vs",
        "z",
        "b",
        "u",
        "a",
        "d",
        "h",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Tokens:
    """A document's tokens: their text and offsets, and where its sentences start and end."""

    #: The document the offsets point into.
    text: str
    #: Each token's text.
    words: list[str]
    #: Each token's start offset in ``text``.
    starts: list[int]
    #: Each token's end offset in ``text`` (exclusive).
    ends: list[int]
    #: Each sentence as a ``(first, last + 1)`` range of token indices.
    sentences: list[tuple[int, int]]

    def surface(self, first: int, end: int) -> str:
        """Return the text from token ``first`` up to token ``end`` (exclusive), as written."""
        return " ".join(self.text[self.starts[first] : self.ends[end - 1]].split())


def tokenize(text: str) -> Tokens:
    """Cut ``text`` into tokens and sentences."""
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for match in _TOKEN.finditer(text):
        words.append(match.group())
        starts.append(match.start())
        ends.append(match.end())
    return Tokens(
        text=text, words=words, starts=starts, ends=ends, sentences=_sentences(text, words, starts)
    )


def _sentences(text: str, words: list[str], starts: list[int]) -> list[tuple[int, int]]:
    sentences: list[tuple[int, int]] = []
    first = 0
    count = len(words)
    for index in range(count - 1):
        gap = text[starts[index] + len(words[index]) : starts[index + 1]]
        if "\n" not in gap or not _is_blank_line(gap):
            word = words[index]
            if word not in _SENTENCE_END:
                continue
            if word == "." and index > 0 and words[index - 1].lower() in _ABBREVIATIONS:
                continue
            following = words[index + 1]
            head = following[0]
            if not (head.isupper() or head.isdigit() or following in _OPENERS):
                continue
        sentences.append((first, index + 1))
        first = index + 1
    if first < count:
        sentences.append((first, count))
    return sentences


def _is_blank_line(gap: str) -> bool:
    """Whether the whitespace between two tokens holds an empty line (a paragraph break)."""
    return gap.replace("\r", "").replace(" ", "").replace("\t", "").count("\n") >= 2
