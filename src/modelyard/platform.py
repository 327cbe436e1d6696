"""The composition root: builds each area, starts and stops them, mounts their routes.

``modelyard up`` runs :func:`build_platform` (database, object store, every area);
``modelyard serve`` runs :func:`build_model_server` (the model server alone over a
folder, like SageMaker's multi-model container). Either way the :class:`Platform` owns
the life cycle: its ASGI application's lifespan starts the areas in order (the serving
facade first, as everything else calls models through it) and stops them in reverse, so
no area is started by another area's application.

Areas get what they need by constructor, never by reaching into another area: the
serving facade is handed to later areas as a ``ModelInvoker``. Each area's routes come
with that area's own error renderer.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from modelyard import openapi
from modelyard.aws import json_protocol as aws_json
from modelyard.aws import openapi as aws_openapi
from modelyard.aws.sigv4 import SigV4Verifier
from modelyard.config import Settings
from modelyard.endpoints import Arns, EndpointLimits, EndpointService
from modelyard.endpoints import control as endpoint_control
from modelyard.endpoints import invocations as endpoint_invocations
from modelyard.endpoints import openapi as endpoints_openapi
from modelyard.endpoints import routes as endpoint_routes
from modelyard.endpoints.capture import CaptureWriter
from modelyard.endpoints.observers import CaptureObserver, MetricsObserver
from modelyard.endpoints.seed import SEED_FILE, EndpointSeed
from modelyard.fastlane import FastLane, Lane
from modelyard.functions import FunctionArns, FunctionService
from modelyard.functions import openapi as functions_openapi
from modelyard.functions import routes as function_routes
from modelyard.gateway import control as gateway_control
from modelyard.gateway import openapi as gateway_openapi
from modelyard.gateway import serving as gateway_serving
from modelyard.gateway.authorizers import Authorizers, signature_verifier
from modelyard.gateway.deployed import StageLoader
from modelyard.gateway.integrations import Backends
from modelyard.gateway.quotas import MemoryQuotas, QuotaCounters, RedisQuotas
from modelyard.gateway.runtime import GatewayRuntime
from modelyard.gateway.seed import SEED_FOLDER as GATEWAY_SEED_FOLDER
from modelyard.gateway.seed import GatewaySeed
from modelyard.gateway.service import GatewayService
from modelyard.gateway.throttling import MemoryBuckets, RedisBuckets, TokenBuckets
from modelyard.identity import cognito
from modelyard.identity import openapi as identity_openapi
from modelyard.identity import routes as identity_routes
from modelyard.identity.access import Access
from modelyard.identity.service import IdentityService
from modelyard.jobs import openapi as jobs_openapi
from modelyard.jobs import routes as job_routes
from modelyard.jobs import tasks as job_tasks
from modelyard.jobs.service import JobService
from modelyard.jobs.tasks import EndpointsOfCategoriesTask, InvokeEndpointWithObjectsTask
from modelyard.jobs.workflows import WorkflowsForJobs
from modelyard.metrics import Metrics
from modelyard.metrics_routes import metrics_route
from modelyard.metrics_routes import openapi_part as metrics_openapi
from modelyard.serving import routes as serving_routes
from modelyard.serving.artifacts import is_local_url
from modelyard.serving.dataplane import DataPlane, build_dataplane
from modelyard.serving.protocols import openapi as serving_openapi
from modelyard.storage.database import Database
from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.storage.registrations import ModelRegistrations
from modelyard.storage.training_jobs import TrainingJobs
from modelyard.training import control as training_control
from modelyard.training import openapi as training_openapi
from modelyard.training import routes as training_routes
from modelyard.training.service import TrainingLimits, TrainingService
from modelyard.workflows import control as workflow_control
from modelyard.workflows import nested_task, s3_task, sagemaker_task
from modelyard.workflows.arns import StatesArns
from modelyard.workflows.executions import RunnerLimits, TaskRegistry
from modelyard.workflows.function_task import INVOKE as FUNCTION_INVOKE
from modelyard.workflows.function_task import FunctionTask
from modelyard.workflows.nested_task import StartExecutionTask
from modelyard.workflows.s3_task import S3Task
from modelyard.workflows.sagemaker_task import InvokeEndpointTask
from modelyard.workflows.service import WorkflowService

__all__ = ["HOT_PATHS", "Area", "Platform", "build_model_server", "build_platform"]

#: The inference routes, most of the traffic: served by ``FastLane`` past the router.
HOT_PATHS = frozenset(
    {
        "/v2/models/{name}/infer",
        "/models/{name}/invoke",
        "/invocations",
        "/predictions/{name}",
        "/endpoints/{name}/invocations",
    }
)

logger = logging.getLogger(__name__)


class Area(Protocol):
    """What the platform starts and stops: an area's background work."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(kw_only=True)
