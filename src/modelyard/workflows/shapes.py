"""The Step Functions API's request shapes modelyard serves, with their constraints.

Members are camelCase on the wire (``stateMachineArn``), as the service model
(``stepfunctions/2016-11-23``) names them; lengths, ranges and enums are its own, so a
request breaking one is refused with a ValidationException naming the member. Documents
kept as given (``loggingConfiguration`` …) are plain JSON objects here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from modelyard.aws.shapes import Shape, matching

__all__ = [
    "CreateStateMachineInput",
    "DescribeMapRunInput",
    "ExecutionArnInput",
    "GetExecutionHistoryInput",
    "IncludedData",
    "ListExecutionsInput",
    "ListMapRunsInput",
    "ListStateMachinesInput",
    "RedriveExecutionInput",
    "RedriveFilter",
    "ResourceArnInput",
    "Severity",
    "StartExecutionInput",
    "StartSyncExecutionInput",
    "StateMachineArnInput",
    "StatusFilter",
    "StopExecutionInput",
    "TagResourceInput",
    "TagShape",
    "UntagResourceInput",
    "UpdateStateMachineInput",
    "ValidateDefinitionInput",
    "WorkflowType",
]

# -- member types, as the service model constrains them ------------------------------------

Arn = Annotated[str, Field(min_length=1, max_length=256)]
LongArn = Annotated[str, Field(min_length=1, max_length=2000)]
Name = Annotated[str, Field(min_length=1, max_length=80)]
Definition = Annotated[str, Field(min_length=1, max_length=1_048_576)]
SensitiveData = Annotated[str, Field(max_length=262_144)]
SensitiveError = Annotated[str, Field(max_length=256)]
SensitiveCause = Annotated[str, Field(max_length=32_768)]
TraceHeader = Annotated[str, matching(r"\p{ASCII}*", max_length=256)]
PageSize = Annotated[int, Field(ge=0, le=1000)]
PageToken = Annotated[str, Field(min_length=1, max_length=1024)]
ListExecutionsPageToken = Annotated[str, Field(min_length=1, max_length=3096)]
TagKey = Annotated[str, Field(min_length=1, max_length=128)]
TagValue = Annotated[str, Field(max_length=256)]
VersionDescription = Annotated[str, Field(max_length=256)]
ClientToken = Annotated[str, matching(r"[!-~]+", min_length=1, max_length=64)]
Document = dict[str, Any]


class WorkflowType(StrEnum):
    """``StateMachineType``."""

    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


class IncludedData(StrEnum):
    """``IncludedData``: whether execution data is answered."""

    ALL_DATA = "ALL_DATA"
    METADATA_ONLY = "METADATA_ONLY"


class Severity(StrEnum):
    """``ValidateStateMachineDefinitionSeverity``."""

    ERROR = "ERROR"
    WARNING = "WARNING"


class StatusFilter(StrEnum):
    """``ExecutionStatus``, as ListExecutions filters by it."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    PENDING_REDRIVE = "PENDING_REDRIVE"


class RedriveFilter(StrEnum):
    """``ExecutionRedriveFilter``."""

    REDRIVEN = "REDRIVEN"
    NOT_REDRIVEN = "NOT_REDRIVEN"


class _Shape(Shape):
    """Step Functions' members are camelCase."""

    model_config = ConfigDict(alias_generator=to_camel)


class TagShape(_Shape):
    """``Tag``."""

    key: TagKey
    value: TagValue = ""


class CreateStateMachineInput(_Shape):
    """CreateStateMachine."""

    name: Name
    definition: Definition
    role_arn: Arn
    type: WorkflowType = WorkflowType.STANDARD
    logging_configuration: Document | None = None
    tracing_configuration: Document | None = None
    encryption_configuration: Document | None = None
    tags: list[TagShape] = Field(default_factory=list)
    publish: bool = False
    version_description: VersionDescription | None = None


class StateMachineArnInput(_Shape):
    """DescribeStateMachine, DeleteStateMachine."""

    state_machine_arn: Arn
    included_data: IncludedData | None = None


class UpdateStateMachineInput(_Shape):
    """UpdateStateMachine."""

    state_machine_arn: Arn
    definition: Definition | None = None
    role_arn: Arn | None = None
    logging_configuration: Document | None = None
    tracing_configuration: Document | None = None
    encryption_configuration: Document | None = None
    publish: bool = False
    version_description: VersionDescription | None = None


class ListStateMachinesInput(_Shape):
    """ListStateMachines."""

    max_results: PageSize = 0
    next_token: PageToken | None = None


class ValidateDefinitionInput(_Shape):
    """ValidateStateMachineDefinition."""

    definition: Definition
    type: WorkflowType | None = None
    severity: Severity = Severity.ERROR
    max_results: Annotated[int, Field(ge=0, le=100)] = 0


class StartExecutionInput(_Shape):
    """StartExecution."""

    state_machine_arn: Arn
    name: Name | None = None
    input: SensitiveData | None = None
    trace_header: TraceHeader | None = None


class StartSyncExecutionInput(StartExecutionInput):
    """StartSyncExecution."""

    included_data: IncludedData | None = None


class ExecutionArnInput(_Shape):
    """DescribeExecution."""

    execution_arn: Arn
    included_data: IncludedData | None = None


class StopExecutionInput(_Shape):
    """StopExecution."""

    execution_arn: Arn
    error: SensitiveError | None = None
    cause: SensitiveCause | None = None


class ListExecutionsInput(_Shape):
    """ListExecutions."""

    state_machine_arn: Arn | None = None
    status_filter: StatusFilter | None = None
    max_results: PageSize = 0
    next_token: ListExecutionsPageToken | None = None
    map_run_arn: LongArn | None = None
    redrive_filter: RedriveFilter | None = None


class GetExecutionHistoryInput(_Shape):
    """GetExecutionHistory."""

    execution_arn: Arn
    max_results: PageSize = 0
    reverse_order: bool = False
    next_token: PageToken | None = None
    include_execution_data: bool = True


class RedriveExecutionInput(_Shape):
    """RedriveExecution."""

    execution_arn: Arn
    client_token: ClientToken | None = None


class ResourceArnInput(_Shape):
    """ListTagsForResource."""

    resource_arn: Arn


class TagResourceInput(ResourceArnInput):
    """TagResource."""

    tags: list[TagShape]


class UntagResourceInput(ResourceArnInput):
    """UntagResource."""

    tag_keys: list[TagKey]


class DescribeMapRunInput(_Shape):
    """DescribeMapRun."""

    map_run_arn: LongArn


class ListMapRunsInput(_Shape):
    """ListMapRuns."""

    execution_arn: Arn
    max_results: PageSize = 0
    next_token: PageToken | None = None
