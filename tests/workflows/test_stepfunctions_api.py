"""The Step Functions API through boto3's ``stepfunctions`` client against a real
``modelyard up`` subprocess: state machines, executions, histories, pages and errors as
botocore parses them; and executions resumed after the server is killed and restarted."""

from __future__ import annotations

import contextlib
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
#: The server's runner: a killed server's executions are resumed a second after restart.
SETTINGS = {
    "MODELYARD_AUTH": "off",  # tests/identity/test_access.py covers auth
    "MODELYARD_SERVING__WORKERS": "1",
    "MODELYARD_WORKFLOWS__LEASE_S": "1",
    "MODELYARD_WORKFLOWS__POLL_INTERVAL_S": "0.05",
}

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
FAIL = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "as asked"}}}
#: Fails on its first attempt, succeeds once redriven (the context says which it is).
FAILS_ONCE = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$$.Execution.RedriveCount", "NumericEquals": 0, "Next": "Fail"}
            ],
            "Default": "Done",
        },
        "Fail": {"Type": "Fail", "Error": "FirstAttempt"},
        "Done": {"Type": "Succeed"},
    },
}


@dataclass
class Server:
    """A ``modelyard up`` subprocess over ``home``."""

    home: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> None:
        port = free_port()
        log = (self.home / "server.log").open("ab")
        # A session of its own: killing it kills its worker processes too.
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

    @classmethod
    @contextlib.contextmanager
    def running(cls, home: Path) -> Iterator[Server]:
        """A server over ``home``, started, and stopped when the block is left."""
        server = cls(home)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    def kill(self) -> None:
        """``kill -9`` the server and its workers: nothing runs its shutdown."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> Any:
        return boto3.client(
            "stepfunctions",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
            # StartSyncExecution's endpoint has the host prefix "sync-" (sync-states.…):
            # not for an endpoint URL of an IP address.
            config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False),
        )


@pytest.fixture(scope="module")
def sfn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with Server.running(tmp_path_factory.mktemp("sfn")) as server:
        client = server.client()
        try:
            yield client
        finally:
            client.close()


_NAMES = iter(range(1_000_000))


@pytest.fixture
def unique() -> Callable[[str], str]:
    number = next(_NAMES)
    return lambda stem: f"{stem}-{number}"


def create(sfn: Any, name: str, definition: dict[str, Any], **more: Any) -> str:
    answer = sfn.create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE, **more
    )
    return str(answer["stateMachineArn"])


def finished(sfn: Any, arn: str, timeout: float = 30) -> dict[str, Any]:
    """DescribeExecution once the execution is no longer RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"{arn} still RUNNING"
        time.sleep(0.02)


def all_events(sfn: Any, arn: str, **options: Any) -> list[dict[str, Any]]:
    return [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn, **options)
        for event in page["events"]
    ]


def code(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Code"]), str(error["Message"])


# -- state machines --------------------------------------------------------------------------


def test_state_machines_are_created_described_updated_listed_and_deleted(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    names = [unique(stem) for stem in ("a", "b", "c")]
    arns = [create(sfn, name, PASS) for name in names]
    assert arns == [f"{PREFIX}:stateMachine:{name}" for name in names]

    described = sfn.describe_state_machine(stateMachineArn=arns[0])
    assert described["name"] == names[0] and described["status"] == "ACTIVE"
    assert json.loads(described["definition"]) == PASS and described["type"] == "STANDARD"
    assert described["roleArn"] == ROLE
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}

    updated = sfn.update_state_machine(stateMachineArn=arns[0], definition=json.dumps(WAIT))
    assert updated["revisionId"] != described["revisionId"]
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arns[0])["definition"]) == WAIT

    first = sfn.list_state_machines(maxResults=2)
    assert len(first["stateMachines"]) == 2 and "nextToken" in first
    listed = [
        machine["name"]
        for page in sfn.get_paginator("list_state_machines").paginate(
            PaginationConfig={"PageSize": 2}
        )
        for machine in page["stateMachines"]
    ]
    assert set(names) <= set(listed) and listed == sorted(listed)

    sfn.delete_state_machine(stateMachineArn=arns[1])
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.describe_state_machine(stateMachineArn=arns[1])
    sfn.delete_state_machine(stateMachineArn=arns[1])  # deleting twice is no error


