"""The records of training jobs (CreateTrainingJob), as the training area keeps them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["SecondaryStatus", "StatusTransition", "TrainingJob", "TrainingJobStatus"]


class TrainingJobStatus(enum.StrEnum):
    """``TrainingJobStatus``."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def finished(self) -> bool:
        """Whether the job has ended (it will not change again)."""
        return self in (self.COMPLETED, self.FAILED, self.STOPPED)


class SecondaryStatus(enum.StrEnum):
    """``SecondaryStatus``: the step a job is at, or how it ended."""

    STARTING = "Starting"
    DOWNLOADING = "Downloading"
    TRAINING = "Training"
    UPLOADING = "Uploading"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
    COMPLETED = "Completed"
    FAILED = "Failed"


@dataclass(frozen=True, kw_only=True)
class StatusTransition:
    """One entry of ``SecondaryStatusTransitions``."""

    status: SecondaryStatus
    start: datetime
    end: datetime | None = None
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class TrainingJob:
    """A training job: what was asked (as sent, validated), and what has come of it."""

    #: ``TrainingJobName`` (unique) and its ARN.
    name: str
    arn: str
    status: TrainingJobStatus
    secondary_status: SecondaryStatus
    #: ``AlgorithmSpecification`` (TrainingImage or AlgorithmName, TrainingInputMode,
    #: MetricDefinitions...), as sent.
    algorithm: dict[str, Any]
    #: ``HyperParameters``: names to string values, as sent.
    hyperparameters: dict[str, str]
    #: ``InputDataConfig``: the channels, as sent.
    input_data_config: list[dict[str, Any]]
    #: ``OutputDataConfig`` (``S3OutputPath``), ``ResourceConfig``, ``StoppingCondition``.
    output_data_config: dict[str, Any]
    resource_config: dict[str, Any]
    stopping_condition: dict[str, Any]
    #: ``RoleArn`` (recorded; nothing assumes it) and ``Environment``.
    role_arn: str
    environment: dict[str, str] = field(default_factory=dict)
    created_at: datetime
    last_modified: datetime
    #: When the algorithm's process started and ended.
    training_start: datetime | None = None
    training_end: datetime | None = None
    #: Why it failed (or why it was stopped by its limit).
    failure_reason: str | None = None
    #: ``ModelArtifacts.S3ModelArtifacts``: ``s3://.../output/model.tar.gz``.
    model_artifacts: str | None = None
    #: ``FinalMetricDataList``: each metric's last value.
    final_metrics: dict[str, float] = field(default_factory=dict)
    #: ``SecondaryStatusTransitions``, oldest first.
    transitions: tuple[StatusTransition, ...] = ()
    #: Who runs it: ``<host>:<pid>`` of the server process, while it is in progress (a
    #: job whose runner is gone is failed, or resumed if it never started).
    runner: str | None = None
