"""The SageMaker API's request and response shapes modelyard serves, with their constraints.

Constraints come from the service model botocore ships (``sagemaker/2017-07-24``): name
patterns and lengths, required members, ranges, enums. Three are looser on purpose:
``ModelDataUrl`` may be any URL or path the allowed-URL rule accepts (not only ``s3://``
and ``https://``); ``InstanceType`` is any ``ml.*`` name (its enum grows with every
botocore release; modelyard records it and runs no instances); a tag value may hold
commas (the ``category`` tag lists categories separated by commas).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from modelyard.aws.shapes import EpochSeconds, Shape, matching

__all__ = [
    "AddTagsInput",
    "ContainerDefinitionShape",
    "CreateEndpointConfigInput",
    "CreateEndpointInput",
    "CreateModelInput",
    "DataCaptureConfigShape",
    "DeleteTagsInput",
    "DesiredWeightAndCapacityShape",
    "EndpointConfigNameInput",
    "EndpointNameInput",
    "ListEndpointConfigsInput",
    "ListEndpointsInput",
    "ListModelsInput",
    "ListTagsInput",
    "ModelNameInput",
    "ProductionVariantShape",
    "TagShape",
    "UpdateEndpointInput",
    "UpdateEndpointWeightsAndCapacitiesInput",
]

# -- member types, as the service model constrains them ------------------------------------

ModelName = Annotated[str, matching(r"[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?", max_length=63)]
ResourceName = Annotated[str, matching(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", max_length=63)]
NameContains = Annotated[str, matching(r"[a-zA-Z0-9-]+", max_length=63)]
TagKey = Annotated[str, matching(r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", min_length=1, max_length=128)]
# Commas are allowed in tag values here (not in AWS): the `category` tag lists categories
# separated by commas, the endpoint metadata registry's convention.
TagValue = Annotated[str, matching(r"([\p{L}\p{Z}\p{N}_.:/=+\-@,]*)", max_length=256)]
RoleArn = Annotated[
    str,
    matching(
        r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+", min_length=20, max_length=2048
    ),
]
ResourceArn = Annotated[
    str, matching(r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]*:[0-9]{12}:.+", max_length=256)
]
ContainerImage = Annotated[str, matching(r"[\S]+", max_length=255)]
ModelDataUrl = Annotated[str, matching(r"\S.*", max_length=1024)]
EnvironmentKey = Annotated[str, matching(r"[a-zA-Z_][a-zA-Z0-9_]*", max_length=1024)]
EnvironmentValue = Annotated[str, Field(max_length=1024)]
InstanceType = Annotated[str, matching(r"ml\.[a-z0-9\-]+\.[a-z0-9]+", max_length=64)]
DestinationS3Uri = Annotated[str, matching(r"(https|s3)://([^/])/?(.*)", max_length=512)]
KmsKeyId = Annotated[str, matching(r"[a-zA-Z0-9:/_-]*", max_length=2048)]
ContentType = Annotated[
    str,
    matching(
        r"[a-zA-Z0-9](-*[a-zA-Z0-9])*\/[a-zA-Z0-9](-*[a-zA-Z0-9.])*", min_length=1, max_length=256
    ),
]
PaginationToken = Annotated[str, Field(max_length=8192)]
MaxResults = Annotated[int, Field(ge=1, le=100)]
Weight = Annotated[float, Field(ge=0)]


class ContainerMode(StrEnum):
    """SageMaker's ``ContainerMode``."""

    SINGLE_MODEL = "SingleModel"
    MULTI_MODEL = "MultiModel"


class SortOrder(StrEnum):
    """SageMaker's ``OrderKey``."""

    ASCENDING = "Ascending"
    DESCENDING = "Descending"


class NameOrCreationTime(StrEnum):
    """``ModelSortKey`` and ``EndpointConfigSortKey``."""

    NAME = "Name"
    CREATION_TIME = "CreationTime"


class EndpointSortKey(StrEnum):
    """``EndpointSortKey``."""

    NAME = "Name"
    CREATION_TIME = "CreationTime"
    STATUS = "Status"


class EndpointStatusValue(StrEnum):
    """Every ``EndpointStatus`` of the service model (a filter may name any)."""

    OUT_OF_SERVICE = "OutOfService"
    CREATING = "Creating"
    UPDATING = "Updating"
    SYSTEM_UPDATING = "SystemUpdating"
    ROLLING_BACK = "RollingBack"
    IN_SERVICE = "InService"
    DELETING = "Deleting"
    FAILED = "Failed"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"


class CaptureMode(StrEnum):
    """``CaptureMode``."""

    INPUT = "Input"
    OUTPUT = "Output"
    INPUT_AND_OUTPUT = "InputAndOutput"


class VariantPropertyType(StrEnum):
    """``VariantPropertyType``."""

    DESIRED_INSTANCE_COUNT = "DesiredInstanceCount"
    DESIRED_WEIGHT = "DesiredWeight"
    DATA_CAPTURE_CONFIG = "DataCaptureConfig"


# -- nested shapes ----------------------------------------------------------------------------


class TagShape(Shape):
    """``Tag``."""

    key: TagKey
    value: TagValue


class ContainerDefinitionShape(Shape):
    """``ContainerDefinition`` (the members modelyard uses or records)."""

    container_hostname: ResourceName | None = None
    image: ContainerImage | None = None
    model_data_url: ModelDataUrl | None = None
    environment: Annotated[dict[EnvironmentKey, EnvironmentValue], Field(max_length=100)] = {}
    mode: ContainerMode = ContainerMode.SINGLE_MODEL


