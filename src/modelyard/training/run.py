"""One training job, run through SageMaker's steps and recorded as it goes.

``Starting`` (its folder laid out) → ``Downloading`` (channels and code) → ``Training``
(the algorithm's process) → ``Uploading`` (``model.tar.gz`` and ``output.tar.gz`` to the
store) → ``Completed``; or ``Failed`` with the failure file's reason (else the exit status
and the log's last line), ``Stopped`` (StopTrainingJob: the model saved so far is kept, as
SageMaker keeps it), ``MaxRuntimeExceeded`` (status ``Stopped``, with a reason naming the
limit). Each step is a ``SecondaryStatusTransitions`` entry; the job's row is updated
only while it is still the one in progress, so a job cannot end twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelyard.storage.objectstore import ObjectStore
from modelyard.storage.training_jobs import TrainingJobs
from modelyard.storage.training_records import (
    SecondaryStatus,
    StatusTransition,
    TrainingJob,
    TrainingJobStatus,
)
from modelyard.training.channels import (
    ChannelSource,
    bring_channel,
    model_key,
    pack_folder,
    store_url,
)
from modelyard.training.environment import sm_environment
from modelyard.training.layout import CURRENT_HOST, JobFolder
from modelyard.training.metrics import final_metrics, metric_definitions
from modelyard.training.process import Ending, ProcessLimits, TrainingProcess
from modelyard.training.programs import bring_code, program_for

__all__ = ["JobRun", "RunLimits"]

logger = logging.getLogger(__name__)

_ACTIVE = (TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING)


@dataclass(frozen=True, kw_only=True)
class RunLimits:
    """What every job's process may take, besides its own MaxRuntimeInSeconds."""

    #: Seconds between SIGTERM and SIGKILL when a job is stopped (SageMaker: 120).
    stop_grace_s: float = 120.0
    #: Memory each of its processes may allocate (MiB); None: no limit.
    memory_mb: int | None = None
    #: CPUs a job is told it has (``SM_NUM_CPUS``).
    num_cpus: int = 1


