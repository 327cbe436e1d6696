"""A training job's folder, laid out as SageMaker lays out ``/opt/ml`` in its container.

::

    <job>/input/config/hyperparameters.json   {"epochs": "10", ...} (values as sent)
    <job>/input/config/inputdataconfig.json   {"training": {"ContentType": ..., ...}, ...}
    <job>/input/config/resourceconfig.json    {"current_host": "algo-1", "hosts": [...]}
    <job>/input/data/<channel>/               each channel's files
    <job>/code/                               the user's source (sourcedir.tar.gz unpacked)
    <job>/model/                              what the algorithm saves: packed as model.tar.gz
    <job>/output/data/                        other outputs: packed as output.tar.gz
    <job>/output/failure                      why the algorithm failed, if it says so
    <job>/logs/training.log                   the process's stdout and stderr

A script written for SageMaker finds everything where it expects it through the ``SM_*``
variables (``environment.py``), which name these folders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["CURRENT_HOST", "FAILURE_LIMIT", "JobFolder", "check_channel_name"]

#: The one host of a job here, named as SageMaker names the first host.
CURRENT_HOST: Final = "algo-1"
#: Most of the failure file SageMaker reports as the FailureReason (characters).
FAILURE_LIMIT: Final = 1024
#: SageMaker's pattern of a channel name.
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9\.\-_]{1,64}")


def check_channel_name(name: str) -> str:
    """``name`` if it is a channel name SageMaker accepts (it becomes a folder name)."""
    if not _CHANNEL_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"channel name {name!r} must match [A-Za-z0-9.-_]{{1,64}}")
    return name


@dataclass(frozen=True)
class JobFolder:
    """The folders and files of one training job, under ``root``."""

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def data_root(self) -> Path:
        return self.input_dir / "data"

    def channel_dir(self, channel: str) -> Path:
        """Where channel ``channel``'s files are."""
        return self.data_root / check_channel_name(channel)

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "training.log"

    def create(
        self,
        *,
        hyperparameters: Mapping[str, str],
        input_data_config: Mapping[str, Mapping[str, Any]],
        resource_config: Mapping[str, Any],
    ) -> None:
        """Make the folders and write the three configuration files."""
        for folder in (
            self.config_dir,
            self.data_root,
            self.code_dir,
            self.model_dir,
            self.output_data_dir,
            self.log_file.parent,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        for channel in input_data_config:
            self.channel_dir(channel).mkdir(exist_ok=True)
        self._write("hyperparameters.json", dict(hyperparameters))
        self._write("inputdataconfig.json", {k: dict(v) for k, v in input_data_config.items()})
        self._write("resourceconfig.json", dict(resource_config))

    def failure_reason(self) -> str | None:
        """What the algorithm wrote to ``output/failure`` (cut to :data:`FAILURE_LIMIT`)."""
        try:
            text = self.failure_file.read_text(errors="replace").strip()
        except OSError:
            return None
        return text[:FAILURE_LIMIT] or None

    def _write(self, name: str, document: Mapping[str, Any]) -> None:
        (self.config_dir / name).write_text(json.dumps(document, indent=2, sort_keys=True))
