"""Workflows benchmark: jobs fanned out to ten endpoints, and a distributed Map, end to end.

Run ``.venv/bin/python bench/workflows.py [--quick]`` (full ~5 min, quick ~1 min). Needs
boto3 and aiohttp (dev extras; s3fs brings aiohttp) and, for the PostgreSQL cases, a server
at 127.0.0.1:5432 that lets ``postgres`` (or the current user) in without a password; without
one those cases are skipped. Everything runs on 127.0.0.1 in a temporary folder, in real
``modelyard up`` processes (one model worker each), over ten endpoints of a trivial native
model (the sum of its inputs) tagged ``category=bench``; a job (``POST /create-job`` with
``categories: ["bench"]``) invokes the ten through the ``multi_model_inference`` machine.

1. **sqlite**: one ``up`` on its SQLite home.
2. **postgres_1**: one ``up`` on a fresh PostgreSQL database (dropped afterwards).
3. **postgres_2**: two ``up`` processes on one fresh database and one object store, job
   *i* sent to process *i* mod 2.
4. **distributed_map** (on the SQLite server): a Distributed Map reads 100,000 JSON lines
   (quick: 20,000) from the store (``ItemReader``), 100 to a child (``ItemBatcher``), a Pass
   state per batch (express children), results exported to the store (``ResultWriter``);
   started and followed with boto3's ``stepfunctions`` client.

Each jobs case runs a warm-up, then the reference and a *burst* in turn (rounds; the best of
each counts), then both one at a time. The burst is 1,000 jobs (quick: 200) submitted at
once, ``CONCURRENCY`` create-job requests at a time; while it runs the client asks only for
a RUNNING execution (ListExecutions) every 50 ms, and fetches each job after the last ended.

- ``jobs_per_s``: burst jobs over the time from the first submission to the latest
  ``finished_at`` the jobs report.
- ``overhead_ms_p50``/``p99``: of the jobs run one at a time (a job in a burst also waits
  for all the others: ``burst.overhead_ms_*``). A job's overhead is its wall time
  (``finished_at - created_at``, its own timestamps) minus its model time, the largest
  ``duration_ms`` of its ten results: they run in parallel, so the slowest bounds the job;
  ``duration_ms`` is the invokeEndpoint task's timing of its InvokeEndpoint call (model,
  worker round trip, endpoint runtime).
- The references, measured in the same run on the same servers: the ten InvokeEndpoint
  calls of each job made directly over HTTP with asyncio, ``CONCURRENCY`` jobs in flight
  (and one at a time); for the Map, a plain loop that reads the same file, batches it and
  writes the same result files. The ratios show what the workflow costs.

It prints tables and writes ``bench/results/workflows.json``. Each run of jobs has a time
limit; one that reaches it reports what it finished and ``timed_out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import io
import json
import os
import platform
import signal
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3  # type: ignore[import-untyped]
import orjson
from botocore.config import Config  # type: ignore[import-untyped]

from procs import Server, servers_stopped, stop_all, wait_http
from servers import MODELYARD
from workflows_report import report, verdicts
from workflows_sampler import Profile, cpu_seconds, cpu_used

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "workflows.json"
BUCKET = "bench"
CATEGORY = "bench"
ENDPOINTS = 10
#: Create-job requests at a time in a burst; jobs in flight in the reference (ten calls each).
CONCURRENCY = 16
#: Model worker processes of each ``up`` process: the model is trivial.
WORKERS = 1
#: Items per child execution of the distributed Map.
BATCH = 100
POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
ROLE_ARN = "arn:aws:iam::123456789012:role/bench"
#: The job's data: the sum model answers [6.0].
DATA = [1, 2, 3]
JSON = {"Content-Type": "application/json"}

#: A native model answering the sum of its inputs (as tests/fixtures/models.py's ``sum``).
SUM_MODEL = """\
import numpy as np

from modelyard.serving.model import Model


class SumModel(Model):
    def predict(self, inputs, parameters):
        values = inputs.values() if isinstance(inputs, dict) else [inputs]
        return np.array([sum(float(np.sum(np.asarray(v, dtype=np.float64))) for v in values)])
