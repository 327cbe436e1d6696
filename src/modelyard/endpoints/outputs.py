"""The SageMaker API's response shapes modelyard answers with, built from domain records.

Each ``*_output`` function turns what the :class:`EndpointService` returned into the
operation's output shape, as botocore parses it (timestamps as epoch seconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelyard.aws.shapes import EpochSeconds, Shape
from modelyard.endpoints.arns import Arns
from modelyard.storage.endpoint_configs import EndpointConfig
from modelyard.storage.endpoints import DeployedVariant, Deployment, Endpoint, EndpointStatus
from modelyard.storage.sagemaker_models import SageMakerModel
from modelyard.storage.tags import ResourceType, Tag

__all__ = [
    "describe_endpoint_config_output",
    "describe_endpoint_output",
    "describe_model_output",
    "endpoint_config_summary",
    "endpoint_summary",
    "model_summary",
    "tag_documents",
]


class VariantStatus(Shape):
    """``ProductionVariantStatus``."""

    status: str
    status_message: str | None = None
    start_time: EpochSeconds | None = None


class ProductionVariantSummary(Shape):
    """``ProductionVariantSummary`` (and ``PendingProductionVariantSummary``)."""

    variant_name: str
    current_weight: float
    desired_weight: float
    current_instance_count: int
    desired_instance_count: int
    instance_type: str | None = None
    variant_status: list[VariantStatus] = []


class PendingDeploymentSummary(Shape):
    """``PendingDeploymentSummary``."""

    endpoint_config_name: str
    production_variants: list[ProductionVariantSummary]
    start_time: EpochSeconds


class DataCaptureConfigSummary(Shape):
    """``DataCaptureConfigSummary``."""

    enable_capture: bool
    capture_status: str
    current_sampling_percentage: int
    destination_s3_uri: str
    kms_key_id: str | None = None


class DescribeEndpointOutput(Shape):
    """``DescribeEndpointOutput``."""

    endpoint_name: str
    endpoint_arn: str
    endpoint_config_name: str
    production_variants: list[ProductionVariantSummary]
    data_capture_config: DataCaptureConfigSummary | None = None
    endpoint_status: str
    failure_reason: str | None = None
    creation_time: EpochSeconds
    last_modified_time: EpochSeconds
    pending_deployment_summary: PendingDeploymentSummary | None = None


class EndpointSummary(Shape):
    """``EndpointSummary``."""

    endpoint_name: str
    endpoint_arn: str
    creation_time: EpochSeconds
    last_modified_time: EpochSeconds
    endpoint_status: str


class DescribeModelOutput(Shape):
    """``DescribeModelOutput``."""

    model_name: str
    model_arn: str
    primary_container: dict[str, Any] | None = None
    containers: list[dict[str, Any]] | None = None
    execution_role_arn: str | None = None
    creation_time: EpochSeconds


class ModelSummary(Shape):
    """``ModelSummary``."""

    model_name: str
    model_arn: str
    creation_time: EpochSeconds


class DescribeEndpointConfigOutput(Shape):
    """``DescribeEndpointConfigOutput``."""

    endpoint_config_name: str
    endpoint_config_arn: str
    production_variants: list[dict[str, Any]]
    data_capture_config: dict[str, Any] | None = None
    creation_time: EpochSeconds


class EndpointConfigSummary(Shape):
    """``EndpointConfigSummary``."""

    endpoint_config_name: str
    endpoint_config_arn: str
    creation_time: EpochSeconds


def describe_model_output(model: SageMakerModel, arns: Arns) -> DescribeModelOutput:
    """DescribeModel's answer."""
    return DescribeModelOutput(
        model_name=model.name,
        model_arn=arns.of(ResourceType.MODEL, model.name),
        primary_container=(
            model.primary_container.to_document() if model.primary_container else None
        ),
        containers=[c.to_document() for c in model.containers] or None,
        execution_role_arn=model.execution_role_arn,
        creation_time=model.created_at,
    )


def model_summary(model: SageMakerModel, arns: Arns) -> ModelSummary:
    """One row of ListModels."""
    return ModelSummary(
        model_name=model.name,
        model_arn=arns.of(ResourceType.MODEL, model.name),
        creation_time=model.created_at,
    )


