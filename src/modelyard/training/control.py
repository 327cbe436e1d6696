"""The SageMaker training operations over AWS JSON 1.1: ``X-Amz-Target: SageMaker.<Operation>``.

Each operation parses its input shape, calls the :class:`TrainingService`, renders its
output shape; nothing else. The endpoints area serves the other SageMaker operations
under the same target prefix: ``platform.py`` joins the two services
(:func:`~modelyard.aws.json_protocol.merged`), and each operation's errors go through its
own area's table. :data:`ERRORS` is the one place where the training area's domain
errors become SageMaker's error codes.
"""

from __future__ import annotations

from typing import Any

from modelyard.aws.errors import ErrorCode, ErrorTable
from modelyard.aws.json_protocol import AwsJsonService
from modelyard.aws.pagination import encode_token, list_query
from modelyard.aws.shapes import parse, render
from modelyard.errors import DatabaseError, InvalidRequest, ModelUrlNotAllowed, ObjectStoreError
from modelyard.storage.listing import ListQuery
from modelyard.training import shapes
from modelyard.training.errors import (
    InvalidTrainingJob,
    TrainingJobExists,
    TrainingJobFinished,
    TrainingJobNotFound,
)
from modelyard.training.outputs import describe_training_job_output, training_job_summary
from modelyard.training.service import NewTrainingJob, TrainingService

__all__ = ["DEFAULT_MAX_RESULTS", "ERRORS", "OPERATIONS", "service"]

#: Page size of ListTrainingJobs when MaxResults is not given (SageMaker's default).
DEFAULT_MAX_RESULTS = 10

#: The operations, in the order of the API reference.
OPERATIONS = ("CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob")

_VALIDATION = ErrorCode(code="ValidationException", status=400)

#: The area's domain errors as SageMaker answers them. A missing job is a
#: ValidationException ("Requested resource not found"), which boto3's
#: ``training_job_completed_or_stopped`` waiter takes for a failure; a taken name is
#: ResourceInUse, a modeled error of CreateTrainingJob. A local data path outside the
#: allowed locations is the request's fault here (on CreateModel too), not an access
#: error of the caller.
ERRORS = ErrorTable(
    {
        InvalidRequest: _VALIDATION,
        TrainingJobNotFound: _VALIDATION,
        TrainingJobExists: ErrorCode(code="ResourceInUse", status=400),
        TrainingJobFinished: _VALIDATION,
        ModelUrlNotAllowed: _VALIDATION,
        DatabaseError: ErrorCode(code="ServiceUnavailable", status=503),
        ObjectStoreError: ErrorCode(code="ServiceUnavailable", status=503),
    }
)

#: SortBy → the column it sorts by.
_SORT_COLUMNS = {
    shapes.SortBy.NAME: "name",
    shapes.SortBy.CREATION_TIME: "created_at",
    shapes.SortBy.STATUS: "status",
}


def service(training: TrainingService) -> AwsJsonService:
    """The SageMaker operations of the training area, bound to ``training``."""

    async def create_training_job(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateTrainingJobInput, body)
        _check_supported(request)
        job = await training.create(
            NewTrainingJob(
                name=request.training_job_name,
                algorithm=shapes.document(request.algorithm_specification),
                hyperparameters=dict(request.hyper_parameters),
                input_data_config=[
                    shapes.document(channel) for channel in request.input_data_config or []
                ],
                output_data_config=shapes.document(request.output_data_config),
                resource_config=shapes.document(request.resource_config),
                stopping_condition=shapes.document(request.stopping_condition),
                role_arn=request.role_arn,
                environment=dict(request.environment),
            )
        )
        return {"TrainingJobArn": job.arn}

    async def describe_training_job(body: dict[str, Any]) -> dict[str, Any]:
        name = parse(shapes.TrainingJobNameInput, body).training_job_name
        return render(describe_training_job_output(await training.describe(name)))

    async def list_training_jobs(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListTrainingJobsInput, body)
        query, scope = _list_query(request)
        page = await training.list(query)
        answer: dict[str, Any] = {
            "TrainingJobSummaries": [render(training_job_summary(job)) for job in page.items]
        }
        if page.next is not None:
            answer["NextToken"] = encode_token(page.next, scope)
        return answer

    async def stop_training_job(body: dict[str, Any]) -> dict[str, Any]:
        await training.stop_job(parse(shapes.TrainingJobNameInput, body).training_job_name)
        return {}

    handlers = {
        "CreateTrainingJob": create_training_job,
        "DescribeTrainingJob": describe_training_job,
        "ListTrainingJobs": list_training_jobs,
        "StopTrainingJob": stop_training_job,
    }
    return AwsJsonService(
        target_prefix="SageMaker",
        operations={name: handlers[name] for name in OPERATIONS},
        errors=ERRORS,
    )


def _check_supported(request: shapes.CreateTrainingJobInput) -> None:
    """Refuse, naming the member, what the request may ask but modelyard cannot run."""
    algorithm = request.algorithm_specification
    if algorithm is not None and algorithm.training_input_mode is shapes.TrainingInputMode.PIPE:
        raise InvalidTrainingJob(
            "AlgorithmSpecification.TrainingInputMode Pipe is not supported here: "
            "channels are files (File or FastFile)"
        )
    for channel in request.input_data_config or []:
        where = f"InputDataConfig channel {channel.channel_name}"
        if channel.input_mode is shapes.TrainingInputMode.PIPE:
            raise InvalidTrainingJob(f"{where}: InputMode Pipe is not supported here")
        if channel.compression_type is shapes.CompressionType.GZIP:
            raise InvalidTrainingJob(
                f"{where}: CompressionType Gzip is supported with Pipe input mode only"
            )
        s3 = channel.data_source.s3_data_source
        if s3 is not None and s3.s3_data_type is not shapes.S3DataType.S3_PREFIX:
            raise InvalidTrainingJob(
                f"{where}: S3DataType {s3.s3_data_type} is not supported here (S3Prefix is)"
            )


def _list_query(request: shapes.ListTrainingJobsInput) -> tuple[ListQuery, str]:
    """The storage query of a ListTrainingJobs request, and the scope its tokens belong to."""
    column = _SORT_COLUMNS[request.sort_by]
    descending = request.sort_order is shapes.SortOrder.DESCENDING
    criteria: dict[str, Any] = {
        "name_contains": request.name_contains,
        "created_before": request.creation_time_before,
        "created_after": request.creation_time_after,
        "modified_before": request.last_modified_time_before,
        "modified_after": request.last_modified_time_after,
        "status": request.status_equals.value if request.status_equals else None,
    }
    return list_query(
        "ListTrainingJobs",
        column=column,
        descending=descending,
        criteria=criteria,
        next_token=request.next_token,
        limit=request.max_results or DEFAULT_MAX_RESULTS,
    )
