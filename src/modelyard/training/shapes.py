"""The SageMaker training operations' request shapes modelyard serves, with their constraints.

Constraints come from the service model botocore ships (``sagemaker/2017-07-24``): name
patterns and lengths, required members, ranges, enums. Some are looser or tighter on
purpose, as modelyard runs jobs as local processes over its object store:

- a channel's ``S3Uri`` may also be a ``file://`` path (read in place, under the
  allowed-URL rule of models), so it is any non-blank URL here;
- ``S3OutputPath`` must be ``s3://BUCKET/PREFIX``: the model goes to the object store;
- ``InstanceType`` is any ``ml.*`` name (its enum grows with every botocore release;
  modelyard records it, and runs every job as one process on this host);
- ``AlgorithmName`` is checked for its length only (its pattern has a look-behind).

Members modelyard neither uses nor records (VpcConfig, CheckpointConfig, DebugHookConfig,
...) are accepted and ignored, as are ``Tags``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from modelyard.aws.shapes import EpochSeconds, Shape, matching

__all__ = [
    "AlgorithmSpecificationShape",
    "ChannelShape",
    "CreateTrainingJobInput",
    "ListTrainingJobsInput",
    "OutputDataConfigShape",
    "ResourceConfigShape",
    "StoppingConditionShape",
    "TrainingJobNameInput",
    "document",
]

# -- member types, as the service model constrains them ------------------------------------

TrainingJobName = Annotated[
    str, matching(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", min_length=1, max_length=63)
]
NameContains = Annotated[str, matching(r"[a-zA-Z0-9\-]+", max_length=63)]
RoleArn = Annotated[
    str,
    matching(
        r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+", min_length=20, max_length=2048
    ),
]
ChannelName = Annotated[str, matching(r"[A-Za-z0-9\.\-_]+", min_length=1, max_length=64)]
#: Where a channel's data is: ``s3://`` in the store, or a ``file://`` path (see the module).
DataUri = Annotated[str, matching(r"\S.*", max_length=1024)]
#: Where the model goes: the object store only.
OutputUri = Annotated[str, matching(r"s3://([^/]+)/?(.*)", max_length=1024)]
KmsKeyId = Annotated[str, matching(r"[a-zA-Z0-9:/_-]*", max_length=2048)]
InstanceType = Annotated[str, matching(r"ml\.[a-z0-9\-]+\.[a-z0-9]+", max_length=64)]
HyperParameters = Annotated[
    dict[Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=2500)]],
    Field(max_length=100),
]
Environment = Annotated[
    dict[
        Annotated[str, matching(r"[a-zA-Z_][a-zA-Z0-9_]*", max_length=512)],
        Annotated[str, Field(max_length=512)],
    ],
    Field(max_length=100),
]
TagKey = Annotated[str, matching(r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", min_length=1, max_length=128)]
TagValue = Annotated[str, matching(r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", max_length=256)]
PaginationToken = Annotated[str, Field(max_length=8192)]
MaxResults = Annotated[int, Field(ge=1, le=100)]


class TrainingInputMode(StrEnum):
    """``TrainingInputMode``."""

    PIPE = "Pipe"
    FILE = "File"
    FAST_FILE = "FastFile"


class S3DataType(StrEnum):
    """``S3DataType``."""

    MANIFEST_FILE = "ManifestFile"
    S3_PREFIX = "S3Prefix"
    AUGMENTED_MANIFEST_FILE = "AugmentedManifestFile"
    CONVERSE = "Converse"


class S3DataDistribution(StrEnum):
    """``S3DataDistribution``."""

    FULLY_REPLICATED = "FullyReplicated"
    SHARDED_BY_S3_KEY = "ShardedByS3Key"


class CompressionType(StrEnum):
    """``CompressionType`` of a channel."""

    NONE = "None"
    GZIP = "Gzip"


class RecordWrapper(StrEnum):
    """``RecordWrapper``."""

    NONE = "None"
    RECORD_IO = "RecordIO"


class OutputCompressionType(StrEnum):
    """``OutputCompressionType``."""

    GZIP = "GZIP"
    NONE = "NONE"


class TrainingJobStatusValue(StrEnum):
    """Every ``TrainingJobStatus`` of the service model (a filter may name any)."""

    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    DELETING = "Deleting"


class SortBy(StrEnum):
    """``SortBy`` of ListTrainingJobs."""

    NAME = "Name"
    CREATION_TIME = "CreationTime"
    STATUS = "Status"


class SortOrder(StrEnum):
    """``SortOrder``."""

    ASCENDING = "Ascending"
    DESCENDING = "Descending"


# -- nested shapes ----------------------------------------------------------------------------


class MetricDefinitionShape(Shape):
    """``MetricDefinition``: a metric's name and the regex that finds it in the log."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    regex: Annotated[str, Field(min_length=1, max_length=500)]


