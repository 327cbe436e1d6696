"""The shipped multi_model_inference state machine, run by the interpreter on real areas.

The endpoints area and the object store are real; below the endpoints, the model server
is the endpoints tests' in-memory invoker (answers name the model that answered).
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from modelyard.endpoints import EndpointService
from modelyard.endpoints.invocations import ERRORS
from modelyard.errors import InferenceFailed
from modelyard.jobs.tasks import (
    ENDPOINTS_OF_CATEGORIES,
    INVOKE_ENDPOINT,
    EndpointsOfCategoriesTask,
    InvokeEndpointWithObjectsTask,
)
from modelyard.storage import Database
from modelyard.storage.endpoints import EndpointStatus
from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.storage.tags import Tag
from modelyard.workflows.executions import TaskRegistry
from modelyard.workflows.interpreter import ExecutionOutcome, ExecutionStatus
from modelyard.workflows.s3_task import RESOURCES as S3_RESOURCES
from modelyard.workflows.s3_task import S3Task
from modelyard.workflows.sagemaker_task import InvokeEndpointTask
from tests.endpoints.fakes import FakeInvoker
from tests.endpoints.test_service import config, service_of, status_becomes
from tests.workflows.machines import interpret

DEFINITION = orjson.loads(
    resources.files("modelyard.jobs").joinpath("multi_model_inference.asl.json").read_bytes()
)

ENDPOINTS = {"sentiment": "nlp", "topics": "nlp, topics", "faces": "vision"}


class Broken(FakeInvoker):
    """Fails every invocation of models whose key names ``broken_model``."""

    broken_model: str = "m-faces"

    async def invoke(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        if self.broken_model in model.key:
            raise InferenceFailed("the model raised ZeroDivisionError")
        return await super().invoke(model, *args, **kwargs)


def execute(
    tmp_path: Path, invoker: FakeInvoker, job: dict[str, Any]
) -> tuple[ExecutionOutcome, ObjectStore]:
    database = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    database.migrate()
    store = open_store(str(tmp_path / "store"))
    store.put(f"jobs/{job['job_id']}/input", b'{"text": "hello"}')

    async def main() -> ExecutionOutcome:
        service: EndpointService = service_of(database, invoker)
        await service.start()
        try:
            for endpoint, categories in ENDPOINTS.items():
                await config(service, f"{endpoint}-cfg", ("main", f"m-{endpoint}", 1.0, 1))
                await service.create_endpoint(
                    name=endpoint,
                    config_name=f"{endpoint}-cfg",
                    tags=[Tag(key="category", value=categories)],
                )
                await status_becomes(service, endpoint, EndpointStatus.IN_SERVICE)
            tasks = TaskRegistry()
            invoke = InvokeEndpointTask(service, lambda exc: ERRORS.code_for(exc).code)
            tasks.register(ENDPOINTS_OF_CATEGORIES, EndpointsOfCategoriesTask(service))
            tasks.register(INVOKE_ENDPOINT, InvokeEndpointWithObjectsTask(invoke, store))
            for resource in S3_RESOURCES:
                tasks.register(resource, S3Task(store))
            return await interpret(DEFINITION, tasks, job)
        finally:
            await service.stop()

    try:
        return asyncio.run(main()), store
    finally:
        database.close()


def job(*categories: str) -> dict[str, Any]:
    return {
        "job_id": "j1",
        "categories": list(categories),
        "input_location": "s3://jobs/j1/input",
        "content_type": "application/json",
    }


def test_a_job_reaches_every_endpoint_of_its_categories_once(tmp_path: Path) -> None:
    invoker = FakeInvoker()
    outcome, store = execute(tmp_path, invoker, job("nlp", "topics"))
    assert outcome.status is ExecutionStatus.SUCCEEDED
    results = {entry["endpoint"]: entry for entry in outcome.output}
    assert set(results) == {"sentiment", "topics"}
    assert results["topics"]["category"] == "nlp"
    assert all(entry["status"] == "SUCCEEDED" for entry in results.values())
    # Each answer is stored once, at results/{job_id}/{endpoint}.json, and sent the job's data.
    for endpoint in results:
        answer = orjson.loads(store.get(f"results/j1/{endpoint}.json"))
        assert answer["model"].endswith(f"m-{endpoint}")
    assert [call[2] for call in invoker.invocations] == [b'{"text": "hello"}'] * 2
    summary = orjson.loads(store.get("results/j1/summary.json"))
    assert summary["job_id"] == "j1"
    assert len(summary["results"]) == 2


def test_one_failing_endpoint_keeps_the_others(tmp_path: Path) -> None:
    outcome, store = execute(tmp_path, Broken(), job("nlp", "vision"))
    results = {entry["endpoint"]: entry for entry in outcome.output}
    assert results["faces"]["status"] == "FAILED"
    assert results["faces"]["error"]["type"] == "SageMakerRuntime.ModelErrorException"
    assert "ZeroDivisionError" in results["faces"]["error"]["message"]
    assert results["sentiment"]["status"] == "SUCCEEDED"
    assert not store.exists("results/j1/faces.json")
