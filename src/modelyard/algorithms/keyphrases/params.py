"""KeyphraseParams: the TopicalPageRank parameters, parsed from the pipeline's params file.

The params file gives every value as a string, exactly as the seed does::

    {"model_name": "TopicalPageRank", "grammar": "NP: {<ADJ>*<NOUN|PROPN>}",
     "language": "de", "normalization": "None", "n_topics": "100", "window": "10",
     "max_count": "10", "train_df": "factchecks_de.csv"}

`KeyphraseParams.parse` turns such a mapping into typed, checked values (numbers from
their strings, the grammar parsed) and raises `InvalidKeyphraseParams` naming the field at
fault; `KeyphraseParams.to_strings` gives the same all-strings form back, so a saved
model's params read as the file they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelyard.algorithms.keyphrases.errors import InvalidKeyphraseParams
from modelyard.algorithms.keyphrases.grammar import ChunkGrammar
from modelyard.algorithms.keyphrases.normalization import Normalization

__all__ = ["DEFAULT_GRAMMAR", "KeyphraseParams"]

#: Adjectives followed by a noun or proper noun: the paper's candidate pattern.
DEFAULT_GRAMMAR = "NP: {<ADJ>*<NOUN|PROPN>}"


class KeyphraseParams(BaseModel):
    """The parameters of a TopicalPageRank model, typed and checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_name: Literal["TopicalPageRank"]
    """The algorithm; only ``TopicalPageRank``."""

    grammar: str = DEFAULT_GRAMMAR
    """Chunk grammar over universal POS tags whose matches are the candidate phrases."""

    language: Literal["de", "en"] = "de"
    """Language of the documents: ``de`` or ``en`` (picks the tagger and the stemmer)."""

    normalization: Normalization = Normalization.NONE
    """How words are compared: ``None`` (as written), ``lowercase`` or ``stemming``."""

    n_topics: int = Field(default=100, ge=1, le=2_000)
    """Number of LDA topics."""

    window: int = Field(default=10, ge=2, le=1_000)
    """Two words are linked when they occur within this many consecutive words."""

    max_count: int = Field(default=10, ge=1, le=10_000)
    """Most keyphrases returned per document."""

    train_df: str | None = None
    """The training documents' CSV file (its ``claim`` and ``article`` columns, or ``text``)."""

    @field_validator("grammar")
    @classmethod
    def _grammar_parses(cls, value: str) -> str:
        ChunkGrammar.parse(value)
        return value

    @field_validator("normalization", mode="before")
    @classmethod
    def _null_is_none(cls, value: object) -> object:
        # JSON null means the same as the string "None".
        return Normalization.NONE if value is None else value

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> KeyphraseParams:
        """Parse a params mapping; raise `InvalidKeyphraseParams` naming the field at fault."""
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            problems = [
                (".".join(str(part) for part in error["loc"]) or "params", error["msg"])
                for error in exc.errors(include_url=False)
            ]
            message = "; ".join(f"{field}: {reason}" for field, reason in problems)
            raise InvalidKeyphraseParams(problems[0][0], message) from exc

    def to_strings(self) -> dict[str, str]:
        """Return the params as the params file writes them: every value a string."""
        values = {
            "model_name": self.model_name,
            "grammar": self.grammar,
            "language": self.language,
            "normalization": self.normalization.value,
            "n_topics": str(self.n_topics),
            "window": str(self.window),
            "max_count": str(self.max_count),
        }
        if self.train_df is not None:
            values["train_df"] = self.train_df
        return values
