"""The training area's facade: create, describe, list and stop training jobs.

A created job is recorded ``InProgress`` / ``Starting`` and run (``run.py``) as soon as one
of the ``max_concurrent`` places is free; jobs beyond wait, each in its turn. Jobs survive
a restart of the server: at start, a job left in progress by a process of this host that
is gone is resumed if its algorithm never started, and failed, saying so, if it did (its
process died with the server); a job stopping when its runner died ends ``Stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from modelyard.storage.listing import ListQuery, Page
from modelyard.storage.objectstore import ObjectStore
from modelyard.storage.training_jobs import TrainingJobs
from modelyard.storage.training_records import (
    SecondaryStatus,
    StatusTransition,
    TrainingJob,
    TrainingJobStatus,
)
from modelyard.training.channels import ChannelSource, store_key
from modelyard.training.errors import (
    InvalidTrainingJob,
    TrainingJobExists,
    TrainingJobFinished,
    TrainingJobNotFound,
)
from modelyard.training.layout import JobFolder, check_channel_name
from modelyard.training.metrics import metric_definitions
from modelyard.training.programs import built_in_metric_definitions, program_for
from modelyard.training.run import JobRun, RunLimits

__all__ = ["NewTrainingJob", "TrainingLimits", "TrainingService"]

logger = logging.getLogger(__name__)

#: SageMaker's longest MaxRuntimeInSeconds (5 days); the default is the seed's hour.
MAX_RUNTIME_S: Final = 432_000
DEFAULT_MAX_RUNTIME_S: Final = 3600
#: Seconds a job's process has to end when the server stops (then SIGKILL).
SHUTDOWN_GRACE_S: Final = 5.0


@dataclass(frozen=True, kw_only=True)
class TrainingLimits:
    """How many jobs run at once, and what each may take."""

    max_concurrent: int
    stop_grace_s: float = 120.0
    memory_mb: int | None = None


@dataclass(frozen=True, kw_only=True)
class NewTrainingJob:
    """A CreateTrainingJob request, its shapes already checked by the protocol."""

    name: str
    algorithm: dict[str, Any]
    hyperparameters: dict[str, str]
    input_data_config: list[dict[str, Any]]
    output_data_config: dict[str, Any]
    resource_config: dict[str, Any]
    stopping_condition: dict[str, Any]
    role_arn: str
    environment: dict[str, str]


class TrainingService:
    """Training jobs (see the module)."""

    def __init__(
        self,
        *,
        jobs: TrainingJobs,
        store: ObjectStore,
        root: Path,
        region: str,
        account_id: str,
        limits: TrainingLimits,
        check_local_url: Callable[[str, str], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._jobs = jobs
        self._store = store
        self._root = root
        self._region = region
        self._account_id = account_id
        self._limits = limits
        self._check_local_url = check_local_url
        self._clock = clock
        self._runner = f"{socket.gethostname()}:{os.getpid()}"
        self._places = asyncio.Semaphore(limits.max_concurrent)
        self._runs: dict[str, JobRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Pick up the jobs a dead process of this host left in progress."""
        for job in await asyncio.to_thread(self._jobs.unfinished):
            if not self._runner_is_gone(job.runner):
                continue
            if job.status is TrainingJobStatus.STOPPING:
                await self._finish_orphan(
                    job, TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED, None
                )
            elif job.training_start is None:
                logger.info("resuming training job %s (it had not started)", job.name)
                claimed = await asyncio.to_thread(
                    self._jobs.update,
                    job.name,
                    expected=(TrainingJobStatus.IN_PROGRESS,),
                    runner=self._runner,
                )
                if claimed is not None:
                    self._launch(replace(claimed, transitions=()))
            else:
                await self._finish_orphan(
                    job,
                    TrainingJobStatus.FAILED,
                    SecondaryStatus.FAILED,
                    f"InternalServerError: the server process running the job ({job.runner}) "
                    "stopped while it was training; start the job again",
                )

    async def stop(self) -> None:
        """Stop the jobs running here (SIGTERM, SIGKILL after :data:`SHUTDOWN_GRACE_S`):
        they fail, saying the server stopped. Jobs still waiting for a place are failed
        alike: nothing is left in progress with nobody to run it."""
        for run in self._runs.values():
            run.abandon(SHUTDOWN_GRACE_S)
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S + 5)
            for task in pending:
                task.cancel()

    # -- operations --------------------------------------------------------------------------

    async def create(self, new: NewTrainingJob) -> TrainingJob:
        """Record the job and start it (or queue it); raises the area's errors."""
        self._check(new)
        now = self._clock()
        job = TrainingJob(
            name=new.name,
            arn=self.arn(new.name),
            status=TrainingJobStatus.IN_PROGRESS,
            secondary_status=SecondaryStatus.STARTING,
            algorithm=_with_metric_definitions(new.algorithm),
            hyperparameters=new.hyperparameters,
            input_data_config=new.input_data_config,
            output_data_config=new.output_data_config,
            resource_config=new.resource_config,
            stopping_condition={"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME_S}
            | new.stopping_condition,
            role_arn=new.role_arn,
            environment=new.environment,
            created_at=now,
            last_modified=now,
            transitions=(
                StatusTransition(
                    status=SecondaryStatus.STARTING, start=now, message="Starting the training job"
                ),
            ),
            runner=self._runner,
        )
        if not await asyncio.to_thread(self._jobs.add, job):
            raise TrainingJobExists(
                f"Training job names must be unique within an AWS account and region, and a "
                f"training job with this name already exists ({job.arn})"
            )
        self._launch(job)
        return job

    async def describe(self, name: str) -> TrainingJob:
        job = await asyncio.to_thread(self._jobs.get, name)
        if job is None:
            raise TrainingJobNotFound(f"Requested resource not found: training job {name!r}")
        return job

    async def list(self, query: ListQuery) -> Page[TrainingJob]:
        return await asyncio.to_thread(self._jobs.page, query)

    async def stop_job(self, name: str) -> None:
        """StopTrainingJob: the job goes ``Stopping``, its process gets SIGTERM."""
        job = await self.describe(name)
        if job.status.finished:
            raise TrainingJobFinished(
                f"The request was rejected because the training job is in status {job.status}."
            )
        now = self._clock()
        stopping = await asyncio.to_thread(
            self._jobs.update,
            name,
            expected=(TrainingJobStatus.IN_PROGRESS,),
            status=TrainingJobStatus.STOPPING,
            secondary_status=SecondaryStatus.STOPPING,
            last_modified=now,
        )
        run = self._runs.get(name)
        if run is not None:
            run.stop()
        elif stopping is not None and self._runner_is_gone(stopping.runner):
            await self._finish_orphan(
                stopping, TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED, None
            )

    def arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self._region}:{self._account_id}:training-job/{name.lower()}"

    def log_file(self, name: str) -> Path:
        """Where job ``name``'s log is (it may not exist yet)."""
        return JobFolder(self._root / name).log_file

    # -- helpers -------------------------------------------------------------------------------

    def _check(self, new: NewTrainingJob) -> None:
        try:
            program_for(new.algorithm, new.hyperparameters)
            metric_definitions(new.algorithm.get("MetricDefinitions") or [])
            for channel in new.input_data_config:
                check_channel_name(str(channel.get("ChannelName", "")))
                self._check_uri(_uri_of(channel), f"channel {channel.get('ChannelName')}")
            store_key(str(new.output_data_config.get("S3OutputPath", "")))
            source = new.hyperparameters.get("sagemaker_submit_directory")
            if source is not None:
                self._check_uri(source.strip('"'), "sagemaker_submit_directory")
        except ValueError as exc:
            raise InvalidTrainingJob(str(exc)) from None
        names = [c.get("ChannelName") for c in new.input_data_config]
        if len(set(names)) != len(names):
            raise InvalidTrainingJob("InputDataConfig: channel names must be unique")
        runtime = new.stopping_condition.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_S)
        if not isinstance(runtime, int) or not 1 <= runtime <= MAX_RUNTIME_S:
            raise InvalidTrainingJob(
                f"StoppingCondition.MaxRuntimeInSeconds must be 1 to {MAX_RUNTIME_S}"
            )

    def _check_uri(self, uri: str, what: str) -> None:
        source = ChannelSource.of(uri)
        if source.path is not None:
            # Local data is read in place: only where models may come from.
            self._check_local_url(what, f"file://{source.path}")

    def _launch(self, job: TrainingJob) -> None:
        run = JobRun(
            job,
            jobs=self._jobs,
            store=self._store,
            folder=JobFolder(self._root / job.name),
            limits=RunLimits(
                stop_grace_s=self._limits.stop_grace_s,
                memory_mb=self._limits.memory_mb,
                num_cpus=max(1, os.cpu_count() or 1),
            ),
            base_environment={
                k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")
            },
            clock=self._clock,
        )
        self._runs[job.name] = run

        async def go() -> None:
            try:
                async with self._places:
                    await run.run()
            finally:
                self._runs.pop(job.name, None)

        task = asyncio.get_running_loop().create_task(go(), name=f"training job {job.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_orphan(
        self,
        job: TrainingJob,
        status: TrainingJobStatus,
        secondary: SecondaryStatus,
        reason: str | None,
    ) -> None:
        now = self._clock()
        await asyncio.to_thread(
            self._jobs.update,
            job.name,
            expected=(TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING),
            status=status,
            secondary_status=secondary,
            failure_reason=reason,
            training_end=now if job.training_start is not None else None,
            last_modified=now,
            runner=None,
            transitions=(
                *job.transitions,
                StatusTransition(
                    status=secondary, start=now, end=now, message=reason or "Training job stopped"
                ),
            ),
        )

    def _runner_is_gone(self, runner: str | None) -> bool:
        """Whether the process ``<host>:<pid>`` of this host has ended (another host's
        runners cannot be seen from here: they are left to their host)."""
        if runner is None:
            return True
        host, _, pid = runner.rpartition(":")
        if host != socket.gethostname() or not pid.isdigit():
            return False
        if int(pid) == os.getpid():
            # Ours, yet not running here (the callers look at their runs first): a process
            # before this one had the same pid (a container restarts with the same one).
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), 0)
            return False
        return True


def _uri_of(channel: Mapping[str, Any]) -> str:
    source = channel.get("DataSource") or {}
    uri = (source.get("S3DataSource") or {}).get("S3Uri") or (
        source.get("FileSystemDataSource") or {}
    ).get("DirectoryPath")
    if not uri:
        raise ValueError(
            f"channel {channel.get('ChannelName')}: DataSource.S3DataSource.S3Uri is required"
        )
    return str(uri)


def _with_metric_definitions(algorithm: Mapping[str, Any]) -> dict[str, Any]:
    """``algorithm`` with its built-in's metric definitions when it names none itself."""
    if algorithm.get("MetricDefinitions"):
        return dict(algorithm)
    defined = built_in_metric_definitions(algorithm)
    return dict(algorithm) | ({"MetricDefinitions": defined} if defined else {})