class JobRun:
    """The run of one job (see the module); :meth:`stop` asks it to end early."""

    def __init__(
        self,
        job: TrainingJob,
        *,
        jobs: TrainingJobs,
        store: ObjectStore,
        folder: JobFolder,
        limits: RunLimits,
        base_environment: Mapping[str, str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._job = job
        self._jobs = jobs
        self._store = store
        self._folder = folder
        self._limits = limits
        self._base_environment = dict(base_environment)
        self._clock = clock
        self._process: TrainingProcess | None = None
        self._stop_asked = False
        self._abandoned = False

    def stop(self) -> None:
        """Stop the job: its process gets SIGTERM (and SIGKILL after the grace period)."""
        self._stop_asked = True
        if self._process is not None:
            self._process.stop()

    def abandon(self, grace_s: float) -> None:
        """The server is going: stop the process within ``grace_s`` and fail the job."""
        self._abandoned = True
        self._stop_asked = True
        if self._process is not None:
            self._process.stop(grace_s)

    async def run(self) -> TrainingJob:
        """Run the job to its end; the job as it ended. Never raises for the job's faults."""
        try:
            return await self._run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a fault of ours, or of the job's data: the job fails
            logger.exception("training job %s failed", self._job.name)
            return await self._end(
                TrainingJobStatus.FAILED, SecondaryStatus.FAILED, reason=_reason(exc)
            )

    async def _run(self) -> TrainingJob:
        job = self._job
        if self._stop_asked:  # stopped while it waited for a place
            return await self._stopped()
        program = program_for(job.algorithm, job.hyperparameters)
        await self._step(SecondaryStatus.STARTING, "Preparing the instances for training")
        config = {c["ChannelName"]: _channel_config(c) for c in job.input_data_config}
        await asyncio.to_thread(
            self._folder.create,
            hyperparameters=job.hyperparameters,
            input_data_config=config,
            resource_config={"current_host": CURRENT_HOST, "hosts": [CURRENT_HOST]},
        )
        await self._step(SecondaryStatus.DOWNLOADING, "Downloading input data")
        for channel in job.input_data_config:
            source = ChannelSource.of(_channel_uri(channel))
            target = self._folder.channel_dir(channel["ChannelName"])
            await asyncio.to_thread(bring_channel, self._store, source, target)
        if program.module_dir is not None:
            await asyncio.to_thread(
                bring_code, self._store, program.module_dir, self._folder.code_dir
            )
        if self._stop_asked:
            return await self._stopped()
        await self._step(
            SecondaryStatus.TRAINING, "Training image download completed. Training in progress."
        )
        max_runtime = int(job.stopping_condition.get("MaxRuntimeInSeconds", 3600))
        env = self._base_environment | dict(job.environment)
        env |= sm_environment(
            self._folder,
            job_name=job.name,
            hyperparameters=job.hyperparameters,
            input_data_config=config,
            num_cpus=self._limits.num_cpus,
            entry_point=program.entry_point,
            module_dir=program.module_dir,
        )
        self._process = TrainingProcess(
            program.command,
            env=env,
            cwd=self._folder.code_dir,
            log_file=self._folder.log_file,
            limits=ProcessLimits(
                max_runtime_s=max_runtime,
                stop_grace_s=self._limits.stop_grace_s,
                memory_mb=self._limits.memory_mb,
            ),
        )
        if self._stop_asked:
            self._process.stop()
        outcome = await self._process.run()
        metrics = await asyncio.to_thread(self._metrics)
        if self._abandoned:
            return await self._stopped()
        if outcome.ending is Ending.FAILED:
            failure = self._folder.failure_reason() or (
                f"AlgorithmError: the algorithm exited with status {outcome.exit_code}"
                + await asyncio.to_thread(self._last_log_line)
            )
            return await self._end(
                TrainingJobStatus.FAILED, SecondaryStatus.FAILED, reason=failure, metrics=metrics
            )
        await self._step(SecondaryStatus.UPLOADING, "Uploading generated training model")
        artifacts = await asyncio.to_thread(self._upload)
        reason: str | None = None
        if outcome.ending is Ending.COMPLETED:
            status, secondary, reason = TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, None
        elif outcome.ending is Ending.MAX_RUNTIME:
            status, secondary = TrainingJobStatus.STOPPED, SecondaryStatus.MAX_RUNTIME_EXCEEDED
            reason = (
                f"The job reached its MaxRuntimeInSeconds of {max_runtime} s and was stopped "
                "(SIGTERM, then SIGKILL to its processes after the grace period)"
            )
        else:
            status, secondary, reason = TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED, None
        return await self._end(
            status, secondary, reason=reason, metrics=metrics, artifacts=artifacts
        )

    # -- steps ---------------------------------------------------------------------------

    async def _stopped(self) -> TrainingJob:
        if self._abandoned:
            return await self._end(
                TrainingJobStatus.FAILED,
                SecondaryStatus.FAILED,
                reason="InternalServerError: the server stopped while the job was running; "
                "start the job again",
            )
        return await self._end(TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED)

    async def _step(self, status: SecondaryStatus, message: str) -> None:
        last = self._job.transitions[-1] if self._job.transitions else None
        if last is not None and last.status is status and last.end is None:
            return  # already there (a job is recorded Starting when created)
        now = self._clock()
        changes: dict[str, Any] = {
            "secondary_status": status,
            "transitions": (
                *_closed(self._job.transitions, now),
                StatusTransition(status=status, start=now, message=message),
            ),
            "last_modified": now,
        }
        if status is SecondaryStatus.TRAINING:
            changes["training_start"] = now
        await self._update(**changes)

    async def _end(
        self,
        status: TrainingJobStatus,
        secondary: SecondaryStatus,
        *,
        reason: str | None = None,
        metrics: Mapping[str, float] | None = None,
        artifacts: str | None = None,
    ) -> TrainingJob:
        now = self._clock()
        changes: dict[str, Any] = {
            "status": status,
            "secondary_status": secondary,
            "failure_reason": reason,
            "transitions": (
                *_closed(self._job.transitions, now),
                StatusTransition(
                    status=secondary, start=now, end=now, message=reason or _ENDED[secondary]
                ),
            ),
            "training_end": now if self._job.training_start is not None else None,
            "last_modified": now,
            "runner": None,
        }
        if metrics:
            changes["final_metrics"] = dict(metrics)
        if artifacts is not None:
            changes["model_artifacts"] = artifacts
        await self._update(**changes)
        return self._job

    async def _update(self, **changes: Any) -> None:
        updated = await asyncio.to_thread(
            self._jobs.update, self._job.name, expected=_ACTIVE, **changes
        )
        # Not updated: the job ended meanwhile (another process, or a stop that raced).
        self._job = updated if updated is not None else replace(self._job, **changes)

    # -- blocking work, off the event loop -------------------------------------------------

    def _metrics(self) -> dict[str, float]:
        documents = self._job.algorithm.get("MetricDefinitions") or []
        if not documents or not self._folder.log_file.exists():
            return {}
        with self._folder.log_file.open(errors="replace") as lines:
            return final_metrics(metric_definitions(documents), lines)

    def _upload(self) -> str | None:
        output_path = str(self._job.output_data_config.get("S3OutputPath", ""))
        key = model_key(output_path, self._job.name)
        self._store.put(key, pack_folder(self._folder.model_dir))
        if any(self._folder.output_data_dir.iterdir()):
            self._store.put(
                model_key(output_path, self._job.name, "output.tar.gz"),
                pack_folder(self._folder.output_data_dir),
            )
        return store_url(key)

    def _last_log_line(self) -> str:
        try:
            with self._folder.log_file.open("rb") as log:
                log.seek(max(0, os.fstat(log.fileno()).st_size - 4096))
                lines = [
                    line
                    for line in log.read().decode(errors="replace").splitlines()
                    if line.strip()
                ]
        except OSError:
            return ""
        return f"; the log's last line: {lines[-1].strip()[:400]}" if lines else ""


_ENDED = {
    SecondaryStatus.COMPLETED: "Training job completed",
    SecondaryStatus.FAILED: "Training job failed",
    SecondaryStatus.STOPPED: "Training job stopped",
    SecondaryStatus.MAX_RUNTIME_EXCEEDED: "Training job reached its maximum runtime",
}


def _closed(
    transitions: tuple[StatusTransition, ...], now: datetime
) -> tuple[StatusTransition, ...]:
    """The transitions with the open one (the last) ended ``now``."""
    if transitions and transitions[-1].end is None:
        return (*transitions[:-1], replace(transitions[-1], end=now))
    return transitions


def _channel_uri(channel: Mapping[str, Any]) -> str:
    source = channel.get("DataSource", {})
    s3 = source.get("S3DataSource") or {}
    local = source.get("FileSystemDataSource") or {}
    return str(s3.get("S3Uri") or local.get("DirectoryPath") or "")


def _channel_config(channel: Mapping[str, Any]) -> dict[str, Any]:
    """A channel's entry in ``inputdataconfig.json``, as SageMaker writes it."""
    config: dict[str, Any] = {
        "TrainingInputMode": channel.get("InputMode", "File"),
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": channel.get("RecordWrapperType", "None"),
    }
    if "ContentType" in channel:
        config["ContentType"] = channel["ContentType"]
    return config


def _reason(exc: Exception) -> str:
    name = (
        "ClientError"
        if isinstance(exc, FileNotFoundError | ValueError | PermissionError)
        else type(exc).__name__
    )
    return f"{name}: {exc}"[:1024]


def job_folder(root: Path, name: str) -> JobFolder:
    """Where job ``name`` runs."""
    return JobFolder(root / name)
