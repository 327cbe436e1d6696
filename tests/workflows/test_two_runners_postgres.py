"""Two ``modelyard up`` processes share one PostgreSQL database and one object store: the
executions started on either are run by one runner or the other, each task once.

Each process runs at most ``MAX_CONCURRENT`` executions at once, so most of the 100 wait
unleased and are claimed (``FOR UPDATE SKIP LOCKED``) by whichever runner has room. The
state machine's task is a *counting function*: each call appends a line (the execution,
the call's request id, and the server process it ran under) to a file before it answers.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import psycopg
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from tests.workflows.processes import UpProcess, running

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EXECUTIONS = 100
MAX_CONCURRENT = 2
ROLE = "arn:aws:iam::000000000000:role/workflows"

#: A function that records each call, then answers which process ran it.
COUNTING_FUNCTION = """
import json
import os
import time


def count(event, context):
    # The function's worker is a child of the server process that invoked it.
    line = {"execution": event["execution"], "request": context.aws_request_id,
            "server": os.getppid()}
    # One write of an O_APPEND file: lines of concurrent workers never interleave.
    fd = os.open(os.environ["COUNT_RECORD"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (json.dumps(line) + "\\n").encode())
    finally:
        os.close(fd)
    time.sleep(0.05)
    return line
"""

MACHINE = {
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {
                "FunctionName": "counter",
                "Payload": {"execution.$": "$$.Execution.Name"},
            },
            "OutputPath": "$.Payload",
            "End": True,
        }
    },
}


def stepfunctions(url: str) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )


def executions_by_status(sfn: Any, machine: str) -> Counter[str]:
    return Counter(
        execution["status"]
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine)
        for execution in page["executions"]
    )


def test_two_processes_run_every_execution_once_between_them(
    tmp_path: Path, postgres_url: str
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "counting_function.py").write_text(COUNTING_FUNCTION.lstrip())
    record = tmp_path / "calls.jsonl"
    shared = {
        "MODELYARD_DATABASE_URL": postgres_url,
        "MODELYARD_STORE_URL": str(tmp_path / "store"),
        "MODELYARD_SERVING__WORKERS": "1",
        "MODELYARD_WORKFLOWS__MAX_CONCURRENT_EXECUTIONS": str(MAX_CONCURRENT),
        "MODELYARD_WORKFLOWS__POLL_INTERVAL_S": "0.05",
        # Where the function's module is (the workers inherit the server's environment).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
    }
    servers = [UpProcess(tmp_path / name, env=shared, name=name) for name in ("a", "b")]
    with running(*servers):
        # One at a time: the first applies the migrations to the empty database.
        for server in servers:
            server.start()
        registered = httpx.post(
            f"{servers[0].url}/functions",
            json={
                "name": "counter",
                "handler": "counting_function:count",
                "environment": {"COUNT_RECORD": str(record)},
            },
            timeout=60,
        )
        assert registered.status_code == 201, registered.text
        clients = [stepfunctions(server.url) for server in servers]
        machine = clients[0].create_state_machine(
            name="Counting", definition=json.dumps(MACHINE), roleArn=ROLE
        )["stateMachineArn"]

        began = time.monotonic()
        names = [f"run-{number}" for number in range(EXECUTIONS)]

        def start(number: int) -> None:
            clients[number % 2].start_execution(stateMachineArn=machine, name=names[number])

        # Faster than they run: most wait, unleased, for a runner with room.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(start, range(EXECUTIONS)))
        deadline = time.monotonic() + 60
        while (counts := executions_by_status(clients[1], machine))["SUCCEEDED"] < EXECUTIONS:
            assert counts["RUNNING"] + counts["SUCCEEDED"] == EXECUTIONS, counts
            assert time.monotonic() < deadline, counts
            time.sleep(0.05)
        print(f"{EXECUTIONS} executions ran in {time.monotonic() - began:.1f} s")
        prefix = machine.replace(":stateMachine:", ":execution:")
        outputs = {
            name: json.loads(
                clients[0].describe_execution(executionArn=f"{prefix}:{name}")["output"]
            )
            for name in names
        }
        pids = [server.pid for server in servers]
        for client in clients:
            client.close()

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    # Each task ran once, in one process or the other, and both ran some.
    assert Counter(call["execution"] for call in calls) == dict.fromkeys(names, 1)
    assert len({call["request"] for call in calls}) == EXECUTIONS
    ran_by = Counter(call["server"] for call in calls)
    assert set(ran_by) == set(pids), ran_by
    # Executions are claimed by whichever runner has room, not only the one that started
    # them (the started executions alternate between the servers).
    starter = {name: pids[number % 2] for number, name in enumerate(names)}
    elsewhere = Counter(
        starter[c["execution"]] for c in calls if c["server"] != starter[c["execution"]]
    )
    print(f"runs by process: {dict(ran_by)}; run elsewhere than started: {dict(elsewhere)}")
    assert set(elsewhere) == set(pids), elsewhere
    assert {name: output["request"] for name, output in outputs.items()} == {
        call["execution"]: call["request"] for call in calls
    }

    # Each history holds its events once, numbered without a gap.
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute(
            "SELECT execution_key, id, type FROM execution_events ORDER BY execution_key, id"
        ).fetchall()
    histories: dict[str, list[tuple[int, str]]] = {}
    for key, event_id, kind in rows:
        histories.setdefault(key.partition(":")[2], []).append((event_id, kind))
    assert set(histories) == set(names)
    for history in histories.values():
        assert [event_id for event_id, _ in history] == list(range(1, len(history) + 1))
        assert [kind for _, kind in history] == [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded",
        ]
