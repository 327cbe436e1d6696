"""Acceptance: the ``modelyard functions`` commands, run in subprocesses as a user runs
them, against ``modelyard up``'s platform guarded by a management token.

The platform runs in this process (``tests/servers.py``), so its workers import the toy
functions from this session's ``sys.path``. The commands carry the token from
``MODELYARD_SERVING__MANAGEMENT_TOKEN``: as a bearer token to ``/functions``, as the
secret key of a Signature Version 4 to the Lambda API (``functions invoke``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.functions.conftest import handler
from tests.servers import platform_server

#: The console script installed beside this interpreter.
MODELYARD = str(Path(sys.executable).parent / "modelyard")
TOKEN = "functions-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with platform_server(tmp_path_factory.mktemp("home"), management_token=TOKEN) as url:
        yield url


def modelyard(*args: str, server: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    """``modelyard functions *args --server URL``, the management token in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env |= {"COLUMNS": "200", "MODELYARD_SERVING__MANAGEMENT_TOKEN": token}
    return subprocess.run(
        [MODELYARD, "functions", *args, "--server", server],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_register_list_invoke_and_delete_from_the_command_line(server_url: str) -> None:
    registered = modelyard(
        "register",
        "adder",
        handler("add"),
        "--timeout",
        "5",
        "--env",
        "STAGE=cli",
        server=server_url,
    )
    assert registered.returncode == 0, registered.stderr
    assert "registered adder" in registered.stdout

    listed = modelyard("list", server=server_url)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if " adder " in line)
    assert "STAGE" in row and " 5 " in row

    invoked = modelyard("invoke", "adder", "--payload", '{"a": 20, "b": 22}', server=server_url)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == {"sum": 42}

    deleted = modelyard("delete", "adder", server=server_url)
    assert deleted.returncode == 0, deleted.stderr
    assert "deleted adder" in deleted.stdout
    listed = httpx.get(f"{server_url}/functions", headers=BEARER).json()["functions"]
    assert "adder" not in [f["name"] for f in listed]


def test_failures_say_what_went_wrong_on_stderr_and_exit_1(server_url: str, tmp_path: Path) -> None:
    refused = modelyard("register", "broken", "tests.functions.absent:handler", server=server_url)
    assert refused.returncode == 1
    assert "400" in refused.stderr and "Unable to import module" in refused.stderr

    body = {"name": "failing", "handler": handler("fail")}
    assert httpx.post(f"{server_url}/functions", json=body, headers=BEARER).status_code == 201
    event = tmp_path / "event.json"
    event.write_text('{"reason": "from a file"}')
    failed = modelyard("invoke", "failing", "--payload", f"@{event}", server=server_url)
    assert failed.returncode == 1
    assert "ValueError" in failed.stderr and "cannot do it: from a file" in failed.stderr
    assert ", in fail" in failed.stderr  # the stack trace follows


def test_without_the_token_nothing_is_registered_nor_invoked(server_url: str) -> None:
    unauthenticated = httpx.post(
        f"{server_url}/functions", json={"name": "sneaky", "handler": handler("add")}
    )
    wrong = httpx.get(f"{server_url}/functions", headers={"Authorization": "Bearer nope"})
    unsigned = httpx.post(f"{server_url}/2015-03-31/functions/failing/invocations", content=b"{}")

    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 403
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


def test_boto3_signing_with_the_token_as_secret_key_is_let_in(server_url: str) -> None:
    body = {"name": "signed", "handler": handler("add")}
    assert httpx.post(f"{server_url}/functions", json=body, headers=BEARER).status_code == 201

    def client(secret: str) -> Any:
        return boto3.client(
            "lambda",
            endpoint_url=server_url,
            region_name="us-east-1",
            aws_access_key_id="anyone",
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}),
        )

    answer = client(TOKEN).invoke(FunctionName="signed", Payload=b'{"a": 1, "b": 2}')
    with pytest.raises(ClientError) as raised:
        client("not-the-token").invoke(FunctionName="signed", Payload=b"{}")

    assert json.loads(answer["Payload"].read()) == {"sum": 3}
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_home_finds_the_server_running_on_it(server_url: str, tmp_path: Path) -> None:
    """``--home HOME`` reaches the server ``modelyard up --home HOME`` says it runs."""
    from modelyard.cli_client import write_server_file

    host, port = server_url.removeprefix("http://").split(":")
    write_server_file(tmp_path, host, int(port))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env |= {"COLUMNS": "200", "MODELYARD_SERVING__MANAGEMENT_TOKEN": TOKEN}
    listed = subprocess.run(
        [MODELYARD, "functions", "list", "--home", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "function" in listed.stdout
    nowhere = subprocess.run(
        [MODELYARD, "functions", "list", "--home", str(tmp_path / "elsewhere")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nowhere.returncode == 1
    assert "no server has run on" in nowhere.stderr
