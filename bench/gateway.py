"""Gateway benchmark: the seed's rating route through the REST gateway, against the endpoint.

Run ``.venv/bin/python bench/gateway.py [--quick]`` (full ~2.5 min, quick < 1 min). Needs
boto3, aiohttp and redis-py (dev extras), a Redis at 127.0.0.1:6379 for the shared
throttling case (without one it is skipped) and, for that case's database, a PostgreSQL at
127.0.0.1:5432 that lets ``postgres`` (or the current user) in without a password (without
one, the two processes share one SQLite file). Everything runs on 127.0.0.1 in a temporary
folder, in real ``modelyard up`` processes (one model worker each).

1. **route vs direct**, on one ``up``: endpoint ``rating`` serves an MMS-style
   ``model_handler.py`` (``{"instances": [{"in0": [u], "in1": [i]}, ...]}`` in,
   ``{"predictions": [{"scores": [x]}, ...]}`` out). An OpenAPI document imported with
   boto3's ``apigateway`` client and deployed to stage ``prod`` puts the seed's rating route
   in front of it: ``GET /predicted-ratings/{user_id}?items=...``, a Cognito user-pools
   authorizer (the administrator's ID token from ``<home>/credentials``), required
   parameters validated, a VTL request template building the instances, the SageMaker
   integration, a VTL response template picking the scores out. The reference is
   ``POST /endpoints/rating/invocations`` with the body the request template produces.
   A third side, the same route without the authorizer (``/open/...``), splits the
   overhead into the authorizer's and the rest's. Every answer is checked.

   - ``overhead_ms_p50``/``p99``: one request at a time (300, full 2,000 of each, after a
     warm-up), the sides taking turns request by request over keep-alive connections;
     the route's latency percentile minus the endpoint's.
   - ``throughput_ratio``: 64 requests in flight for 5 s (full 15 s), the sides in turn,
     two rounds, the best round of each side; with aiohttp, the connections opened before
     the clock starts. The route's answers per second over the endpoint's. The server's
     CPU per request (event loop, other threads, model worker) is kept for each side.

2. **shared throttling**: two ``up`` processes on one database with
   ``MODELYARD_REDIS_URL`` set (a random Redis database, 1..15, its keys of this API
   deleted afterwards); an API with one MOCK method, its stage throttled to
   ``rateLimit=100``, ``burstLimit=100`` (UpdateStage ``/*/*/throttling/...``). Both
   processes are hammered at once, 32 requests in flight each, for T = 5 s (full 10 s)
   from the moment all connections are open: expected 200s = burst + rate x T;
   ``shared_limit_error_pct`` = ``|allowed - expected| / expected x 100``.

It prints tables and writes ``bench/results/gateway.json``. ``--profile DIR`` samples the
rating server's threads during the first throughput round of each side (that round is
then slowed by the sampler) and writes the reports to ``DIR/<side>-c64.txt``.
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import contextlib
import http.client
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import boto3  # type: ignore[import-untyped]
import orjson
from botocore.config import Config  # type: ignore[import-untyped]

from gateway_report import report, verdicts
from procs import Server, servers_stopped, stop_all, wait_http
from servers import MODELYARD
from workflows import find_postgres, percentile
from workflows_sampler import Profile, cpu_seconds, cpu_used

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "gateway.json"
#: Model worker processes of each ``up`` process: the model is trivial.
WORKERS = 1
#: Requests in flight in the throughput runs.
CONCURRENCY = 64
#: Requests in flight to each of the two processes in the shared throttling case.
THROTTLE_CONCURRENCY = 32
#: The stage's throttle in the shared throttling case.
RATE = 100
BURST = 100
REDIS = "redis://127.0.0.1:6379"
STAGE = "prod"
USER = "u42"
ITEMS = ["i1", "i2", "i3"]
#: What the route answers for USER and ITEMS: len("u42") * 10 + len("iN").
RATINGS = [32, 32, 32]
ACCOUNT = "000000000000"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/bench"

#: The seed's request template: the user and each item of ``items`` into an instance.
RATING_REQUEST = (
    "#set($items = $input.params('items').split(','))"
    '{"instances": [#foreach($item in $items)'
    '{"in0": ["$input.params(\'user_id\')"], "in1": ["$item"]}'
    "#if($foreach.hasNext),#end#end]}"
)
#: The seed's response template: the first score of each prediction.
RATING_RESPONSE = (
    "#set($predictions = $input.path('$.predictions'))"
    '{"ratings": [#foreach($p in $predictions)$p.scores[0]#if($foreach.hasNext),#end#end]}'
)
#: The body RATING_REQUEST makes of USER and ITEMS: what the reference sends.
DIRECT_BODY = orjson.dumps({"instances": [{"in0": [USER], "in1": [item]} for item in ITEMS]})
#: An MMS-style handler (as tests/gateway/test_gateway_serving.py's RATING_MODEL).
RATING_MODEL = """\
import json


