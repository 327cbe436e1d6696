"""Data capture and metrics of endpoints, end to end: boto3 in, JSON lines and Prometheus out."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.endpoints.conftest import BUCKET, FAST_WAITER, Variant, create_config, fresh


def _captured(home: Path, prefix: str, endpoint: str) -> list[dict[str, Any]]:
    folder = home / "store" / BUCKET / prefix / endpoint
    records = []
    for path in sorted(folder.rglob("*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines()]
    return records


def test_every_invocation_is_captured_in_model_monitors_format(
    sagemaker: Any, runtime: Any, platform_home: Path, platform_url: str
) -> None:
    name = fresh("captured")
    create_config(sagemaker, f"{name}-config", [Variant("main", "sklearn.tar.gz")], name)
    # The config above has no capture: a second config with it, as users write them.
    sagemaker.create_endpoint_config(
        EndpointConfigName=f"{name}-capturing",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": f"{name}-main",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        },
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-capturing")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)
    sent = []
    for i in range(20):
        body = f"{i},1,0,0"
        answer = runtime.invoke_endpoint(
            EndpointName=name,
            Body=body,
            ContentType="text/csv",
            Accept="application/json",
            InferenceId=f"inference-{i}",
        )
        sent.append((body, answer["Body"].read()))
    deadline = time.monotonic() + 30
    while len(records := _captured(platform_home, "capture", name)) < 20:
        assert time.monotonic() < deadline, f"only {len(records)} records captured"
        time.sleep(0.2)
    by_id = {r["eventMetadata"]["inferenceId"]: r for r in records}
    assert len(by_id) == 20
    for i, (body, answer) in enumerate(sent):
        record = by_id[f"inference-{i}"]
        request = record["captureData"]["endpointInput"]
        response = record["captureData"]["endpointOutput"]
        assert request == {
            "observedContentType": "text/csv",
            "mode": "INPUT",
            "data": body,
            "encoding": "CSV",
        }
        assert response["mode"] == "OUTPUT"
        assert response["encoding"] == "BASE64"  # JSON was not listed as JSON
        assert base64.b64decode(response["data"]) == answer
        assert record["eventVersion"] == "0"
        assert record["eventMetadata"]["inferenceTime"].endswith("Z")
    # The files are where Model Monitor looks: .../<endpoint>/<variant>/yyyy/mm/dd/hh/
    paths = list((platform_home / "store" / BUCKET / "capture" / name / "main").rglob("*.jsonl"))
    assert paths and all(len(p.relative_to(paths[0].parents[4]).parts) == 5 for p in paths)
    # And the metrics saw the writes.
    text = httpx.get(f"{platform_url}/metrics").text
    written = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "modelyard_capture_records_written_total"
    }
    assert written[(("endpoint", name), ("variant", "main"))] >= 20


def test_endpoint_metrics_count_invocations_errors_and_latencies(
    sagemaker: Any, runtime: Any, platform_url: str
) -> None:
    from tests.endpoints.conftest import deploy_endpoint

    name = deploy_endpoint(sagemaker, fresh("metered"), Variant("main", "sklearn.tar.gz"))
    for _ in range(5):
        runtime.invoke_endpoint(EndpointName=name, Body="1,2,3,4", ContentType="text/csv")
    for _ in range(2):
        with pytest.raises(runtime.exceptions.ModelError):
            runtime.invoke_endpoint(EndpointName=name, Body="1,two", ContentType="text/csv")
    text = httpx.get(f"{platform_url}/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    labels = (("endpoint", name), ("model", f"{name}-main"), ("variant", "main"))
    assert samples[("modelyard_invocations_total", labels)] == 7
    errors = tuple(sorted((*labels, ("status_class", "4xx"))))
    assert samples[("modelyard_invocation_errors_total", errors)] == 2
    assert samples[("modelyard_model_latency_seconds_count", labels)] == 5
    assert samples[("modelyard_overhead_latency_seconds_count", labels)] == 7