"""


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How much each case does, and how long it may take."""

    name: str
    #: Jobs of the burst (all submitted at once, ``CONCURRENCY`` requests at a time): jobs/s.
    jobs: int
    #: Jobs of the one-at-a-time run: the overhead of a job that waits for nothing.
    single_jobs: int
    #: Jobs (and reference jobs) run first, not measured.
    warmup_jobs: int
    #: Rounds of the reference and the burst, in turn; the best of each counts.
    rounds: int
    #: Items of the distributed Map.
    items: int
    #: Seconds each run of jobs (workflow or reference) may take.
    jobs_limit_s: float
    #: Seconds the distributed Map may take.
    map_limit_s: float


QUICK = Mode(
    name="quick",
    jobs=200,
    single_jobs=30,
    warmup_jobs=20,
    rounds=1,
    items=20_000,
    jobs_limit_s=20,
    map_limit_s=30,
)
FULL = Mode(
    name="full",
    jobs=1000,
    single_jobs=100,
    warmup_jobs=50,
    rounds=2,
    items=100_000,
    jobs_limit_s=90,
    map_limit_s=120,
)


# -- the home ------------------------------------------------------------------------------


def build_store(store: Path, items: int) -> None:
    """The model archive ``bench/sum.tar.gz`` and the Map's ``bench/items.jsonl``."""
    bucket = store / BUCKET
    bucket.mkdir(parents=True)
    source = SUM_MODEL.encode()
    with tarfile.open(bucket / "sum.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("model.py")
        info.size = len(source)
        tar.addfile(info, io.BytesIO(source))
    lines = (
        orjson.dumps({"id": i, "name": f"item-{i:06d}", "value": i * 0.5}) for i in range(items)
    )
    (bucket / "items.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def start_up(
    home: Path,
    store: Path,
    workdir: Path,
    database_url: str | None,
    profile: Profile | None = None,
) -> Server:
    """``modelyard up`` over ``home``, with the shared ``store``, ready for requests.

    With ``profile``, its threads are sampled during ``profile.sampling()``.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env = {**clean, "MODELYARD_STORE_URL": str(store)}
    if database_url is not None:
        env["MODELYARD_DATABASE_URL"] = database_url
    if profile is not None:
        env.update(profile.environment(workdir))
    server = Server.start(
        lambda port: [
            str(MODELYARD),
            "up",
            "--home",
            str(home),
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
        ],
        workdir=workdir,
        log_name=f"up-{home.name}",
        env=env,
    )
    wait_http(server.url + "/ping", server=server)
    return server


def aws(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 3}, max_pool_connections=ENDPOINTS),
    )


def deploy(url: str) -> list[str]:
    """Ten endpoints of the sum model tagged ``category=bench``, InService; their names."""
    client = aws("sagemaker", url)
    names = [f"sum-{i}" for i in range(ENDPOINTS)]

    def one(name: str) -> None:
        client.create_model(
            ModelName=name,
            PrimaryContainer={"Image": "modelyard", "ModelDataUrl": f"s3://{BUCKET}/sum.tar.gz"},
            ExecutionRoleArn=ROLE_ARN,
        )
        client.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "main",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        client.create_endpoint(
            EndpointName=name,
            EndpointConfigName=name,
            Tags=[{"Key": "category", "Value": CATEGORY}],
        )
        client.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
        )

    with ThreadPoolExecutor(ENDPOINTS) as pool:
        list(pool.map(one, names))
    return names


# -- PostgreSQL ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Postgres:
    """A reachable PostgreSQL server and the role to use on it."""

    user: str

    def execute(self, sql: str) -> None:
        import psycopg

        conninfo = f"host={POSTGRES_HOST} port={POSTGRES_PORT} dbname=postgres user={self.user}"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql)

    @contextlib.contextmanager
    def database(self, name: str) -> Iterator[str]:
        """A fresh database ``name`` for the block, dropped after it; yields its URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://{self.user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"
        finally:
            self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_postgres() -> tuple[Postgres | None, str]:
    """The PostgreSQL server at 127.0.0.1:5432, or ``None`` and why not."""
    reasons = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        server = Postgres(user=user)
        try:
            server.execute("SELECT 1")
        except Exception as exc:  # psycopg's errors, or psycopg missing
            reasons.append(f"as {user!r}: {str(exc).strip()}")
            continue
        return server, ""
    return None, "; ".join(reasons)


# -- jobs ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@dataclass
class Poller:
    """When to look at a job run one at a time again: guided by how long jobs have taken.

    Each look is a request the server answers, so a job is first looked at after ~80 % of
    the typical time and then every ~15 % of it. The figures come from the jobs' own
    timestamps: when a look happens changes none of them.
    """

    typical_s: float = 0.05

    def first(self) -> float:
        return 0.8 * self.typical_s

    def next(self) -> float:
        return max(0.003, 0.15 * self.typical_s)

    def done(self, elapsed_s: float) -> None:
        self.typical_s = 0.8 * self.typical_s + 0.2 * elapsed_s


@dataclass
class JobsRun:
    """What one run of jobs (workflow or reference) measured."""

    #: Jobs in flight at once (0: all of them, a burst).
    in_flight: int
    #: The jobs as the jobs API answered them at the end (workflow runs).
    jobs: list[dict[str, Any]] = field(default_factory=list)
    #: Each job's time from first request to last answer, client side (reference runs).
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: Wall clock (epoch seconds) of the first request and of the last answer.
    started: float = 0.0
    ended: float = 0.0
    timed_out: bool = False
    #: GET /jobs/{id} requests made.
    looks: int = 0
    #: What ``burst_jobs``' ``reading`` gave once the last job had ended.
    at_end: Any = None


async def run_slots(count: int, slots: int, deadline: float, work: Any, run: JobsRun) -> None:
    """``work(i)`` for i in range(count), ``slots`` at once, until ``deadline`` (monotonic)."""
    numbers = iter(range(count))

    async def slot() -> None:
        for i in numbers:
            if time.monotonic() > deadline:
                run.timed_out = True
                return
            try:
                await asyncio.wait_for(work(i), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                run.timed_out = True
                return
            except Exception as exc:
                run.failures.append(f"{type(exc).__name__}: {exc}"[:300])

    await asyncio.gather(*(slot() for _ in range(slots)))


def http_client() -> aiohttp.ClientSession:
    """The client of every run: aiohttp, not httpx, whose AsyncClient takes ~30 ms for ten
    concurrent requests on loopback (encode/httpx#3215) where aiohttp takes ~6: the client
    would otherwise be what is measured."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY * ENDPOINTS)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def create_job(client: aiohttp.ClientSession, url: str) -> str:
    """POST /create-job: the job's data to every endpoint of the category; its id."""
    body = orjson.dumps({"data": DATA, "categories": [CATEGORY]})
    async with client.post(f"{url}/create-job", data=body, headers=JSON) as created:
        text = await created.read()
        if created.status != 202:
            raise RuntimeError(f"create-job answered {created.status}: {text[:300]!r}")
    return str(orjson.loads(text)["job_id"])


async def look(client: aiohttp.ClientSession, url: str, job_id: str) -> dict[str, Any] | None:
    """GET /jobs/{id}: the job once it has ended (``SUCCEEDED``, else an error), or None."""
    async with client.get(f"{url}/jobs/{job_id}") as answer:
        text = await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET /jobs answered {answer.status}: {text[:300]!r}")
    found: dict[str, Any] = orjson.loads(text)
    if found["status"] in ("QUEUED", "RUNNING"):
        return None
    if found["status"] != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} ended {found['status']}: {found['results']}")
    return found


def jobs_machine(url: str) -> str:
    """The ARN of the state machine every job runs (``multi_model_inference``)."""
    client = aws("stepfunctions", url)
    for page in client.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == "multi_model_inference":
                return str(machine["stateMachineArn"])
    raise RuntimeError("the jobs state machine is missing")


async def burst_jobs(
    urls: list[str], count: int, limit_s: float, reading: Callable[[], Any] | None = None
) -> JobsRun:
    """``count`` jobs submitted at once (``CONCURRENCY`` create-job requests at a time), job
    ``i`` to ``urls[i % len(urls)]``; then each job, with its results.

    While they run, the only other request is a ListExecutions of the jobs' RUNNING
    executions (one at most) every 50 ms, so nothing but the jobs loads the servers until
    the last has ended; the jobs (``GET /jobs/{id}``) are fetched after that. ``reading()``,
    if given, is called then, its value kept in ``at_end``.
    """
    run = JobsRun(in_flight=0)
    deadline = time.monotonic() + limit_s
    submitted: list[tuple[str, str]] = []
    stepfunctions = aws("stepfunctions", urls[0])
    machine = jobs_machine(urls[0])

    def running() -> bool:
        page = stepfunctions.list_executions(
            stateMachineArn=machine, statusFilter="RUNNING", maxResults=1
        )
        return bool(page["executions"])

    async with http_client() as client:

        async def submit(i: int) -> None:
            url = urls[i % len(urls)]
            submitted.append((url, await create_job(client, url)))

        run.started = time.time()
        await run_slots(count, CONCURRENCY, deadline, submit, run)
        while await asyncio.to_thread(running):
            if time.monotonic() > deadline:
                run.timed_out = True
                break
            await asyncio.sleep(0.05)
        run.ended = time.time()
        run.at_end = reading() if reading is not None else None
        gate = asyncio.Semaphore(CONCURRENCY)

        async def fetch(url: str, job_id: str) -> None:
            async with gate:
                run.looks += 1
                try:
                    job = await look(client, url, job_id)
                except Exception as exc:
                    run.failures.append(f"{type(exc).__name__}: {exc}"[:300])
                    return
                if job is not None:
                    run.jobs.append(job)

        await asyncio.gather(*(fetch(url, job_id) for url, job_id in submitted))
    return run


async def workflow_jobs(urls: list[str], count: int, in_flight: int, limit_s: float) -> JobsRun:
    """``count`` jobs, ``in_flight`` at a time, each followed until it ends."""
    run = JobsRun(in_flight=in_flight)
    poller = Poller()
    deadline = time.monotonic() + limit_s
    async with http_client() as client:

        async def job(i: int) -> None:
            url = urls[i % len(urls)]
            sent = time.monotonic()
            job_id = await create_job(client, url)
            await asyncio.sleep(poller.first())
            while True:
                run.looks += 1
                found = await look(client, url, job_id)
                if found is not None:
                    break
                await asyncio.sleep(poller.next())
            poller.done(time.monotonic() - sent)
            run.jobs.append(found)

        run.started = time.time()
        await run_slots(count, in_flight, deadline, job, run)
        run.ended = time.time()
    return run


async def reference_jobs(
    urls: list[str], names: list[str], count: int, in_flight: int, limit_s: float
) -> JobsRun:
    """The same fan-out without a workflow: ten InvokeEndpoint calls a job, over HTTP."""
    run = JobsRun(in_flight=in_flight)
    body = orjson.dumps(DATA)
    deadline = time.monotonic() + limit_s
    async with http_client() as client:

        async def invoke(url: str, name: str) -> None:
            path = f"{url}/endpoints/{name}/invocations"
            async with client.post(path, data=body, headers=JSON) as answer:
                text = await answer.read()
                if answer.status != 200 or orjson.loads(text) != [6.0]:
                    raise RuntimeError(f"{name} answered {answer.status}: {text[:300]!r}")

        async def job(i: int) -> None:
            url = urls[i % len(urls)]
            started = time.perf_counter()
            await asyncio.gather(*(invoke(url, name) for name in names))
            run.latencies_ms.append((time.perf_counter() - started) * 1000)

        run.started = time.time()
        await run_slots(count, in_flight, deadline, job, run)
        run.ended = time.time()
    return run


def rounded(values: list[float], q: float) -> float | None:
    return round(percentile(values, q), 2) if values else None


def job_figures(run: JobsRun, count: int) -> dict[str, Any]:
    """jobs/s and the overhead percentiles of a workflow run."""
    walls, models, overheads = [], [], []
    for job in run.jobs:
        wall = (stamp(job["finished_at"]) - stamp(job["created_at"])) * 1000
        model = max(result["duration_ms"] for result in job["results"])
        walls.append(wall)
        models.append(model)
        overheads.append(wall - model)
    done = len(run.jobs)
    last = max((stamp(job["finished_at"]) for job in run.jobs), default=run.ended)
    elapsed = last - run.started
    return {
        "jobs": count,
        "in_flight": run.in_flight or "all",
        "done": done,
        "timed_out": run.timed_out,
        "failures": len(run.failures),
        "failure_sample": run.failures[:3],
        "elapsed_s": round(elapsed, 3),
        "jobs_per_s": round(done / elapsed, 1) if done else 0.0,
        "overhead_ms_p50": rounded(overheads, 0.5),
        "overhead_ms_p99": rounded(overheads, 0.99),
        "wall_ms_p50": rounded(walls, 0.5),
        "wall_ms_p99": rounded(walls, 0.99),
        "model_ms_p50": rounded(models, 0.5),
        "model_ms_p99": rounded(models, 0.99),
        "looks_per_job": round(run.looks / done, 2) if done else None,
    }


def reference_figures(run: JobsRun, count: int) -> dict[str, Any]:
    done = len(run.latencies_ms)
    elapsed = run.ended - run.started
    return {
        "jobs": count,
        "in_flight": run.in_flight or "all",
        "done": done,
        "timed_out": run.timed_out,
        "failures": len(run.failures),
        "failure_sample": run.failures[:3],
        "elapsed_s": round(elapsed, 3),
        "jobs_per_s": round(done / elapsed, 1) if done else 0.0,
        "latency_ms_p50": rounded(run.latencies_ms, 0.5),
        "latency_ms_p99": rounded(run.latencies_ms, 0.99),
    }


def jobs_case(
    servers: list[Server],
    names: list[str],
    mode: Mode,
    profiles: list[Profile | None] | None = None,
    reports: Path | None = None,
) -> dict[str, Any]:
    """On ``servers``: a warm-up; the reference and the burst of jobs; then both one at a
    time.

    The burst gives jobs/s (and what a job's overhead becomes when all wait together); the
    one-at-a-time run the overhead of a job that waits for no other, which is the figure
    reported as ``overhead_ms_*``. With ``profiles`` (one per server, or None), the first
    burst and the jobs one at a time are sampled, the reports written to ``reports`` as
    ``<server log name>.txt`` and ``<server log name>-one.txt``.
    """
    urls = [server.url for server in servers]
    limit = mode.jobs_limit_s
    warm = asyncio.run(workflow_jobs(urls, mode.warmup_jobs, CONCURRENCY, limit))
    if warm.failures or not warm.jobs:
        raise RuntimeError(f"warm-up jobs failed: {warm.failures[:3]}")
    asyncio.run(reference_jobs(urls, names, mode.warmup_jobs, CONCURRENCY, limit))

    rounds: list[tuple[JobsRun, dict[str, Any], JobsRun, dict[str, Any]]] = []
    for number in range(mode.rounds):
        before = cpu_seconds(servers)
        reference = asyncio.run(reference_jobs(urls, names, mode.jobs, CONCURRENCY, limit))
        middle = cpu_seconds(servers)
        with contextlib.ExitStack() as sampling:
            for server, profile in zip(servers, profiles or [], strict=False):
                if profile is not None and reports is not None and number == 0:
                    sampling.enter_context(profile.sampling(reports / f"{server.log.stem}.txt"))

            def at_end(sampling: contextlib.ExitStack = sampling) -> dict[str, float]:
                # The last job has ended: what comes next (fetching them) is not sampled.
                reading = cpu_seconds(servers)
                sampling.close()
                return reading

            burst = asyncio.run(burst_jobs(urls, mode.jobs, limit, at_end))
        rounds.append(
            (
                reference,
                cpu_used(before, middle, reference.ended - reference.started),
                burst,
                cpu_used(middle, burst.at_end, burst.ended - burst.started),
            )
        )
    single_reference = asyncio.run(reference_jobs(urls, names, mode.single_jobs, 1, limit))
    with contextlib.ExitStack() as sampling:
        for server, profile in zip(servers, profiles or [], strict=False):
            if profile is not None and reports is not None:
                sampling.enter_context(profile.sampling(reports / f"{server.log.stem}-one.txt"))
        single = asyncio.run(workflow_jobs(urls, mode.single_jobs, 1, limit))

    # Interference from other work only ever slows a run: the best round of each side counts.
    ref_rounds = [reference_figures(r, mode.jobs) | {"server_cpu": cpu} for r, cpu, _, _ in rounds]
    job_rounds = [job_figures(b, mode.jobs) | {"server_cpu": cpu} for _, _, b, cpu in rounds]
    ref = max(ref_rounds, key=lambda figures: figures["jobs_per_s"])
    figures = max(job_rounds, key=lambda figures: figures["jobs_per_s"])
    ref["rounds_jobs_per_s"] = [r["jobs_per_s"] for r in ref_rounds]
    figures["rounds_jobs_per_s"] = [r["jobs_per_s"] for r in job_rounds]
    one = job_figures(single, mode.single_jobs)
    rate = ref["jobs_per_s"]
    return {
        "processes": len(servers),
        "jobs_per_s": figures["jobs_per_s"],
        "overhead_ms_p50": one["overhead_ms_p50"],
        "overhead_ms_p99": one["overhead_ms_p99"],
        "ratio_to_reference": round(figures["jobs_per_s"] / rate, 3) if rate else None,
        "burst": figures,
        "one_at_a_time": one,
        "reference": ref,
        "reference_one_at_a_time": reference_figures(single_reference, mode.single_jobs),
    }


# -- the distributed Map -------------------------------------------------------------------


def map_definition() -> str:
    return json.dumps(
        {
            "Comment": "bench: JSON lines from the store, batched, a Pass per batch, exported.",
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:getObject",
                        "ReaderConfig": {"InputType": "JSONL"},
                        "Parameters": {"Bucket": BUCKET, "Key": "items.jsonl"},
                    },
                    "ItemBatcher": {"MaxItemsPerBatch": BATCH},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "Pass",
                        "States": {"Pass": {"Type": "Pass", "End": True}},
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket": BUCKET, "Prefix": "map-results"},
                    },
                    "End": True,
                }
            },
        }
    )


