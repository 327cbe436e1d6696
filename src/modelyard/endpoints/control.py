"""The SageMaker control plane over AWS JSON 1.1: ``X-Amz-Target: SageMaker.<Operation>``.

Each operation parses its input shape, calls the :class:`EndpointService`, renders its
output shape; nothing else. The operations are listed in :func:`service` in the order of
the API reference (models, endpoint configs, endpoints, tags), and :data:`ERRORS` is the
one place where the area's domain errors become SageMaker's error codes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from modelyard.aws.errors import ErrorCode, ErrorTable
from modelyard.aws.json_protocol import AwsJsonService
from modelyard.aws.pagination import decode_position, encode_token, list_query
from modelyard.aws.shapes import parse, render
from modelyard.endpoints import shapes
from modelyard.endpoints.errors import (
    EndpointNotInService,
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
)
from modelyard.endpoints.outputs import (
    describe_endpoint_config_output,
    describe_endpoint_output,
    describe_model_output,
    endpoint_config_summary,
    endpoint_summary,
    model_summary,
    tag_documents,
)
from modelyard.endpoints.service import DesiredWeightAndCapacity, EndpointService
from modelyard.errors import DatabaseError, InvalidRequest, ObjectStoreError
from modelyard.storage.endpoint_configs import ProductionVariant
from modelyard.storage.listing import ListQuery, Page
from modelyard.storage.sagemaker_models import ContainerDefinition, ContainerMode
from modelyard.storage.tags import ResourceType, Tag

__all__ = ["DEFAULT_MAX_RESULTS", "ERRORS", "service"]

T = TypeVar("T")

#: Page size of the List operations when MaxResults is not given (SageMaker's default).
DEFAULT_MAX_RESULTS = 10

#: Page size of ListTags when MaxResults is not given.
DEFAULT_MAX_TAGS = 50

_VALIDATION = ErrorCode(code="ValidationException", status=400)

#: The area's domain errors as SageMaker's control plane answers them. SageMaker answers
#: a missing or an existing model, config or endpoint with ValidationException ("Could not
#: find endpoint ...", "Cannot create already existing endpoint ..."), not with
#: ResourceNotFound or ResourceInUse (which these operations do not declare): boto3's
#: ``endpoint_deleted`` waiter waits for exactly that ValidationException.
ERRORS = ErrorTable(
    {
        InvalidRequest: _VALIDATION,
        ResourceNotFound: _VALIDATION,
        ResourceAlreadyExists: _VALIDATION,
        ResourceInUse: _VALIDATION,
        EndpointNotInService: _VALIDATION,
        ResourceLimitExceeded: ErrorCode(code="ResourceLimitExceeded", status=400),
        DatabaseError: ErrorCode(code="ServiceUnavailable", status=503),
        ObjectStoreError: ErrorCode(code="ServiceUnavailable", status=503),
    }
)

#: SortBy → the column it sorts by.
_SORT_COLUMNS = {"Name": "name", "CreationTime": "created_at", "Status": "status"}


def service(endpoints: EndpointService) -> AwsJsonService:
    """The SageMaker operations of the endpoints area, bound to ``endpoints``."""
    arns = endpoints.arns

    # -- models --

    async def create_model(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateModelInput, body)
        model = await endpoints.create_model(
            name=request.model_name,
            primary_container=_container(request.primary_container),
            containers=[c for c in map(_container, request.containers or []) if c is not None],
            execution_role_arn=request.execution_role_arn,
            tags=_tags(request.tags),
        )
        return {"ModelArn": arns.of(ResourceType.MODEL, model.name)}

    async def describe_model(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ModelNameInput, body)
        return render(
            describe_model_output(await endpoints.describe_model(request.model_name), arns)
        )

    async def list_models(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListModelsInput, body)
        query, scope = _list_query("ListModels", request, request.sort_by.value)
        page = await endpoints.list_models(query)
        return _page("Models", page, lambda m: render(model_summary(m, arns)), scope)

    async def delete_model(body: dict[str, Any]) -> dict[str, Any]:
        await endpoints.delete_model(parse(shapes.ModelNameInput, body).model_name)
        return {}

    # -- endpoint configs --

    async def create_endpoint_config(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateEndpointConfigInput, body)
        config = await endpoints.create_endpoint_config(
            name=request.endpoint_config_name,
            production_variants=[_variant(v) for v in request.production_variants],
            data_capture_config=shapes.document(request.data_capture_config),
            tags=_tags(request.tags),
        )
        return {"EndpointConfigArn": arns.of(ResourceType.ENDPOINT_CONFIG, config.name)}

    async def describe_endpoint_config(body: dict[str, Any]) -> dict[str, Any]:
        name = parse(shapes.EndpointConfigNameInput, body).endpoint_config_name
        config = await endpoints.describe_endpoint_config(name)
        return render(describe_endpoint_config_output(config, arns))

    async def list_endpoint_configs(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListEndpointConfigsInput, body)
        query, scope = _list_query("ListEndpointConfigs", request, request.sort_by.value)
        page = await endpoints.list_endpoint_configs(query)
        return _page(
            "EndpointConfigs", page, lambda c: render(endpoint_config_summary(c, arns)), scope
        )

    async def delete_endpoint_config(body: dict[str, Any]) -> dict[str, Any]:
        name = parse(shapes.EndpointConfigNameInput, body).endpoint_config_name
        await endpoints.delete_endpoint_config(name)
        return {}

    # -- endpoints --

    async def create_endpoint(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.CreateEndpointInput, body)
        endpoint = await endpoints.create_endpoint(
            name=request.endpoint_name,
            config_name=request.endpoint_config_name,
            tags=_tags(request.tags),
        )
        return {"EndpointArn": arns.of(ResourceType.ENDPOINT, endpoint.name)}

    async def describe_endpoint(body: dict[str, Any]) -> dict[str, Any]:
        name = parse(shapes.EndpointNameInput, body).endpoint_name
        return render(describe_endpoint_output(await endpoints.describe_endpoint(name), arns))

    async def list_endpoints(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListEndpointsInput, body)
        query, scope = _list_query(
            "ListEndpoints",
            request,
            request.sort_by.value,
            modified_before=request.last_modified_time_before,
            modified_after=request.last_modified_time_after,
            status=request.status_equals.value if request.status_equals else None,
        )
        page = await endpoints.list_endpoints(query)
        return _page("Endpoints", page, lambda e: render(endpoint_summary(e, arns)), scope)

    async def update_endpoint(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.UpdateEndpointInput, body)
        endpoint = await endpoints.update_endpoint(
            name=request.endpoint_name,
            config_name=request.endpoint_config_name,
            retain_all_variant_properties=request.retain_all_variant_properties,
            exclude_retained=[
                p.variant_property_type.value
                for p in request.exclude_retained_variant_properties or []
            ],
        )
        return {"EndpointArn": arns.of(ResourceType.ENDPOINT, endpoint.name)}

    async def update_endpoint_weights_and_capacities(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.UpdateEndpointWeightsAndCapacitiesInput, body)
        endpoint = await endpoints.update_weights_and_capacities(
            request.endpoint_name,
            [
                DesiredWeightAndCapacity(
                    variant_name=d.variant_name,
                    weight=d.desired_weight,
                    instance_count=d.desired_instance_count,
                )
                for d in request.desired_weights_and_capacities
            ],
        )
        return {"EndpointArn": arns.of(ResourceType.ENDPOINT, endpoint.name)}

    async def delete_endpoint(body: dict[str, Any]) -> dict[str, Any]:
        await endpoints.delete_endpoint(parse(shapes.EndpointNameInput, body).endpoint_name)
        return {}

    # -- tags --

    async def add_tags(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.AddTagsInput, body)
        added = await endpoints.add_tags(request.resource_arn, _tags(request.tags))
        return {"Tags": tag_documents(added)}

    async def list_tags(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.ListTagsInput, body)
        found = await endpoints.list_tags(request.resource_arn)
        scope = f"ListTags|{request.resource_arn}"
        if request.next_token:
            (after,) = decode_position(request.next_token, scope, (str,))
            found = [tag for tag in found if tag.key > after]
        size = request.max_results or DEFAULT_MAX_TAGS
        answer: dict[str, Any] = {"Tags": tag_documents(found[:size])}
        if len(found) > size:
            answer["NextToken"] = encode_token((found[size - 1].key,), scope)
        return answer

    async def delete_tags(body: dict[str, Any]) -> dict[str, Any]:
        request = parse(shapes.DeleteTagsInput, body)
        await endpoints.delete_tags(request.resource_arn, request.tag_keys)
        return {}

    return AwsJsonService(
        target_prefix="SageMaker",
        operations={
            "CreateModel": create_model,
            "DescribeModel": describe_model,
            "ListModels": list_models,
            "DeleteModel": delete_model,
            "CreateEndpointConfig": create_endpoint_config,
            "DescribeEndpointConfig": describe_endpoint_config,
            "ListEndpointConfigs": list_endpoint_configs,
            "DeleteEndpointConfig": delete_endpoint_config,
            "CreateEndpoint": create_endpoint,
            "DescribeEndpoint": describe_endpoint,
            "ListEndpoints": list_endpoints,
            "UpdateEndpoint": update_endpoint,
            "UpdateEndpointWeightsAndCapacities": update_endpoint_weights_and_capacities,
            "DeleteEndpoint": delete_endpoint,
            "AddTags": add_tags,
            "ListTags": list_tags,
            "DeleteTags": delete_tags,
        },
        errors=ERRORS,
    )


def _list_query(
    operation: str,
    request: shapes.ListModelsInput | shapes.ListEndpointConfigsInput | shapes.ListEndpointsInput,
    sort_by: str,
    **filters: Any,
) -> tuple[ListQuery, str]:
    """The storage query of a List request, and the scope its tokens belong to."""
    column = _SORT_COLUMNS[sort_by]
    descending = request.sort_order is shapes.SortOrder.DESCENDING
    criteria = {
        "name_contains": request.name_contains,
        "created_before": request.creation_time_before,
        "created_after": request.creation_time_after,
        **filters,
    }
    return list_query(
        operation,
        column=column,
        descending=descending,
        criteria=criteria,
        next_token=request.next_token,
        limit=request.max_results or DEFAULT_MAX_RESULTS,
    )


def _page(
    member: str, page: Page[T], summary: Callable[[T], dict[str, Any]], scope: str
) -> dict[str, Any]:
    answer: dict[str, Any] = {member: [summary(item) for item in page.items]}
    if page.next is not None:
        answer["NextToken"] = encode_token(page.next, scope)
    return answer


def _container(shape: shapes.ContainerDefinitionShape | None) -> ContainerDefinition | None:
    if shape is None:
        return None
    return ContainerDefinition(
        model_data_url=shape.model_data_url,
        image=shape.image,
        environment=dict(shape.environment),
        mode=ContainerMode(shape.mode.value),
        container_hostname=shape.container_hostname,
    )


def _variant(shape: shapes.ProductionVariantShape) -> ProductionVariant:
    if shape.model_name is None:
        raise InvalidParameterValue(
            f"Value null at 'productionVariants.member.modelName' failed to satisfy constraint: "
            f"variant {shape.variant_name} must name the model it serves"
        )
    return ProductionVariant(
        variant_name=shape.variant_name,
        model_name=shape.model_name,
        initial_instance_count=shape.initial_instance_count or 1,
        initial_variant_weight=(
            1.0 if shape.initial_variant_weight is None else shape.initial_variant_weight
        ),
        instance_type=shape.instance_type,
    )


def _tags(tags: Sequence[shapes.TagShape]) -> list[Tag]:
    return [Tag(key=tag.key, value=tag.value) for tag in tags]