class Platform:
    """The assembled platform: its areas, in start order, and the application serving them."""

    #: Settings it was built from.
    settings: Settings
    #: The serving facade every area calls models through.
    serving: DataPlane
    #: Where the model server's own models are (the store's ``models/`` or a folder).
    models_url: str
    #: The Prometheus metrics every area records into, served at ``GET /metrics``.
    metrics: Metrics
    #: The database, migrated (``up`` only).
    database: Database | None = None
    #: Areas after serving, started in this order and stopped in reverse.
    areas: list[Area] = field(default_factory=list)
    #: Every route, each area's with its own error renderer.
    routes: list[BaseRoute] = field(default_factory=list)

    def __post_init__(self) -> None:
        lanes = [
            Lane.of(route)
            for route in self.routes
            if isinstance(route, Route)
            and route.path in HOT_PATHS
            and "POST" in (route.methods or ())
        ]
        #: The ASGI application: its lifespan is the platform's life cycle.
        self.app = Starlette(
            routes=self.routes,
            middleware=[Middleware(FastLane, lanes=lanes, on_disconnect=_client_gone)],
            exception_handlers={ClientDisconnect: _client_gone, Exception: _unexpected_error},
            lifespan=self._lifespan,
        )

    async def start(self) -> None:
        """Start serving, then every other area; an area failing stops those started."""
        started: list[Area] = []
        try:
            for area in (self.serving, *self.areas):
                await area.start()
                started.append(area)
        except BaseException:
            for area in reversed(started):
                with contextlib.suppress(Exception):
                    await area.stop()
            raise

    async def stop(self) -> None:
        """Stop every area in reverse order, serving last."""
        for area in reversed((self.serving, *self.areas)):
            try:
                await area.stop()
            except Exception:  # the others must still stop
                logger.exception("stopping %s failed", type(area).__name__)
        self.metrics.close()  # last: stopping areas may still record

    async def model_names(self) -> list[str]:
        """The model server's models (for the start-up banner)."""
        return await self.serving.names()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.start()
        # What exists now (modules, settings, route tables) lives as long as the process.
        # Freezing it keeps it out of every later collection: without this, a full
        # collection walks every object of every library imported and stalls the event
        # loop for ~80 ms, which is most of the p99 latency under load.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await self.stop()


