"""The training facade over a real database and store: script-mode jobs from a
``sourcedir.tar.gz``, function jobs, failures, the maximum runtime, StopTrainingJob, the
concurrency limit, and jobs a dead server left in progress."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from modelyard.storage import Database
from modelyard.storage.listing import ListQuery
from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.storage.training_jobs import TrainingJobs
from modelyard.storage.training_records import SecondaryStatus, TrainingJob, TrainingJobStatus
from modelyard.training.errors import InvalidTrainingJob, TrainingJobExists, TrainingJobFinished
from modelyard.training.service import NewTrainingJob, TrainingLimits, TrainingService

TRAIN_PY = """
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
args = parser.parse_args()
rows = open(os.path.join(args.train, "data.csv")).read().split()
for epoch in range(1, args.epochs + 1):
    print(f"epoch={epoch} loss={1.0 / epoch:.3f}", flush=True)
with open(os.path.join(args.model_dir, "model.json"), "w") as handle:
    json.dump({"rows": len(rows), "epochs": args.epochs}, handle)
"""


def sourcedir(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def new_job(name: str, **changes: Any) -> NewTrainingJob:
    fields: dict[str, Any] = {
        "name": name,
        "algorithm": {
            "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}],
        },
        "hyperparameters": {
            "epochs": "3",
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/job/sourcedir.tar.gz"',
        },
        "input_data_config": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/train"}
                },
            }
        ],
        "output_data_config": {"S3OutputPath": "s3://models/trained"},
        "resource_config": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "stopping_condition": {"MaxRuntimeInSeconds": 120},
        "role_arn": "arn:aws:iam::000000000000:role/training",
        "environment": {},
    }
    return NewTrainingJob(**(fields | changes))


def function_job(name: str, body: str, tmp_path: Path, **changes: Any) -> NewTrainingJob:
    """A job whose algorithm is ``algo_<name>:train`` written with ``body``."""
    module = f"algo_{name.replace('-', '_')}"
    (tmp_path / "algos").mkdir(exist_ok=True)
    (tmp_path / "algos" / f"{module}.py").write_text(textwrap.dedent(body))
    return new_job(
        name,
        algorithm={"TrainingImage": f"{module}:train"},
        hyperparameters={},
        environment={"PYTHONPATH": str(tmp_path / "algos")},
        **changes,
    )


Scenario = Callable[[TrainingService], Awaitable[None]]


def scenario(database: Database, tmp_path: Path, body: Scenario, concurrent: int = 2) -> None:
    """Run ``body`` with a started service over a store holding the data and the code."""
    store = open_store(str(tmp_path / "store"))
    store.put("data/train/data.csv", b"1\n2\n3\n")
    store.put("code/job/sourcedir.tar.gz", sourcedir({"train.py": TRAIN_PY}))

    async def go() -> None:
        service = build(database, store, tmp_path, concurrent)
        await service.start()
        try:
            await body(service)
        finally:
            await service.stop()

    asyncio.run(go())


def build(
    database: Database, store: ObjectStore, tmp_path: Path, concurrent: int = 2
) -> TrainingService:
    return TrainingService(
        jobs=TrainingJobs(database),
        store=store,
        root=tmp_path / "training",
        region="us-east-1",
        account_id="000000000000",
        limits=TrainingLimits(max_concurrent=concurrent, stop_grace_s=1.0),
        check_local_url=lambda what, url: url,
    )


async def ended(service: TrainingService, name: str, timeout: float = 60) -> TrainingJob:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = await service.describe(name)
        if job.status.finished:
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)


def test_a_script_mode_job_trains_and_packs_its_model(database: Database, tmp_path: Path) -> None:
    async def body(service: TrainingService) -> None:
        created = await service.create(new_job("script-1"))
        assert (created.status, created.secondary_status) == (
            TrainingJobStatus.IN_PROGRESS,
            SecondaryStatus.STARTING,
        )

        job = await ended(service, "script-1")

        assert job.status is TrainingJobStatus.COMPLETED, job.failure_reason
        assert job.model_artifacts == "s3://models/trained/script-1/output/model.tar.gz"
        store = open_store(str(tmp_path / "store"))
        with tarfile.open(
            fileobj=io.BytesIO(store.get("models/trained/script-1/output/model.tar.gz"))
        ) as archive:
            model = archive.extractfile("model.json")
            assert model is not None and model.read() == b'{"rows": 3, "epochs": 3}'
        assert job.final_metrics == {"train:loss": pytest.approx(0.333)}
        assert [t.status for t in job.transitions] == [
            SecondaryStatus.STARTING,
            SecondaryStatus.DOWNLOADING,
            SecondaryStatus.TRAINING,
            SecondaryStatus.UPLOADING,
            SecondaryStatus.COMPLETED,
        ]
        assert all(t.end is not None for t in job.transitions)
        assert job.training_start is not None and job.training_end is not None
        assert "epoch=3" in service.log_file("script-1").read_text()

    scenario(database, tmp_path, body)


def test_a_failing_function_fails_the_job_with_its_exception(
    database: Database, tmp_path: Path
) -> None:
    async def body(service: TrainingService) -> None:
        job = function_job(
            "broken",
            """
            def train(context):
                raise ValueError(f"no ratings in {sorted(context.channels)}")
            """,
            tmp_path,
        )
        await service.create(job)

        failed = await ended(service, "broken")

        assert failed.status is TrainingJobStatus.FAILED
        assert failed.failure_reason == "ValueError: no ratings in ['train']"
        assert failed.model_artifacts is None

    scenario(database, tmp_path, body)


def test_missing_training_data_fails_the_job_naming_it(database: Database, tmp_path: Path) -> None:
    async def body(service: TrainingService) -> None:
        channel = {
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3Uri": "s3://data/nothing-here"}},
        }
        await service.create(new_job("no-data", input_data_config=[channel]))

        failed = await ended(service, "no-data")

        assert failed.status is TrainingJobStatus.FAILED
        assert "s3://data/nothing-here" in (failed.failure_reason or "")

    scenario(database, tmp_path, body)


def test_a_job_past_its_maximum_runtime_ends_stopped_saying_why(
    database: Database, tmp_path: Path
) -> None:
    async def body(service: TrainingService) -> None:
        job = function_job(
            "forever",
            """
            import time
            def train(context):
                (context.model_dir / "partial.txt").write_text("half way")
                time.sleep(600)
            """,
            tmp_path,
            stopping_condition={"MaxRuntimeInSeconds": 1},
        )
        await service.create(job)

        stopped = await ended(service, "forever")

        assert (stopped.status, stopped.secondary_status) == (
            TrainingJobStatus.STOPPED,
            SecondaryStatus.MAX_RUNTIME_EXCEEDED,
        )
        assert "MaxRuntimeInSeconds of 1 s" in (stopped.failure_reason or "")
        assert stopped.model_artifacts is not None  # what it saved is kept, as on SageMaker

    scenario(database, tmp_path, body)


def test_stop_training_job_stops_it_and_a_stopped_job_cannot_be_stopped_again(
    database: Database, tmp_path: Path
) -> None:
    async def body(service: TrainingService) -> None:
        job = function_job(
            "long",
            """
            import time
            def train(context):
                print("training", flush=True)
                time.sleep(600)
            """,
            tmp_path,
        )
        await service.create(job)
        while (await service.describe("long")).secondary_status is not SecondaryStatus.TRAINING:
            await asyncio.sleep(0.05)

        await service.stop_job("long")
        stopped = await ended(service, "long")

        assert (stopped.status, stopped.secondary_status) == (
            TrainingJobStatus.STOPPED,
            SecondaryStatus.STOPPED,
        )
        with pytest.raises(TrainingJobFinished):
            await service.stop_job("long")

    scenario(database, tmp_path, body)


def test_names_are_unique_and_bad_requests_are_refused(database: Database, tmp_path: Path) -> None:
    async def body(service: TrainingService) -> None:
        await service.create(new_job("once"))
        with pytest.raises(TrainingJobExists):
            await service.create(new_job("ONCE"))
        with pytest.raises(InvalidTrainingJob, match="neither a built-in algorithm"):
            await service.create(
                new_job("what", algorithm={"TrainingImage": "my-image:latest"}, hyperparameters={})
            )
        with pytest.raises(InvalidTrainingJob, match="MaxRuntimeInSeconds"):
            await service.create(new_job("slow", stopping_condition={"MaxRuntimeInSeconds": 0}))
        await ended(service, "once")
        listed = await service.list(ListQuery(sort_by="name"))
        assert [job.name for job in listed.items] == ["once"]

    scenario(database, tmp_path, body)


def test_jobs_beyond_the_limit_wait_for_a_place(database: Database, tmp_path: Path) -> None:
    async def body() -> None:
        store = open_store(str(tmp_path / "store"))
        store.put("data/train/data.csv", b"1\n")
        service = build(database, store, tmp_path, concurrent=1)
        await service.start()
        try:
            first = function_job(
                "first", "import time\ndef train(context):\n    time.sleep(1.5)\n", tmp_path
            )
            second = function_job("second", "def train(context):\n    pass\n", tmp_path)
            await service.create(first)
            await service.create(second)
            await asyncio.sleep(0.8)
            waiting = await service.describe("second")
            assert waiting.secondary_status is SecondaryStatus.STARTING
            assert (await ended(service, "second")).status is TrainingJobStatus.COMPLETED
            assert (await service.describe("first")).status is TrainingJobStatus.COMPLETED
        finally:
            await service.stop()

    asyncio.run(body())


def test_jobs_a_dead_server_left_are_failed_or_resumed(database: Database, tmp_path: Path) -> None:
    async def body() -> None:
        store = open_store(str(tmp_path / "store"))
        store.put("data/train/data.csv", b"1\n")
        store.put("code/job/sourcedir.tar.gz", sourcedir({"train.py": TRAIN_PY}))
        jobs = TrainingJobs(database)
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
        )
        import socket

        runner = f"{socket.gethostname()}:{dead.stdout.strip()}"
        leftover = build(database, store, tmp_path)
        # As a server that died would leave them: one training, one not started.
        for name, started in (("was-training", True), ("never-started", False)):
            job = await _recorded(leftover, name)
            assert jobs.update(
                name,
                runner=runner,
                secondary_status=SecondaryStatus.TRAINING if started else SecondaryStatus.STARTING,
                training_start=job.created_at if started else None,
            )
        service = build(database, store, tmp_path)

        await service.start()
        try:
            failed = await service.describe("was-training")
            resumed = await ended(service, "never-started")
        finally:
            await service.stop()

        assert failed.status is TrainingJobStatus.FAILED
        assert "stopped while it was training" in (failed.failure_reason or "")
        assert resumed.status is TrainingJobStatus.COMPLETED, resumed.failure_reason

    asyncio.run(body())


async def _recorded(service: TrainingService, name: str) -> TrainingJob:
    """A job recorded by ``service`` without running it (as if its server died at once)."""
    launched: list[str] = []
    original: Callable[[TrainingJob], None] = service._launch
    service._launch = lambda job: launched.append(job.name)  # type: ignore[method-assign]
    try:
        return await service.create(new_job(name))
    finally:
        service._launch = original  # type: ignore[method-assign]
