"""Keyphrase extraction: TopicalPageRank (Sterckx et al., 2015) over HanTa's German and English tags.

model = TopicalPageRank.fit(KeyphraseParams.parse(raw_params), read_training_texts(csv))
model.save(folder)
TopicalPageRank.load(folder).extract("Der Klimawandel ...")  # [Keyphrase(...), ...]
"""

from __future__ import annotations

from modelyard.algorithms.keyphrases.corpus import read_training_texts
from modelyard.algorithms.keyphrases.errors import (
    InvalidKeyphraseParams,
    InvalidTrainingData,
    KeyphraseModelCorrupt,
)
from modelyard.algorithms.keyphrases.grammar import ChunkGrammar, GrammarError
from modelyard.algorithms.keyphrases.model import Keyphrase, TopicalPageRank
from modelyard.algorithms.keyphrases.normalization import Normalization
from modelyard.algorithms.keyphrases.params import DEFAULT_GRAMMAR, KeyphraseParams

__all__ = [
    "DEFAULT_GRAMMAR",
    "ChunkGrammar",
    "GrammarError",
    "InvalidKeyphraseParams",
    "InvalidTrainingData",
    "Keyphrase",
    "KeyphraseModelCorrupt",
    "KeyphraseParams",
    "Normalization",
    "TopicalPageRank",
    "read_training_texts",
]
