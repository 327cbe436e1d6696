"""The files of a training pipeline, read and checked before anything is trained.

A pipeline is a ``models_to_be_trained.json`` listing model names::

    ["TopicalPageRank-de", "DocSim-de"]

Beside it, one folder per listed model, named after it, holds:

- ``inputData.json``: where the model's data is, by channel:
  ``{"train": "file://data/factchecks_de.csv"}`` (a relative path is read against the
  model's folder) or ``{"train": "s3://data/factchecks"}`` (the object store);
- ``<Name>-params.json``: the params of training and inference, values as strings as the
  seed writes them (``{"model_name": "TopicalPageRank", "n_topics": "100", ...}``);
- optionally ``train.py``: the model is then trained in script mode, the folder its
  source; else ``model_name`` names a built-in algorithm, whose own params parser checks
  the params here, so a typo fails before any job starts.

:func:`read_pipeline` reads all of it or raises :class:`InvalidPipeline` naming the field
and the file at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from modelyard.algorithms.docsim import DocSimParams, InvalidDocSimParams
from modelyard.algorithms.keyphrases import KeyphraseParams
from modelyard.algorithms.keyphrases.errors import InvalidKeyphraseParams
from modelyard.algorithms.rating import InvalidRatingParams, parse_rating_params
from modelyard.errors import InvalidRequest
from modelyard.training.channels import ChannelSource, store_key
from modelyard.training.layout import check_channel_name
from modelyard.training.programs import BUILT_IN

__all__ = [
    "INPUT_FILE",
    "SCRIPT_FILE",
    "InvalidPipeline",
    "ModelSpec",
    "PipelineSpec",
    "read_pipeline",
]

INPUT_FILE: Final = "inputData.json"
SCRIPT_FILE: Final = "train.py"
#: The params key setting a model's MaxRuntimeInSeconds; a knob of the pipeline, not of
#: the algorithm, so it is taken out of the params the algorithm sees.
MAX_RUNTIME_KEY: Final = "max_runtime_in_seconds"
DEFAULT_MAX_RUNTIME_S: Final = 3600
#: SageMaker's longest MaxRuntimeInSeconds (5 days).
_MAX_RUNTIME_S: Final = 432_000
#: Params of the pipeline, not of the rating algorithm (as ``builtin.train_rating`` reads).
_RATING_PIPELINE_KEYS: Final = frozenset({"model_name", "train_df", "validation_fraction"})
#: A model name becomes a training job name with ``-<hash8>`` appended: SageMaker's job
#: name pattern, 63 characters at most in all.
_MODEL_NAME: Final = re.compile(r"[A-Za-z0-9](-*[A-Za-z0-9]){0,53}")
#: A pipeline name is a folder of the model store.
_PIPELINE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class InvalidPipeline(InvalidRequest):
    """A pipeline file, or a file of one of its models, cannot be used."""

    def __init__(self, file: Path, field: str, problem: str) -> None:
        #: The file at fault.
        self.file = file
        #: The field at fault in it (``params`` or ``file`` when it is the whole file).
        self.field = field
        super().__init__(f"{file}: {field}: {problem}")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One model of a pipeline, its files read and checked."""

    #: The model's name: its folder, its served name, the prefix of its job names.
    name: str
    #: Its folder beside the pipeline file.
    folder: Path
    #: ``<Name>-params.json``.
    params_file: Path
    #: The params, every value a string, the pipeline's own keys taken out.
    params: dict[str, str]
    #: The built-in algorithm trained (``model_name``); None in script mode.
    algorithm: str | None
    #: ``train.py`` in script mode, else None.
    script: Path | None
    #: Channel name -> data URI (``file:///abs/path`` or ``s3://bucket/key``).
    inputs: dict[str, str]
    #: MaxRuntimeInSeconds of its job.
    max_runtime_s: int

    def files(self) -> list[Path]:
        """The model's own files whose content decides whether it must be retrained."""
        own = [self.folder / INPUT_FILE, self.params_file]
        return [*own, self.script] if self.script is not None else own


@dataclass(frozen=True, kw_only=True)
class PipelineSpec:
    """A pipeline file and its models, in the order it lists them."""

    #: The pipeline's name: its folder in the model store (default: the file's folder).
    name: str
    #: The ``models_to_be_trained.json`` file.
    file: Path
    models: tuple[ModelSpec, ...]


def read_pipeline(file: Path, name: str | None = None) -> PipelineSpec:
    """Read and check a pipeline and every model's files; InvalidPipeline at the first fault.

    ``name`` names the pipeline; default: the name of the folder holding ``file``.
    """
    file = file.resolve()
    listed = _read_json(file)
    if not isinstance(listed, list) or not listed:
        raise InvalidPipeline(file, "models", "must be a non-empty JSON list of model names")
    names: list[str] = []
    for index, entry in enumerate(listed):
        if not isinstance(entry, str) or not _MODEL_NAME.fullmatch(entry):
            raise InvalidPipeline(
                file,
                f"models[{index}]",
                f"{entry!r} is not a model name: 1 to 54 letters, digits and '-', starting "
                "and ending with a letter or digit",
            )
        if entry in names:
            raise InvalidPipeline(file, f"models[{index}]", f"{entry!r} is listed twice")
        names.append(entry)
    pipeline = name if name is not None else file.parent.name
    if not _PIPELINE_NAME.fullmatch(pipeline):
        raise InvalidPipeline(
            file, "name", f"the pipeline name {pipeline!r} cannot name a folder of the store"
        )
    models = tuple(_read_model(file.parent / entry, entry) for entry in names)
    return PipelineSpec(name=pipeline, file=file, models=models)


