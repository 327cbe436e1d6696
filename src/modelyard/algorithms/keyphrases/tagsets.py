"""Part-of-speech tag sets: the universal tags the grammar speaks, and HanTa's tags mapped to them.

HanTa tags German with STTS (with its own refinements such as ``ADJ(A)``, ``VV(FIN)``,
``NNA``) and English with the CLAWS5 tags of the British National Corpus (``NN1``,
``AJ0``, ``VVZ``). Chunk grammars are written over the 17 universal POS tags of
Universal Dependencies, so the same grammar works for both languages. The mappings follow
the usual STTS and CLAWS conversions; where a tag could go two ways, the comment says why
it went where it did.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = [
    "CLAWS5_TO_UNIVERSAL",
    "GRAPH_TAGS",
    "STTS_TO_UNIVERSAL",
    "UNIVERSAL_TAGS",
    "to_universal",
]

#: The universal POS tags (Universal Dependencies v2).
UNIVERSAL_TAGS: Final = frozenset(
    {
        "ADJ",
        "ADP",
        "ADV",
        "AUX",
        "CCONJ",
        "DET",
        "INTJ",
        "NOUN",
        "NUM",
        "PART",
        "PRON",
        "PROPN",
        "PUNCT",
        "SCONJ",
        "SYM",
        "VERB",
        "X",
    }
)

#: Tags of the words that become graph nodes: nouns and adjectives, as in the paper.
GRAPH_TAGS: Final = frozenset({"NOUN", "PROPN", "ADJ"})

#: HanTa's German tags (STTS) to universal tags.
STTS_TO_UNIVERSAL: Final = MappingProxyType(
    {
        "$(": "PUNCT",
        "$,": "PUNCT",
        "$.": "PUNCT",
        "ADJ(A)": "ADJ",
        # Predicative and adverbial adjectives stay ADJ, as in the UD German treebanks.
        "ADJ(D)": "ADJ",
        "ADV": "ADV",
        "APPO": "ADP",
        "APPR": "ADP",
        "APPRART": "ADP",
        "APZR": "ADP",
        "ART": "DET",
        "CARD": "NUM",
        "FM": "X",
        "ITJ": "INTJ",
        # "als", "wie" in comparisons: a conjunction here, as in the universal tag set
        # of Petrov et al.
        "KOKOM": "CCONJ",
        "KON": "CCONJ",
        "KOUI": "SCONJ",
        "KOUS": "SCONJ",
        "NE": "PROPN",
        "NN": "NOUN",
        # HanTa's refinements of NN: nominalised adjectives and infinitives.
        "NNA": "NOUN",
        "NNI": "NOUN",
        "PDAT": "DET",
        "PDS": "PRON",
        "PIAT": "DET",
        "PIS": "PRON",
        "PPER": "PRON",
        "PPOSAT": "DET",
        "PPOSS": "PRON",
        "PRELAT": "DET",
        "PRELS": "PRON",
        "PRF": "PRON",
        "PROAV": "ADV",
        "PTKA": "PART",
        "PTKANT": "PART",
        "PTKNEG": "PART",
        # Separated verb prefixes ("an" in "fängt an") are ADP in UD German.
        "PTKVZ": "ADP",
        "PTKZU": "PART",
        "PWAT": "DET",
        "PWAV": "ADV",
        "PWS": "PRON",
        # Truncated first parts of coordinated compounds ("Wind-" in "Wind- und Sonnenkraft").
        "TRUNC": "X",
        "VA(FIN)": "AUX",
        "VA(IMP)": "AUX",
        "VA(INF)": "AUX",
        "VA(PP)": "AUX",
        "VM(FIN)": "AUX",
        "VM(INF)": "AUX",
        "VM(PP)": "AUX",
        "VV(FIN)": "VERB",
        "VV(IMP)": "VERB",
        "VV(INF)": "VERB",
        "VV(IZU)": "VERB",
        "VV(PP)": "VERB",
        "XY": "X",
    }
)

#: HanTa's English tags (CLAWS5, with its additions ``NN`` and ``IN``) to universal tags.
CLAWS5_TO_UNIVERSAL: Final = MappingProxyType(
    {
        "!!!": "PUNCT",
        "AJ0": "ADJ",
        "AJC": "ADJ",
        "AJS": "ADJ",
        "AT0": "DET",
        "AV0": "ADV",
        # Adverb particles ("up" in "give up") are ADP in UD English.
        "AVP": "ADP",
        "AVQ": "ADV",
        "CJC": "CCONJ",
        "CJS": "SCONJ",
        "CJT": "SCONJ",
        "CRD": "NUM",
        # Possessive determiners ("my", "their") are pronouns in UD English.
        "DPS": "PRON",
        "DT0": "DET",
        "DTQ": "DET",
        "EX0": "PRON",
        "IN": "ADP",
        "ITJ": "INTJ",
        "NN": "NOUN",
        "NN0": "NOUN",
        "NN1": "NOUN",
        "NN2": "NOUN",
        "NP0": "PROPN",
        # Ordinals ("third") are ADJ in UD English.
        "ORD": "ADJ",
        "PNI": "PRON",
        "PNP": "PRON",
        "PNQ": "PRON",
        "PNX": "PRON",
        "POS": "PART",
        "PRF": "ADP",
        "PRP": "ADP",
        "PUL": "PUNCT",
        "PUN": "PUNCT",
        "PUQ": "PUNCT",
        "PUR": "PUNCT",
        "TO0": "PART",
        "UNC": "X",
        # Forms of "be", "do" and "have": auxiliaries far more often than main verbs.
        "VBB": "AUX",
        "VBD": "AUX",
        "VBG": "AUX",
        "VBI": "AUX",
        "VBN": "AUX",
        "VBZ": "AUX",
        "VDB": "AUX",
        "VDD": "AUX",
        "VDG": "AUX",
        "VDI": "AUX",
        "VDN": "AUX",
        "VDZ": "AUX",
        "VHB": "AUX",
        "VHD": "AUX",
        "VHG": "AUX",
        "VHI": "AUX",
        "VHN": "AUX",
        "VHZ": "AUX",
        "VM0": "AUX",
        "VVB": "VERB",
        "VVD": "VERB",
        "VVG": "VERB",
        "VVI": "VERB",
        "VVN": "VERB",
        "VVZ": "VERB",
        "XX0": "PART",
        "ZZ0": "X",
    }
)


def to_universal(tag: str, mapping: MappingProxyType[str, str]) -> str:
    """Return the universal tag for one of HanTa's tags; ``X`` for tags the mapping lacks."""
    return mapping.get(tag, "X")
