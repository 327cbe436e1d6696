"""The keyphrase algorithm's domain errors, in the project's hierarchy.

ModelyardError
 ├── InvalidRequest
 │    ├── InvalidKeyphraseParams     a parameter does not parse or is out of range
 │    └── InvalidTrainingData        the training documents cannot be used
 └── ModelLoadFailed
      └── KeyphraseModelCorrupt      a saved model's files are missing or inconsistent
"""

from __future__ import annotations

from modelyard.errors import InvalidRequest, ModelLoadFailed

__all__ = ["InvalidKeyphraseParams", "InvalidTrainingData", "KeyphraseModelCorrupt"]


class InvalidKeyphraseParams(InvalidRequest):
    """The keyphrase parameters are invalid."""

    def __init__(self, field: str, message: str) -> None:
        #: The (first) parameter at fault, as named in the params file.
        self.field = field
        super().__init__(message)


class InvalidTrainingData(InvalidRequest):
    """The training documents cannot be used to train a topic model."""


class KeyphraseModelCorrupt(ModelLoadFailed):
    """The saved keyphrase model is incomplete or inconsistent."""