class AlgorithmSpecificationShape(Shape):
    """``AlgorithmSpecification`` (the members modelyard uses or records)."""

    training_image: Annotated[str, Field(max_length=255)] | None = None
    algorithm_name: Annotated[str, Field(min_length=1, max_length=170)] | None = None
    training_input_mode: TrainingInputMode
    metric_definitions: Annotated[list[MetricDefinitionShape], Field(max_length=40)] | None = None
    enable_sage_maker_metrics_time_series: bool | None = None


class S3DataSourceShape(Shape):
    """``S3DataSource``."""

    s3_data_type: S3DataType
    s3_uri: DataUri
    s3_data_distribution_type: S3DataDistribution | None = None


class FileSystemDataSourceShape(Shape):
    """``FileSystemDataSource``: here, a local folder (``DirectoryPath``)."""

    file_system_id: Annotated[str, Field(min_length=11)] | None = None
    file_system_access_mode: Annotated[str, Field(pattern=r"^(rw|ro)$")] | None = None
    file_system_type: Annotated[str, Field(pattern=r"^(EFS|FSxLustre)$")] | None = None
    directory_path: Annotated[str, Field(min_length=1, max_length=4096)]


class DataSourceShape(Shape):
    """``DataSource``."""

    s3_data_source: S3DataSourceShape | None = None
    file_system_data_source: FileSystemDataSourceShape | None = None


class ChannelShape(Shape):
    """``Channel``."""

    channel_name: ChannelName
    data_source: DataSourceShape
    content_type: Annotated[str, Field(max_length=256)] | None = None
    compression_type: CompressionType | None = None
    record_wrapper_type: RecordWrapper | None = None
    input_mode: TrainingInputMode | None = None


class OutputDataConfigShape(Shape):
    """``OutputDataConfig``."""

    kms_key_id: KmsKeyId | None = None
    s3_output_path: OutputUri
    compression_type: OutputCompressionType | None = None


class ResourceConfigShape(Shape):
    """``ResourceConfig`` (recorded: every job is one process on this host)."""

    instance_type: InstanceType | None = None
    instance_count: Annotated[int, Field(ge=0)] | None = None
    volume_size_in_gb: Annotated[int, Field(ge=0)] | None = Field(
        default=None, alias="VolumeSizeInGB"
    )
    volume_kms_key_id: KmsKeyId | None = None
    keep_alive_period_in_seconds: Annotated[int, Field(ge=0, le=21600)] | None = None


class StoppingConditionShape(Shape):
    """``StoppingCondition``: ``MaxRuntimeInSeconds`` is enforced, the others recorded."""

    max_runtime_in_seconds: Annotated[int, Field(ge=1)] | None = None
    max_wait_time_in_seconds: Annotated[int, Field(ge=1)] | None = None
    max_pending_time_in_seconds: Annotated[int, Field(ge=1800, le=2419200)] | None = None


class TagShape(Shape):
    """``Tag`` (accepted and ignored)."""

    key: TagKey
    value: TagValue


# -- operation inputs -------------------------------------------------------------------------


class CreateTrainingJobInput(Shape):
    """``CreateTrainingJobRequest`` (the members modelyard uses or records)."""

    training_job_name: TrainingJobName
    hyper_parameters: HyperParameters = {}
    algorithm_specification: AlgorithmSpecificationShape | None = None
    role_arn: RoleArn
    input_data_config: Annotated[list[ChannelShape], Field(min_length=1, max_length=20)] | None = (
        None
    )
    output_data_config: OutputDataConfigShape
    resource_config: ResourceConfigShape | None = None
    stopping_condition: StoppingConditionShape | None = None
    environment: Environment = {}
    tags: Annotated[list[TagShape], Field(max_length=50)] = []


class TrainingJobNameInput(Shape):
    """``DescribeTrainingJobRequest`` and ``StopTrainingJobRequest``."""

    training_job_name: TrainingJobName


class ListTrainingJobsInput(Shape):
    """``ListTrainingJobsRequest`` (``WarmPoolStatusEquals`` and ``TrainingPlanArnEquals``
    are accepted and ignored: there are neither warm pools nor training plans here)."""

    next_token: PaginationToken | None = None
    max_results: MaxResults | None = None
    creation_time_after: EpochSeconds | None = None
    creation_time_before: EpochSeconds | None = None
    last_modified_time_after: EpochSeconds | None = None
    last_modified_time_before: EpochSeconds | None = None
    name_contains: NameContains | None = None
    status_equals: TrainingJobStatusValue | None = None
    sort_by: SortBy = SortBy.CREATION_TIME
    sort_order: SortOrder = SortOrder.ASCENDING


def document(shape: Shape | None) -> dict[str, Any]:
    """A nested shape as the document SageMaker's API spells it (to keep it as given)."""
    return {} if shape is None else shape.model_dump(by_alias=True, exclude_none=True, mode="json")
