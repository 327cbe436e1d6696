"""Word normalisation: the form under which a word is a graph node and a topic-model term.

Three modes, as the ``normalization`` parameter names them:

- ``None``: the word as written (``Energien`` and ``energien`` are different words);
- ``lowercase``: the word in lower case;
- ``stemming``: the word in lower case, then cut by the small suffix stripper below.
  (HanTa's lemmas were measured as too slow for the per-document path, so they are not
  used.)

The stemmers strip inflection only, one suffix at a time, and never below three letters:

- German: ``ß`` becomes ``ss`` and umlauts lose their dots (plural umlaut: ``Bäume`` ~
  ``Baum``); then the first of ``ern em en er es e`` that ends the word is cut, or else a
  final ``s`` that does not follow ``s``, ``u`` or ``i`` (genitive and plural ``-s``):
  ``Energien``, ``Energie`` → ``energi``; ``erneuerbaren``, ``erneuerbare`` → ``erneuerbar``;
  ``Klimawandels`` → ``klimawandel``; ``Prozesses`` → ``prozess``; ``Haus`` stays.
- English: plural endings: ``ies`` → ``y``, ``sses`` → ``ss``, ``es`` after ``ch sh x z``,
  else a final ``s`` not after ``s``, ``u`` or ``i``: ``policies`` → ``policy``, ``boxes`` →
  ``box``, ``energies`` → ``energy``, ``emissions`` → ``emission``, ``gas`` stays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import Final

__all__ = ["Normalization", "normalizer_for", "stem_english", "stem_german"]

_MIN_STEM: Final = 3
_GERMAN_SUFFIXES: Final = ("ern", "em", "en", "er", "es", "e")
_GERMAN_FOLD: Final = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss"})
_NO_S_STRIP_AFTER: Final = frozenset("sui")


class Normalization(StrEnum):
    """How words are normalised before they are compared."""

    #: As written.
    NONE = "None"
    #: Lower case.
    LOWERCASE = "lowercase"
    #: Lower case and suffix-stripped (see the module docstring).
    STEMMING = "stemming"


@functools.lru_cache(maxsize=200_000)
def stem_german(word: str) -> str:
    """Return the German stem of ``word`` (lower case, umlauts folded, one suffix cut)."""
    word = word.lower().translate(_GERMAN_FOLD)
    for suffix in _GERMAN_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)]
    if word.endswith("s") and len(word) > _MIN_STEM and word[-2] not in _NO_S_STRIP_AFTER:
        return word[:-1]
    return word


@functools.lru_cache(maxsize=200_000)
def stem_english(word: str) -> str:
    """Return the English stem of ``word`` (lower case, plural ending cut)."""
    word = word.lower()
    if word.endswith("ies") and len(word) - 3 >= _MIN_STEM:
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith(("ches", "shes", "xes", "zes")) and len(word) - 2 >= _MIN_STEM:
        return word[:-2]
    if word.endswith("s") and len(word) > _MIN_STEM and word[-2] not in _NO_S_STRIP_AFTER:
        return word[:-1]
    return word


def _as_written(word: str) -> str:
    return word


def normalizer_for(normalization: Normalization, language: str) -> Callable[[str], str]:
    """Return the function that normalises one word in the given mode and language."""
    if normalization is Normalization.NONE:
        return _as_written
    if normalization is Normalization.LOWERCASE:
        return str.lower
    return stem_german if language == "de" else stem_english