def describe_endpoint_config_output(
    config: EndpointConfig, arns: Arns
) -> DescribeEndpointConfigOutput:
    """DescribeEndpointConfig's answer."""
    capture = config.data_capture_config
    return DescribeEndpointConfigOutput(
        endpoint_config_name=config.name,
        endpoint_config_arn=arns.of(ResourceType.ENDPOINT_CONFIG, config.name),
        production_variants=[v.to_document() for v in config.production_variants],
        data_capture_config=dict(capture) if capture is not None else None,
        creation_time=config.created_at,
    )


def endpoint_config_summary(config: EndpointConfig, arns: Arns) -> EndpointConfigSummary:
    """One row of ListEndpointConfigs."""
    return EndpointConfigSummary(
        endpoint_config_name=config.name,
        endpoint_config_arn=arns.of(ResourceType.ENDPOINT_CONFIG, config.name),
        creation_time=config.created_at,
    )


def endpoint_summary(endpoint: Endpoint, arns: Arns) -> EndpointSummary:
    """One row of ListEndpoints."""
    return EndpointSummary(
        endpoint_name=endpoint.name,
        endpoint_arn=arns.of(ResourceType.ENDPOINT, endpoint.name),
        creation_time=endpoint.created_at,
        last_modified_time=endpoint.last_modified_at,
        endpoint_status=endpoint.status.value,
    )


def describe_endpoint_output(endpoint: Endpoint, arns: Arns) -> DescribeEndpointOutput:
    """DescribeEndpoint's answer: current variants, and what is being deployed if Updating.

    A weight or capacity update shows in the current variants' desired values; a new
    config shows as the pending deployment, as SageMaker shows a blue/green update.
    """
    since = endpoint.last_modified_at
    pending = endpoint.pending
    retuning = pending is not None and _same_models(pending, endpoint.current)
    desired = {v.variant_name: v for v in pending.variants} if pending and retuning else {}
    status = {
        EndpointStatus.CREATING: "Creating",
        EndpointStatus.DELETING: "Deleting",
        EndpointStatus.UPDATING: "Updating" if retuning else None,
    }.get(endpoint.status)
    variants = [
        _variant(v, desired.get(v.variant_name, v), status, since)
        for v in endpoint.current.variants
    ]
    pending_summary = None
    if pending is not None and not retuning:
        pending_summary = PendingDeploymentSummary(
            endpoint_config_name=pending.config_name,
            production_variants=[_variant(v, v, "Creating", since) for v in pending.variants],
            start_time=since,
        )
    return DescribeEndpointOutput(
        endpoint_name=endpoint.name,
        endpoint_arn=arns.of(ResourceType.ENDPOINT, endpoint.name),
        endpoint_config_name=endpoint.current.config_name,
        production_variants=variants,
        data_capture_config=_capture_summary(endpoint.current.data_capture_config),
        endpoint_status=endpoint.status.value,
        failure_reason=endpoint.failure_reason,
        creation_time=endpoint.created_at,
        last_modified_time=endpoint.last_modified_at,
        pending_deployment_summary=pending_summary,
    )


def tag_documents(tags: Sequence[Tag]) -> list[dict[str, str]]:
    """Tags as SageMaker's ``TagList``."""
    return [{"Key": tag.key, "Value": tag.value} for tag in tags]


def _variant(
    current: DeployedVariant, desired: DeployedVariant, status: str | None, since: datetime
) -> ProductionVariantSummary:
    return ProductionVariantSummary(
        variant_name=current.variant_name,
        current_weight=current.current_weight,
        desired_weight=desired.desired_weight,
        current_instance_count=current.current_instance_count,
        desired_instance_count=desired.desired_instance_count,
        instance_type=current.instance_type,
        variant_status=[VariantStatus(status=status, start_time=since)] if status else [],
    )


def _same_models(pending: Deployment, current: Deployment) -> bool:
    def models(deployment: Deployment) -> list[tuple[str, str, str]]:
        return [(v.variant_name, v.model_name, v.model_data_url) for v in deployment.variants]

    return pending.config_name == current.config_name and models(pending) == models(current)


def _capture_summary(document: Mapping[str, Any] | None) -> DataCaptureConfigSummary | None:
    if document is None:
        return None
    enabled = bool(document.get("EnableCapture", True))
    return DataCaptureConfigSummary(
        enable_capture=enabled,
        capture_status="Started" if enabled else "Stopped",
        current_sampling_percentage=int(document.get("InitialSamplingPercentage", 0)),
        destination_s3_uri=str(document.get("DestinationS3Uri", "")),
        kms_key_id=document.get("KmsKeyId"),
    )