def distributed_map(
    url: str,
    store: Path,
    mode: Mode,
    profile: Profile | None = None,
    reports: Path | None = None,
) -> dict[str, Any]:
    """The Map through the Step Functions API, then the plain-Python reference.

    With ``profile`` (the server's), the Map's run is sampled, the report written to
    ``reports/distributed_map.txt``.
    """
    client = aws("stepfunctions", url)
    machine = client.create_state_machine(
        name="bench-map", definition=map_definition(), roleArn=ROLE_ARN
    )["stateMachineArn"]
    with contextlib.ExitStack() as stack:
        if profile is not None and reports is not None:
            stack.enter_context(profile.sampling(reports / "distributed_map.txt"))
        started = time.perf_counter()
        arn = client.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        deadline = time.monotonic() + mode.map_limit_s
        while True:
            described = client.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    status = described["status"]
    out: dict[str, Any] = {"items": mode.items, "batch": BATCH, "status": status}
    if status != "SUCCEEDED":
        out["timed_out"] = status == "RUNNING"
        out["error"] = described.get("error") or described.get("cause") or ""
        if status == "RUNNING":
            client.stop_execution(executionArn=arn, error="Bench.TimedOut")
        out["items_per_s"] = 0.0
    else:
        server_s = (described["stopDate"] - described["startDate"]).total_seconds()
        manifest_key = json.loads(described["output"])["ResultWriterDetails"]["Key"]
        manifest = json.loads((store / BUCKET / manifest_key).read_bytes())
        children = sum(
            len(json.loads((store / BUCKET / f["Key"]).read_bytes()))
            for f in manifest["ResultFiles"]["SUCCEEDED"]
        )
        expected = -(-mode.items // BATCH)
        if children != expected:
            raise RuntimeError(f"the Map exported {children} children, not {expected}")
        out.update(
            {
                "elapsed_s": round(elapsed, 3),
                "server_elapsed_s": round(server_s, 3),
                "items_per_s": round(mode.items / elapsed, 1),
                "children": children,
            }
        )
    reference_s = map_reference(store / BUCKET / "items.jsonl", store / "reference")
    out["reference"] = {
        "elapsed_s": round(reference_s, 3),
        "items_per_s": round(mode.items / reference_s, 1),
    }
    out["ratio_to_reference"] = round(out["items_per_s"] / out["reference"]["items_per_s"], 4)
    return out


def map_reference(source: Path, folder: Path) -> float:
    """Seconds a plain loop takes to do the Map's work: read, batch, pass, write the results.

    It writes what the Map exports: one entry a batch (its name, input and output as JSON
    text, dates, status) in ``SUCCEEDED_0.json``, and a ``manifest.json``.
    """
    started = time.perf_counter()
    items = [orjson.loads(line) for line in source.read_bytes().splitlines() if line.strip()]
    entries = []
    for number, start in enumerate(range(0, len(items), BATCH)):
        batch_start = time.time()
        given = {"Items": items[start : start + BATCH]}
        output = given  # the Pass state
        text = orjson.dumps(given).decode()
        entries.append(
            {
                "ExecutionArn": f"arn:aws:states:us-east-1:123456789012:execution:bench:{number}",
                "Input": text,
                "InputDetails": {"Included": True},
                "Name": str(number),
                "Output": orjson.dumps(output).decode(),
                "OutputDetails": {"Included": True},
                "StartDate": datetime.fromtimestamp(batch_start).isoformat(),
                "Status": "SUCCEEDED",
                "StopDate": datetime.fromtimestamp(time.time()).isoformat(),
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(entries)
    (folder / "SUCCEEDED_0.json").write_bytes(body)
    manifest = {"ResultFiles": {"SUCCEEDED": [{"Key": "SUCCEEDED_0.json", "Size": len(body)}]}}
    (folder / "manifest.json").write_bytes(orjson.dumps(manifest))
    return time.perf_counter() - started


# -- putting it together ---------------------------------------------------------------------


def run(mode: Mode, only: set[str] | None = None, profile: Path | None = None) -> dict[str, Any]:
    """The cases (``only`` those named), in order; the results document.

    With ``profile``, a folder: each server is sampled during its first burst and its jobs
    one at a time, and the SQLite one during the Map; the reports go there, named after the
    server's log (``up-home-sqlite-PORT.txt``, ``…-one.txt``) and ``distributed_map.txt``.
    """
    started = time.monotonic()

    def step(what: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {what}", flush=True)

    def wanted(*cases: str) -> bool:
        return only is None or bool(only & set(cases))

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f}: other work will skew the figures")
    results: dict[str, Any] = {"mode": mode.name}
    postgres, why = find_postgres()
    with tempfile.TemporaryDirectory(prefix="modelyard-workflows-") as tmp, servers_stopped():
        workdir = Path(tmp)
        store = workdir / "store"
        build_store(store, mode.items)

        def sampler(name: str) -> Profile | None:
            if profile is None:
                return None
            return Profile(flag=workdir / f"{name}.sampling", out=workdir / f"{name}.report")

        if wanted("sqlite", "distributed_map"):
            step("SQLite: one `up`, ten endpoints")
            profiled = sampler("sqlite")
            server = start_up(workdir / "home-sqlite", store, workdir, None, profiled)
            try:
                names = deploy(server.url)
                if wanted("sqlite"):
                    step(f"SQLite: {mode.jobs} jobs, {mode.single_jobs} one at a time, references")
                    results["sqlite"] = jobs_case([server], names, mode, [profiled], profile)
                if wanted("distributed_map"):
                    step(f"distributed Map over {mode.items} items, and the reference")
                    results["distributed_map"] = distributed_map(
                        server.url, store, mode, profiled, profile
                    )
            finally:
                server.stop()

        for key, processes in (("postgres_1", 1), ("postgres_2", 2)):
            if not wanted(key):
                continue
            if postgres is None:
                step(f"{key}: skipped, no PostgreSQL ({why})")
                results[key] = {"skipped": why}
                continue
            step(f"{key}: {processes} `up` on a fresh database, {mode.jobs} jobs")
            with postgres.database(f"modelyard_bench_{os.getpid()}_{key}") as url:
                profiles = [sampler(f"{key}-{i}") for i in range(processes)]
                servers = [start_up(workdir / f"home-{key}-0", store, workdir, url, profiles[0])]
                try:
                    names = deploy(servers[0].url)
                    if processes == 2:
                        # Started after the endpoints exist: it publishes them at start.
                        home = workdir / f"home-{key}-1"
                        servers.append(start_up(home, store, workdir, url, profiles[1]))
                    results[key] = jobs_case(servers, names, mode, profiles, profile)
                finally:
                    for server in servers:
                        server.stop()
    results["machine"] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews every figure: the 1-minute load, before and after.
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
    }
    results["settings"] = {
        "in_flight": CONCURRENCY,
        "endpoints_per_job": ENDPOINTS,
        "workers_per_process": WORKERS,
        "map_batch": BATCH,
        "map_execution_type": "EXPRESS",
    }
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["targets"] = verdicts(results)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 jobs, 20,000 items")
    parser.add_argument(
        "--only",
        action="append",
        choices=["sqlite", "postgres_1", "postgres_2", "distributed_map"],
        help="run only this case (repeatable); the results file is not written",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the servers' threads during the bursts of jobs and the Map; "
        "the reports go to the folder DIR",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    only = set(args.only) if args.only else None
    try:
        results = run(QUICK if args.quick else FULL, only, args.profile)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        stop_all()
    if only is None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report(results)
    if only is None:
        print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
