"""How a built-in model's folder is laid out, as the seed pipeline lays it out.

A trained built-in model (``model.tar.gz`` of a training job, unpacked) holds::

    <Name>-params.json   the params the model was trained with, every value a string
    <Name>-model/        the algorithm's own files (its ``save``)
    model_handler.py     an MMS handler: the package's ModelHandler, re-exported

``Name`` is the params' ``model_name`` or the job's ``name`` hyperparameter
(``TopicalPageRank-de``); the params' ``model_name`` says which algorithm made the model.
Training (:mod:`modelyard.algorithms.builtin`) writes this layout and the handler
(:mod:`modelyard.algorithms.model_handler`) reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from modelyard.errors import ModelLoadFailed

__all__ = [
    "HANDLER_FILE",
    "HANDLER_SHIM",
    "MODEL_SUFFIX",
    "PARAMS_SUFFIX",
    "BuiltInAlgorithm",
    "ModelFolder",
    "check_model_label",
]

#: ``<Name>`` + this: the params file.
PARAMS_SUFFIX: Final = "-params.json"
#: ``<Name>`` + this: the algorithm's folder.
MODEL_SUFFIX: Final = "-model"
#: The MMS handler file the model server finds.
HANDLER_FILE: Final = "model_handler.py"
#: What a model's label may be: it names files, so no separators or leading dots.
_LABEL: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

#: The handler file written into every built-in model. The class is defined here, not only
#: imported: the model server takes the one class *defined* in the file as the handler.
HANDLER_SHIM: Final = '''\
"""MMS handler of a built-in modelyard model: the *-params.json beside it says which."""

from modelyard.algorithms.model_handler import ModelHandler


class BuiltInModelHandler(ModelHandler):
    """modelyard's handler of built-in models, found by the model server in this file."""
'''


class BuiltInAlgorithm(StrEnum):
    """The built-in algorithms, by the ``model_name`` their params carry."""

    #: Keyphrase extraction (``modelyard.algorithms.keyphrases``).
    TOPICAL_PAGERANK = "TopicalPageRank"
    #: Similar fact-checks to a claim (``modelyard.algorithms.docsim``).
    DOCSIM = "DocSim"
    #: Ratings of (user, item) pairs (``modelyard.algorithms.rating``).
    RATING_PREDICTION = "RatingPrediction"


def check_model_label(label: str) -> str:
    """``label`` if it may name a model's files; ValueError saying what is allowed."""
    if not _LABEL.fullmatch(label):
        raise ValueError(
            f"the model name {label!r} must be 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return label


@dataclass(frozen=True, kw_only=True)
class ModelFolder:
    """The files of one built-in model inside a model folder."""

    #: The folder holding the model.
    root: Path
    #: ``<Name>``: what the params file and the algorithm's folder are named after.
    label: str

    @property
    def params_file(self) -> Path:
        """``<Name>-params.json``."""
        return self.root / f"{self.label}{PARAMS_SUFFIX}"

    @property
    def model_dir(self) -> Path:
        """``<Name>-model/``: the algorithm's own files."""
        return self.root / f"{self.label}{MODEL_SUFFIX}"

    @property
    def handler_file(self) -> Path:
        """``model_handler.py``."""
        return self.root / HANDLER_FILE

    @classmethod
    def find(cls, root: Path) -> ModelFolder:
        """The one model in ``root``; ModelLoadFailed if it has no params file or several."""
        found = sorted(p.name for p in root.glob(f"*{PARAMS_SUFFIX}") if p.is_file())
        if len(found) != 1:
            what = ", ".join(found) if found else "none"
            raise ModelLoadFailed(
                f"a built-in model folder holds exactly one *{PARAMS_SUFFIX} (found: {what})"
            )
        return cls(root=root, label=found[0].removesuffix(PARAMS_SUFFIX))
