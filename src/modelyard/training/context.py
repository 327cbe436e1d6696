"""What a training function is given: its job's folders and hyperparameters.

An algorithm written as a Python function (``package.module:function``, and every built-in
algorithm) is called with one :class:`TrainingContext`, read from the ``SM_*`` variables
of its process, instead of parsing them itself::

    def train(context: TrainingContext) -> None:
        ratings = context.channel("train") / "ratings.csv"
        ...
        model.save(context.model_dir)

What it prints is the job's log; metrics it prints (``rmse=0.91``) are found there by the
job's ``MetricDefinitions``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TrainingContext"]


@dataclass(frozen=True, kw_only=True)
class TrainingContext:
    """A training job as its algorithm sees it."""

    #: Where to save the model (packed as ``model.tar.gz`` once the function returns).
    model_dir: Path
    #: Where to put other outputs (packed as ``output.tar.gz``).
    output_data_dir: Path
    #: Each channel's folder, by channel name.
    channels: Mapping[str, Path]
    #: The hyperparameters, decoded (``"10"`` → 10), without the SDK's own.
    hyperparameters: Mapping[str, Any]
    #: CPUs the job may use.
    num_cpus: int
    #: The job's name.
    job_name: str
    #: What the algorithm's name adds (``sklearn:<estimator>``: the estimator's path).
    arguments: tuple[str, ...] = ()

    @classmethod
    def from_environment(
        cls, env: Mapping[str, str], arguments: Sequence[str] = ()
    ) -> TrainingContext:
        """The context of the process whose environment is ``env`` (``os.environ``)."""
        training = json.loads(env["SM_TRAINING_ENV"])
        return cls(
            model_dir=Path(env["SM_MODEL_DIR"]),
            output_data_dir=Path(env["SM_OUTPUT_DATA_DIR"]),
            channels={name: Path(path) for name, path in training["channel_input_dirs"].items()},
            hyperparameters=json.loads(env["SM_HPS"]),
            num_cpus=int(env["SM_NUM_CPUS"]),
            job_name=str(training.get("job_name", "")),
            arguments=tuple(arguments),
        )

    def channel(self, name: str) -> Path:
        """Channel ``name``'s folder; KeyError naming the channels there are."""
        try:
            return self.channels[name]
        except KeyError:
            raise KeyError(
                f"the job has no channel {name!r} (it has: {', '.join(sorted(self.channels))})"
            ) from None
