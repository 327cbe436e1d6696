"""DescribeMapRun, ListMapRuns and UpdateMapRun through boto3's ``stepfunctions`` client
against a real ``modelyard up``, running state machines with Distributed Maps whose items
the ItemReader reads from the platform's object store (``s3://BUCKET/KEY`` is
``<home>/store/BUCKET/KEY``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.test_cli import MODELYARD, clean_env, free_port, wait_until_up

ROLE = "arn:aws:iam::000000000000:role/workflows"
PREFIX = "arn:aws:states:us-east-1:000000000000"
SETTINGS = {
    "MODELYARD_AUTH": "off",  # tests/identity/test_access.py covers auth
    "MODELYARD_SERVING__WORKERS": "1",
    "MODELYARD_WORKFLOWS__POLL_INTERVAL_S": "0.05",
}


@dataclass
class Server:
    """A ``modelyard up`` subprocess over ``home``, and a boto3 client of it."""

    home: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    _client: Any = None

    def start(self) -> None:
        port = free_port()
        log = (self.home / "server.log").open("ab")
        # A session of its own: stopping it stops its worker processes too.
        self.process = subprocess.Popen(
            [MODELYARD, "up", "--home", str(self.home), "--port", str(port)],
            cwd=self.home,
            env=clean_env() | SETTINGS,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.url = f"http://127.0.0.1:{port}"
        wait_until_up(self.process, self.url)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)

    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client(
                "stepfunctions",
                endpoint_url=self.url,
                region_name="us-east-1",
                aws_access_key_id="local",
                aws_secret_access_key="local",
                config=Config(retries={"total_max_attempts": 1}),
            )
        return self._client

    def put(self, bucket: str, key: str, body: Any) -> None:
        """Write ``body`` as JSON at ``s3://bucket/key`` of the platform's object store."""
        path = self.home / "store" / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))

    def finished(self, arn: str, timeout: float = 30) -> dict[str, Any]:
        """DescribeExecution once the execution is no longer RUNNING."""
        return until(
            lambda: self.client().describe_execution(executionArn=arn),
            lambda described: described["status"] != "RUNNING",
            timeout,
        )


def until(
    look: Callable[[], dict[str, Any]], holds: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    """What ``look`` answers once ``holds`` of it (looked at every 20 ms)."""
    deadline = time.monotonic() + timeout
    while not holds(answer := look()):
        assert time.monotonic() < deadline, f"never held: {answer}"
        time.sleep(0.02)
    return answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    found = Server(tmp_path_factory.mktemp("map-runs"))
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
def sfn(server: Server) -> Any:
    return server.client()


_NAMES = iter(range(1_000_000))


@pytest.fixture
def unique() -> Callable[[str], str]:
    number = next(_NAMES)
    return lambda stem: f"{stem}-{number}"


def fan(key: str, processor: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A distributed Map state over the JSON array at ``s3://data/<key>``."""
    return {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": "data", "Key": key},
        },
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            **processor,
        },
        **fields,
    }


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
#: The same, its state named otherwise (state names are unique in a whole definition).
ECHO = {"StartAt": "E", "States": {"E": {"Type": "Pass", "End": True}}}
#: Waits as many seconds as its item's ``wait`` says.
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.wait", "End": True}}}


def run(sfn: Any, name: str, definition: dict[str, Any]) -> str:
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    return str(sfn.start_execution(stateMachineArn=machine)["executionArn"])


