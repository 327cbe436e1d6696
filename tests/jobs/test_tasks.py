"""The jobs' invokeEndpoint task: a job's input is read once for all its endpoints."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modelyard.endpoints import InvocationRequest
from modelyard.endpoints.runtime import InvocationResult
from modelyard.jobs.tasks import InvokeEndpointWithObjectsTask
from modelyard.serving.facade import Invocation
from modelyard.storage.objectstore import FsspecStore, open_store
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import StatesError
from modelyard.workflows.sagemaker_task import InvokeEndpointTask

CONTEXT = TaskContext(
    idempotency_key="k", execution_arn="a", state_name="Invoke", timeout_seconds=None, context={}
)


class Echo(InvokeEndpointTask):
    """Answers each request with its endpoint's name and the body it was sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def call(self, request: InvocationRequest) -> InvocationResult:
        self.bodies.append(request.body)
        body = request.endpoint_name.encode() + b":" + request.body
        return InvocationResult(
            variant_name="main", answer=Invocation(body=body, content_type="text/plain")
        )


class CountingStore(FsspecStore):
    """A local store whose reads are counted, and slow enough to overlap."""

    def __init__(self, root: Path) -> None:
        opened = open_store(str(root))
        assert isinstance(opened, FsspecStore)
        super().__init__(opened.fs, opened.root)
        self.reads = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes:
        with self._lock:
            self.reads += 1
        time.sleep(0.05)
        return super().get(key)


def payload(endpoint: str, source: str = "s3://jobs/j1/input") -> dict[str, Any]:
    return {
        "EndpointName": endpoint,
        "InputLocation": source,
        "OutputLocation": f"s3://results/j1/{endpoint}.json",
    }


def test_endpoints_invoked_at_once_share_one_read_of_the_input(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    store.put("jobs/j1/input", b"[1, 2, 3]")
    echo = Echo()
    task = InvokeEndpointWithObjectsTask(echo, store)
    names = [f"e{i}" for i in range(10)]

    async def scenario() -> list[Any]:
        together = await asyncio.gather(*(task.run("r", payload(name), CONTEXT) for name in names))
        later = await task.run("r", payload("late"), CONTEXT)
        return [*together, later]

    answers = asyncio.run(scenario())

    assert store.reads == 2  # the ten at once, then the one after them
    assert echo.bodies == [b"[1, 2, 3]"] * 11
    assert [answer["OutputLocation"] for answer in answers] == [
        f"s3://results/j1/{name}.json" for name in [*names, "late"]
    ]
    for name in [*names, "late"]:
        assert store.get(f"results/j1/{name}.json") == f"{name}:[1, 2, 3]".encode()


def test_a_missing_input_fails_every_endpoint_that_shares_its_read(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    task = InvokeEndpointWithObjectsTask(Echo(), store)

    async def scenario() -> list[BaseException | Any]:
        return await asyncio.gather(
            *(task.run("r", payload(f"e{i}", "s3://jobs/none/input"), CONTEXT) for i in range(3)),
            return_exceptions=True,
        )

    failures = asyncio.run(scenario())

    assert store.reads == 1
    for failure in failures:
        assert isinstance(failure, StatesError)
        assert failure.error == "SageMakerRuntime.ValidationErrorException"
        assert "s3://jobs/none/input" in failure.cause


@pytest.mark.parametrize("cancelled", [0, 1])
def test_a_reader_cancelled_while_it_waits_leaves_the_others_their_answer(
    tmp_path: Path, cancelled: int
) -> None:
    store = CountingStore(tmp_path / "store")
    store.put("jobs/j1/input", b"{}")
    task = InvokeEndpointWithObjectsTask(Echo(), store)

    async def scenario() -> list[BaseException | Any]:
        runs = [asyncio.create_task(task.run("r", payload(f"e{i}"), CONTEXT)) for i in range(2)]
        await asyncio.sleep(0.01)
        runs[cancelled].cancel()
        return await asyncio.gather(*runs, return_exceptions=True)

    results = asyncio.run(scenario())

    assert isinstance(results[cancelled], asyncio.CancelledError)
    survivor = results[1 - cancelled]
    assert survivor["OutputLocation"] == f"s3://results/j1/e{1 - cancelled}.json"