def test_state_machine_errors_are_named_as_step_functions_names_them(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    name = unique("errors")
    create(sfn, name, PASS)
    assert create(sfn, name, PASS) == f"{PREFIX}:stateMachine:{name}"  # idempotent

    cases: list[tuple[Callable[[], Any], str, str]] = [
        (lambda: create(sfn, name, WAIT), "StateMachineAlreadyExists", "State Machine Already"),
        (lambda: create(sfn, unique("bad"), {"StartAt": "X"}), "InvalidDefinition", "Invalid"),
        (lambda: create(sfn, "has space", PASS), "InvalidName", "Invalid Name: 'has space'"),
        (
            lambda: sfn.describe_state_machine(stateMachineArn="not-an-arn"),
            "InvalidArn",
            "Invalid Arn: 'not-an-arn'",
        ),
        (
            lambda: sfn.describe_state_machine(stateMachineArn=f"{PREFIX}:stateMachine:none"),
            "StateMachineDoesNotExist",
            f"State Machine Does Not Exist: '{PREFIX}:stateMachine:none'",
        ),
        (
            lambda: sfn.update_state_machine(stateMachineArn=f"{PREFIX}:stateMachine:{name}"),
            "MissingRequiredParameter",
            "Either the definition",
        ),
        (lambda: sfn.list_state_machines(nextToken="forged"), "InvalidToken", ""),
        (lambda: sfn.list_state_machines(maxResults=5000), "ValidationException", "maxResults"),
        (
            lambda: sfn.tag_resource(resourceArn=f"{PREFIX}:stateMachine:none", tags=[]),
            "ResourceNotFound",
            "Resource not found",
        ),
    ]
    for call, expected, words in cases:
        with pytest.raises(ClientError) as raised:
            call()
        found, message = code(raised)
        assert found == expected, message
        assert words in message


def test_tags_are_added_listed_and_removed(sfn: Any, unique: Callable[[str], str]) -> None:
    arn = create(sfn, unique("tagged"), PASS, tags=[{"key": "team", "value": "risk"}])

    sfn.tag_resource(resourceArn=arn, tags=[{"key": "stage", "value": "dev"}])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "stage", "value": "dev"},
        {"key": "team", "value": "risk"},
    ]
    sfn.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "stage", "value": "dev"}]


def test_definitions_are_validated_without_being_stored(sfn: Any) -> None:
    assert sfn.validate_state_machine_definition(definition=json.dumps(PASS))["result"] == "OK"
    failed = sfn.validate_state_machine_definition(definition='{"StartAt": "X", "States": {}}')
    assert failed["result"] == "FAIL" and failed["diagnostics"]


# -- executions ------------------------------------------------------------------------------


def test_an_execution_runs_and_its_history_pages_both_ways(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    machine = create(sfn, unique("runs"), PASS)
    started = sfn.start_execution(stateMachineArn=machine, name="first", input='{"x": 1}')
    assert started["executionArn"] == f"{machine.replace('stateMachine', 'execution')}:first"

    described = finished(sfn, started["executionArn"])
    events = all_events(sfn, started["executionArn"], PaginationConfig={"PageSize": 2})
    backwards = all_events(sfn, started["executionArn"], reverseOrder=True)
    bare = all_events(sfn, started["executionArn"], includeExecutionData=False)

    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"ok": True}
    assert described["input"] == '{"x": 1}' and described["stopDate"] >= described["startDate"]
    assert described["redriveStatus"] == "NOT_REDRIVABLE"
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in events] == [1, 2, 3, 4]
    assert [e["id"] for e in backwards] == [4, 3, 2, 1]
    assert "output" not in bare[-1]["executionSucceededEventDetails"]
    assert events[0]["executionStartedEventDetails"]["roleArn"] == ROLE
    # The same name and input while running is the same execution; now it is taken.
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name="first", input='{"x": 1}')


def test_executions_are_listed_newest_first_in_pages_and_by_status(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    machine = create(sfn, unique("listed"), PASS)
    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(3)]
    for arn in arns:
        finished(sfn, arn)

    first = sfn.list_executions(stateMachineArn=machine, maxResults=2)
    second = sfn.list_executions(
        stateMachineArn=machine, maxResults=2, nextToken=first["nextToken"]
    )
    listed = [e["executionArn"] for e in first["executions"] + second["executions"]]

    assert listed == arns[::-1] and "nextToken" not in second
    assert {e["status"] for e in first["executions"]} == {"SUCCEEDED"}
    assert sfn.list_executions(stateMachineArn=machine, statusFilter="FAILED")["executions"] == []
    with pytest.raises(ClientError) as raised:
        sfn.list_executions(
            stateMachineArn=machine,
            nextToken=first["nextToken"],
            maxResults=1,
            statusFilter="FAILED",
        )
    assert code(raised)[0] == "InvalidToken"