def build_platform(settings: Settings) -> Platform:
    """``modelyard up``: create the home, migrate the database, build every area."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store_url = settings.resolved_store_url.rstrip("/")
    models_url = f"{store_url}/{settings.models_prefix}"
    if is_local_url(models_url):
        Path(models_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    database = Database(
        settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    database.migrate()
    metrics = Metrics(settings.metrics)
    serving = build_dataplane(
        settings, models_url, ModelRegistrations(database), store_root=store_url, metrics=metrics
    )
    capture = CaptureWriter(
        open_store(store_url, settings.store_options), settings.capture, metrics=metrics
    )
    endpoints = EndpointService(
        database=database,
        invoker=serving,
        arns=Arns(region=settings.region, account_id=settings.account_id),
        limits=EndpointLimits(**settings.endpoints.model_dump()),
        drain_timeout_s=settings.serving.request_timeout_s,
        observers=[CaptureObserver(capture), MetricsObserver(metrics)],
    )
    seed = EndpointSeed(endpoints, settings.home / SEED_FILE)
    functions = FunctionService(
        database=database,
        arns=FunctionArns(region=settings.region, account_id=settings.account_id),
        settings=settings.functions,
    )
    store = open_store(store_url, settings.store_options)
    # Task resources of state machines, by ARN prefix: the areas that serve them register
    # here (lambda:invoke, sagemaker:invokeEndpoint, s3, states:startExecution).
    task_resources = _task_resources(endpoints, functions, store)
    workflows = WorkflowService(
        database=database,
        arns=StatesArns(region=settings.region, account_id=settings.account_id),
        tasks=task_resources,
        limits=RunnerLimits(
            lease_s=settings.workflows.lease_s,
            poll_interval_s=settings.workflows.poll_interval_s,
            max_concurrent=settings.workflows.max_concurrent_executions,
        ),
        store=store,
    )
    # Local data and code (file://) may come from where models may: the same rule.
    training = build_training(settings, database, store, serving.repository.policy.check)
    # Nested workflows: states:startExecution is served by the workflows facade itself.
    start_execution = StartExecutionTask(workflows, workflow_control.ERRORS.code_for)
    for resource in nested_task.RESOURCES:
        task_resources.register(resource, start_execution)
    jobs = JobService(
        database=database,
        store=store,
        workflows=WorkflowsForJobs(
            workflows, role_arn=f"arn:aws:iam::{settings.account_id}:role/modelyard-jobs"
        ),
        registry=endpoints,
    )
    identity = IdentityService(
        database=database,
        region=settings.region,
        account_id=settings.account_id,
        base_url=settings.resolved_issuer_url,
        home=settings.home,
    )
    gateway = GatewayService(
        database=database, region=settings.region, account_id=settings.account_id
    )
    # Every AWS JSON service answers on POST /, by X-Amz-Target; SageMaker's operations
    # are the endpoints' and the training area's, each with its own error table.
    step_functions = workflow_control.service(workflows)
    sagemaker = aws_json.merged(
        endpoint_control.service(endpoints), training_control.service(training)
    )
    aws_services = [sagemaker, step_functions, cognito.service(identity)]
    access = Access(
        identity,
        enabled=settings.auth == "on",
        management_token=settings.serving.management_token,
    )
    admin_signed = access.signatures()
    admin_guard = access.guard(admin=True)
    buckets, quotas = _rate_limits(settings)
    gateway_runtime = _gateway_runtime(
        settings, gateway, identity, endpoints, functions, step_functions, buckets, quotas
    )
    return Platform(
        settings=settings,
        serving=serving,
        models_url=models_url,
        metrics=metrics,
        database=database,
        # Functions start first and stop last: later areas (workflows) call them. Capture
        # starts before the endpoints that feed it and stops after them. Workflows start
        # last but the jobs (their runner resumes executions whose tasks call the areas
        # before them) and stop first; the jobs make sure their state machine exists. The
        # seed creates the missing endpoints of <home>/seed/endpoints.json once the
        # endpoints area has resumed those it has. Training resumes or fails the jobs a
        # dead process left; it stops (its jobs fail, saying so) before the database goes.
        areas=[
            identity,
            functions,
            capture,
            endpoints,
            seed,
            training,
            workflows,
            jobs,
            gateway,
            GatewaySeed(gateway, settings.home / GATEWAY_SEED_FOLDER),
            gateway_runtime,
        ],
        routes=_routes(
            serving_routes.routes(serving, admin_guard),
            aws_json.routes(aws_services, admin_signed),
            # InvokeEndpoint: any user's key; the control plane: an administrator's.
            endpoint_routes.routes(endpoints, access.signatures(group=None)),
            function_routes.routes(functions, admin_signed, admin_guard),
            training_routes.routes(training, admin_guard),
            job_routes.routes(jobs, store, access.guard(admin=False)),
            identity_routes.routes(identity),
            gateway_serving.routes(gateway_runtime),
            gateway_control.routes(
                gateway,
                admin_signed,
                server_url=f"http://{settings.host}:{settings.port}",
                quotas=quotas,
                test_invoke=gateway_runtime.test_invoke,
            ),
            [metrics_route(metrics)],
            openapi.routes(
                serving_openapi.part(),
                metrics_openapi(),
                aws_openapi.part(aws_services),
                endpoints_openapi.part(),
                functions_openapi.part(),
                training_openapi.part(),
                jobs_openapi.part(),
                identity_openapi.part(),
                gateway_openapi.part(),
            ),
        ),
    )


def build_training(
    settings: Settings,
    database: Database,
    store: ObjectStore,
    check_local_url: Callable[[str, str], str],
) -> TrainingService:
    """The training area over ``database`` and ``store`` (``up``, and ``modelyard pipeline
    run`` in its own process)."""
    return TrainingService(
        jobs=TrainingJobs(database),
        store=store,
        # Absolute: a job's process runs in its own folder, and its SM_* paths name these.
        root=(settings.home / "training").resolve(),
        region=settings.region,
        account_id=settings.account_id,
        limits=TrainingLimits(
            max_concurrent=settings.training.concurrent_jobs(),
            stop_grace_s=settings.training.stop_grace_s,
            memory_mb=settings.training.memory_limit_mb,
        ),
        check_local_url=check_local_url,
    )


def _task_resources(
    endpoints: EndpointService, functions: FunctionService, store: ObjectStore
) -> TaskRegistry:
    """The Task resources state machines may call, each served through its area's facade."""
    registry = TaskRegistry()
    invoke_endpoint = InvokeEndpointTask(
        endpoints, lambda exc: endpoint_invocations.ERRORS.code_for(exc).code
    )
    registry.register(sagemaker_task.RESOURCE, invoke_endpoint)
    function_task = FunctionTask(functions)
    registry.register(FUNCTION_INVOKE, function_task)
    registry.register("arn:aws:lambda:", function_task)  # plain function ARNs
    s3 = S3Task(store)
    for resource in s3_task.RESOURCES:
        registry.register(resource, s3, reads_only=resource in s3_task.READING)
    registry.register(
        job_tasks.ENDPOINTS_OF_CATEGORIES, EndpointsOfCategoriesTask(endpoints), reads_only=True
    )
    registry.register(
        job_tasks.INVOKE_ENDPOINT, InvokeEndpointWithObjectsTask(invoke_endpoint, store)
    )
    return registry


