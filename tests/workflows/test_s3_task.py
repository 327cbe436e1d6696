"""The S3 tasks against a real object store folder, and inside a workflow."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from modelyard.storage.objectstore import open_store
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import StatesError
from modelyard.workflows.s3_task import S3Task
from tests.workflows.machines import run

BASE = "arn:aws:states:::aws-sdk:s3:"
TASK = TaskContext(
    idempotency_key="k", execution_arn="e", state_name="S", timeout_seconds=None, context={}
)


def call(task: S3Task, action: str, payload: Any) -> Any:
    return asyncio.run(task.run(BASE + action, payload, TASK))


def test_put_get_and_list(tmp_path: Path) -> None:
    task = S3Task(open_store(str(tmp_path)))
    put = call(task, "putObject", {"Bucket": "b", "Key": "results/j1/e1.json", "Body": {"x": 1}})
    assert put["ETag"].startswith('"')
    call(task, "putObject", {"Bucket": "b", "Key": "results/j1/e2.json", "Body": "text"})
    call(task, "putObject", {"Bucket": "b", "Key": "other/z", "Body": ""})
    got = call(task, "getObject", {"Bucket": "b", "Key": "results/j1/e1.json"})
    assert got["Body"] == '{"x":1}'
    assert got["ContentLength"] == 7
    assert got["ETag"] == put["ETag"]
    listed = call(task, "listObjectsV2", {"Bucket": "b", "Prefix": "results/"})
    assert [entry["Key"] for entry in listed["Contents"]] == [
        "results/j1/e1.json",
        "results/j1/e2.json",
    ]
    assert listed["KeyCount"] == 2
    assert listed["IsTruncated"] is False


def test_list_pages_with_continuation_tokens(tmp_path: Path) -> None:
    task = S3Task(open_store(str(tmp_path)))
    for index in range(5):
        call(task, "putObject", {"Bucket": "b", "Key": f"k{index}", "Body": "x"})
    seen: list[str] = []
    token = None
    while True:
        page = call(
            task,
            "listObjectsV2",
            {"Bucket": "b", "MaxKeys": 2, **({"ContinuationToken": token} if token else {})},
        )
        seen += [entry["Key"] for entry in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == [f"k{index}" for index in range(5)]


def test_a_missing_key_is_no_such_key(tmp_path: Path) -> None:
    task = S3Task(open_store(str(tmp_path)))
    with pytest.raises(StatesError) as raised:
        call(task, "getObject", {"Bucket": "b", "Key": "nope"})
    assert raised.value.error == "S3.NoSuchKeyException"
    with pytest.raises(StatesError) as raised:
        call(task, "putObject", {"Bucket": "b"})
    assert raised.value.error == "S3.S3Exception"
    assert "Key" in (raised.value.cause or "")


def test_a_workflow_writes_and_reads_back_through_the_store(tmp_path: Path) -> None:
    task = S3Task(open_store(str(tmp_path)))
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": BASE + "putObject",
                "Parameters": {"Bucket": "b", "Key.$": "$.key", "Body.$": "$.doc"},
                "ResultPath": None,
                "Next": "Get",
            },
            "Get": {
                "Type": "Task",
                "Resource": BASE + "getObject",
                "Parameters": {"Bucket": "b", "Key.$": "$.key"},
                "ResultSelector": {"doc.$": "States.StringToJson($.Body)"},
                "End": True,
            },
        },
    }

    async def resource(payload: Any, action: str) -> Any:
        return await task.run(BASE + action, payload, TASK)

    result = run(
        definition,
        {"key": "docs/1.json", "doc": {"title": "t", "n": [1, 2]}},
        {
            BASE + "putObject": lambda p: resource(p, "putObject"),
            BASE + "getObject": lambda p: resource(p, "getObject"),
        },
    )
    assert result.output == {"doc": {"title": "t", "n": [1, 2]}}