def test_execution_errors_are_named_as_step_functions_names_them(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    machine = create(sfn, unique("exec-errors"), PASS)
    missing = f"{PREFIX}:execution:{machine.rsplit(':', 1)[1]}:none"
    cases: list[tuple[Callable[[], Any], str, str]] = [
        (lambda: sfn.describe_execution(executionArn=missing), "ExecutionDoesNotExist", missing),
        (lambda: sfn.get_execution_history(executionArn=missing), "ExecutionDoesNotExist", ""),
        (lambda: sfn.stop_execution(executionArn=missing), "ExecutionDoesNotExist", ""),
        (
            lambda: sfn.start_execution(stateMachineArn=machine, input="{not json"),
            "InvalidExecutionInput",
            "Invalid State Machine Execution Input",
        ),
        (
            lambda: sfn.start_execution(stateMachineArn=machine, name="a:b"),
            "InvalidName",
            "Invalid Name",
        ),
        (
            lambda: sfn.describe_execution(executionArn=machine),
            "InvalidArn",
            "Resource type not valid in this context: statemachine",
        ),
        (
            lambda: sfn.start_sync_execution(stateMachineArn=machine),
            "StateMachineTypeNotSupported",
            "",
        ),
        (
            lambda: sfn.describe_map_run(mapRunArn=f"{PREFIX}:mapRun:x/y:z"),
            "ResourceNotFound",
            "",
        ),
    ]
    for call, expected, words in cases:
        with pytest.raises(ClientError) as raised:
            call()
        found, message = code(raised)
        assert found == expected, message
        assert words in message


def test_a_stopped_execution_is_aborted_and_may_be_redriven(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    machine = create(sfn, unique("stopped"), WAIT)
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]

    stopped = sfn.stop_execution(executionArn=arn, error="Halt", cause="by hand")
    described = sfn.describe_execution(executionArn=arn)
    events = all_events(sfn, arn)

    assert described["status"] == "ABORTED" and described["stopDate"] == stopped["stopDate"]
    assert (described["error"], described["cause"]) == ("Halt", "by hand")
    assert described["redriveStatus"] == "REDRIVABLE"
    assert events[-1]["type"] == "ExecutionAborted"
    assert events[-1]["executionAbortedEventDetails"] == {"error": "Halt", "cause": "by hand"}
    assert sfn.list_executions(stateMachineArn=machine, statusFilter="ABORTED")["executions"]

    sfn.redrive_execution(executionArn=arn)
    redriven = sfn.describe_execution(executionArn=arn)
    assert redriven["status"] == "RUNNING" and redriven["redriveCount"] == 1
    with pytest.raises(sfn.exceptions.ExecutionNotRedrivable):
        sfn.redrive_execution(executionArn=arn)
    sfn.stop_execution(executionArn=arn)


def test_a_redriven_execution_runs_its_failed_state_again(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    machine = create(sfn, unique("redrive"), FAILS_ONCE)
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    failed = finished(sfn, arn)

    sfn.redrive_execution(executionArn=arn)
    succeeded = finished(sfn, arn)
    types = [event["type"] for event in all_events(sfn, arn)]

    assert (failed["status"], failed["error"]) == ("FAILED", "FirstAttempt")
    assert succeeded["status"] == "SUCCEEDED" and succeeded["redriveCount"] == 1
    assert "redriveDate" in succeeded
    assert types[types.index("ExecutionRedriven") - 1] == "ExecutionFailed"
    assert types[-1] == "ExecutionSucceeded"
    assert [
        e["redriveCount"]
        for e in sfn.list_executions(stateMachineArn=machine, redriveFilter="REDRIVEN")[
            "executions"
        ]
    ] == [1]


def test_an_express_machine_answers_its_outcome_synchronously(
    sfn: Any, unique: Callable[[str], str]
) -> None:
    machine = create(sfn, unique("express"), PASS, type="EXPRESS")

    ended = sfn.start_sync_execution(stateMachineArn=machine, name="now", input="{}")
    failed = sfn.start_sync_execution(
        stateMachineArn=create(sfn, unique("express-fail"), FAIL, type="EXPRESS")
    )

    assert ended["status"] == "SUCCEEDED" and json.loads(ended["output"]) == {"ok": True}
    assert ended["executionArn"].startswith(f"{PREFIX}:express:{machine.rsplit(':', 1)[1]}:now:")
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Nope", "as asked")


# -- kill -9 -----------------------------------------------------------------------------------


def test_a_killed_server_resumes_its_executions_once_restarted(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.start()
    definition = {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Next": "Sleep"},
            "Sleep": {"Type": "Wait", "Seconds": 2, "Next": "After"},
            "After": {"Type": "Pass", "Result": "done", "End": True},
        },
    }
    try:
        sfn = server.client()
        arn = sfn.start_execution(stateMachineArn=create(sfn, "Durable", definition))[
            "executionArn"
        ]
        deadline = time.monotonic() + 10
        while "WaitStateEntered" not in [e["type"] for e in all_events(sfn, arn)]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        server.kill()
        server.start()
        restarted = time.time()
        sfn = server.client()

        described = finished(sfn, arn)
        events = all_events(sfn, arn)
    finally:
        server.stop()

    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == "done"
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "WaitStateEntered",
        "WaitStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in events] == list(range(1, 9))
    # The Wait lasted its two seconds, counted from when it began before the kill: once
    # restarted (which took longer), the execution did not wait again.
    entered, exited = events[3]["timestamp"].timestamp(), events[4]["timestamp"].timestamp()
    assert exited - entered >= 2.0
    assert exited < restarted + 1.0
