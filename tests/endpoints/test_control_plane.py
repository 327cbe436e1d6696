"""The SageMaker control plane through boto3 against a real platform: models, endpoint
configs, endpoints, tags; their shapes, listings and errors as botocore parses them."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.endpoints.conftest import FAST_WAITER, Deploy, Variant, create_config, create_model

ACCOUNT = "000000000000"


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:{kind}/{name.lower()}"


def error(raised: pytest.ExceptionInfo[ClientError], code: str = "ValidationException") -> str:
    """The message of a ClientError, checked to have ``code`` (and status 400)."""
    response = raised.value.response
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    return str(response["Error"]["Message"])


# -- models ------------------------------------------------------------------------------


def test_describe_model_answers_what_create_model_was_given(
    sagemaker: Any, unique: Callable[[str], str]
) -> None:
    name = unique("Churn")
    container = {
        "ContainerHostname": "primary",
        "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2",
        "ModelDataUrl": "s3://models/sklearn.tar.gz",
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        "Mode": "SingleModel",
    }
    before = datetime.now(UTC) - timedelta(seconds=1)

    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer=container,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
        Tags=[{"Key": "team", "Value": "risk"}],
    )
    described = sagemaker.describe_model(ModelName=name.upper())

    assert described["ModelName"] == name
    assert described["ModelArn"] == arn("model", name)
    assert described["PrimaryContainer"] == container
    assert described["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/sagemaker"
    assert before <= described["CreationTime"] <= datetime.now(UTC)
    tags = sagemaker.list_tags(ResourceArn=arn("model", name))["Tags"]
    assert tags == [{"Key": "team", "Value": "risk"}]


def test_containers_instead_of_a_primary_container(
    sagemaker: Any, unique: Callable[[str], str]
) -> None:
    name = unique("pipeline")

    sagemaker.create_model(ModelName=name, Containers=[{"ModelDataUrl": "s3://models/sum.tar.gz"}])

    described = sagemaker.describe_model(ModelName=name)
    assert described["Containers"] == [
        {"ModelDataUrl": "s3://models/sum.tar.gz", "Mode": "SingleModel"}
    ]
    assert "PrimaryContainer" not in described


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (
            {"ModelName": "bad_name", "PrimaryContainer": {"ModelDataUrl": "s3://models/a"}},
            "modelName",
        ),
        ({"ModelName": "x" * 64, "PrimaryContainer": {"ModelDataUrl": "s3://models/a"}}, "63"),
        ({"ModelName": "no-container"}, "PrimaryContainer or Containers"),
        ({"ModelName": "no-url", "PrimaryContainer": {"Image": "image"}}, "modelDataUrl"),
        (
            {"ModelName": "proc", "PrimaryContainer": {"ModelDataUrl": "/proc/self/environ"}},
            "primaryContainer.modelDataUrl",
        ),
        (
            {
                "ModelName": "mode",
                "PrimaryContainer": {"ModelDataUrl": "s3://models/a", "Mode": "Several"},
            },
            "SingleModel, MultiModel",
        ),
        (
            {
                "ModelName": "role",
                "PrimaryContainer": {"ModelDataUrl": "s3://models/a"},
                "ExecutionRoleArn": "arn:aws:iam::123:not-a-role",
            },
            "executionRoleArn",
        ),
    ],
)
def test_create_model_validates_its_input(
    sagemaker: Any, arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.create_model(**arguments)

    assert problem in error(raised)


def test_a_taken_model_name_is_refused_whatever_its_case(
    sagemaker: Any, unique: Callable[[str], str]
) -> None:
    name = unique("taken")
    create_model(sagemaker, name, "sum.tar.gz")

    with pytest.raises(ClientError) as raised:
        create_model(sagemaker, name.upper(), "sum.tar.gz")

    assert error(raised) == f'Cannot create already existing model "{arn("model", name)}".'


def test_missing_resources_are_validation_exceptions_as_in_sagemaker(sagemaker: Any) -> None:
    # SageMaker answers these with ValidationException (boto3's endpoint_deleted waiter
    # depends on it), not with the ResourceNotFound some other operations declare.
    calls: list[tuple[Callable[..., Any], dict[str, str], str]] = [
        (sagemaker.describe_model, {"ModelName": "ghost"}, "model"),
        (sagemaker.delete_model, {"ModelName": "ghost"}, "model"),
        (sagemaker.describe_endpoint_config, {"EndpointConfigName": "ghost"}, "endpoint-config"),
        (sagemaker.delete_endpoint_config, {"EndpointConfigName": "ghost"}, "endpoint-config"),
        (sagemaker.describe_endpoint, {"EndpointName": "ghost"}, "endpoint"),
        (sagemaker.delete_endpoint, {"EndpointName": "ghost"}, "endpoint"),
    ]
    for call, arguments, kind in calls:
        with pytest.raises(ClientError) as raised:
            call(**arguments)
        assert not isinstance(raised.value, sagemaker.exceptions.ResourceNotFound)
        message = error(raised)
        assert message.startswith("Could not find") and arn(kind, "ghost") in message


def test_delete_model(sagemaker: Any, unique: Callable[[str], str]) -> None:
    name = unique("short-lived")
    create_model(sagemaker, name, "sum.tar.gz")

    sagemaker.delete_model(ModelName=name)

    with pytest.raises(ClientError):
        sagemaker.describe_model(ModelName=name)
    create_model(sagemaker, name, "echo.tar.gz")  # the name is free again


# -- listings ------------------------------------------------------------------------------


def test_list_models_pages_sorts_and_filters(sagemaker: Any, unique: Callable[[str], str]) -> None:
    stem = unique("listing")
    names = [f"{stem}-{letter}" for letter in "ecadb"]
    for name in names:
        create_model(sagemaker, name, "sum.tar.gz")
        time.sleep(0.002)  # distinct creation times
    paginator = sagemaker.get_paginator("list_models")

    by_name = [
        [m["ModelName"] for m in page["Models"]]
        for page in paginator.paginate(
            NameContains=stem.upper(), SortBy="Name", SortOrder="Ascending", MaxResults=2
        )
    ]
    by_time = [
        m["ModelName"]
        for page in paginator.paginate(NameContains=stem, PaginationConfig={"PageSize": 3})
        for m in page["Models"]
    ]

    ordered = sorted(names)
    assert by_name == [ordered[:2], ordered[2:4], ordered[4:]]
    assert by_time == list(reversed(names))  # SortBy CreationTime, Descending by default
    third = sagemaker.describe_model(ModelName=names[2])["CreationTime"]
    after = sagemaker.list_models(NameContains=stem, CreationTimeAfter=third, SortOrder="Ascending")
    assert [m["ModelName"] for m in after["Models"]] == names[3:]
    before = sagemaker.list_models(NameContains=stem, CreationTimeBefore=third)
    assert [m["ModelName"] for m in before["Models"]] == list(reversed(names[:2]))
    summary = after["Models"][0]
    assert set(summary) == {"ModelName", "ModelArn", "CreationTime"}


def test_a_token_is_only_good_for_its_own_query(
    sagemaker: Any, unique: Callable[[str], str]
) -> None:
    stem = unique("tokens")
    for letter in "abc":
        create_model(sagemaker, f"{stem}-{letter}", "sum.tar.gz")
    token = sagemaker.list_models(NameContains=stem, MaxResults=1)["NextToken"]

    with pytest.raises(ClientError) as other_query:
        sagemaker.list_models(NameContains=stem, SortBy="Name", NextToken=token)
    with pytest.raises(ClientError) as made_up:
        sagemaker.list_models(NameContains=stem, NextToken="not-a-token")

    assert "pagination token" in error(other_query)
    assert "pagination token" in error(made_up)
    assert sagemaker.list_models(NameContains=stem, MaxResults=1, NextToken=token)["Models"]


def test_list_validates_its_parameters(sagemaker: Any) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.list_models(MaxResults=101)

    assert "maxResults" in error(raised)


def test_list_endpoints_filters_by_status_and_sorts_by_status(
    sagemaker: Any, deploy: Deploy, unique: Callable[[str], str]
) -> None:
    serving = deploy()
    failing = unique("failing")
    create_config(sagemaker, failing, [Variant("main", "load_error.tar.gz")], failing)
    sagemaker.create_endpoint(EndpointName=failing, EndpointConfigName=failing)
    while sagemaker.describe_endpoint(EndpointName=failing)["EndpointStatus"] == "Creating":
        time.sleep(0.05)

    in_service = sagemaker.list_endpoints(StatusEquals="InService", MaxResults=100)["Endpoints"]
    failed = sagemaker.list_endpoints(StatusEquals="Failed", MaxResults=100)["Endpoints"]
    by_status = [
        e["EndpointStatus"]
        for page in sagemaker.get_paginator("list_endpoints").paginate(
            SortBy="Status", SortOrder="Ascending"
        )
        for e in page["Endpoints"]
    ]

    assert serving in {e["EndpointName"] for e in in_service}
    assert {e["EndpointName"] for e in failed} >= {failing}
    assert failing not in {e["EndpointName"] for e in in_service}
    assert by_status == sorted(by_status)
    assert set(in_service[0]) == {
        "EndpointName",
        "EndpointArn",
        "CreationTime",
        "LastModifiedTime",
        "EndpointStatus",
    }


# -- endpoint configs ----------------------------------------------------------------------


def test_describe_endpoint_config_answers_what_was_given(
    sagemaker: Any, unique: Callable[[str], str]
) -> None:
    name = unique("config")
    create_model(sagemaker, f"{name}-model", "sum.tar.gz")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://models/capture",
        "KmsKeyId": "key-1",
        "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
        "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
    }
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": f"{name}-model",
        "InitialInstanceCount": 2,
        "InstanceType": "ml.c5.xlarge",
        "InitialVariantWeight": 0.5,
    }

    sagemaker.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[variant], DataCaptureConfig=capture
    )
    described = sagemaker.describe_endpoint_config(EndpointConfigName=name)

    assert described["EndpointConfigName"] == name
    assert described["EndpointConfigArn"] == arn("endpoint-config", name)
    assert described["ProductionVariants"] == [variant]
    assert described["DataCaptureConfig"] == capture
    assert isinstance(described["CreationTime"], datetime)
    listed = sagemaker.list_endpoint_configs(NameContains=name)["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in listed] == [name]
    sagemaker.delete_endpoint_config(EndpointConfigName=name)
    assert sagemaker.list_endpoint_configs(NameContains=name)["EndpointConfigs"] == []


@pytest.mark.parametrize(
    ("variants", "problem"),
    [
        ([{"VariantName": "a", "ModelName": "ghost-model"}], "Could not find model"),
        ([{"VariantName": "a"}], "modelName"),
        (
            [
                {"VariantName": "a", "ModelName": "MODEL"},
                {"VariantName": "A", "ModelName": "MODEL"},
            ],
            "unique",
        ),
        ([{"VariantName": "a", "ModelName": "MODEL", "InitialVariantWeight": 0}], "above 0"),
        ([{"VariantName": "a b", "ModelName": "MODEL"}], "variantName"),
        ([{"VariantName": "a", "ModelName": "MODEL", "InstanceType": "m5.large"}], "instanceType"),
    ],
)
def test_create_endpoint_config_validates_its_variants(
    sagemaker: Any, unique: Callable[[str], str], variants: list[dict[str, Any]], problem: str
) -> None:
    model = unique("config-model")
    create_model(sagemaker, model, "sum.tar.gz")
    for variant in variants:
        if variant.get("ModelName") == "MODEL":
            variant["ModelName"] = model

    with pytest.raises(ClientError) as raised:
        sagemaker.create_endpoint_config(
            EndpointConfigName=unique("bad-config"), ProductionVariants=variants
        )

    assert problem in error(raised)


def test_too_many_instances_exceed_the_resource_limit(
    sagemaker: Any, unique: Callable[[str], str]
) -> None:
    model = unique("big")
    create_model(sagemaker, model, "sum.tar.gz")

    with pytest.raises(sagemaker.exceptions.ResourceLimitExceeded) as raised:
        sagemaker.create_endpoint_config(
            EndpointConfigName=unique("big-config"),
            ProductionVariants=[
                {"VariantName": "a", "ModelName": model, "InitialInstanceCount": 65}
            ],
        )

    assert "65 instances" in error(raised, "ResourceLimitExceeded")
    assert raised.value.response["Message"] == raised.value.response["Error"]["Message"]


# -- endpoints ------------------------------------------------------------------------------


def test_endpoint_errors(sagemaker: Any, deploy: Deploy, unique: Callable[[str], str]) -> None:
    name = deploy()

    with pytest.raises(ClientError) as exists:
        sagemaker.create_endpoint(EndpointName=name.upper(), EndpointConfigName=f"{name}-config")
    with pytest.raises(ClientError) as no_config:
        sagemaker.create_endpoint(EndpointName=unique("orphan"), EndpointConfigName="ghost")
    with pytest.raises(ClientError) as no_variant:
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=name,
            DesiredWeightsAndCapacities=[{"VariantName": "ghost", "DesiredWeight": 1}],
        )
    with pytest.raises(ClientError) as all_zero:
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=name,
            DesiredWeightsAndCapacities=[{"VariantName": "main", "DesiredWeight": 0}],
        )
    with pytest.raises(ClientError) as no_instances:
        sagemaker.update_endpoint_weights_and_capacities(
            EndpointName=name,
            DesiredWeightsAndCapacities=[{"VariantName": "main", "DesiredInstanceCount": 0}],
        )

    assert error(exists) == f'Cannot create already existing endpoint "{arn("endpoint", name)}".'
    assert "Could not find endpoint configuration" in error(no_config)
    assert "[ghost] is/are not present" in error(no_variant)
    assert "above 0" in error(all_zero)
    assert "at least 1" in error(no_instances)


def test_an_endpoint_being_updated_cannot_be_updated_again(
    sagemaker: Any, deploy: Deploy, unique: Callable[[str], str]
) -> None:
    name = deploy()
    other = unique("other")
    create_config(sagemaker, other, [Variant("main", "slow.tar.gz")], other)

    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=other)
    with pytest.raises(ClientError) as busy:
        sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=other)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)

    assert error(busy) == f'Cannot update in-progress endpoint "{arn("endpoint", name)}".'


# -- tags ---------------------------------------------------------------------------------


def test_tags_on_models_configs_and_endpoints(sagemaker: Any, deploy: Deploy) -> None:
    name = deploy(tags=[{"Key": "category", "Value": "nlp"}])
    arns = [
        arn("model", f"{name}-main"),
        arn("endpoint-config", f"{name}-config"),
        arn("endpoint", name),
    ]

    for resource in arns:
        added = sagemaker.add_tags(
            ResourceArn=resource,
            Tags=[{"Key": "team", "Value": "risk"}, {"Key": "stage", "Value": "prod"}],
        )
        assert added["Tags"] == [
            {"Key": "team", "Value": "risk"},
            {"Key": "stage", "Value": "prod"},
        ]
        sagemaker.add_tags(ResourceArn=resource, Tags=[{"Key": "stage", "Value": "dev"}])
        sagemaker.delete_tags(ResourceArn=resource, TagKeys=["team", "never-there"])

    assert sagemaker.list_tags(ResourceArn=arns[0])["Tags"] == [{"Key": "stage", "Value": "dev"}]
    assert sagemaker.list_tags(ResourceArn=arns[2])["Tags"] == [
        {"Key": "category", "Value": "nlp"},
        {"Key": "stage", "Value": "dev"},
    ]


def test_list_tags_pages(sagemaker: Any, unique: Callable[[str], str]) -> None:
    name = unique("tagged")
    create_model(sagemaker, name, "sum.tar.gz")
    tags = [{"Key": f"k{i:02d}", "Value": str(i)} for i in range(50)]
    sagemaker.add_tags(ResourceArn=arn("model", name), Tags=tags)

    pages = list(
        sagemaker.get_paginator("list_tags").paginate(
            ResourceArn=arn("model", name), PaginationConfig={"PageSize": 50}
        )
    )

    assert [t for page in pages for t in page["Tags"]] == tags
    with pytest.raises(ClientError) as too_many:
        sagemaker.add_tags(ResourceArn=arn("model", name), Tags=[{"Key": "one-more", "Value": ""}])
    assert "50 tags at most" in error(too_many)


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        (arn("model", "ghost"), "Could not find model"),
        ("arn:aws:sagemaker:eu-west-1:000000000000:model/ghost", "Could not find resource"),
        ("arn:aws:sagemaker:us-east-1:000000000000:training-job/x", "not supported"),
        ("not-an-arn", "resourceArn"),
    ],
)
def test_tags_of_what_is_not_there(sagemaker: Any, resource: str, problem: str) -> None:
    with pytest.raises(ClientError) as raised:
        sagemaker.list_tags(ResourceArn=resource)

    assert problem in error(raised)


def test_aws_tag_keys_are_reserved(sagemaker: Any, unique: Callable[[str], str]) -> None:
    name = unique("reserved")
    create_model(sagemaker, name, "sum.tar.gz")

    with pytest.raises(ClientError) as raised:
        sagemaker.add_tags(ResourceArn=arn("model", name), Tags=[{"Key": "aws:x", "Value": "y"}])

    assert "reserved" in error(raised)


# -- the protocol, raw ---------------------------------------------------------------------


def raw(url: str, target: str | None, body: bytes = b"{}") -> httpx.Response:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        headers["X-Amz-Target"] = target
    return httpx.post(f"{url}/", content=body, headers=headers)


@pytest.mark.parametrize(
    ("target", "body", "code"),
    [
        ("SageMaker.CreateHyperParameterTuningJob", b"{}", "UnknownOperationException"),
        ("Elsewhere.ListModels", b"{}", "UnknownOperationException"),
        (None, b"{}", "UnknownOperationException"),
        ("SageMaker.ListModels", b"[1, 2]", "SerializationException"),
        ("SageMaker.ListModels", b"{not json", "SerializationException"),
        ("SageMaker.ListModels", b'{"MaxResults": "many"}', "ValidationException"),
    ],
)
def test_protocol_errors_are_400_with_the_aws_json_shape(
    platform_url: str, target: str | None, body: bytes, code: str
) -> None:
    answer = raw(platform_url, target, body)

    assert answer.status_code == 400
    assert answer.headers["x-amzn-errortype"] == code
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    assert answer.json()["__type"] == code
    assert answer.json()["message"]


def test_an_empty_body_is_an_empty_input(platform_url: str) -> None:
    answer = raw(platform_url, "SageMaker.ListEndpointConfigs", b"")

    assert answer.status_code == 200
    assert "EndpointConfigs" in answer.json()
