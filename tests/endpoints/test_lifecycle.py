"""An endpoint's life through boto3 against a real platform: create, wait, describe, invoke,
change weights and configs while traffic flows, delete."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError  # type: ignore[import-untyped]

from tests.endpoints.conftest import (
    FAST_WAITER,
    N_FEATURES,
    Deploy,
    Variant,
    create_config,
    create_model,
)

ACCOUNT = "000000000000"


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:{kind}/{name.lower()}"


def invoke(runtime: Any, name: str, body: bytes = b"[1, 2, 3]", **headers: Any) -> Any:
    return runtime.invoke_endpoint(
        EndpointName=name, Body=body, ContentType="application/json", **headers
    )


def test_the_whole_life_cycle(sagemaker: Any, runtime: Any, unique: Callable[[str], str]) -> None:
    name = unique("Churn")
    model_arn = create_model(sagemaker, f"{name}-model", "sum.tar.gz")
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://models/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    config_arn = sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
        DataCaptureConfig=capture,
    )["EndpointConfigArn"]

    endpoint_arn = sagemaker.create_endpoint(
        EndpointName=name, EndpointConfigName=f"{name}-config"
    )["EndpointArn"]
    first = sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)

    assert (model_arn, config_arn, endpoint_arn) == (
        arn("model", f"{name}-model"),
        arn("endpoint-config", f"{name}-config"),
        arn("endpoint", name),
    )
    assert first in ("Creating", "InService")
    described = sagemaker.describe_endpoint(EndpointName=name)
    described.pop("ResponseMetadata")
    created, modified = described.pop("CreationTime"), described.pop("LastModifiedTime")
    assert isinstance(created, datetime) and created <= modified
    assert described == {
        "EndpointName": name,
        "EndpointArn": endpoint_arn,
        "EndpointConfigName": f"{name}-config",
        "EndpointStatus": "InService",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "CurrentWeight": 1.0,
                "DesiredWeight": 1.0,
                "CurrentInstanceCount": 1,
                "DesiredInstanceCount": 1,
                "VariantStatus": [],
            }
        ],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "CaptureStatus": "Started",
            "CurrentSamplingPercentage": 100,
            "DestinationS3Uri": "s3://models/capture",
        },
    }

    answer = invoke(runtime, name)
    assert answer["Body"].read() == b"[6.0]"
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "AllTraffic"

    sagemaker.delete_endpoint(EndpointName=name)
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST_WAITER)
    with pytest.raises(ClientError) as gone:
        sagemaker.describe_endpoint(EndpointName=name)
    assert gone.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": f'Could not find endpoint "{endpoint_arn}".',
    }
    with pytest.raises(runtime.exceptions.ValidationError):
        invoke(runtime, name)
    # The model and the config outlive the endpoint, as in SageMaker.
    assert sagemaker.describe_model(ModelName=f"{name}-model")["ModelArn"] == model_arn


def test_invoke_with_every_header(runtime: Any, deploy: Deploy) -> None:
    name = deploy(Variant("main", "headers.tar.gz"), Variant("side", "headers.tar.gz", weight=0))

    answer = runtime.invoke_endpoint(
        EndpointName=name,
        Body=b"1,2,3",
        ContentType="text/csv",
        Accept="application/json",
        CustomAttributes="request=7",
        TargetVariant="side",
        InferenceId="inference-0001",
    )

    assert json.loads(answer["Body"].read()) == {
        "content_type": "text/csv",
        "accept": "application/json",
        "attributes": "request=7",
        "body": "1,2,3",
    }
    assert answer["ContentType"] == "application/json"
    assert answer["InvokedProductionVariant"] == "side"
    assert answer["CustomAttributes"] == "Trace ID: request=7"


def test_no_custom_attributes_when_the_model_sets_none(runtime: Any, deploy: Deploy) -> None:
    name = deploy()

    answer = invoke(runtime, name, CustomAttributes="request=7")

    assert "CustomAttributes" not in answer
    assert "x-amzn-sagemaker-custom-attributes" not in answer["ResponseMetadata"]["HTTPHeaders"]


def test_traffic_follows_the_weights(runtime: Any, deploy: Deploy) -> None:
    name = deploy(Variant("a", "sum.tar.gz", weight=7), Variant("b", "sum.tar.gz", weight=3))
    calls = 1000

    seen = Counter(invoke(runtime, name)["InvokedProductionVariant"] for _ in range(calls))

    # Binomial(1000, 0.7): within 5 standard deviations (a chance of about 6e-7 to fail).
    deviation = math.sqrt(calls * 0.7 * 0.3)
    assert set(seen) == {"a", "b"}
    assert abs(seen["a"] - 0.7 * calls) < 5 * deviation, seen


@dataclass
class Traffic:
    """Invocations sent one after the other from a thread until stopped."""

    runtime: Any
    name: str
    variants: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.variants.append(invoke(self.runtime, self.name)["InvokedProductionVariant"])
            except Exception as exc:  # every failure counts, whatever it is
                self.failures.append(repr(exc))


@pytest.fixture
def traffic(runtime: Any) -> Iterator[Callable[[str], Traffic]]:
    threads: list[tuple[threading.Thread, Traffic]] = []

    def start(name: str) -> Traffic:
        flow = Traffic(runtime, name)
        thread = threading.Thread(target=flow.run, daemon=True)
        thread.start()
        threads.append((thread, flow))
        while not flow.variants and not flow.failures:
            time.sleep(0.01)
        return flow

    yield start
    for thread, flow in threads:
        flow.stopped.set()
        thread.join(timeout=30)


def settle(flow: Traffic, seconds: float = 0.3) -> list[str]:
    """What the traffic saw during the next ``seconds``, once invocations routed before the
    switch (a few milliseconds at most) are answered."""
    time.sleep(0.1)
    start = len(flow.variants)
    time.sleep(seconds)
    return flow.variants[start:]


def test_weights_and_instance_counts_change_live(
    sagemaker: Any, deploy: Deploy, traffic: Callable[[str], Traffic]
) -> None:
    name = deploy(Variant("a", "sum.tar.gz", weight=1), Variant("b", "sum.tar.gz", weight=1))
    flow = traffic(name)

    sagemaker.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[
            {"VariantName": "a", "DesiredWeight": 0, "DesiredInstanceCount": 2},
            {"VariantName": "b", "DesiredWeight": 5},
        ],
    )
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)
    after = settle(flow)

    assert flow.failures == []
    assert after and set(after) == {"b"}
    variants = sagemaker.describe_endpoint(EndpointName=name)["ProductionVariants"]
    assert [
        (v["VariantName"], v["CurrentWeight"], v["DesiredWeight"], v["CurrentInstanceCount"])
        for v in variants
    ] == [("a", 0.0, 0.0, 2), ("b", 5.0, 5.0, 1)]


def test_a_new_config_takes_over_blue_green(
    sagemaker: Any, deploy: Deploy, unique: Callable[[str], str], traffic: Callable[[str], Traffic]
) -> None:
    name = deploy(Variant("blue", "sum.tar.gz"))
    green = unique("green")
    create_config(sagemaker, green, [Variant("green", "echo.tar.gz", count=2)], green)
    flow = traffic(name)

    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=green)
    updating = sagemaker.describe_endpoint(EndpointName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)
    after = settle(flow)

    assert flow.failures == []
    assert after and set(after) == {"green"}
    if updating["EndpointStatus"] == "Updating":  # the old variants serve meanwhile
        assert [v["VariantName"] for v in updating["ProductionVariants"]] == ["blue"]
        pending = updating["PendingDeploymentSummary"]
        assert pending["EndpointConfigName"] == green
        assert pending["ProductionVariants"][0]["DesiredInstanceCount"] == 2
    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointConfigName"] == green
    assert "PendingDeploymentSummary" not in described
    assert [
        (v["VariantName"], v["CurrentInstanceCount"]) for v in described["ProductionVariants"]
    ] == [("green", 2)]


def test_a_failed_update_rolls_back_and_keeps_serving(
    sagemaker: Any, runtime: Any, deploy: Deploy, unique: Callable[[str], str]
) -> None:
    name = deploy(Variant("good", "sum.tar.gz"))
    broken = unique("broken")
    create_config(sagemaker, broken, [Variant("bad", "load_error.tar.gz")], broken)

    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=broken)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)

    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == f"{name}-config"
    assert "weights are corrupt" in described["FailureReason"]
    assert invoke(runtime, name)["InvokedProductionVariant"] == "good"


def test_a_model_that_cannot_load_fails_the_endpoint(
    sagemaker: Any, runtime: Any, unique: Callable[[str], str]
) -> None:
    name = unique("failing")
    create_config(sagemaker, f"{name}-config", [Variant("main", "load_error.tar.gz")], name)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")

    with pytest.raises(WaiterError, match="Failed"):
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig=FAST_WAITER
        )

    described = sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert "weights are corrupt" in described["FailureReason"]
    with pytest.raises(runtime.exceptions.ValidationError, match="not in service"):
        invoke(runtime, name)
    sagemaker.delete_endpoint(EndpointName=name)
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST_WAITER)


def test_a_multi_model_endpoint_loads_targets_on_first_use(runtime: Any, deploy: Deploy) -> None:
    name = deploy(Variant("mme", "mme/", multi_model=True))

    summed = invoke(runtime, name, TargetModel="sum.tar.gz")
    row = ",".join(["1.5", "2.5"] + ["0"] * (N_FEATURES - 2))
    classified = runtime.invoke_endpoint(
        EndpointName=name, Body=row.encode(), ContentType="text/csv", TargetModel="sklearn.tar.gz"
    )

    assert summed["Body"].read() == b"[6.0]"
    assert summed["InvokedProductionVariant"] == "mme"
    assert json.loads(classified["Body"].read()) == [1]
    for target, problem in [
        ("missing.tar.gz", "could not load target model"),
        ("../sum.tar.gz", "not a relative path"),
        ("/sum.tar.gz", "not a relative path"),
    ]:
        with pytest.raises(runtime.exceptions.ValidationError, match=problem):
            invoke(runtime, name, TargetModel=target)
    with pytest.raises(runtime.exceptions.ValidationError, match="Target-Model"):
        invoke(runtime, name)


def test_target_model_on_a_single_model_endpoint_is_refused(runtime: Any, deploy: Deploy) -> None:
    name = deploy()

    with pytest.raises(runtime.exceptions.ValidationError, match="multi-model"):
        invoke(runtime, name, TargetModel="sum.tar.gz")
