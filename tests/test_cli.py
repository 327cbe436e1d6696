"""Acceptance tests: the ``modelyard`` command line run as a user runs it, in subprocesses.

``modelyard serve`` and ``modelyard up`` start real servers on free ports of 127.0.0.1;
the ``modelyard models`` client commands talk to them; SIGINT stops them, and no worker
process may outlive its server. The client commands are also pointed at a port that
refuses connections, and at a bare HTTP server that records what they send.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures import models

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
README = Path(__file__).resolve().parents[1] / "README.md"
#: The console script installed beside this interpreter (the package has no __main__).
MODELYARD = str(Path(sys.executable).parent / "modelyard")


def clean_env() -> dict[str, str]:
    """This environment without any MODELYARD_* setting, and a wide terminal for tables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["COLUMNS"] = "200"
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: fields follow the last ')'.
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclass(frozen=True, kw_only=True)
class RunningServer:
    """A ``modelyard`` server subprocess and where it listens."""

    process: subprocess.Popen[str]
    url: str


def wait_until_up(process: subprocess.Popen[str], url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the server exited with {process.returncode}: {err}")
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server at {url} did not answer /ping within {timeout} s")


StartCliServer = Callable[..., "RunningServer"]


@pytest.fixture
def start_cli_server(tmp_path: Path) -> Iterator[StartCliServer]:
    """``start(*args) -> RunningServer``: runs ``modelyard *args --port P``; killed if left."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> RunningServer:
        port = free_port()
        process = subprocess.Popen(
            [MODELYARD, *args, "--port", str(port)],
            cwd=tmp_path,
            env=clean_env() | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_until_up(process, url)
        return RunningServer(process=process, url=url)

    yield start
    for process in started:
        if process.poll() is None:
            for child in descendants_of(process.pid):
                os.kill(child, signal.SIGKILL)
            process.kill()
            process.communicate()


def descendants_of(pid: int) -> list[int]:
    """Children, grandchildren... of ``pid``: the worker template and the workers."""
    found = []
    todo = [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


def stop(server: RunningServer) -> tuple[str, str]:
    """SIGINT the server as Ctrl+C does; returns its output. Checks the workers are gone."""
    workers = descendants_of(server.process.pid)
    assert len(workers) >= 2, "the server runs no worker template and worker"
    server.process.send_signal(signal.SIGINT)
    out, err = server.process.communicate(timeout=30)
    assert server.process.returncode in (0, -signal.SIGINT, 128 + signal.SIGINT), err
    assert "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while any(is_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if is_running(pid)], "worker processes outlived the server"
    return out, err


def modelyard(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``modelyard *args`` to the end, with ``env`` added to a clean environment."""
    return subprocess.run(
        [MODELYARD, *args],
        cwd=cwd,
        env=clean_env() | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_and_manage_models_from_the_command_line(
    start_cli_server: StartCliServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    models.sum_model(store, name="other")
    server = start_cli_server("serve", "--model-store", str(store))

    loaded = modelyard("models", "load", "sum", "--server", server.url, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert "loaded" in loaded.stdout and "sum" in loaded.stdout

    listed = modelyard("models", "list", "--server", server.url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if " sum " in line]
    assert len(rows) == 1
    assert "ready" in rows[0]
    assert "other" not in listed.stdout  # only loaded models are listed

    invoked = modelyard(
        "models", "invoke", "sum", "--data", "[1,2]", "--server", server.url, cwd=tmp_path
    )
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stdout.strip() == "[3.0]"

    unloaded = modelyard("models", "unload", "sum", "--server", server.url, cwd=tmp_path)
    assert unloaded.returncode == 0, unloaded.stderr
    assert "unloaded" in unloaded.stdout
    assert httpx.get(f"{server.url}/models", timeout=10).json() == {"models": []}

    missing = modelyard(
        "models", "invoke", "nope", "--data", "[1]", "--server", server.url, cwd=tmp_path
    )
    assert missing.returncode == 1
    assert "404" in missing.stderr and "nope" in missing.stderr

    out, _ = stop(server)
    assert server.url in out  # the start-up banner


def test_serve_refuses_a_store_that_is_not_a_folder(tmp_path: Path) -> None:
    result = modelyard("serve", "--model-store", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode == 2
    assert "not a folder" in result.stderr


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_up_serves_the_prepared_examples(
    start_cli_server: StartCliServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make run``, step by step: prepare, train the example pipelines, ``up``; then the
    README's calls, as it shows them, against that server."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        from prepare import (  # type: ignore[import-not-found]
            PIPELINES,
            prepare,
            seed_apis,
            seed_endpoints,
            write_ratings,
        )
    finally:
        sys.path.remove(str(EXAMPLES))
    home = tmp_path / "home"
    assert "iris" in prepare(home)
    assert write_ratings(home) == 12_000
    assert seed_endpoints(home) == [
        "iris-sklearn",
        "iris-toolkit",
        "text-stats",
        "rating",
        "factchecks",
    ]
    assert seed_apis(home) == ["factchecks", "ratings"]
    makefile = (EXAMPLES.parent / "Makefile").read_text()
    listed = " ".join(str(pipeline.relative_to(EXAMPLES.parent)) for pipeline in PIPELINES)
    assert f"PIPELINES := {listed}\n" in makefile  # what `make run` trains
    assert "pipeline run $(PIPELINES) --home .modelyard" in makefile
    paths = [str(pipeline) for pipeline in PIPELINES]
    trained = modelyard("pipeline", "run", *paths, "--home", str(home), cwd=tmp_path)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert trained.stdout.count("Completed") >= 4 and "Failed" not in trained.stdout
    server = start_cli_server("up", "--home", str(home))

    response = httpx.post(
        f"{server.url}/models/iris/invoke",
        content=b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    # Iris classes: setosa (0) and virginica (2).
    assert response.text.split() == ["0", "2"]

    # The README's boto3 walk-through, against the very same `modelyard up`, signed with
    # the credentials its first start wrote, found as the README says.
    import boto3  # type: ignore[import-untyped]

    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    aws = {"endpoint_url": server.url, "region_name": "us-east-1"}
    sagemaker = boto3.client("sagemaker", **aws)
    runtime = boto3.client("sagemaker-runtime", **aws)
    sagemaker.create_model(
        ModelName="iris",
        PrimaryContainer={"Image": "modelyard", "ModelDataUrl": "s3://models/iris"},
        ExecutionRoleArn="arn:aws:iam::000000000000:role/local",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="iris-v1",
        ProductionVariants=[
            {
                "VariantName": "main",
                "ModelName": "iris",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="iris", EndpointConfigName="iris-v1")
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="iris", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
    )
    answer = runtime.invoke_endpoint(
        EndpointName="iris", ContentType="text/csv", Body="5.1,3.5,1.4,0.2"
    )
    assert answer["InvokedProductionVariant"] == "main"
    assert json.loads(answer["Body"].read()) == [0]
    sagemaker.delete_endpoint(EndpointName="iris")
    sagemaker.get_waiter("endpoint_deleted").wait(
        EndpointName="iris", WaiterConfig={"Delay": 0.2, "MaxAttempts": 150}
    )

    token = modelyard("token", "--home", str(home), cwd=tmp_path)
    assert token.returncode == 0, token.stderr
    readme_jobs(server.url, home, token.stdout.strip())
    readme_step_functions(server.url)
    readme_rest_api(server.url)
    readme_built_in_models(server.url)

    out, _ = stop(server)
    assert "iris" in out  # the banner's example request
    assert f"AWS_SHARED_CREDENTIALS_FILE={(home / 'credentials').resolve()}" in out
    assert (home / "modelyard.db").is_file()  # `up` made its database in the home


def readme_rest_api(url: str) -> None:
    """The README's REST API section: the seeded ratings API, as curl calls it."""
    path = (
        "/restapis/ratings/prod/_user_request_/predicted-ratings/u42?items=movie-1,movie-2,movie-3"
    )
    assert f"localhost:8080{path}" in README.read_text()  # what the README shows runs here

    ratings = httpx.get(url + path, timeout=30)
    missing = httpx.get(f"{url}/apis/ratings/prod/predicted-ratings/u42", timeout=30)

    assert ratings.status_code == 200, ratings.text
    predicted = ratings.json()["ratings"]  # from the model the ratings pipeline trained
    assert len(predicted) == 3 and all(1.0 <= rating <= 5.0 for rating in predicted)
    assert len(set(predicted)) == 3  # each item its own, not one mean for all
    assert missing.status_code == 400
    assert missing.json() == {"message": "Missing required request parameters: [items]"}


def readme_built_in_models(url: str) -> None:
    """The README's built-in models: keyphrases of a German text and similar fact-checks,
    from the factchecks pipeline's models behind the multi-model endpoint and its API."""
    readme = README.read_text()
    text = (
        "Die Bundesregierung plant ein Tempolimit auf Autobahnen. "
        "Kritiker sagen, das Tempolimit senke den CO2-Ausstoß kaum."
    )
    assert f"--data-binary '{text}'" in readme
    query = '{"query": "Windräder töten massenhaft Vögel", "k": 2}'
    assert f"-d '{query}'" in readme

    keyphrases = httpx.post(
        f"{url}/apis/factchecks/prod/keyphrases",
        content=text.encode(),
        headers={"Content-Type": "text/plain"},
        timeout=60,
    )
    similar = httpx.post(
        f"{url}/apis/factchecks/prod/similar-factchecks",
        content=query.encode(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )

    assert keyphrases.status_code == 200, keyphrases.text
    phrases = [found["phrase"] for found in keyphrases.json()["keyphrases"]]
    assert phrases[0] == "Tempolimit"
    assert {"Autobahnen", "CO2-Ausstoß", "Bundesregierung"} <= set(phrases)
    assert similar.status_code == 200, similar.text
    hits = similar.json()["hits"]
    assert len(hits) == 2
    assert hits[0]["id"] == "de-095" and "Windräder" in hits[0]["claim"]
    assert set(hits[0]) == {"id", "score", "claim", "verdict", "date", "topic"}


def seeded_endpoints(url: str, timeout: float = 60) -> dict[str, list[str]]:
    """The categories of each endpoint, once every one is InService."""
    deadline = time.monotonic() + timeout
    while True:
        found = httpx.get(f"{url}/admin/endpoints", timeout=10).json()["endpoints"]
        if found and all(e["EndpointStatus"] == "InService" for e in found):
            return {e["EndpointName"]: e["Categories"] for e in found}
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def job_results(url: str, job_id: str, token: str, timeout: float = 60) -> dict[str, Any]:
    """``GET /get-job-results`` once the job has ended."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(
            f"{url}/get-job-results",
            params={"job_id": job_id},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if job["status"] not in ("QUEUED", "RUNNING"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def readme_jobs(url: str, home: Path, token: str) -> None:
    """The README's jobs section: the seeded endpoints, a job as curl creates it, raw data;
    with the bearer token of ``modelyard token``, as the README shows."""
    bearer = {"Authorization": f"Bearer {token}"}
    assert "TOKEN=$(.venv/bin/modelyard token --home .modelyard)" in README.read_text()
    assert seeded_endpoints(url) == {
        "iris-sklearn": ["iris"],
        "iris-toolkit": ["iris"],
        "text-stats": ["text"],
        "rating": ["rating"],
        "factchecks": ["factchecks"],
    }
    body = '{"data": [[5.1, 3.5, 1.4, 0.2]], "categories": ["iris"]}'
    assert f"-d '{body}'" in README.read_text()  # what the README shows is what runs here
    anonymous = httpx.post(
        f"{url}/create-job",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert anonymous.status_code == 401, anonymous.text
    created = httpx.post(
        f"{url}/create-job",
        content=body,
        headers={"Content-Type": "application/json"} | bearer,
        timeout=10,
    )
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]

    job = job_results(url, job_id, token)

    assert job["status"] == "SUCCEEDED", job
    assert job["owner"] == "admin"
    assert job["categories"] == ["iris"]
    assert job["execution_arn"].endswith(f":execution:multi_model_inference:{job_id}")
    results = {result.pop("endpoint"): result for result in job["results"]}
    assert set(results) == {"iris-sklearn", "iris-toolkit"}
    assert results["iris-sklearn"]["output"] == [0]
    prediction = results["iris-toolkit"]["output"]["predictions"][0]
    assert prediction["species"] == "setosa" and prediction["probabilities"][0] > 0.9
    for result in results.values():
        assert result["status"] == "SUCCEEDED"
        assert result["content_type"] == "application/json"
    kept = home / "store" / "results" / job_id
    assert sorted(path.name for path in kept.iterdir()) == [
        "iris-sklearn.json",
        "iris-toolkit.json",
        "summary.json",
    ]

    raw = httpx.post(
        f"{url}/create-job",
        params={"categories": "iris,text"},
        content=b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3",
        headers={"Content-Type": "text/csv"} | bearer,
        timeout=10,
    )
    assert raw.status_code == 202, raw.text
    job = job_results(url, raw.json()["job_id"], token)
    assert job["status"] == "SUCCEEDED", job
    outputs = {result["endpoint"]: result["output"] for result in job["results"]}
    assert outputs["iris-sklearn"] == [0, 2]
    species = [row["species"] for row in outputs["iris-toolkit"]["predictions"]]
    assert species == ["setosa", "virginica"]
    assert outputs["text-stats"] == {"characters": 31, "words": 2, "content_words": 2}

    (home / "store" / "inputs").mkdir()
    (home / "store" / "inputs" / "iris.json").write_text("[[5.9, 3.0, 5.1, 1.8]]")
    stored = httpx.post(
        f"{url}/create-job",
        json={"data_url": "s3://inputs/iris.json", "categories": ["iris"]},
        headers=bearer,
        timeout=10,
    )
    assert stored.status_code == 202, stored.text
    job = job_results(url, stored.json()["job_id"], token)
    assert {result["endpoint"]: result["output"] for result in job["results"]}["iris-sklearn"] == [
        2
    ]

    unknown = httpx.post(
        f"{url}/create-job", json={"data": [1], "categories": ["nope"]}, headers=bearer
    )
    assert unknown.status_code == 400
    assert "nope" in unknown.json()["message"]


def readme_step_functions(url: str) -> None:
    """The README's Step Functions example with boto3: a Task calling an example endpoint."""
    import boto3

    sfn = boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1")
    definition = {
        "StartAt": "Classify",
        "States": {
            "Classify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sagemakerruntime:invokeEndpoint",
                "Parameters": {
                    "EndpointName": "iris-toolkit",
                    "ContentType": "application/json",
                    "Body.$": "$.rows",
                },
                "ResultSelector": {"answer.$": "States.StringToJson($.Body)"},
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="classify",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::000000000000:role/local",
    )
    execution = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"],
        input=json.dumps({"rows": [[6.7, 3.0, 5.2, 2.3]]}),
    )
    deadline = time.monotonic() + 60
    while (found := sfn.describe_execution(executionArn=execution["executionArn"]))[
        "status"
    ] == "RUNNING":
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    assert found["status"] == "SUCCEEDED", found
    assert json.loads(found["output"])["answer"]["predictions"][0]["species"] == "virginica"


def test_sigterm_to_the_process_group_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    store = tmp_path / "store"
    slow = store / "slow"
    slow.mkdir(parents=True)
    (slow / "model.py").write_text(
        "import time\n\nfrom modelyard.serving.model import Model\n\n\n"
        "class Slow(Model):\n"
        "    def predict(self, inputs, parameters):\n"
        "        time.sleep(1.5)\n"
        "        return inputs\n"
    )
    port = free_port()
    # A process group of its own, as a service manager or a terminal would give it.
    process = subprocess.Popen(
        [MODELYARD, "serve", "--model-store", str(store), "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url)
        assert httpx.post(f"{url}/models/slow/invoke", json=[0], timeout=30).json() == [0]
        workers = children_of(process.pid)
        with httpx.Client(timeout=30) as client:
            answer: dict[str, httpx.Response] = {}
            request = threading.Thread(
                target=lambda: answer.update(r=client.post(f"{url}/models/slow/invoke", json=[42]))
            )
            request.start()
            time.sleep(0.5)
            os.killpg(process.pid, signal.SIGTERM)
            request.join()
        assert answer["r"].status_code == 200
        assert answer["r"].json() == [42]
        process.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while any(is_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if is_running(pid)]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


#: Every client command, with what it needs besides --server.
CLIENT_COMMANDS = [
    ["models", "list"],
    ["models", "show", "sum"],
    ["models", "load", "sum"],
    ["models", "unload", "sum"],
    ["models", "invoke", "sum", "--data", "[1,2]"],
]


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound, so that nothing else takes it
    during the test, but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("command", CLIENT_COMMANDS, ids=lambda command: command[1])
def test_a_client_command_says_in_one_line_that_it_cannot_reach_the_server(
    command: list[str], refusing_port: int, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{refusing_port}"

    result = modelyard(*command, "--server", url, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr == f"cannot reach {url}: connection refused\n"
    assert result.stdout == ""


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """A request as the recording server saw it."""

    method: str
    path: str
    #: Its Authorization header, ``None`` without one.
    authorization: str | None


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[RecordedRequest]]]:
    """A bare HTTP server on 127.0.0.1 in a thread: answers ``{}`` to every request and
    records them. Yields its URL and the list of requests it got."""
    requests: list[RecordedRequest] = []

    class Recorder(BaseHTTPRequestHandler):
        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            requests.append(
                RecordedRequest(
                    method=self.command,
                    path=self.path,
                    authorization=self.headers.get("Authorization"),
                )
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the test looks at `requests`

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_client_commands_send_the_management_token_when_it_is_set(
    recording_server: tuple[str, list[RecordedRequest]], tmp_path: Path
) -> None:
    url, requests = recording_server

    with_token = modelyard(
        "models",
        "unload",
        "sum",
        "--server",
        url,
        cwd=tmp_path,
        env={"MODELYARD_SERVING__MANAGEMENT_TOKEN": "s3cret"},
    )
    without_token = modelyard("models", "unload", "sum", "--server", url, cwd=tmp_path)

    assert with_token.returncode == 0, with_token.stderr
    assert without_token.returncode == 0, without_token.stderr
    assert [(r.method, r.path) for r in requests] == [("DELETE", "/models/sum")] * 2
    assert [r.authorization for r in requests] == ["Bearer s3cret", None]


def test_listening_beyond_loopback_guards_management_with_a_printed_token(
    start_cli_server: StartCliServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    # Listening on every address; the test talks to it on 127.0.0.1 only.
    server = start_cli_server("serve", "--model-store", str(store), "--host", "0.0.0.0")
    body = {"model_name": "alias", "url": str(store / "sum")}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.post("/models", json=body).status_code == 401
        assert client.post("/models/sum/invoke", json=[1, 2]).json() == [3.0]  # open
        out, _ = stop(server)
    tokens = [line.split("Bearer ")[1].strip() for line in out.splitlines() if "Bearer " in line]
    assert len(tokens) == 1 and len(tokens[0]) >= 32


def test_a_set_token_is_required_and_never_printed(
    start_cli_server: StartCliServer, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    env = {"MODELYARD_SERVING__MANAGEMENT_TOKEN": "t0ken-of-mine"}
    server = start_cli_server("serve", "--model-store", str(store), "--host", "0.0.0.0", env=env)
    loaded = modelyard("models", "load", "sum", "--server", server.url, cwd=tmp_path, env=env)
    assert loaded.returncode == 0, loaded.stderr
    refused = modelyard("models", "load", "sum", "--server", server.url, cwd=tmp_path)
    assert refused.returncode == 1
    assert "401" in refused.stderr and "Authorization: Bearer" in refused.stderr
    out, err = stop(server)
    assert "t0ken-of-mine" not in out + err
