"""Jobs survive ``kill -9``: a real ``modelyard up`` is killed while 200 jobs fan out to
five endpoints, restarted on the same home and port, and every job then completes, every
endpoint result is stored once, and no task whose completion was recorded ran again.

The endpoints serve *counting models*: each invocation appends a line (which endpoint,
the request body, hence the job's unique marker) to a file in the home before it answers.
They answer nothing until the test opens a gate, once every job is created, and then take
``DELAY_S`` each: the kill, once ``KILL_AFTER`` results are recorded, lands mid-way.
The database is copied right after the kill: the tasks whose ``TaskSucceeded`` it holds
were recorded as done, and must have run exactly once; only a task in flight at the kill
(its ``TaskStarted`` recorded, its ``TaskSucceeded`` not) may have run twice.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.endpoints.conftest import BUCKET, Variant, clients, deploy_endpoint
from tests.fixtures import models
from tests.workflows.processes import UpProcess, running

pytestmark = pytest.mark.slow

JOBS = 200
ENDPOINTS = tuple(f"count-{number}" for number in range(5))
CATEGORY = "counting"
#: Each invocation takes this long, so that the kill lands while jobs are running.
DELAY_S = 0.01
#: Endpoint results recorded as done before the kill (of ``JOBS * len(ENDPOINTS)``).
KILL_AFTER = 300
#: Lease of the runner: a killed server's executions are resumed this soon after it died.
SETTINGS = {
    "MODELYARD_SERVING__WORKERS": "2",
    "MODELYARD_WORKFLOWS__LEASE_S": "2",
    "MODELYARD_WORKFLOWS__POLL_INTERVAL_S": "0.1",
}
#: Map iterations (a job's endpoint answered) recorded as done.
DONE_ITERATIONS = "SELECT count(*) FROM execution_events WHERE type = 'MapIterationSucceeded'"
#: Executions not yet ended.
RUNNING_EXECUTIONS = "SELECT count(*) FROM executions WHERE status = 'RUNNING'"
#: In the names of the local object store's temporary files.
PARTIAL = ".partial-"

#: A native model that waits for the gate, records each invocation, then answers which
#: endpoint it serves and what it was asked.
COUNTING_MODEL = """
import json
import os
import time

from modelyard.serving.model import Model


