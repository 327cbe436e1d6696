"""The SageMaker training operations' answers, built from the area's records.

:func:`describe_training_job_output` and :func:`training_job_summary` turn a
:class:`TrainingJob` into the output shapes botocore parses (timestamps as epoch seconds).
What was asked (AlgorithmSpecification, HyperParameters, InputDataConfig, ...) is given
back as it was recorded, which is as it was sent, checked.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from modelyard.aws.shapes import EpochSeconds, Shape
from modelyard.storage.training_records import StatusTransition, TrainingJob
from modelyard.training.channels import model_key, store_url

__all__ = [
    "DescribeTrainingJobOutput",
    "TrainingJobSummary",
    "describe_training_job_output",
    "training_job_summary",
]


class ModelArtifactsShape(Shape):
    """``ModelArtifacts``."""

    s3_model_artifacts: str


class SecondaryStatusTransitionShape(Shape):
    """``SecondaryStatusTransition``."""

    status: str
    start_time: EpochSeconds
    end_time: EpochSeconds | None = None
    status_message: str | None = None


class MetricDataShape(Shape):
    """``MetricData``: a metric's last value."""

    metric_name: str
    value: float | None
    timestamp: EpochSeconds


class DescribeTrainingJobOutput(Shape):
    """``DescribeTrainingJobResponse`` (the members modelyard knows)."""

    training_job_name: str
    training_job_arn: str
    model_artifacts: ModelArtifactsShape
    training_job_status: str
    secondary_status: str
    failure_reason: str | None = None
    hyper_parameters: dict[str, str] | None = None
    algorithm_specification: dict[str, Any] | None = None
    role_arn: str | None = None
    input_data_config: list[dict[str, Any]] | None = None
    output_data_config: dict[str, Any] | None = None
    resource_config: dict[str, Any] | None = None
    stopping_condition: dict[str, Any]
    creation_time: EpochSeconds
    training_start_time: EpochSeconds | None = None
    training_end_time: EpochSeconds | None = None
    last_modified_time: EpochSeconds | None = None
    secondary_status_transitions: list[SecondaryStatusTransitionShape] = []
    final_metric_data_list: list[MetricDataShape] | None = None
    enable_network_isolation: bool = False
    enable_inter_container_traffic_encryption: bool = False
    enable_managed_spot_training: bool = False
    environment: dict[str, str] | None = None
    training_time_in_seconds: int | None = None
    billable_time_in_seconds: int | None = None


class TrainingJobSummary(Shape):
    """``TrainingJobSummary``."""

    training_job_name: str
    training_job_arn: str
    creation_time: EpochSeconds
    training_end_time: EpochSeconds | None = None
    last_modified_time: EpochSeconds | None = None
    training_job_status: str
    secondary_status: str | None = None


def describe_training_job_output(job: TrainingJob) -> DescribeTrainingJobOutput:
    """DescribeTrainingJob's answer for ``job``."""
    seconds = _training_seconds(job)
    return DescribeTrainingJobOutput(
        training_job_name=job.name,
        training_job_arn=job.arn,
        model_artifacts=ModelArtifactsShape(s3_model_artifacts=model_artifacts(job)),
        training_job_status=job.status.value,
        secondary_status=job.secondary_status.value,
        failure_reason=job.failure_reason,
        hyper_parameters=job.hyperparameters,
        algorithm_specification=job.algorithm or None,
        role_arn=job.role_arn,
        input_data_config=job.input_data_config or None,
        output_data_config=job.output_data_config,
        resource_config=job.resource_config or None,
        stopping_condition=job.stopping_condition,
        creation_time=job.created_at,
        training_start_time=job.training_start,
        training_end_time=job.training_end,
        last_modified_time=job.last_modified,
        secondary_status_transitions=[_transition(t) for t in job.transitions],
        final_metric_data_list=(
            [
                MetricDataShape(
                    metric_name=name,
                    value=None if math.isnan(value) else value,
                    timestamp=job.training_end or job.last_modified,
                )
                for name, value in sorted(job.final_metrics.items())
            ]
            if job.final_metrics
            else None
        ),
        environment=job.environment or None,
        training_time_in_seconds=seconds,
        billable_time_in_seconds=seconds,
    )


def training_job_summary(job: TrainingJob) -> TrainingJobSummary:
    """ListTrainingJobs' entry for ``job``."""
    return TrainingJobSummary(
        training_job_name=job.name,
        training_job_arn=job.arn,
        creation_time=job.created_at,
        training_end_time=job.training_end,
        last_modified_time=job.last_modified,
        training_job_status=job.status.value,
        secondary_status=job.secondary_status.value,
    )


def model_artifacts(job: TrainingJob) -> str:
    """``ModelArtifacts.S3ModelArtifacts``: where the model is, or (the member is required)
    where it is to go, as SageMaker answers before the job has uploaded it."""
    if job.model_artifacts is not None:
        return job.model_artifacts
    try:
        return store_url(model_key(str(job.output_data_config.get("S3OutputPath", "")), job.name))
    except ValueError:
        return ""


def _transition(transition: StatusTransition) -> SecondaryStatusTransitionShape:
    return SecondaryStatusTransitionShape(
        status=transition.status.value,
        start_time=transition.start,
        end_time=transition.end,
        status_message=transition.message or None,
    )


def _training_seconds(job: TrainingJob) -> int | None:
    """``TrainingTimeInSeconds`` (and billable: no spot here), once training has ended."""
    if job.training_start is None or job.training_end is None:
        return None
    return max(1, _round_up(job.training_end, job.training_start))


def _round_up(end: datetime, start: datetime) -> int:
    return math.ceil((end - start).total_seconds())