def build_model_server(settings: Settings, model_store: str | Path) -> Platform:
    """``modelyard serve``: the model server alone over ``model_store`` (no database)."""
    metrics = Metrics(settings.metrics)
    serving = build_dataplane(settings, str(model_store), metrics=metrics)
    return Platform(
        settings=settings,
        serving=serving,
        models_url=str(model_store),
        metrics=metrics,
        routes=_routes(
            serving_routes.routes(serving),
            [metrics_route(metrics)],
            openapi.routes(serving_openapi.part(), metrics_openapi()),
        ),
    )


def _gateway_runtime(
    settings: Settings,
    gateway: GatewayService,
    identity: IdentityService,
    endpoints: EndpointService,
    functions: FunctionService,
    step_functions: aws_json.AwsJsonService,
    buckets: TokenBuckets,
    quotas: QuotaCounters,
) -> GatewayRuntime:
    """The serving of deployed APIs, over the areas its integrations and authorizers use."""
    return GatewayRuntime(
        stages=StageLoader(gateway),
        keys=gateway.keys,
        authorizers=Authorizers(
            principal_of_token=identity.principal_of_token,
            verify_sigv4=signature_verifier(SigV4Verifier(identity.secret_for)),
            principal_of_access_key=identity.principal_of_access_key,
            invoke_function=functions.invoke,
        ),
        backends=Backends(
            endpoints=endpoints,
            step_functions=step_functions.operations,
            functions=functions,
            error_code_of=lambda exc: type(exc).__name__,
            allowed_urls=settings.gateway.allowed_integration_urls,
        ),
        buckets=buckets,
        quotas=quotas,
        region=settings.region,
        account_id=settings.account_id,
        domain=f"{settings.host}:{settings.port}",
        access_log_path=(
            settings.home / "logs" / "gateway-access.log" if settings.gateway.access_log else None
        ),
    )


def _rate_limits(settings: Settings) -> tuple[TokenBuckets, QuotaCounters]:
    """The gateway's throttling buckets and quota counters: shared by every process through
    Redis when ``MODELYARD_REDIS_URL`` is set, else this process's own."""
    if settings.redis_url:
        client = redis.asyncio.Redis.from_url(settings.redis_url, socket_timeout=0.5)
        return RedisBuckets(client), RedisQuotas(client)
    return MemoryBuckets(), MemoryQuotas()


def _routes(*groups: Sequence[BaseRoute]) -> list[BaseRoute]:
    return [route for group in groups for route in group]


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Outermost net: a bug of ours answers 500 with its class name, and the server lives on.
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"code": 500, "type": "InternalServerError", "message": f"{type(exc).__name__}: {exc}"},
        status_code=500,
        headers={"x-modelyard-error-type": "InternalServerError"},
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client closed the connection (or the listener timed its body out): nobody is
    # left to answer, and it is no error of ours.
    return Response(status_code=499)