def code(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return str(raised.value.response["Error"]["Code"])


def test_the_map_runs_of_an_execution_are_listed_and_described(
    server: Server, sfn: Any, unique: Callable[[str], str]
) -> None:
    name = unique("twice")
    server.put("data", f"{name}.json", [{"n": n} for n in range(5)])
    definition = {
        "StartAt": "First",
        "States": {
            "First": fan(
                f"{name}.json", PASS, MaxConcurrency=2, ToleratedFailurePercentage=10, Next="Then"
            ),
            "Then": fan(f"{name}.json", ECHO, Label="Second", ResultPath=None, End=True),
        },
    }
    arn = run(sfn, name, definition)
    assert server.finished(arn)["status"] == "SUCCEEDED"

    listed = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    # Newest first: the second Map state's run, then the first's.
    assert [run["stateMachineArn"] for run in listed] == [
        f"{PREFIX}:stateMachine:{name}/Second",
        f"{PREFIX}:stateMachine:{name}/First",
    ]
    assert all(run["executionArn"] == arn for run in listed)
    assert listed[0]["startDate"] >= listed[1]["stopDate"]
    second, first = (run["mapRunArn"] for run in listed)
    assert first.startswith(f"{PREFIX}:mapRun:{name}/First:")

    described = sfn.describe_map_run(mapRunArn=first)
    described.pop("ResponseMetadata")
    counts = {
        "pending": 0,
        "running": 0,
        "succeeded": 5,
        "failed": 0,
        "timedOut": 0,
        "aborted": 0,
        "total": 5,
        "resultsWritten": 0,
        "failuresNotRedrivable": 0,
        "pendingRedrive": 0,
    }
    assert described == {
        "mapRunArn": first,
        "executionArn": arn,
        "status": "SUCCEEDED",
        "startDate": listed[1]["startDate"],
        "stopDate": listed[1]["stopDate"],
        "maxConcurrency": 2,
        "toleratedFailurePercentage": 10.0,
        "toleratedFailureCount": 0,
        "itemCounts": counts,
        "executionCounts": counts,
        "redriveCount": 0,
    }
    assert sfn.describe_map_run(mapRunArn=second)["maxConcurrency"] == 0  # not set

    # One a page: the token leads to the next, and the last page has none.
    page = sfn.list_map_runs(executionArn=arn, maxResults=1)
    assert [run["mapRunArn"] for run in page["mapRuns"]] == [second]
    last = sfn.list_map_runs(executionArn=arn, maxResults=1, nextToken=page["nextToken"])
    assert [run["mapRunArn"] for run in last["mapRuns"]] == [first]
    assert "nextToken" not in last
    paginated = sfn.get_paginator("list_map_runs").paginate(
        executionArn=arn, PaginationConfig={"PageSize": 1}
    )
    assert [run["mapRunArn"] for page in paginated for run in page["mapRuns"]] == [second, first]


def test_a_running_map_run_counts_its_children_and_is_aborted_with_its_execution(
    server: Server, sfn: Any, unique: Callable[[str], str]
) -> None:
    name = unique("slow")
    # Two children wait a minute, two end at once.
    server.put("data", f"{name}.json", [{"wait": 60}, {"wait": 60}, {"wait": 0}, {"wait": 0}])
    arn = run(sfn, name, {"StartAt": "Fan", "States": {"Fan": fan(f"{name}.json", WAIT, End=True)}})

    [listed] = until(
        lambda: sfn.list_map_runs(executionArn=arn), lambda answer: bool(answer["mapRuns"])
    )["mapRuns"]
    running = until(
        lambda: sfn.describe_map_run(mapRunArn=listed["mapRunArn"]),
        lambda described: described["executionCounts"]["succeeded"] == 2,
    )
    assert running["status"] == "RUNNING" and "stopDate" not in running
    assert {key: running["executionCounts"][key] for key in ("pending", "running", "total")} == {
        "pending": 0,
        "running": 2,
        "total": 4,
    }

    sfn.stop_execution(executionArn=arn)
    aborted = until(
        lambda: sfn.describe_map_run(mapRunArn=listed["mapRunArn"]),
        lambda described: described["status"] != "RUNNING",
    )
    assert aborted["status"] == "ABORTED"
    assert aborted["executionCounts"]["aborted"] == 2
    assert aborted["stopDate"] >= aborted["startDate"]


def test_map_run_errors_are_named_as_step_functions_names_them(
    server: Server, sfn: Any, unique: Callable[[str], str]
) -> None:
    name = unique("errors")
    server.put("data", f"{name}.json", [1])
    arn = run(sfn, name, {"StartAt": "Fan", "States": {"Fan": fan(f"{name}.json", PASS, End=True)}})
    assert server.finished(arn)["status"] == "SUCCEEDED"
    [listed] = sfn.list_map_runs(executionArn=arn)["mapRuns"]
    plain = run(sfn, unique("plain"), PASS)
    server.finished(plain)

    assert sfn.list_map_runs(executionArn=plain)["mapRuns"] == []
    unknown = f"{PREFIX}:mapRun:{name}/Fan:00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as raised:
        sfn.describe_map_run(mapRunArn=unknown)
    assert code(raised) == "ResourceNotFound"
    with pytest.raises(ClientError) as raised:
        sfn.describe_map_run(mapRunArn=f"{PREFIX}:stateMachine:{name}")
    assert code(raised) == "InvalidArn"
    with pytest.raises(ClientError) as raised:
        sfn.list_map_runs(executionArn=f"{PREFIX}:execution:{name}:nobody")
    assert code(raised) == "ExecutionDoesNotExist"
    with pytest.raises(ClientError) as raised:
        sfn.list_map_runs(executionArn=arn, nextToken="not-a-token")
    assert code(raised) == "InvalidToken"

    # UpdateMapRun may restate the settings a Map Run has, and change none of them.
    assert (
        sfn.update_map_run(mapRunArn=listed["mapRunArn"], maxConcurrency=0)["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 200
    )
    with pytest.raises(ClientError) as raised:
        sfn.update_map_run(mapRunArn=listed["mapRunArn"], toleratedFailureCount=3)
    assert code(raised) == "ValidationException"
    assert "toleratedFailureCount" in raised.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as raised:
        sfn.update_map_run(mapRunArn=unknown, maxConcurrency=1)
    assert code(raised) == "ResourceNotFound"