class Counting(Model):
    def predict(self, inputs, parameters):
        settings = self.settings.parameters
        while not os.path.exists(settings["gate"]):
            time.sleep(0.01)
        line = json.dumps({"endpoint": settings["endpoint"], "body": inputs}) + "\\n"
        # One write of an O_APPEND file: lines of concurrent workers never interleave.
        fd = os.open(settings["record"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        time.sleep(float(settings["delay_s"]))
        return {"endpoint": settings["endpoint"], "body": inputs}
"""


def counting_archives(home: Path, record: Path, gate: Path) -> None:
    """``s3://models/<endpoint>.tar.gz``: a counting model per endpoint, which answers
    nothing until ``gate`` exists."""
    bucket = home / "store" / BUCKET
    bucket.mkdir(parents=True, exist_ok=True)
    for endpoint in ENDPOINTS:
        folder = home / "sources" / endpoint
        folder.mkdir(parents=True)
        (folder / "model.py").write_text(COUNTING_MODEL.lstrip())
        parameters = {
            "endpoint": endpoint,
            "record": str(record),
            "gate": str(gate),
            "delay_s": DELAY_S,
        }
        (folder / "model-settings.json").write_text(json.dumps({"parameters": parameters}))
        shutil.copy(models.tarball(folder), bucket / f"{endpoint}.tar.gz")


@dataclass(frozen=True, kw_only=True)
class Tasks:
    """What a history says of the invokeEndpoint tasks: ``(job id, endpoint)`` pairs."""

    #: Pairs whose task started (its resource may have been called).
    started: frozenset[tuple[str, str]]
    #: Pairs whose task succeeded (its result recorded).
    succeeded: frozenset[tuple[str, str]]
    #: Every event, ``execution key -> [(id, key, type)]`` by id.
    events: dict[str, list[tuple[int, str, str]]]


def read_tasks(database: Path) -> Tasks:
    """The invokeEndpoint tasks the SQLite ``database`` recorded."""
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(
            "SELECT execution_key, id, key, type, details FROM execution_events "
            "ORDER BY execution_key, id"
        ).fetchall()
    finally:
        connection.close()
    events: dict[str, list[tuple[int, str, str]]] = {}
    # The endpoint of a task is in its TaskScheduled's parameters; the others of its
    # attempt are in the same scope (the event key up to '#').
    endpoint_of: dict[tuple[str, str], str] = {}
    started: set[tuple[str, str]] = set()
    succeeded: set[tuple[str, str]] = set()
    for execution, event_id, key, kind, details in rows:
        events.setdefault(execution, []).append((event_id, key, kind))
        job = execution.partition(":")[2]
        scope = key.partition("#")[0]
        if kind == "TaskScheduled":
            scheduled = json.loads(details)
            if scheduled["resource"] == "invokeEndpoint":
                endpoint_of[execution, scope] = json.loads(scheduled["parameters"])["EndpointName"]
        elif kind in ("TaskStarted", "TaskSucceeded") and (execution, scope) in endpoint_of:
            pair = (job, endpoint_of[execution, scope])
            (started if kind == "TaskStarted" else succeeded).add(pair)
    return Tasks(started=frozenset(started), succeeded=frozenset(succeeded), events=events)


def snapshot(home: Path, into: Path) -> Path:
    """A copy of the home's SQLite database (with its write-ahead log) in ``into``."""
    into.mkdir()
    for path in home.glob("modelyard.db*"):
        shutil.copy(path, into / path.name)
    return into / "modelyard.db"


def invocations(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def count(database: Path, query: str) -> int:
    """What ``query`` counts in the running server's ``database`` (read-only)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return int(connection.execute(query).fetchone()[0])
    finally:
        connection.close()


def results(store: Path) -> list[Path]:
    """The endpoint results in the object store."""
    return list(store.glob("results/*/count-*.json"))


def create_jobs(http: httpx.Client) -> dict[str, str]:
    """``JOBS`` jobs on the counting category; ``marker -> job id``."""

    def create(number: int) -> tuple[str, str]:
        marker = f"marker-{number}"
        answer = http.post(
            "/create-job", json={"data": {"marker": marker}, "categories": [CATEGORY]}
        )
        assert answer.status_code == 202, answer.text
        return marker, answer.json()["job_id"]

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(create, range(JOBS)))


def statuses(http: httpx.Client) -> dict[str, str]:
    """Every job's status, from ``GET /jobs``."""
    found: dict[str, str] = {}
    token = None
    while True:
        params = {"max_results": "100"} | ({"next_token": token} if token else {})
        page = http.get("/jobs", params=params).json()
        found.update((job["job_id"], job["status"]) for job in page["jobs"])
        token = page["next_token"]
        if token is None:
            return found


def wait_until(database: Path, query: str, done: Callable[[int], bool], timeout: float) -> None:
    """Poll ``query`` until its count is ``done``; fail with the last count past ``timeout``."""
    deadline = time.monotonic() + timeout
    while not done(found := count(database, query)):
        assert time.monotonic() < deadline, f"{query!r} still {found} after {timeout} s"
        time.sleep(0.05)


def test_jobs_complete_once_each_after_the_server_is_killed_mid_way(tmp_path: Path) -> None:
    home = tmp_path / "home"
    record, gate = home / "invocations.jsonl", home / "gate"
    counting_archives(home, record, gate)
    server = UpProcess(home, env=SETTINGS)
    store = home / "store"
    with running(server):
        server.start()
        sagemaker, _ = clients(server.url)
        for endpoint in ENDPOINTS:
            deploy_endpoint(
                sagemaker,
                endpoint,
                Variant("main", f"{endpoint}.tar.gz"),
                tags=[{"Key": "category", "Value": CATEGORY}],
            )
        sagemaker.close()
        began = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            jobs = create_jobs(http)
        # The models answer from now on, at their pace: the kill lands mid-way.
        gate.touch()
        opened = time.monotonic()
        database = home / "modelyard.db"
        wait_until(database, DONE_ITERATIONS, lambda found: found >= KILL_AFTER, 60)
        server.kill()
        killed = time.monotonic()
        before = read_tasks(snapshot(home, tmp_path / "snapshot"))
        invoked, written = len(invocations(record)), len(results(store))

        server.start()
        restarted = time.monotonic()
        wait_until(database, RUNNING_EXECUTIONS, lambda found: found == 0, 60)
        done = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            final = statuses(http)
        after = read_tasks(database)

    calls = Counter(
        (jobs[line["body"]["marker"]], line["endpoint"]) for line in invocations(record)
    )
    again = {pair for pair, times in calls.items() if times > 1}
    print(
        f"{JOBS} jobs created in {opened - began:.1f} s; killed {killed - opened:.1f} s later "
        f"({invoked} invocations, {written} results stored, {len(before.succeeded)} recorded "
        f"as done); restarted in {restarted - killed:.1f} s; done {done - restarted:.1f} s "
        f"later; {len(again)} tasks in flight at the kill ran again"
    )

    pairs = {(job, endpoint) for job in jobs.values() for endpoint in ENDPOINTS}
    # The kill landed mid-way: some tasks had been recorded as done, not all.
    assert 0 < len(before.succeeded) < len(pairs), len(before.succeeded)
    assert set(final) == set(jobs.values())
    assert Counter(final.values()) == {"SUCCEEDED": JOBS}

    # Every endpoint result is stored, once, where the job says, with what was asked.
    # (A write the kill cut short leaves its temporary "<key>.partial-<hex>" file behind:
    # the local object store writes beside the object and renames.)
    for marker, job in jobs.items():
        names = sorted(
            path.name for path in (store / "results" / job).iterdir() if PARTIAL not in path.name
        )
        assert names == sorted([f"{endpoint}.json" for endpoint in ENDPOINTS] + ["summary.json"])
        for endpoint in ENDPOINTS:
            answer = json.loads((store / "results" / job / f"{endpoint}.json").read_bytes())
            assert answer == {"endpoint": endpoint, "body": {"marker": marker}}
    assert after.succeeded == pairs

    # Each task ran once, but one in flight at the kill (started, not recorded as done),
    # which may have run again after the restart.
    assert set(calls) == pairs
    repeated = sorted(again & before.succeeded)
    assert not repeated, f"{len(repeated)} tasks done before the kill ran again: {repeated[:3]}"
    assert again <= before.started, sorted(again - before.started)[:3]
    assert max(calls.values()) == 2 if again else 1

    # Nothing recorded before the kill was recorded again, or differently.
    for execution, recorded in before.events.items():
        assert after.events[execution][: len(recorded)] == recorded, execution
        ids = [event_id for event_id, _, _ in after.events[execution]]
        assert ids == list(range(1, len(ids) + 1)), execution
