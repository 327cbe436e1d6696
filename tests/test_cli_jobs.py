"""The ``modelyard workflows`` and ``modelyard jobs`` commands, run through typer's runner.

The platform is ``modelyard up``'s over a home prepared as ``make run`` prepares it (the
example models, and the seed file of the example endpoints: ``iris-sklearn`` and
``iris-toolkit`` under ``iris``, ``text-stats`` under ``text``; the trained ones,
``rating`` and ``factchecks``, have no models here, as no pipeline ran), running in a
thread and guarded by a management token: the commands carry it from
``MODELYARD_SERVING__MANAGEMENT_TOKEN``, as a bearer token to the jobs API and as the
secret key of a Signature Version 4 to the Step Functions API.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from modelyard.cli import app
from tests.servers import platform_server

ROOT = Path(__file__).resolve().parents[1]
#: The jobs' state machine, as shipped (the README points at it).
JOBS_MACHINE = ROOT / "src" / "modelyard" / "jobs" / "multi_model_inference.asl.json"
TOKEN = "jobs-cli-token"
#: A Pass state greeting ``$.name``.
GREET = {
    "StartAt": "Greet",
    "States": {
        "Greet": {
            "Type": "Pass",
            "Parameters": {"greeting.$": "States.Format('hello, {}', $.name)"},
            "End": True,
        }
    },
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home prepared by ``examples/prepare.py``, as ``make run`` does."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from prepare import prepare, seed_endpoints  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "examples"))
    home: Path = tmp_path_factory.mktemp("home")
    prepare(home)
    seed_endpoints(home)
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    """The platform over ``home``, the seeded endpoints of ``iris`` and ``text`` InService."""
    with platform_server(home, workers=2, management_token=TOKEN) as url:
        deadline = time.monotonic() + 60
        wanted = {"iris-sklearn", "iris-toolkit", "text-stats"}
        while True:
            found = httpx.get(f"{url}/admin/endpoints", timeout=10).json()["endpoints"]
            serving = {e["EndpointName"] for e in found if e["EndpointStatus"] == "InService"}
            if wanted <= serving:
                break
            assert time.monotonic() < deadline, found
            time.sleep(0.05)
        yield url


def modelyard(
    *args: str, server: str, token: str | None = TOKEN, stdin: str | None = None
) -> Result:
    """``modelyard *args --server URL`` with the token in the environment (or none)."""
    env = {"COLUMNS": "250", "MODELYARD_SERVING__MANAGEMENT_TOKEN": token}
    return CliRunner().invoke(app, [*args, "--server", server], env=env, input=stdin)


def json_at_end(output: str) -> Any:
    """The JSON document a command printed last (after a progress bar, say)."""
    return json.loads(output[output.index("\n{") + 1 :] if not output.startswith("{") else output)


def create_job(server: str, *args: str) -> str:
    created = modelyard("jobs", "create", *args, server=server)
    assert created.exit_code == 0, created.output
    job_id = created.stdout.strip()
    assert str(uuid.UUID(job_id)) == job_id
    return job_id


def ended(server: str, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    """``workflows describe`` once the execution has ended."""
    deadline = time.monotonic() + timeout
    while True:
        described = modelyard("workflows", "describe", execution_arn, server=server)
        assert described.exit_code == 0, described.output
        found: dict[str, Any] = json.loads(described.stdout)
        if found["status"] != "RUNNING":
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.05)


# -- jobs ----------------------------------------------------------------------------------


def test_a_job_created_then_watched_ends_with_every_endpoints_results(server: str) -> None:
    job_id = create_job(server, "--data", "[[6.7, 3.0, 5.2, 2.3]]", "--category", "iris")

    watched = modelyard("jobs", "watch", job_id, "--interval", "0.05", server=server)

    assert watched.exit_code == 0, watched.output
    bar = watched.stdout.splitlines()[0]
    assert bar.startswith("SUCCEEDED") and "2/2" in bar
    job = json_at_end(watched.stdout)
    assert job["job_id"] == job_id and job["status"] == "SUCCEEDED"
    outputs = {result["endpoint"]: result["output"] for result in job["results"]}
    assert outputs["iris-sklearn"] == [2]
    assert outputs["iris-toolkit"]["predictions"][0]["species"] == "virginica"


def test_get_shows_the_job_as_the_api_does(server: str) -> None:
    job_id = create_job(server, "--data", "[[5.1, 3.5, 1.4, 0.2]]", "--category", "iris")
    modelyard("jobs", "watch", job_id, "--interval", "0.05", server=server)

    shown = modelyard("jobs", "get", job_id, server=server)

    assert shown.exit_code == 0, shown.output
    api = httpx.get(
        f"{server}/get-job-results",
        params={"job_id": job_id},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert json.loads(shown.stdout) == api.json()
    assert api.json()["status"] == "SUCCEEDED"


def test_data_comes_from_a_file_or_stdin_with_its_content_type(server: str, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n")
    from_file = create_job(
        server, "--data", f"@{rows}", "--content-type", "text/csv", "--category", "iris"
    )
    created = modelyard(
        "jobs",
        "create",
        "--data",
        "-",
        "--content-type",
        "text/plain",
        "--category",
        "text",
        server=server,
        stdin="the cat and the hat",
    )
    assert created.exit_code == 0, created.output

    csv_job = json_at_end(modelyard("jobs", "watch", from_file, server=server).stdout)
    text_job = json_at_end(modelyard("jobs", "watch", created.stdout.strip(), server=server).stdout)

    assert {r["endpoint"]: r["output"] for r in csv_job["results"]}["iris-sklearn"] == [0, 2]
    assert text_job["categories"] == ["text"]
    assert text_job["results"][0]["output"] == {"characters": 19, "words": 5, "content_words": 2}


def test_several_categories_fan_out_to_the_endpoints_of_each(server: str) -> None:
    job_id = create_job(
        server, "--data", "[[5.1, 3.5, 1.4, 0.2]]", "--category", "iris", "--category", "text"
    )

    watched = modelyard("jobs", "watch", job_id, "--interval", "0.05", server=server)

    assert watched.exit_code == 0, watched.output
    assert "3/3" in watched.stdout.splitlines()[0]
    job = json_at_end(watched.stdout)
    assert job["categories"] == ["iris", "text"]
    by_endpoint = {result["endpoint"]: result["category"] for result in job["results"]}
    assert by_endpoint == {"iris-sklearn": "iris", "iris-toolkit": "iris", "text-stats": "text"}


def test_watch_exits_1_on_a_failed_job_and_shows_why(server: str) -> None:
    # Neither iris model takes text: every endpoint fails, so the job does.
    job_id = create_job(
        server, "--data", "hello", "--content-type", "text/plain", "--category", "iris"
    )

    watched = modelyard("jobs", "watch", job_id, "--interval", "0.05", server=server)

    assert watched.exit_code == 1, watched.output
    job = json_at_end(watched.stdout)
    assert job["status"] == "FAILED"
    assert {result["status"] for result in job["results"]} == {"FAILED"}
    for result in job["results"]:
        assert result["error"]["type"].startswith("SageMakerRuntime.")
        assert result["error"]["message"]


def test_list_shows_every_job_newest_first_across_pages(server: str) -> None:
    first = create_job(server, "--data", "[[5.1, 3.5, 1.4, 0.2]]", "--category", "iris")
    second = create_job(server, "--data", "[[5.1, 3.5, 1.4, 0.2]]", "--category", "text")

    listed = modelyard("jobs", "list", "--max-results", "1", server=server)

    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.stdout.splitlines() if first in line or second in line]
    assert len(rows) == 2 and second in rows[0] and first in rows[1]
    assert "text" in rows[0] and "iris" in rows[1]
    statuses = {"QUEUED", "RUNNING", "SUCCEEDED"}
    assert all(any(status in row for status in statuses) for row in rows)
    total = httpx.get(
        f"{server}/jobs", params={"max_results": 100}, headers={"Authorization": f"Bearer {TOKEN}"}
    ).json()["jobs"]
    assert sum(job["job_id"] in listed.stdout for job in total) == len(total)


def test_a_narrow_terminal_never_cuts_a_job_id(server: str) -> None:
    job_id = create_job(server, "--data", "[[5.1, 3.5, 1.4, 0.2]]", "--category", "iris")

    listed = CliRunner().invoke(
        app,
        ["jobs", "list", "--server", server],
        env={"COLUMNS": "60", "MODELYARD_SERVING__MANAGEMENT_TOKEN": TOKEN},
    )

    assert listed.exit_code == 0, listed.output
    assert job_id in listed.stdout


@pytest.mark.parametrize("command", ["get", "watch"])
def test_an_unknown_job_is_one_line_on_stderr_and_exit_1(server: str, command: str) -> None:
    result = modelyard("jobs", command, "no-such-job", server=server)

    assert result.exit_code == 1
    assert result.stderr == "404 no job 'no-such-job'\n"
    assert result.stdout == ""  # no progress bar for a job that is not there


def test_a_category_no_endpoint_serves_is_refused(server: str) -> None:
    result = modelyard("jobs", "create", "--data", "[1]", "--category", "vision", server=server)

    assert result.exit_code == 1
    assert result.stderr == "400 no endpoint serves the category 'vision'\n"


def test_without_the_token_the_jobs_are_kept_from_the_caller(server: str) -> None:
    listed = modelyard("jobs", "list", server=server, token=None)
    wrong = modelyard("jobs", "list", server=server, token="not-it")

    assert listed.exit_code == 1 and listed.stderr.startswith("401 ")
    assert wrong.exit_code == 1 and wrong.stderr.startswith("403 ")


# -- workflows -----------------------------------------------------------------------------


def test_create_start_describe_and_history_of_a_state_machine(server: str, tmp_path: Path) -> None:
    definition = tmp_path / "greet.asl.json"
    definition.write_text(json.dumps(GREET))
    machine_arn = "arn:aws:states:us-east-1:000000000000:stateMachine:greet"

    created = modelyard(
        "workflows", "create", "greet", "--definition", str(definition), server=server
    )
    again = modelyard(
        "workflows", "create", "greet", "--definition", str(definition), server=server
    )
    started = modelyard(
        "workflows",
        "start",
        "greet",
        "--input",
        '{"name": "modelyard"}',
        "--name",
        "first",
        server=server,
    )

    assert created.exit_code == 0, created.output
    assert created.stdout == f"created {machine_arn}\n"
    assert again.exit_code == 0, again.output
    assert again.stdout == f"updated {machine_arn}\n"
    assert started.exit_code == 0, started.output
    execution_arn = started.stdout.strip()
    assert execution_arn == "arn:aws:states:us-east-1:000000000000:execution:greet:first"

    execution = ended(server, execution_arn)
    assert execution["status"] == "SUCCEEDED"
    assert execution["stateMachineArn"] == machine_arn
    assert json.loads(execution["input"]) == {"name": "modelyard"}
    assert json.loads(execution["output"]) == {"greeting": "hello, modelyard"}

    history = modelyard("workflows", "history", execution_arn, server=server)
    assert history.exit_code == 0, history.output
    events = [line.split("│")[1:4] for line in history.stdout.splitlines() if "│" in line]
    assert [[cell.strip() for cell in event] for event in events] == [
        ["1", "ExecutionStarted", ""],
        ["2", "PassStateEntered", "Greet"],
        ["3", "PassStateExited", "Greet"],
        ["4", "ExecutionSucceeded", ""],
    ]
    assert "modelyard" not in history.stdout  # no data without --data
    with_data = modelyard("workflows", "history", execution_arn, "--data", server=server)
    assert with_data.exit_code == 0, with_data.output
    assert "hello, modelyard" in with_data.stdout


def test_start_takes_its_input_from_a_file_or_stdin_and_a_machine_by_arn(
    server: str, tmp_path: Path
) -> None:
    definition = tmp_path / "greet.asl.json"
    definition.write_text(json.dumps(GREET))
    created = modelyard(
        "workflows", "create", "greet-by-arn", "--definition", str(definition), server=server
    )
    machine_arn = created.stdout.split()[-1]
    event = tmp_path / "input.json"
    event.write_text('{"name": "file"}')

    from_file = modelyard("workflows", "start", machine_arn, "--input", f"@{event}", server=server)
    from_stdin = modelyard(
        "workflows",
        "start",
        "greet-by-arn",
        "--input",
        "-",
        server=server,
        stdin='{"name": "pipe"}',
    )

    assert from_file.exit_code == 0, from_file.output
    assert from_stdin.exit_code == 0, from_stdin.output
    outputs = [
        json.loads(ended(server, result.stdout.strip())["output"])
        for result in (from_file, from_stdin)
    ]
    assert outputs == [{"greeting": "hello, file"}, {"greeting": "hello, pipe"}]


def test_the_jobs_machine_runs_by_hand_as_the_readme_shows(server: str, home: Path) -> None:
    # The README: an object of the store, then `workflows start multi_model_inference`.
    inputs = home / "store" / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "iris.json").write_text("[[5.9, 3.0, 5.1, 1.8]]\n")
    machine_input = {
        "job_id": "by-hand",
        "categories": ["iris"],
        "input_location": "s3://inputs/iris.json",
        "content_type": "application/json",
    }

    started = modelyard(
        "workflows",
        "start",
        "multi_model_inference",
        "--input",
        json.dumps(machine_input),
        server=server,
    )

    assert started.exit_code == 0, started.output
    execution = ended(server, started.stdout.strip())
    assert execution["status"] == "SUCCEEDED", execution
    results = {entry["endpoint"]: entry for entry in json.loads(execution["output"])}
    assert set(results) == {"iris-sklearn", "iris-toolkit"}
    assert results["iris-sklearn"]["location"] == "s3://results/by-hand/iris-sklearn.json"
    assert (home / "store" / "results" / "by-hand" / "iris-sklearn.json").read_bytes() == b"[2]"
    assert (home / "store" / "results" / "by-hand" / "summary.json").is_file()

    # A copy of the shipped file under another name is a state machine of its own.
    copied = modelyard(
        "workflows", "create", "fan-out", "--definition", str(JOBS_MACHINE), server=server
    )
    assert copied.exit_code == 0, copied.output
    assert copied.stdout.startswith("created ") and copied.stdout.strip().endswith(":fan-out")


def test_workflow_errors_say_what_went_wrong_and_exit_non_zero(server: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.asl.json"
    bad.write_text('{"StartAt": "Nowhere", "States": {}}')

    unknown_machine = modelyard("workflows", "start", "no-such-machine", server=server)
    unknown_execution = modelyard(
        "workflows",
        "describe",
        "arn:aws:states:us-east-1:000000000000:execution:greet:no-such-execution",
        server=server,
    )
    invalid = modelyard("workflows", "create", "bad", "--definition", str(bad), server=server)
    missing = modelyard(
        "workflows", "create", "bad", "--definition", str(tmp_path / "absent.json"), server=server
    )
    unsigned = modelyard("workflows", "start", "greet", server=server, token=None)

    assert unknown_machine.exit_code == 1
    assert unknown_machine.stderr == "no state machine named 'no-such-machine'\n"
    assert unknown_execution.exit_code == 1
    assert unknown_execution.stderr.startswith("400 Execution Does Not Exist")
    assert invalid.exit_code == 1
    assert invalid.stderr.startswith("400 Invalid State Machine Definition")
    assert "Nowhere" in invalid.stderr
    assert missing.exit_code == 2  # a usage error, named before anything is sent
    assert "absent.json" in missing.stderr and "does not exist" in missing.stderr
    assert unsigned.exit_code == 1
    assert unsigned.stderr.startswith("403 ")


def test_home_reaches_the_server_of_a_home(server: str, tmp_path: Path) -> None:
    """``--home HOME`` instead of ``--server``: the server ``modelyard up --home HOME`` runs."""
    from modelyard.cli_client import write_server_file

    job_id = create_job(server, "--data", "[[5.1, 3.5, 1.4, 0.2]]", "--category", "iris")
    host, port = server.removeprefix("http://").split(":")
    write_server_file(tmp_path, host, int(port))
    env = {"COLUMNS": "250", "MODELYARD_SERVING__MANAGEMENT_TOKEN": TOKEN}
    got = CliRunner().invoke(app, ["jobs", "get", job_id, "--home", str(tmp_path)], env=env)
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["job_id"] == job_id