def handle(data, context):
    if data is None:
        return None
    answers = []
    for request in data:
        document = json.loads(request.get("body") or request.get("data"))
        predictions = [
            {"scores": [len(i["in0"][0]) * 10 + len(i["in1"][0])]}
            for i in document["instances"]
        ]
        answers.append(json.dumps({"predictions": predictions}))
    return answers
"""


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How much each case does."""

    name: str
    #: Requests of each side one at a time (after the warm-up).
    requests: int
    #: Requests of each side one at a time first, not measured.
    warmup: int
    #: Seconds of each throughput run.
    seconds: float
    #: Throughput rounds, the sides in turn; the best of each counts.
    rounds: int
    #: Seconds both processes are hammered in the shared throttling case.
    throttle_seconds: float


QUICK = Mode(name="quick", requests=300, warmup=50, seconds=5, rounds=2, throttle_seconds=5)
FULL = Mode(name="full", requests=2000, warmup=200, seconds=15, rounds=2, throttle_seconds=10)


# -- the platform --------------------------------------------------------------------------


def start_up(home: Path, workdir: Path, env: dict[str, str] | None = None) -> Server:
    """``modelyard up`` over ``home`` with ``env`` added, ready for requests."""
    if not MODELYARD.exists():
        raise SystemExit(f"{MODELYARD} not found: install the project into its .venv first")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
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
        env={**clean, **(env or {})},
    )
    wait_http(server.url + "/ping", server=server)
    return server


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """The administrator's keys and sign-in, as ``up`` writes them to ``<home>/credentials``."""

    #: Access key id and secret (SigV4).
    access_key: str
    secret_key: str
    #: The platform's user pool and app client.
    pool_id: str
    client_id: str
    #: The administrator's password (user ``admin``).
    password: str

    @classmethod
    def of(cls, home: Path) -> Credentials:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(home / "credentials")
        keys = parser["default"]
        return cls(
            access_key=keys["aws_access_key_id"],
            secret_key=keys["aws_secret_access_key"],
            pool_id=keys["modelyard_user_pool_id"],
            client_id=keys["modelyard_client_id"],
            password=keys["modelyard_password"],
        )


def aws(service: str, url: str, credentials: Credentials) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        config=Config(retries={"total_max_attempts": 3}),
    )


