"""What a training job runs, from its ``AlgorithmSpecification`` and hyperparameters.

- **Script mode**, as the SageMaker Python SDK sends it: hyperparameters
  ``sagemaker_program`` (``train.py``) and ``sagemaker_submit_directory`` (a
  ``sourcedir.tar.gz`` URL, ``s3://`` in the store or ``file://``). The archive is unpacked
  into ``code/`` and the entry point runs there on this Python, with the user's
  hyperparameters as ``--name value`` arguments, whatever framework image the job names.
- **A built-in algorithm**: ``AlgorithmName`` (or a ``TrainingImage``) naming one of
  :data:`BUILT_IN`, run as a training function.
- **A scikit-learn estimator**: ``AlgorithmName`` ``sklearn:<import path>``
  (``sklearn:sklearn.ensemble.RandomForestClassifier``), its hyperparameters the
  estimator's parameters.
- **A function**: ``TrainingImage`` ``package.module:function`` (the function takes a
  :class:`~modelyard.training.context.TrainingContext`).
"""

from __future__ import annotations

import io
import re
import sys
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from modelyard.storage.objectstore import ObjectStore
from modelyard.training.channels import store_key
from modelyard.training.environment import decoded, user_arguments

__all__ = [
    "BUILT_IN",
    "BUILT_IN_METRICS",
    "Program",
    "bring_code",
    "built_in_metric_definitions",
    "program_for",
]

#: Built-in algorithms by name: the training function of each.
BUILT_IN: Final[dict[str, str]] = {
    "DocSim": "modelyard.algorithms.builtin:train_docsim",
    "RatingPrediction": "modelyard.algorithms.builtin:train_rating",
    "TopicalPageRank": "modelyard.algorithms.builtin:train_topical_pagerank",
}

#: ``sklearn:<import path>``: a scikit-learn estimator on tabular CSV (SageMaker built-in
#: style), trained by :data:`SKLEARN`.
SKLEARN_PREFIX: Final = "sklearn:"
SKLEARN: Final = "modelyard.algorithms.sklearn_estimator:train"

#: The metrics each built-in algorithm logs as ``name=value``: a job running one has them
#: defined without asking, as SageMaker's built-in algorithms have theirs.
BUILT_IN_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "DocSim": ("train:documents", "train:seconds", "train:documents_per_second"),
    "RatingPrediction": (
        "validation:rmse",
        "train:rmse",
        "train:ratings",
        "train:users",
        "train:items",
        "train:seconds",
    ),
    "TopicalPageRank": (
        "train:documents",
        "train:vocabulary",
        "train:seconds",
        "train:documents_per_second",
    ),
    SKLEARN_PREFIX: ("train:score", "validation:score"),
}
#: ``package.module:function``.
_FUNCTION = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
#: Largest source archive accepted (bytes).
MAX_SOURCE_BYTES: Final = 256 * 2**20


@dataclass(frozen=True, kw_only=True)
class Program:
    """The command of a training job, and what its environment says of it."""

    #: What to run; it runs in the job's ``code/`` folder.
    command: list[str]
    #: The user's entry point (``SM_USER_ENTRY_POINT``), for script mode.
    entry_point: str | None = None
    #: Where the user's code came from (``SM_MODULE_DIR``).
    module_dir: str | None = None


def built_in_metric_definitions(algorithm: Mapping[str, Any]) -> list[dict[str, str]]:
    """The ``MetricDefinitions`` of the built-in (or ``sklearn:``) algorithm a job runs;
    none for user code, which defines its own."""
    name = str(algorithm.get("AlgorithmName") or algorithm.get("TrainingImage") or "")
    key = SKLEARN_PREFIX if name.startswith(SKLEARN_PREFIX) else _built_in_name(name)
    return [
        {"Name": metric, "Regex": rf"{re.escape(metric)}=([-+0-9.eE]+)"}
        for metric in BUILT_IN_METRICS.get(key, ())
    ]


def _built_in_name(name: str) -> str:
    """``TopicalPageRank`` of ``TopicalPageRank``, ``.../TopicalPageRank:1``..."""
    return name.rsplit("/", 1)[-1].split(":")[0]


def program_for(
    algorithm: Mapping[str, Any], hyperparameters: Mapping[str, str], python: str = sys.executable
) -> Program:
    """The program of a job; ValueError saying what the specification lacks."""
    program = hyperparameters.get("sagemaker_program")
    if program is not None:
        entry = str(decoded(program))
        if not entry or PurePosixPath(entry).is_absolute() or ".." in PurePosixPath(entry).parts:
            raise ValueError(f"sagemaker_program {entry!r} must be a path inside the source")
        module_dir = hyperparameters.get("sagemaker_submit_directory")
        command = ["/bin/sh", entry] if entry.endswith(".sh") else [python, entry]
        return Program(
            command=[*command, *user_arguments(hyperparameters)],
            entry_point=entry,
            module_dir=str(decoded(module_dir)) if module_dir is not None else None,
        )
    name = algorithm.get("AlgorithmName") or algorithm.get("TrainingImage") or ""
    if str(name).startswith(SKLEARN_PREFIX):
        estimator = str(name).removeprefix(SKLEARN_PREFIX)
        return Program(
            command=[python, "-m", "modelyard.training.run_function", SKLEARN, estimator]
        )
    function = BUILT_IN.get(_built_in_name(str(name))) or (
        str(name) if _FUNCTION.fullmatch(str(name)) else None
    )
    if function is None:
        known = ", ".join(sorted(BUILT_IN)) or "none yet"
        raise ValueError(
            f"AlgorithmSpecification names {name!r}: neither a built-in algorithm ({known}), "
            "a package.module:function, nor script mode (hyperparameters sagemaker_program "
            "and sagemaker_submit_directory)"
        )
    return Program(command=[python, "-m", "modelyard.training.run_function", function])


def bring_code(store: ObjectStore, module_dir: str, target: Path) -> None:
    """Unpack the job's ``sourcedir.tar.gz`` (or copy nothing for a local folder, which is
    linked) into ``target``; blocking. Archive members that would land outside are refused."""
    if module_dir.startswith("s3://"):
        data = store.get(store_key(module_dir))
    else:
        path = Path(module_dir.removeprefix("file://"))
        if path.is_dir():
            for item in path.iterdir():
                (target / item.name).symlink_to(item, target_is_directory=item.is_dir())
            return
        data = path.read_bytes()
    if len(data) > MAX_SOURCE_BYTES:
        raise ValueError(f"the source archive is over {MAX_SOURCE_BYTES // 2**20} MiB")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        # The "data" filter refuses absolute paths, "..", links out and devices.
        archive.extractall(target, filter="data")
