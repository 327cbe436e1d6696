"""The jobs API against a real platform on 127.0.0.1: real endpoints, models and workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.endpoints.conftest import Variant, build_home, clients, deploy_endpoint
from tests.servers import platform_server

#: Endpoints by name: (archive, category tag). sum answers [6.0] for [1, 2, 3].
ENDPOINTS = {
    "adder-a": ("sum.tar.gz", "math"),
    "adder-b": ("sum.tar.gz", "math, arithmetic"),
    "broken": ("predict_error.tar.gz", "flaky"),
    "echo": ("echo.tar.gz", "text"),
}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = build_home(tmp_path_factory.mktemp("home"))
    with platform_server(home, workers=2) as url:
        sagemaker, _ = clients(url)
        for name, (archive, category) in ENDPOINTS.items():
            deploy_endpoint(
                sagemaker,
                name,
                Variant("main", archive),
                tags=[{"Key": "category", "Value": category}],
            )
        yield url


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


def finished(http: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get(f"/jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["status"] not in ("QUEUED", "RUNNING"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_a_job_fans_out_to_every_endpoint_of_its_categories(http: httpx.Client) -> None:
    created = http.post("/create-job", json={"data": [1, 2, 3], "categories": ["math"]})
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]

    job = finished(http, job_id)

    assert job["status"] == "SUCCEEDED"
    assert job["categories"] == ["math"]
    assert job["finished_at"] is not None
    results = {result["endpoint"]: result for result in job["results"]}
    assert set(results) == {"adder-a", "adder-b"}
    for result in results.values():
        assert result["status"] == "SUCCEEDED"
        assert result["category"] == "math"
        assert result["content_type"] == "application/json"
        assert result["output"] == [6.0]
        assert result["duration_ms"] > 0
    same = http.get("/get-job-results", params={"job_id": job_id})
    assert same.status_code == 200
    assert same.json() == job


def test_one_failing_endpoint_makes_the_job_partial(http: httpx.Client) -> None:
    created = http.post(
        "/create-job", json={"data": [1, 2, 3], "categories": ["arithmetic", "flaky"]}
    )
    job = finished(http, created.json()["job_id"])
    assert job["status"] == "PARTIAL"
    results = {result["endpoint"]: result for result in job["results"]}
    assert results["adder-b"]["output"] == [6.0]
    assert results["broken"]["status"] == "FAILED"
    assert results["broken"]["error"]["type"] == "SageMakerRuntime.ModelErrorException"
    assert "cannot predict" in results["broken"]["error"]["message"]


def test_raw_data_takes_categories_from_the_query_and_type_from_the_header(
    http: httpx.Client,
) -> None:
    created = http.post(
        "/create-job",
        params={"categories": "math,text"},
        content=b"[4, 5]",
        headers={"Content-Type": "application/json"},
    )
    assert created.status_code == 202, created.text
    job = finished(http, created.json()["job_id"])
    results = {result["endpoint"]: result for result in job["results"]}
    assert set(results) == {"adder-a", "adder-b", "echo"}
    assert results["adder-a"]["output"] == [9.0]


def test_a_string_is_sent_as_is(http: httpx.Client) -> None:
    created = http.post(
        "/create-job",
        json={"data": "1,2,3\n", "content_type": "text/csv", "categories": ["math"]},
    )
    job = finished(http, created.json()["job_id"])
    assert job["status"] == "SUCCEEDED", job
    assert {r["endpoint"]: r["output"] for r in job["results"]}["adder-a"] == [6.0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": 1}, "categories"),
        ({"data": 1, "categories": []}, "categories"),
        ({"data": 1, "categories": [""]}, "categories"),
        ({"categories": ["math"]}, "data"),
        ({"data": 1, "data_url": "s3://x/y", "categories": ["math"]}, "data"),
        ({"data": 1, "categories": ["math"], "content_type": 5}, "content_type"),
        ({"data": 1, "categories": ["math"], "colour": "red"}, "colour"),
        ({"data_url": "http://example.com/x", "categories": ["math"]}, "data_url"),
        ({"data_url": "s3://nothing/here", "categories": ["math"]}, "data_url"),
        ([1, 2], "body"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(http: httpx.Client, body: Any, field: str) -> None:
    answer = http.post("/create-job", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(field)


def test_a_category_no_endpoint_serves_is_400_naming_it(http: httpx.Client) -> None:
    answer = http.post("/create-job", json={"data": 1, "categories": ["math", "poetry"]})
    assert answer.status_code == 400
    assert "poetry" in answer.json()["message"]


def test_unknown_jobs_are_404_whatever_the_method(http: httpx.Client) -> None:
    assert http.get("/jobs/nope").status_code == 404
    assert http.delete("/jobs/nope").status_code == 404
    assert http.get("/get-job-results", params={"job_id": "nope"}).status_code == 404
    assert http.get("/get-job-results").status_code == 400


def test_jobs_are_listed_newest_first_in_pages(http: httpx.Client) -> None:
    made = [
        http.post("/create-job", json={"data": [1], "categories": ["math"]}).json()["job_id"]
        for _ in range(3)
    ]
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"max_results": 2}
        if token:
            params["next_token"] = token
        page = http.get("/jobs", params=params).json()
        assert len(page["jobs"]) <= 2
        seen += [job["job_id"] for job in page["jobs"]]
        token = page["next_token"]
        if token is None:
            break
    assert seen[:3] == made[::-1]
    assert len(seen) == len(set(seen))
    assert http.get("/jobs", params={"max_results": 0}).status_code == 400
    assert http.get("/jobs", params={"next_token": "garbage"}).status_code == 400


def test_a_cancelled_job_ends_cancelled(http: httpx.Client) -> None:
    created = http.post("/create-job", json={"data": [1, 2, 3], "categories": ["math"]})
    job_id = created.json()["job_id"]
    cancelled = http.delete(f"/jobs/{job_id}")
    assert cancelled.status_code == 202
    job = finished(http, job_id)
    # A job that finished before the cancel arrived keeps its results.
    assert job["status"] in ("CANCELLED", "SUCCEEDED")
    if job["status"] == "CANCELLED":
        assert job["results"] == []


def test_the_job_machine_is_a_state_machine_boto3_sees(url: str, http: httpx.Client) -> None:
    import boto3  # type: ignore[import-untyped]

    created = http.post("/create-job", json={"data": [1, 2, 3], "categories": ["text"]})
    job = finished(http, created.json()["job_id"])
    states = boto3.client(
        "stepfunctions",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    execution = states.describe_execution(executionArn=job["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    events = states.get_execution_history(executionArn=job["execution_arn"])["events"]
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"
    assert any(event["type"] == "MapIterationSucceeded" for event in events)


def test_the_state_machine_file_is_the_one_served(tmp_path: Path, url: str) -> None:
    import boto3

    from modelyard.jobs.service import machine_definition

    states = boto3.client(
        "stepfunctions",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    machines = states.list_state_machines()["stateMachines"]
    arn = next(m["stateMachineArn"] for m in machines if m["name"] == "multi_model_inference")
    assert states.describe_state_machine(stateMachineArn=arn)["definition"] == machine_definition()


def test_data_over_the_limit_is_413(http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.jobs import routes

    monkeypatch.setattr(routes, "MAX_DATA_BYTES", 1024)
    answer = http.post("/create-job", params={"categories": "math"}, content=b"x" * 2048)
    assert answer.status_code == 413
    assert answer.json()["error"] == "PayloadTooLarge"
