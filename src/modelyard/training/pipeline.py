"""The training pipeline: every model of a ``models_to_be_trained.json`` trained, and
unpacked into one multi-model store folder.

:func:`run_pipeline` reads and checks the pipeline's files first (``pipeline_files.py``):
a fault anywhere starts nothing. Then it creates one training job per model that must be
trained, all at once (the training service's concurrency limit queues them), named
``<Name>-<hash8>``, waits for them all, and unpacks each completed job's
``model.tar.gz`` into ``<models prefix>/<pipeline>/<Name>/`` of the object store: that
folder is a model store of its own (``modelyard serve <store>/models/<pipeline>`` serves
each model by name). One model failing leaves the others be.

A model is skipped when its content hash — its params file, ``inputData.json``,
``train.py`` and the data its channels name — is the one recorded in the manifest
(``<pipeline folder>/.pipeline.json``) when it was last trained, and its folder is
still there. Events (``events.py``) say what happened as it happens.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from modelyard.errors import ModelyardError
from modelyard.serving.artifacts import STORE_MANIFEST
from modelyard.storage.objectstore import ObjectStore
from modelyard.storage.training_records import TrainingJob, TrainingJobStatus
from modelyard.training.channels import ChannelSource, store_key
from modelyard.training.events import PipelineEvents
from modelyard.training.pipeline_files import (
    SCRIPT_FILE,
    InvalidPipeline,
    ModelSpec,
    PipelineSpec,
    read_pipeline,
)
from modelyard.training.service import NewTrainingJob, TrainingService

__all__ = [
    "MANIFEST",
    "ModelOutcome",
    "PipelineSummary",
    "Progress",
    "content_hash",
    "run_pipeline",
]

#: The manifest's name in the pipeline's store folder: it also tells the model server that
#: the folder is a store of models, not a model.
MANIFEST: Final = STORE_MANIFEST
#: Where jobs put their model.tar.gz: ``<S3OutputPath>/<job>/output/model.tar.gz``.
OUTPUT_PATH: Final = "s3://pipelines"
_ROLE: Final = "arn:aws:iam::000000000000:role/modelyard-pipeline"
#: What script mode records as the training image (the script runs on this Python).
_SCRIPT_IMAGE: Final = "sagemaker-scikit-learn:latest"
_CHUNK: Final = 2**20

#: Called with (model, status) whenever a model's status changes: ``Skipped``,
#: ``Starting``, ``Downloading``, ``Training``, ``Uploading``, ``Completed``, ``Failed``...
Progress = Callable[[str, str], None]


@dataclass(frozen=True, kw_only=True)
class ModelOutcome:
    """What became of one model of a pipeline run."""

    #: The model's name.
    model: str
    #: Its training job; None when skipped, or when no job could be created.
    job_name: str | None
    #: ``Completed``, ``Failed``, ``Stopped`` or ``Skipped``.
    status: str
    #: Seconds from its job's creation to its model unpacked (0 when skipped).
    seconds: float
    #: Why it failed; None otherwise.
    failure_reason: str | None
    #: Where its model folder is (fsspec URL); None when it failed.
    artifact: str | None
    #: Whether it was skipped, its inputs and params unchanged.
    skipped: bool

    @property
    def failed(self) -> bool:
        return self.status not in ("Completed", "Skipped")


@dataclass(frozen=True, kw_only=True)
class PipelineSummary:
    """A pipeline run: each model's outcome, in the order the pipeline lists them."""

    #: The pipeline's name.
    pipeline: str
    #: Its models' outcomes.
    models: tuple[ModelOutcome, ...]
    #: Seconds the run took.
    seconds: float

    @property
    def failed(self) -> bool:
        """Whether any model failed."""
        return any(outcome.failed for outcome in self.models)

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (the ``pipeline.finished`` event carries it)."""
        return {
            "pipeline": self.pipeline,
            "seconds": round(self.seconds, 3),
            "failed": self.failed,
            "models": [asdict(outcome) for outcome in self.models],
        }


async def run_pipeline(
    file: Path,
    *,
    service: TrainingService,
    store: ObjectStore,
    events: PipelineEvents,
    models_prefix: str = "models",
    name: str | None = None,
    progress: Progress | None = None,
    poll_interval_s: float = 0.2,
) -> PipelineSummary:
    """Run the pipeline of ``file`` (see the module); InvalidPipeline before anything starts
    if a file is at fault. ``name`` names the pipeline (default: the file's folder)."""
    started = time.monotonic()
    spec = await asyncio.to_thread(read_pipeline, file, name)
    folder = f"{models_prefix.strip('/')}/{spec.name}"
    for model in spec.models:
        _check_store_inputs(model, store)
    notify = progress or (lambda model, status: None)
    await events.emit("pipeline.started", spec.name, models=[model.name for model in spec.models])
    manifest = await asyncio.to_thread(_read_manifest, store, folder)
    hashes = {
        model.name: await asyncio.to_thread(content_hash, model, store) for model in spec.models
    }
    outcomes: dict[str, ModelOutcome] = {}
    to_train: list[ModelSpec] = []
    for model in spec.models:
        known = manifest.get(model.name) or {}
        key = f"{folder}/{model.name}"
        if known.get("hash") == hashes[model.name] and await asyncio.to_thread(store.is_dir, key):
            outcomes[model.name] = ModelOutcome(
                model=model.name,
                job_name=None,
                status="Skipped",
                seconds=0.0,
                failure_reason=None,
                artifact=store.url_for(key),
                skipped=True,
            )
            notify(model.name, "Skipped")
            await events.emit(
                "model.skipped", spec.name, model.name, job_name=known.get("job_name")
            )
        else:
            to_train.append(model)

    run_id = f"{time.time_ns()}"
    jobs = {model.name: _job_name(model.name, hashes[model.name], run_id) for model in to_train}
    # Every job is created before any is waited for: the service runs as many as its
    # limit allows and queues the rest.
    created: dict[str, float] = {}
    for model in to_train:
        notify(model.name, "Starting")
        try:
            await service.create(_new_job(model, jobs[model.name]))
            created[model.name] = time.monotonic()
        except ModelyardError as exc:
            outcomes[model.name] = await _failed(
                events, spec, model.name, None, f"{type(exc).__name__}: {exc}", 0.0
            )
            notify(model.name, "Failed")

    manifest_lock = asyncio.Lock()

    async def follow(model: ModelSpec) -> None:
        job = await _wait(service, jobs[model.name], model.name, notify, poll_interval_s)
        outcome = await _finish(events, spec, model, job, store, folder, created[model.name])
        outcomes[model.name] = outcome
        notify(model.name, outcome.status)
        if outcome.status == "Completed":
            # Recorded at once: a model trained stays skipped though the run is cut short.
            async with manifest_lock:
                manifest[model.name] = {"hash": hashes[model.name], "job_name": job.name}
                await asyncio.to_thread(_write_manifest, store, folder, dict(manifest))

    await asyncio.gather(*(follow(model) for model in to_train if model.name in created))
    summary = PipelineSummary(
        pipeline=spec.name,
        models=tuple(outcomes[model.name] for model in spec.models),
        seconds=time.monotonic() - started,
    )
    await events.emit("pipeline.finished", spec.name, summary=summary.as_dict())
    return summary


# -- content hashes --------------------------------------------------------------------------


def content_hash(model: ModelSpec, store: ObjectStore) -> str:
    """SHA-256 of what a model is trained from: its own files and its channels' data.

    Blocking. Names go in with the bytes, so a file renamed or moved between channels
    changes the hash too.
    """
    digest = hashlib.sha256()
    for path in model.files():
        digest.update(f"file {path.name}\n".encode())
        _feed_file(digest, path)
    for channel, uri in sorted(model.inputs.items()):
        digest.update(f"channel {channel} {uri}\n".encode())
        source = ChannelSource.of(uri)
        if source.path is not None:
            for relative, path in _local_files(source.path):
                digest.update(f"data {relative}\n".encode())
                _feed_file(digest, path)
        else:
            assert source.key is not None
            for key in _store_objects(store, source.key):
                digest.update(f"data {key}\n".encode())
                digest.update(store.get(key))
    return digest.hexdigest()


def _feed_file(digest: Any, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def _local_files(path: Path) -> Iterator[tuple[str, Path]]:
    if path.is_file():
        yield path.name, path
        return
    for item in sorted(path.rglob("*")):
        if item.is_file():
            yield item.relative_to(path).as_posix(), item


def _store_objects(store: ObjectStore, key: str) -> list[str]:
    """The object at ``key``, or every object under the prefix ``key``, however deep."""
    if not store.is_dir(key):
        return [key]
    found: list[str] = []
    pending = [key.rstrip("/")]
    while pending:
        prefix = pending.pop()
        for child in store.list(prefix):
            path = f"{prefix}/{child}"
            (pending if store.is_dir(path) else found).append(path)
    return sorted(found)


def _check_store_inputs(model: ModelSpec, store: ObjectStore) -> None:
    """Data in the store must be there before anything starts, as local data must."""
    for channel, uri in model.inputs.items():
        key = ChannelSource.of(uri).key
        if key is not None and not store.exists(key):
            raise InvalidPipeline(
                model.folder / "inputData.json", channel, f"{uri!r}: nothing in the store there"
            )


# -- jobs ------------------------------------------------------------------------------------


def _job_name(model: str, content: str, run_id: str) -> str:
    """``<Name>-<hash8>``: the content and the run decide the hash, so each run's job of a
    model gets a name of its own, and the hash still tells runs of other content apart."""
    return f"{model}-{hashlib.sha256(f'{content}:{run_id}'.encode()).hexdigest()[:8]}"


def _new_job(model: ModelSpec, job_name: str) -> NewTrainingJob:
    hyperparameters = dict(model.params)
    if model.script is not None:
        algorithm: dict[str, Any] = {"TrainingImage": _SCRIPT_IMAGE, "TrainingInputMode": "File"}
        # As the SageMaker Python SDK sends script mode: values JSON-encoded.
        hyperparameters["sagemaker_program"] = json.dumps(SCRIPT_FILE)
        hyperparameters["sagemaker_submit_directory"] = json.dumps(f"file://{model.folder}")
    else:
        assert model.algorithm is not None
        algorithm = {"AlgorithmName": model.algorithm, "TrainingInputMode": "File"}
        # The built-ins name the model's files after it (<Name>-params.json, <Name>-model/).
        hyperparameters["name"] = model.name
    return NewTrainingJob(
        name=job_name,
        algorithm=algorithm,
        hyperparameters=hyperparameters,
        input_data_config=[
            {
                "ChannelName": channel,
                "DataSource": {"S3DataSource": {"S3Uri": uri, "S3DataType": "S3Prefix"}},
            }
            for channel, uri in model.inputs.items()
        ],
        output_data_config={"S3OutputPath": OUTPUT_PATH},
        resource_config={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        stopping_condition={"MaxRuntimeInSeconds": model.max_runtime_s},
        role_arn=_ROLE,
        environment={},
    )


async def _wait(
    service: TrainingService,
    job_name: str,
    model: str,
    notify: Progress,
    poll_interval_s: float,
) -> TrainingJob:
    """The job once it has ended, its steps told to ``notify`` on the way."""
    shown = ""
    while True:
        job = await service.describe(job_name)
        status = job.status.value if job.status.finished else job.secondary_status.value
        if status != shown:
            shown = status
            if not job.status.finished:
                notify(model, status)
        if job.status.finished:
            return job
        await asyncio.sleep(poll_interval_s)


async def _finish(
    events: PipelineEvents,
    spec: PipelineSpec,
    model: ModelSpec,
    job: TrainingJob,
    store: ObjectStore,
    folder: str,
    created: float,
) -> ModelOutcome:
    """Unpack a completed job's model into the pipeline's folder; the model's outcome."""
    if job.status is not TrainingJobStatus.COMPLETED or job.model_artifacts is None:
        reason = job.failure_reason or f"the training job ended {job.status.value}"
        return await _failed(
            events,
            spec,
            model.name,
            job.name,
            reason,
            time.monotonic() - created,
            status=job.status.value,
        )
    key = f"{folder}/{model.name}"
    try:
        await asyncio.to_thread(_unpack, store, store_key(job.model_artifacts), key)
    except (ModelyardError, OSError, tarfile.TarError) as exc:
        return await _failed(
            events,
            spec,
            model.name,
            job.name,
            f"the model could not be unpacked into the store: {exc}",
            time.monotonic() - created,
        )
    outcome = ModelOutcome(
        model=model.name,
        job_name=job.name,
        status="Completed",
        seconds=time.monotonic() - created,
        failure_reason=None,
        artifact=store.url_for(key),
        skipped=False,
    )
    await events.emit(
        "model.succeeded",
        spec.name,
        model.name,
        job_name=job.name,
        artifact=outcome.artifact,
        seconds=round(outcome.seconds, 3),
    )
    return outcome


async def _failed(
    events: PipelineEvents,
    spec: PipelineSpec,
    model: str,
    job_name: str | None,
    reason: str,
    seconds: float,
    status: str = "Failed",
) -> ModelOutcome:
    await events.emit("model.failed", spec.name, model, job_name=job_name, reason=reason)
    return ModelOutcome(
        model=model,
        job_name=job_name,
        status=status,
        seconds=seconds,
        failure_reason=reason,
        artifact=None,
        skipped=False,
    )


def _unpack(store: ObjectStore, archive_key: str, target: str) -> None:
    """The ``model.tar.gz`` at ``archive_key`` unpacked to the store folder ``target``,
    replacing what was there. Blocking."""
    archive = store.get(archive_key)
    with tempfile.TemporaryDirectory(prefix="modelyard-pipeline-") as scratch:
        unpacked = Path(scratch) / "model"
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as packed:
            # The "data" filter refuses absolute paths, "..", links out and devices.
            packed.extractall(unpacked, filter="data")
        if store.exists(target):
            store.delete(target, recursive=True)
        store.upload(unpacked, target)


# -- the manifest ----------------------------------------------------------------------------


def _read_manifest(store: ObjectStore, folder: str) -> dict[str, dict[str, Any]]:
    key = f"{folder}/{MANIFEST}"
    if not store.exists(key):
        return {}
    try:
        document = json.loads(store.get(key))
    except ValueError:
        return {}  # unreadable: every model is trained again, and the manifest rewritten
    models = document.get("models") if isinstance(document, dict) else None
    return {k: v for k, v in (models or {}).items() if isinstance(v, dict)}


def _write_manifest(store: ObjectStore, folder: str, models: dict[str, dict[str, Any]]) -> None:
    document = {"version": 1, "models": models}
    store.put(f"{folder}/{MANIFEST}", json.dumps(document, indent=2, sort_keys=True).encode())