def rating_document(pool_arn: str) -> dict[str, Any]:
    """The seed's rating API: one route, Cognito-guarded, VTL around a SageMaker endpoint.

    ``/open/predicted-ratings/{user_id}`` is the same route without the authorizer, to tell
    what the authorizer costs from what the rest of the route does.
    """
    method = {
        "parameters": [
            {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "items", "in": "query", "required": True, "schema": {"type": "string"}},
        ],
        "x-amazon-apigateway-request-validator": "params",
        "responses": {"200": {"description": "ok"}},
        "x-amazon-apigateway-integration": {
            "type": "aws",
            "httpMethod": "POST",
            "uri": "arn:aws:apigateway:us-east-1:runtime.sagemaker:"
            "path//endpoints/rating/invocations",
            "requestTemplates": {"application/json": RATING_REQUEST},
            "passthroughBehavior": "never",
            "responses": {
                "default": {
                    "statusCode": "200",
                    "responseTemplates": {"application/json": RATING_RESPONSE},
                }
            },
        },
    }
    return {
        "openapi": "3.0.1",
        "info": {"title": "bench-rating", "version": "1"},
        "x-amazon-apigateway-request-validators": {
            "params": {"validateRequestParameters": True, "validateRequestBody": False}
        },
        "components": {
            "securitySchemes": {
                "users": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "x-amazon-apigateway-authtype": "cognito_user_pools",
                    "x-amazon-apigateway-authorizer": {
                        "type": "cognito_user_pools",
                        "providerARNs": [pool_arn],
                    },
                }
            }
        },
        "paths": {
            "/predicted-ratings/{user_id}": {"get": {"security": [{"users": []}], **method}},
            "/open/predicted-ratings/{user_id}": {"get": method},
        },
    }


