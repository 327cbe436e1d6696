"""The one settings object of modelyard, read from ``MODELYARD_*`` environment variables.

Build it once at start-up (``Settings()``) and pass it down; nothing else reads the
environment. Nested groups use ``__``: ``MODELYARD_SERVING__MEMORY_BUDGET_MB=2048``.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CaptureSettings",
    "EndpointSettings",
    "FunctionsSettings",
    "GatewaySettings",
    "HttpSettings",
    "MetricsSettings",
    "ServingSettings",
    "Settings",
    "TrainingSettings",
    "WorkflowsSettings",
    "is_loopback",
]


class ServingSettings(BaseModel):
    """Knobs of the multi-model server: memory, workers, limits."""

    memory_budget_mb: float = 2048.0
    """Memory the loaded models may take together, measured in their workers (MiB)."""

    max_loaded_models: int = 1000
    """How many models may be resident at once, whatever their size."""

    workers: int | None = None
    """Worker processes hosting models (each model lives in one of them). Default: one per core."""

    request_timeout_s: float = 60.0
    """A prediction taking longer fails, and its worker is replaced (it may be hung)."""

    load_timeout_s: float = 300.0
    """A model load taking longer fails, and its worker is replaced."""

    max_payload_bytes: int = 6 * 1024 * 1024
    """Largest request body accepted (SageMaker's limit is 6 MiB)."""

    idle_ttl_s: float | None = None
    """Unload a model after this many seconds without requests (pinned models stay)."""

    preload: list[str] = Field(default_factory=list)
    """Models loaded at start-up."""

    pinned: list[str] = Field(default_factory=list)
    """Models never evicted (also preloaded)."""

    worker_memory_limit_mb: float | None = None
    """Hard limit of one worker's memory; a worker over it is replaced. Default: budget + 1 GiB."""

    allowed_model_urls: list[str] | None = None
    """Regular expressions a model URL must match in full to be registered (JSON list), like
    TorchServe's ``allowed_urls``. URLs are normalised first: ``file://`` plus the real path
    for local paths. Default: any local path (``file://.*``) and the object store. Paths
    under ``/proc``, ``/sys`` and ``/dev`` and special files are refused whatever this says."""

    max_artifact_bytes: int = 4 * 2**30
    """Largest model artifact accepted: a folder's files, or an archive and its contents."""

    max_artifact_files: int = 10_000
    """Most files a model artifact may hold (a folder, or an archive's members)."""

    artifact_timeout_s: float = 300.0
    """Longest a model artifact may take to check, download or unpack."""

    management_token: SecretStr | None = None
    """Bearer token the management routes (register, unload, V2 load/unload) require. When
    the server listens beyond loopback and none is set, one is generated and printed."""

    crash_window_s: float = 60.0
    """A model that takes its worker down twice within this many seconds is quarantined."""

    quarantine_s: float = 30.0
    """First quarantine of a crashing model; it doubles each time the model offends again."""

    worker_preload_modules: list[str] = Field(default_factory=lambda: ["numpy", "joblib"])
    """Modules imported once by the template process workers are forked from (shared pages,
    so a replacement worker starts in milliseconds); missing ones are skipped. Libraries a
    model's load imports are added to the template as they are first used."""

    def worker_count(self) -> int:
        """Worker processes to run: as set, else one per core."""
        return self.workers if self.workers is not None else max(1, os.cpu_count() or 1)


class HttpSettings(BaseModel):
    """The HTTP listener shared by every API: slow clients and connection limits."""

    read_timeout_s: float = 30.0
    """A request whose headers and body are not fully received within this time is dropped
    (408); so is a connection that sends nothing at all."""

    keep_alive_s: float = 5.0
    """Idle keep-alive connections are closed after this many seconds."""

    max_connections: int = 4096
    """Open connections at most; beyond it new requests are answered 503."""


class CaptureSettings(BaseModel):
    """Data capture (SageMaker ``DataCaptureConfig``): how captured records reach the store.

    Records wait in memory until the next flush; what does not fit is dropped and counted,
    never slowing an invocation down::

        CaptureSettings(flush_interval_s=1.0, max_buffered_records=50_000)
    """

    flush_interval_s: float = Field(default=2.0, gt=0)
    """Captured records are written to the object store at least this often (seconds)."""

    max_buffered_records: int = Field(default=10_000, ge=1)
    """Records waiting to be written, at most; records beyond it are dropped and counted."""

    max_buffered_bytes: int = Field(default=64 * 2**20, ge=1)
    """Request and response bytes waiting to be written, at most (bodies may be 6 MiB
    each); records beyond it are dropped and counted."""


class MetricsSettings(BaseModel):
    """Prometheus metrics (``GET /metrics``): where several serving processes meet, and how
    many label sets a client can make the platform track::

        MetricsSettings(multiprocess_dir=Path("/run/modelyard/metrics"), max_label_sets=500)
    """

    multiprocess_dir: Path | None = None
    """Folder where every serving process writes its metrics (prometheus-client's
    multiprocess mode), so that ``/metrics`` on any of them reports them all. Empty it before
    the first process starts; unset, each process reports only its own numbers."""

    max_label_sets: int = Field(default=1000, ge=1)
    """Label sets one metric family tracks at most (models; endpoint, variant and model
    triples; endpoint and variant pairs); later ones are reported as ``_other``, so clients
    choosing model or endpoint names cannot grow memory without bound."""


class EndpointSettings(BaseModel):
    """Limits of the endpoints area (SageMaker's account quotas): past one, a create or
    update answers ResourceLimitExceeded::

        EndpointSettings(max_endpoints=100, max_instance_count=4)
    """

    max_models: int = Field(default=10_000, ge=1)
    """SageMaker models (CreateModel) that may exist at once."""

    max_endpoint_configs: int = Field(default=10_000, ge=1)
    """Endpoint configurations that may exist at once."""

    max_endpoints: int = Field(default=10_000, ge=1)
    """Endpoints that may exist at once."""

    max_instance_count: int = Field(default=64, ge=1)
    """Most instances (model replicas) one production variant may ask for; replicas are
    spread over the worker processes, one per worker at most."""


class FunctionsSettings(BaseModel):
    """Functions (the Lambda analog): the worker processes user code runs in, and its limits.

    Each worker runs one invocation at a time; invocations beyond the workers wait for one::

        FunctionsSettings(workers=4, default_timeout_s=30.0)
    """

    workers: int = Field(default=2, ge=1)
    """Worker processes running functions (each imports the handlers it is asked for)."""

    default_timeout_s: float = Field(default=3.0, gt=0, le=900)
    """Timeout of a function registered without one (seconds; Lambda's default is 3)."""

    import_timeout_s: float = Field(default=10.0, gt=0)
    """Longest a handler's module may take to import when a function is registered; the
    worker is replaced past it (Lambda's init phase has 10 seconds)."""

    memory_limit_mb: int = Field(default=3072, ge=128)
    """Memory limit of each worker (``RLIMIT_DATA``, MiB): an allocation past it raises
    ``MemoryError`` in the function. It counts address space reserved, not only used (BLAS
    libraries reserve per thread): keep it well above what functions use. Functions see it
    as ``memory_limit_in_mb``."""

    max_payload_bytes: int = Field(default=6 * 2**20, ge=1)
    """Largest event and largest result of an invocation (Lambda's limit is 6 MiB)."""


class WorkflowsSettings(BaseModel):
    """Workflows (Step Functions): how this process runs standard executions.

    A runner holds a lease on each execution it runs and renews it while it runs; an
    execution whose lease expires (its process died) is resumed by any runner::

        WorkflowsSettings(lease_s=30.0, max_concurrent_executions=1000)
    """

    lease_s: float = Field(default=30.0, gt=0)
    """Seconds a runner's claim on an execution lasts unless renewed: how long an execution
    of a process that died waits before another process (or the restarted one) resumes it."""

    poll_interval_s: float = Field(default=1.0, gt=0)
    """Seconds between looks for executions to run (started by other processes, or left
    by dead ones); executions started or redriven in this process run at once."""

    max_concurrent_executions: int = Field(default=1000, ge=1)
    """Standard executions this process runs at once; more wait for a place (in any
    process sharing the database)."""


class GatewaySettings(BaseModel):
    """The gateway (API Gateway): where integrations may reach, and its access log::

    GatewaySettings(allowed_integration_urls=["https://api\\.example\\.com/.*"])
    """

    allowed_integration_urls: list[str] | None = None
    """Regular expressions an ``HTTP`` / ``HTTP_PROXY`` integration's URL must match in full
    to be called (JSON list). Default: any URL, loopback included."""

    access_log: bool = True
    """Write one JSON line per request served by a deployed API to the access log."""


class TrainingSettings(BaseModel):
    """Training jobs (CreateTrainingJob): how many run at once, and what each may take.

    Jobs beyond the limit wait, recorded ``InProgress`` / ``Starting``, for a place::

        TrainingSettings(max_concurrent_jobs=2, stop_grace_s=30.0, memory_limit_mb=8192)
    """

    max_concurrent_jobs: int | None = Field(default=None, ge=1)
    """Training jobs this process runs at once; more wait for a place. Default: one per core."""

    stop_grace_s: float = Field(default=120.0, gt=0)
    """Seconds a stopped job's processes have between SIGTERM and SIGKILL (StopTrainingJob,
    MaxRuntimeInSeconds); SageMaker gives 120."""

    memory_limit_mb: int | None = Field(default=None, ge=64)
    """Memory each process of a job may allocate (``RLIMIT_DATA``, MiB); past it, an
    allocation fails in the job. Default: no limit."""

    webhooks: list[Annotated[str, Field(pattern=r"^https?://\S+$")]] = Field(default=[])
    """URLs each training pipeline event is POSTed to as JSON (a JSON list), besides
    ``<home>/logs/events.jsonl``; ``modelyard pipeline run --webhook`` adds more."""

    def concurrent_jobs(self) -> int:
        """Jobs to run at once: as set, else one per core."""
        if self.max_concurrent_jobs is not None:
            return self.max_concurrent_jobs
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Everything modelyard can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="MODELYARD_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Path(".modelyard")
    """Folder holding the SQLite file, the object-store folder, caches and logs."""

    database_url: str | None = None
    """SQLAlchemy URL of the database. Default: SQLite file ``<home>/modelyard.db``."""

    sqlite_synchronous: Literal["FULL", "NORMAL"] = "NORMAL"
    """SQLite only: ``NORMAL`` keeps every commit through a crash or ``kill -9`` of the
    process; ``FULL`` also through a power cut or an OS crash, at an fsync per commit
    (each standard workflow step commits)."""

    store_url: str | None = None
    """fsspec URL of the object store (``s3://bucket/prefix`` works). Default: ``<home>/store``."""

    store_options: dict[str, Any] = Field(default_factory=dict)
    """Extra fsspec storage options, e.g. ``{"endpoint_url": "http://127.0.0.1:9000"}`` (JSON)."""

    host: str = "127.0.0.1"
    """Address the HTTP API listens on."""

    port: int = 8080
    """Port the HTTP API listens on."""

    auth: Literal["on", "off"] = "on"
    """Whether callers of the platform's APIs must say who they are (``identity/access.py``):
    AWS Signature Version 4 with an access key on the AWS APIs, a user pool's bearer token
    on the others. ``off`` is accepted only while the server listens on loopback."""

    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9\-]+$")
    """AWS region modelyard answers as, in every ARN (boto3 clients may name any region)."""

    account_id: str = Field(default="000000000000", pattern=r"^[0-9]{12}$")
    """12-digit AWS account id modelyard answers as, in every ARN."""

    redis_url: str | None = None
    """Redis URL (``redis://127.0.0.1:6379/0``) for the gateway's throttling and quotas,
    shared by every process using it; without one they are counted in each process."""

    issuer_url: str | None = None
    """Base URL in the ``iss`` claim of the tokens (``<issuer_url>/<userPoolId>``). Default:
    ``http://<host>:<port>``; set it when several processes share one database, so that a
    token one of them issued verifies in the others."""

    serving: ServingSettings = Field(default_factory=ServingSettings)
    """The multi-model server."""

    endpoints: EndpointSettings = Field(default_factory=EndpointSettings)
    """SageMaker endpoints: models, endpoint configs, endpoints."""

    http: HttpSettings = Field(default_factory=HttpSettings)
    """The HTTP listener."""

    capture: CaptureSettings = Field(default_factory=CaptureSettings)
    """Data capture of endpoint invocations."""

    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    """Prometheus metrics."""

    functions: FunctionsSettings = Field(default_factory=FunctionsSettings)
    """Functions: user code called by name, Lambda-style."""

    workflows: WorkflowsSettings = Field(default_factory=WorkflowsSettings)
    """Workflows: Step Functions state machines and their executions."""

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    """The gateway: deployed REST APIs."""

    training: TrainingSettings = Field(default_factory=TrainingSettings)
    """Training jobs: SageMaker training scripts and algorithms run as local processes."""

    @model_validator(mode="after")
    def _auth_off_on_loopback_only(self) -> Settings:
        if self.auth == "off" and not is_loopback(self.host):
            raise ValueError(
                f"MODELYARD_AUTH=off is accepted only while the server listens on loopback, "
                f"not on {self.host!r}: anyone who reaches the port could manage the platform"
            )
        return self

    @property
    def resolved_issuer_url(self) -> str:
        """The issuer base URL, the default filled in."""
        return (self.issuer_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        """The database URL, the SQLite default filled in."""
        return self.database_url or f"sqlite:///{(self.home / 'modelyard.db').resolve()}"

    @property
    def resolved_store_url(self) -> str:
        """The object store URL, the local-folder default filled in."""
        return self.store_url or str((self.home / "store").resolve())

    @property
    def models_prefix(self) -> str:
        """Where in the object store the models live."""
        return "models"

    @property
    def cache_dir(self) -> Path:
        """Local folder where model artifacts are unpacked before loading."""
        return self.home / "cache"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (a host name other than ``localhost`` may
    resolve to anything, so it is not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