def _read_model(folder: Path, name: str) -> ModelSpec:
    if not folder.is_dir():
        raise InvalidPipeline(folder, "folder", f"model {name!r} has no folder beside the pipeline")
    params_file = folder / f"{name}-params.json"
    raw = _read_json(params_file)
    if not isinstance(raw, dict):
        raise InvalidPipeline(params_file, "params", "must be a JSON object")
    params = _strings(raw, params_file)
    max_runtime = _max_runtime(params.pop(MAX_RUNTIME_KEY, None), params_file)
    script = folder / SCRIPT_FILE
    algorithm: str | None = None
    if script.is_file():
        script_or_none: Path | None = script
    else:
        script_or_none = None
        algorithm = params.get("model_name")
        if algorithm not in BUILT_IN:
            known = ", ".join(sorted(BUILT_IN))
            raise InvalidPipeline(
                params_file,
                "model_name",
                f"{algorithm!r} is no built-in algorithm ({known}), and the folder has no "
                f"{SCRIPT_FILE} to run instead",
            )
        _check_params(algorithm, params, params_file)
    inputs = _read_inputs(folder, params, params_file)
    return ModelSpec(
        name=name,
        folder=folder,
        params_file=params_file,
        params=params,
        algorithm=algorithm,
        script=script_or_none,
        inputs=inputs,
        max_runtime_s=max_runtime,
    )


def _read_json(file: Path) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidPipeline(file, "file", "is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidPipeline(file, "file", f"cannot be read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPipeline(
            file, "file", f"is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _strings(raw: Mapping[str, Any], file: Path) -> dict[str, str]:
    """Params as the params file means them: strings; numbers and booleans as JSON writes them."""
    params: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, str):
            params[key] = value
        elif value is None or isinstance(value, bool | int | float):
            params[key] = json.dumps(value)
        else:
            raise InvalidPipeline(file, key, "must be a string, a number or a boolean")
    return params


def _max_runtime(text: str | None, file: Path) -> int:
    if text is None:
        return DEFAULT_MAX_RUNTIME_S
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= _MAX_RUNTIME_S:
        raise InvalidPipeline(
            file, MAX_RUNTIME_KEY, f"must be a whole number of seconds, 1 to {_MAX_RUNTIME_S}"
        )
    return value


def _check_params(algorithm: str, params: Mapping[str, str], file: Path) -> None:
    """Check the params with the algorithm's own parser; the first field at fault named."""
    try:
        if algorithm == "TopicalPageRank":
            KeyphraseParams.parse(params)
        elif algorithm == "DocSim":
            DocSimParams.parse(params)
        elif algorithm == "RatingPrediction":
            parse_rating_params({k: v for k, v in params.items() if k not in _RATING_PIPELINE_KEYS})
    except InvalidKeyphraseParams as exc:
        raise InvalidPipeline(file, exc.field, exc.message) from None
    except (InvalidDocSimParams, InvalidRatingParams) as exc:
        problems = exc.message.removeprefix("Invalid DocSim parameters: ")
        field, _, problem = problems.partition(": ")
        raise InvalidPipeline(file, field, problem or problems) from None


def _read_inputs(folder: Path, params: Mapping[str, str], params_file: Path) -> dict[str, str]:
    file = folder / INPUT_FILE
    raw = _read_json(file)
    if not isinstance(raw, dict) or not raw:
        raise InvalidPipeline(file, "channels", "must be a JSON object: channel name -> data URI")
    inputs: dict[str, str] = {}
    for channel, uri in raw.items():
        try:
            check_channel_name(channel)
        except ValueError as exc:
            raise InvalidPipeline(file, channel, str(exc)) from None
        if not isinstance(uri, str) or not uri:
            raise InvalidPipeline(file, channel, "must be a data URI (file://… or s3://…)")
        inputs[channel] = _resolved(uri, folder, file, channel)
    train = inputs.get("train")
    train_df = params.get("train_df")
    if train is not None and train_df is not None:
        _check_train_df(train, train_df, params_file)
    return inputs


def _resolved(uri: str, folder: Path, file: Path, channel: str) -> str:
    """``uri`` with a local path made absolute (against the model's folder) and checked."""
    if uri.startswith("s3://"):
        try:
            store_key(uri)
        except ValueError as exc:
            raise InvalidPipeline(file, channel, str(exc)) from None
        return uri
    if "://" in uri and not uri.startswith("file://"):
        raise InvalidPipeline(file, channel, f"{uri!r}: data is at file://… or s3://…")
    path = (folder / uri.removeprefix("file://")).resolve()
    if not path.exists():
        raise InvalidPipeline(file, channel, f"{uri!r}: nothing at {path}")
    return f"file://{path}"


def _check_train_df(train: str, train_df: str, params_file: Path) -> None:
    """A local train channel must hold the file ``train_df`` names (the job would fail)."""
    path = ChannelSource.of(train).path
    if path is None:
        return
    found = path.name == train_df if path.is_file() else (path / train_df).is_file()
    if not found:
        raise InvalidPipeline(
            params_file, "train_df", f"{train_df!r} is not in the train channel ({path})"
        )