def mock_document() -> dict[str, Any]:
    """An API of one MOCK method (no backend: the gateway's own cost, and its throttle)."""
    return {
        "openapi": "3.0.1",
        "info": {"title": "bench-throttled", "version": "1"},
        "paths": {
            "/hello": {
                "get": {
                    "responses": {"200": {"description": "ok"}},
                    "x-amazon-apigateway-integration": {
                        "type": "mock",
                        "requestTemplates": {"application/json": '{"statusCode": 200}'},
                        "responses": {
                            "default": {
                                "statusCode": "200",
                                "responseTemplates": {"application/json": '{"hello": true}'},
                            }
                        },
                    },
                }
            }
        },
    }


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request of a side, sent the same way every time."""

    method: str
    #: Base URL of the server.
    url: str
    #: Path and query.
    target: str
    headers: dict[str, str]
    body: bytes | None
    #: The answer expected, decoded.
    expected: Any


@dataclass(frozen=True, kw_only=True)
class RatingSetup:
    """The rating route and its reference on one server."""

    api_id: str
    #: The seed's route: authorizer, validation, templates, the endpoint.
    route: Request
    #: The same route without the authorizer.
    open_route: Request
    #: The reference: the endpoint with the mapped body.
    direct: Request

    def sides(self) -> dict[str, Request]:
        """Each side by its key in the results."""
        return {"route": self.route, "open_route": self.open_route, "direct": self.direct}


def deploy_rating(url: str, home: Path, model: Path) -> RatingSetup:
    """Endpoint ``rating``, the rating API deployed to ``prod``, an ID token; both requests."""
    credentials = Credentials.of(home)
    sagemaker = aws("sagemaker", url, credentials)
    apigateway = aws("apigateway", url, credentials)
    idp = aws("cognito-idp", url, credentials)
    sagemaker.create_model(
        ModelName="rating",
        PrimaryContainer={"Image": "modelyard", "ModelDataUrl": str(model)},
        ExecutionRoleArn=ROLE_ARN,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="rating",
        ProductionVariants=[
            {"VariantName": "main", "ModelName": "rating", "InitialInstanceCount": 1}
        ],
    )
    sagemaker.create_endpoint(EndpointName="rating", EndpointConfigName="rating")
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="rating", WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
    )
    pool_arn = f"arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{credentials.pool_id}"
    api = apigateway.import_rest_api(body=json.dumps(rating_document(pool_arn)).encode())
    apigateway.create_deployment(restApiId=api["id"], stageName=STAGE)
    token = idp.initiate_auth(
        ClientId=credentials.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "admin", "PASSWORD": credentials.password},
    )["AuthenticationResult"]["IdToken"]
    for client in (sagemaker, apigateway, idp):
        client.close()
    base = f"/restapis/{api['id']}/{STAGE}/_user_request_"
    query = f"{USER}?items={','.join(ITEMS)}"
    route = Request(
        method="GET",
        url=url,
        target=f"{base}/predicted-ratings/{query}",
        headers={"Authorization": token},
        body=None,
        expected={"ratings": RATINGS},
    )
    open_route = Request(
        method="GET",
        url=url,
        target=f"{base}/open/predicted-ratings/{query}",
        headers={},
        body=None,
        expected={"ratings": RATINGS},
    )
    direct = Request(
        method="POST",
        url=url,
        target="/endpoints/rating/invocations",
        headers={"Content-Type": "application/json"},
        body=DIRECT_BODY,
        expected={"predictions": [{"scores": [rating]} for rating in RATINGS]},
    )
    return RatingSetup(api_id=api["id"], route=route, open_route=open_route, direct=direct)


# -- one request at a time -------------------------------------------------------------------


class Connection:
    """A keep-alive HTTP/1.1 connection sending one side's request: timings exclude
    connecting, and http.client adds less of its own than an asyncio client."""

    def __init__(self, request: Request) -> None:
        self.request = request
        parts = urlsplit(request.url)
        self._connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=60
        )

    def send(self) -> tuple[float, int, bytes]:
        """One request: its time (ms), status and body."""
        request = self.request
        started = time.perf_counter()
        self._connection.request(
            request.method, request.target, body=request.body, headers=request.headers
        )
        answer = self._connection.getresponse()
        body = answer.read()
        return (time.perf_counter() - started) * 1000, answer.status, body

    def checked(self) -> float:
        """One request whose answer must be the expected one; its time (ms)."""
        elapsed, status, body = self.send()
        if status != 200 or orjson.loads(body) != self.request.expected:
            raise RuntimeError(
                f"{self.request.method} {self.request.target} answered {status}: {body[:300]!r}"
            )
        return elapsed

    def close(self) -> None:
        self._connection.close()


def latency(setup: RatingSetup, mode: Mode) -> dict[str, Any]:
    """Each side one request at a time, the sides in turn request by request, so that
    drift (other work, the CPU's clock) affects all alike."""
    connections = {side: Connection(request) for side, request in setup.sides().items()}
    timings: dict[str, list[float]] = {side: [] for side in connections}
    try:
        for _ in range(mode.warmup):
            for connection in connections.values():
                connection.checked()
        for _ in range(mode.requests):
            for side, connection in connections.items():
                timings[side].append(connection.checked())
    finally:
        for connection in connections.values():
            connection.close()

    def figures(values: list[float]) -> dict[str, float]:
        return {
            "p50": round(percentile(values, 0.5), 3),
            "p90": round(percentile(values, 0.9), 3),
            "p99": round(percentile(values, 0.99), 3),
            "mean": round(sum(values) / len(values), 3),
        }

    ms = {side: figures(values) for side, values in timings.items()}
    route, open_route, direct = ms["route"], ms["open_route"], ms["direct"]
    return {
        "requests": mode.requests,
        "warmup": mode.warmup,
        **{f"{side}_ms": values for side, values in ms.items()},
        "overhead_ms_p50": round(route["p50"] - direct["p50"], 3),
        "overhead_ms_p99": round(route["p99"] - direct["p99"], 3),
        # The overhead split: the authorizer, and the rest of the route.
        "authorizer_ms_p50": round(route["p50"] - open_route["p50"], 3),
        "open_route_overhead_ms_p50": round(open_route["p50"] - direct["p50"], 3),
    }


# -- load ------------------------------------------------------------------------------------


@dataclass
class Load:
    """What one run of requests at a fixed concurrency counted."""

    #: Answers by status.
    statuses: dict[int, int] = field(default_factory=dict)
    #: Exceptions (connection errors, timeouts) by kind.
    failures: dict[str, int] = field(default_factory=dict)
    #: The first answer that was neither 200 nor 429, or was a 200 with the wrong body.
    sample: str | None = None
    #: Answers with status 200 whose body was not the expected one.
    wrong: int = 0
    #: Seconds from the first request sent to the last answer.
    elapsed_s: float = 0.0
    #: Seconds requests were being sent (the first sent to the deadline).
    sending_s: float = 0.0

    def count(self, status: int) -> int:
        return self.statuses.get(status, 0)


def http_client(connections: int) -> aiohttp.ClientSession:
    """aiohttp, not httpx: see bench/workflows.py's ``http_client`` (encode/httpx#3215)."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def hammer(
    requests: list[Request], concurrency: int, seconds: float, check: bool = True
) -> Load:
    """Each of ``requests`` sent over and over by ``concurrency`` loops of its own, all at
    once, for ``seconds``; every answer counted.

    With ``check``, a 200's body must be the request's expected answer (else ``wrong``).
    The connections are opened first (a ``GET /ping`` each), so that the clock starts when
    every loop can send at once.
    """
    load = Load()
    loops = [request for request in requests for _ in range(concurrency)]
    async with http_client(len(loops)) as client:

        async def connect(request: Request) -> None:
            async with client.get(request.url + "/ping") as answer:
                await answer.read()

        # All at once: each holds its connection until answered, so none is shared.
        await asyncio.gather(*(connect(request) for request in loops))
        started = time.monotonic()
        deadline = started + seconds

        async def loop(request: Request) -> None:
            address = request.url + request.target
            while time.monotonic() < deadline:
                try:
                    async with client.request(
                        request.method, address, data=request.body, headers=request.headers
                    ) as answer:
                        body = await answer.read()
                        status = answer.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    kind = type(exc).__name__
                    load.failures[kind] = load.failures.get(kind, 0) + 1
                    continue
                load.statuses[status] = load.statuses.get(status, 0) + 1
                if status == 200 and check and orjson.loads(body) != request.expected:
                    load.wrong += 1
                    load.sample = load.sample or f"200 {body[:300]!r}"
                elif status not in (200, 429):
                    load.sample = load.sample or f"{status} {body[:300]!r}"

        await asyncio.gather(*(loop(request) for request in loops))
        load.elapsed_s = time.monotonic() - started
        load.sending_s = seconds
    return load


def throughput(
    server: Server, setup: RatingSetup, mode: Mode, profile: Profile | None, reports: Path | None
) -> dict[str, Any]:
    """The sides at ``CONCURRENCY`` in turn, ``mode.rounds`` rounds; the best of each
    (interference from other work only ever slows a run)."""
    # Warm-up: connections, the stage loaded, the worker's batching settled.
    for request in setup.sides().values():
        asyncio.run(hammer([request], CONCURRENCY, 1.0))
    sides: dict[str, list[dict[str, Any]]] = {side: [] for side in setup.sides()}
    for number in range(mode.rounds):
        for side, request in setup.sides().items():
            with contextlib.ExitStack() as sampling:
                if profile is not None and reports is not None and number == 0:
                    sampling.enter_context(profile.sampling(reports / f"{side}-c64.txt"))
                before = cpu_seconds([server])
                load = asyncio.run(hammer([request], CONCURRENCY, mode.seconds))
                after = cpu_seconds([server])
            ok = load.count(200) - load.wrong
            errors = sum(load.statuses.values()) - ok + sum(load.failures.values())
            spent = cpu_used(before, after, load.elapsed_s)
            per_request = {
                kind: round(spent["seconds"][kind] / ok * 1e6, 1) if ok else None
                for kind in ("main_thread", "other_threads", "workers")
            }
            sides[side].append(
                {
                    "rps": round(ok / load.elapsed_s, 1),
                    "ok": ok,
                    "errors": errors,
                    "error_sample": load.sample,
                    "failures": load.failures,
                    "elapsed_s": round(load.elapsed_s, 3),
                    "server_cpu": spent,
                    "server_cpu_us_per_request": per_request,
                }
            )
    best = {side: max(rounds, key=lambda r: r["rps"]) for side, rounds in sides.items()}
    for side, rounds in sides.items():
        best[side]["rounds_rps"] = [r["rps"] for r in rounds]
    direct_rps = best["direct"]["rps"]
    for figures in best.values():
        figures["ratio"] = round(figures["rps"] / direct_rps, 3) if direct_rps else None
    return {
        "concurrency": CONCURRENCY,
        "seconds": mode.seconds,
        "rounds": mode.rounds,
        **best,
        "throughput_ratio": best["route"]["ratio"],
    }


def rating_case(
    workdir: Path, mode: Mode, step: Callable[[str], None], profile: Path | None
) -> dict[str, Any]:
    """The rating route against the endpoint on one ``up``: latency, then throughput."""
    home = workdir / "home-rating"
    model = workdir / "rating-model"
    model.mkdir()
    (model / "model_handler.py").write_text(RATING_MODEL)
    sampler = None
    # The reference calls the endpoint as the gateway's integration does, with nothing to
    # check (with auth on it would pay for a SigV4 check the route does not make); the
    # route keeps its own Cognito authorizer, which MODELYARD_AUTH does not touch.
    env: dict[str, str] = {"MODELYARD_AUTH": "off"}
    if profile is not None:
        sampler = Profile(flag=workdir / "rating.sampling", out=workdir / "rating.report")
        env |= sampler.environment(workdir)
    server = start_up(home, workdir, env)
    try:
        setup = deploy_rating(server.url, home, model)
        step(f"latency: {mode.requests} requests of each side one at a time")
        single = latency(setup, mode)
        step(f"throughput: c{CONCURRENCY}, {mode.seconds:g} s a side, {mode.rounds} round(s)")
        load = throughput(server, setup, mode, sampler, profile)
    finally:
        server.stop()
    return {"api_id": setup.api_id, "route": setup.route.target, "latency": single, **load}


# -- shared throttling -----------------------------------------------------------------------


@contextlib.contextmanager
def shared_database(workdir: Path) -> Iterator[tuple[str, str]]:
    """A database for two processes: a fresh PostgreSQL one (dropped afterwards), else a
    SQLite file; yields its URL and what it is."""
    postgres, why = find_postgres()
    if postgres is None:
        yield f"sqlite:///{workdir / 'shared.db'}", f"sqlite (no PostgreSQL: {why})"
        return
    with postgres.database(f"modelyard_bench_{os.getpid()}_gateway") as url:
        yield url, "postgresql"


def redis_database() -> tuple[Any | None, str]:
    """A client of a random Redis database (1..15) and its URL, or None and why not."""
    import redis

    number = random.randint(1, 15)
    client = redis.Redis.from_url(f"{REDIS}/{number}", socket_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # redis-py's connection errors
        return None, f"{REDIS}: {exc}"
    return client, f"{REDIS}/{number}"


def throttling_case(workdir: Path, mode: Mode, step: Callable[[str], None]) -> dict[str, Any]:
    """Two ``up`` on one database and one Redis; both hammered at a 100 req/s stage."""
    client, where = redis_database()
    if client is None:
        step(f"shared throttling: skipped ({where})")
        return {"skipped": where}
    with shared_database(workdir) as (database_url, database):
        env = {
            "MODELYARD_DATABASE_URL": database_url,
            "MODELYARD_STORE_URL": str(workdir / "shared-store"),
            "MODELYARD_REDIS_URL": where,
        }
        step(f"shared throttling: two `up` on {database.split(' ')[0]}, Redis {where}")
        first_home = workdir / "home-throttle-0"
        servers = [start_up(first_home, workdir, env)]
        api_id = ""
        try:
            credentials = Credentials.of(first_home)
            apigateway = aws("apigateway", servers[0].url, credentials)
            api_id = apigateway.import_rest_api(body=json.dumps(mock_document()).encode())["id"]
            apigateway.create_deployment(restApiId=api_id, stageName=STAGE)
            apigateway.update_stage(
                restApiId=api_id,
                stageName=STAGE,
                patchOperations=[
                    {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(RATE)},
                    {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(BURST)},
                ],
            )
            apigateway.close()
            # Started once the API exists; it reads the stage (throttle included) itself.
            servers.append(start_up(workdir / "home-throttle-1", workdir, env))
            requests = [
                Request(
                    method="GET",
                    url=server.url,
                    target=f"/restapis/{api_id}/{STAGE}/_user_request_/hello",
                    headers={},
                    body=None,
                    expected={"hello": True},
                )
                for server in servers
            ]
            for request in requests:
                connection = Connection(request)
                try:
                    connection.checked()
                finally:
                    connection.close()
            # The checks took a token each: a full second refills the bucket (burst / rate).
            time.sleep(BURST / RATE + 0.2)
            step(
                f"shared throttling: {THROTTLE_CONCURRENCY} in flight to each of two, "
                f"{mode.throttle_seconds:g} s"
            )
            load = asyncio.run(hammer(requests, THROTTLE_CONCURRENCY, mode.throttle_seconds))
        finally:
            for server in servers:
                server.stop()
            if api_id:
                keys = list(client.scan_iter(match=f"*{api_id}*"))
                if keys:
                    client.delete(*keys)
            client.close()
    allowed = load.count(200) - load.wrong
    expected = BURST + RATE * load.sending_s
    others = sum(n for status, n in load.statuses.items() if status not in (200, 429))
    return {
        "database": database,
        "redis": where,
        "processes": 2,
        "concurrency_each": THROTTLE_CONCURRENCY,
        "rate_limit": RATE,
        "burst_limit": BURST,
        "seconds": load.sending_s,
        "elapsed_s": round(load.elapsed_s, 3),
        "allowed": allowed,
        "throttled": load.count(429),
        "other_answers": others + load.wrong,
        "failures": load.failures,
        "error_sample": load.sample,
        "requests_per_s": round(sum(load.statuses.values()) / load.elapsed_s, 1),
        "expected": round(expected, 1),
        "shared_limit_error_pct": round(abs(allowed - expected) / expected * 100, 2),
    }


# -- putting it together ---------------------------------------------------------------------


def run(mode: Mode, profile: Path | None = None) -> dict[str, Any]:
    """Both cases, in order; the results document."""
    started = time.monotonic()

    def step(what: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {what}", flush=True)

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f}: other work will skew the figures")
    results: dict[str, Any] = {"mode": mode.name}
    with tempfile.TemporaryDirectory(prefix="modelyard-gateway-") as tmp, servers_stopped():
        workdir = Path(tmp)
        step("rating: one `up`, endpoint `rating`, the rating API on stage prod")
        results["rating"] = rating_case(workdir, mode, step, profile)
        results["shared_throttling"] = throttling_case(workdir, mode, step)
    rating = results["rating"]
    results["overhead_ms_p50"] = rating["latency"]["overhead_ms_p50"]
    results["overhead_ms_p99"] = rating["latency"]["overhead_ms_p99"]
    results["throughput_ratio"] = rating["throughput_ratio"]
    results["shared_limit_error_pct"] = results["shared_throttling"].get("shared_limit_error_pct")
    results["machine"] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews every figure: the 1-minute load, before and after.
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
    }
    results["settings"] = {
        "workers_per_process": WORKERS,
        "concurrency": CONCURRENCY,
        "throttle_concurrency_each": THROTTLE_CONCURRENCY,
        "items_per_request": len(ITEMS),
    }
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["targets"] = verdicts(results)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter runs")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the rating server's threads during the first throughput round of each "
        "side; the reports go to the folder DIR",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        results = run(QUICK if args.quick else FULL, args.profile)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        stop_all()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report(results)
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