class ProductionVariantShape(Shape):
    """``ProductionVariant`` (the members modelyard uses or records)."""

    variant_name: ResourceName
    model_name: ModelName | None = None
    initial_instance_count: Annotated[int, Field(ge=1)] | None = None
    instance_type: InstanceType | None = None
    initial_variant_weight: Weight | None = None


class CaptureOptionShape(Shape):
    """``CaptureOption``."""

    capture_mode: CaptureMode


class CaptureContentTypeHeaderShape(Shape):
    """``CaptureContentTypeHeader``."""

    csv_content_types: Annotated[list[ContentType], Field(min_length=1, max_length=10)] | None = (
        None
    )
    json_content_types: Annotated[list[ContentType], Field(min_length=1, max_length=10)] | None = (
        None
    )


class DataCaptureConfigShape(Shape):
    """``DataCaptureConfig``: checked here, kept as given."""

    enable_capture: bool | None = None
    initial_sampling_percentage: Annotated[int, Field(ge=0, le=100)]
    destination_s3_uri: DestinationS3Uri
    kms_key_id: KmsKeyId | None = None
    capture_options: Annotated[list[CaptureOptionShape], Field(min_length=1, max_length=32)]
    capture_content_type_header: CaptureContentTypeHeaderShape | None = None


class DesiredWeightAndCapacityShape(Shape):
    """``DesiredWeightAndCapacity``."""

    variant_name: ResourceName
    desired_weight: Weight | None = None
    desired_instance_count: Annotated[int, Field(ge=0)] | None = None


class VariantPropertyShape(Shape):
    """``VariantProperty``."""

    variant_property_type: VariantPropertyType


Tags = Annotated[list[TagShape], Field(max_length=50)]

# -- operation inputs -------------------------------------------------------------------------


class CreateModelInput(Shape):
    """``CreateModelInput``."""

    model_name: ModelName
    primary_container: ContainerDefinitionShape | None = None
    containers: Annotated[list[ContainerDefinitionShape], Field(max_length=15)] | None = None
    execution_role_arn: RoleArn | None = None
    tags: Tags = []


class ModelNameInput(Shape):
    """``DescribeModelInput`` and ``DeleteModelInput``."""

    model_name: ModelName


class _ListInput(Shape):
    next_token: PaginationToken | None = None
    max_results: MaxResults | None = None
    name_contains: NameContains | None = None
    creation_time_before: EpochSeconds | None = None
    creation_time_after: EpochSeconds | None = None
    sort_order: SortOrder = SortOrder.DESCENDING


class ListModelsInput(_ListInput):
    """``ListModelsInput``."""

    sort_by: NameOrCreationTime = NameOrCreationTime.CREATION_TIME


class CreateEndpointConfigInput(Shape):
    """``CreateEndpointConfigInput`` (the members modelyard uses or records)."""

    endpoint_config_name: ResourceName
    production_variants: Annotated[list[ProductionVariantShape], Field(min_length=1, max_length=10)]
    data_capture_config: DataCaptureConfigShape | None = None
    kms_key_id: KmsKeyId | None = None
    tags: Tags = []


class EndpointConfigNameInput(Shape):
    """``DescribeEndpointConfigInput`` and ``DeleteEndpointConfigInput``."""

    endpoint_config_name: ResourceName


class ListEndpointConfigsInput(_ListInput):
    """``ListEndpointConfigsInput``."""

    sort_by: NameOrCreationTime = NameOrCreationTime.CREATION_TIME


class CreateEndpointInput(Shape):
    """``CreateEndpointInput`` (``DeploymentConfig`` is accepted and ignored)."""

    endpoint_name: ResourceName
    endpoint_config_name: ResourceName
    tags: Tags = []


class EndpointNameInput(Shape):
    """``DescribeEndpointInput`` and ``DeleteEndpointInput``."""

    endpoint_name: ResourceName


class ListEndpointsInput(_ListInput):
    """``ListEndpointsInput``."""

    sort_by: EndpointSortKey = EndpointSortKey.CREATION_TIME
    last_modified_time_before: EpochSeconds | None = None
    last_modified_time_after: EpochSeconds | None = None
    status_equals: EndpointStatusValue | None = None


class UpdateEndpointInput(Shape):
    """``UpdateEndpointInput`` (``DeploymentConfig`` is accepted and ignored)."""

    endpoint_name: ResourceName
    endpoint_config_name: ResourceName
    retain_all_variant_properties: bool = False
    exclude_retained_variant_properties: (
        Annotated[list[VariantPropertyShape], Field(max_length=3)] | None
    ) = None


class UpdateEndpointWeightsAndCapacitiesInput(Shape):
    """``UpdateEndpointWeightsAndCapacitiesInput``."""

    endpoint_name: ResourceName
    desired_weights_and_capacities: Annotated[
        list[DesiredWeightAndCapacityShape], Field(min_length=1)
    ]


class AddTagsInput(Shape):
    """``AddTagsInput``."""

    resource_arn: ResourceArn
    tags: Tags


class ListTagsInput(Shape):
    """``ListTagsInput``."""

    resource_arn: ResourceArn
    next_token: PaginationToken | None = None
    max_results: Annotated[int, Field(ge=50)] | None = None


class DeleteTagsInput(Shape):
    """``DeleteTagsInput``."""

    resource_arn: ResourceArn
    tag_keys: Annotated[list[TagKey], Field(min_length=1, max_length=50)]


def document(shape: Shape | None) -> dict[str, Any] | None:
    """A nested shape as the document SageMaker's API spells it (to keep it as given)."""
    return None if shape is None else shape.model_dump(by_alias=True, exclude_none=True)
