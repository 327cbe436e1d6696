"""The SageMaker training API over a real socket: boto3's ``sagemaker`` client against
``modelyard up``'s platform on 127.0.0.1, then the trained model deployed and invoked.

The platform is guarded by a management token (auth off, loopback): boto3 signs with it
as its secret key, the log route takes it as a bearer token, and the ``modelyard train``
commands (run as subprocesses, as a user runs them) carry it from
``MODELYARD_SERVING__MANAGEMENT_TOKEN``. Jobs are script-mode ``train.py`` files as the
SageMaker Python SDK's SKLearn estimator sends them: a framework image URI, the
hyperparameters ``sagemaker_program`` and ``sagemaker_submit_directory`` JSON-encoded, the
source as ``sourcedir.tar.gz`` in the store (or a local folder), a ``train`` channel of
CSV files in the store.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import httpx
import numpy as np
import pytest
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError, WaiterError  # type: ignore[import-untyped]

from modelyard.config import TrainingSettings
from modelyard.platform import build_platform
from tests.servers import serve_in_thread, settings_for

#: The console script installed beside this interpreter.
MODELYARD = str(Path(sys.executable).parent / "modelyard")
TOKEN = "training-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
#: Waiters poll every 0.1 s (SageMaker's own delay is 120 s for training jobs).
FAST_WAITER = {"Delay": 0.1, "MaxAttempts": 600}
#: Features of the training data: the label is 1 when the first two sum to more than 0.
N_FEATURES = 4

#: A script-mode training script as written for SageMaker's scikit-learn container,
#: unmodified: arguments from the hyperparameters, folders from the SM_* variables.
TRAIN_PY = """
import argparse
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max_iter", type=int, default=100)
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    args, _ = parser.parse_known_args()

    files = sorted(os.path.join(args.train, name) for name in os.listdir(args.train))
    data = np.concatenate([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    labels, features = data[:, 0], data[:, 1:]
    print(f"training on {len(labels)} rows, C={args.C}", flush=True)
    model = LogisticRegression(C=args.C, max_iter=args.max_iter).fit(features, labels)
    print(f"train-accuracy={model.score(features, labels):.4f}", flush=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
"""
SLEEPER_PY = """
import time
print("training forever", flush=True)
while True:
    time.sleep(0.1)
"""
QUICK_PY = """
import sys
print("quick job", flush=True)
if "--fail" in sys.argv and sys.argv[sys.argv.index("--fail") + 1] == "yes":
    raise SystemExit("no good data")
"""

_NAMES = itertools.count()


def fresh(stem: str) -> str:
    """``fresh("iris")`` -> ``iris-3``: a job name no other test uses."""
    return f"{stem}-{next(_NAMES)}"


def sourcedir(files: dict[str, str]) -> bytes:
    """``sourcedir.tar.gz`` as the SDK packs it: the files at the archive's root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def training_rows(n: int = 200, seed: int = 0) -> str:
    """CSV rows ``label,f1..f4`` (no header, label first: SageMaker's CSV convention)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, N_FEATURES))
    labels = (features[:, 0] + features[:, 1] > 0).astype(int)
    return "\n".join(
        ",".join([str(label), *(f"{x:.5f}" for x in row)])
        for label, row in zip(labels, features, strict=True)
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose store holds the training data and the source archive."""
    home = tmp_path_factory.mktemp("home")
    store = home / "store"
    (store / "data" / "train").mkdir(parents=True)
    (store / "data" / "train" / "train.csv").write_text(training_rows())
    (store / "code" / "sklearn").mkdir(parents=True)
    (store / "code" / "sklearn" / "sourcedir.tar.gz").write_bytes(sourcedir({"train.py": TRAIN_PY}))
    return home


@pytest.fixture(scope="module")
def platform_url(home: Path) -> Iterator[str]:
    settings = settings_for(home, workers=1, management_token=TOKEN)
    settings = settings.model_copy(
        update={"training": TrainingSettings(max_concurrent_jobs=4, stop_grace_s=2.0)}
    )
    with serve_in_thread(build_platform(settings).app, settings.http) as url:
        yield url


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="modelyard",
        aws_secret_access_key=TOKEN,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


@pytest.fixture(scope="module")
def sagemaker(platform_url: str) -> Iterator[Any]:
    client = _client("sagemaker", platform_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def runtime(platform_url: str) -> Iterator[Any]:
    client = _client("sagemaker-runtime", platform_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Local source folders (``sagemaker_submit_directory`` as ``file://``)."""
    root = tmp_path_factory.mktemp("scripts")
    for name, text in (("sleeper", SLEEPER_PY), ("quick", QUICK_PY), ("sklearn", TRAIN_PY)):
        (root / name).mkdir()
        (root / name / "train.py").write_text(text)
    return root


def create_job(
    sagemaker: Any,
    name: str,
    *,
    source: str = "s3://code/sklearn/sourcedir.tar.gz",
    hyperparameters: dict[str, Any] | None = None,
    max_runtime: int = 300,
    **changes: Any,
) -> str:
    """CreateTrainingJob as the SDK's SKLearn estimator sends it; the job's ARN."""
    sent = {
        # The SDK JSON-encodes every hyperparameter value.
        k: json.dumps(v)
        for k, v in {
            "C": 0.5,
            "max_iter": 200,
            **(hyperparameters or {}),
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": source,
            "sagemaker_container_log_level": 20,
            "sagemaker_job_name": name,
            "sagemaker_region": "us-east-1",
        }.items()
    }
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": SKLEARN_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "train:accuracy", "Regex": r"train-accuracy=([0-9.]+)"}],
        },
        "HyperParameters": sent,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://data/train",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
                "CompressionType": "None",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://models/trained"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "RoleArn": ROLE,
        "Environment": {"TRAINING_FLAVOUR": "test"},
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    request |= changes
    return str(sagemaker.create_training_job(**request)["TrainingJobArn"])


def ended(sagemaker: Any, name: str, timeout: float = 60) -> dict[str, Any]:
    """DescribeTrainingJob once the job has ended (whatever its status)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


# -- train, then deploy what was trained ---------------------------------------------------


def test_a_script_mode_job_trains_a_model_that_an_endpoint_then_serves(
    sagemaker: Any, runtime: Any
) -> None:
    name = fresh("sklearn")
    arn = create_job(sagemaker, name)
    assert arn == f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}"

    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig=FAST_WAITER
    )
    job = sagemaker.describe_training_job(TrainingJobName=name)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Completed", "Completed")
    assert "FailureReason" not in job
    artifacts = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifacts == f"s3://models/trained/{name}/output/model.tar.gz"
    [metric] = job["FinalMetricDataList"]
    assert metric["MetricName"] == "train:accuracy" and metric["Value"] > 0.9
    assert isinstance(metric["Timestamp"], datetime)
    transitions = job["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert all("EndTime" in t and t["StatusMessage"] for t in transitions)
    assert job["CreationTime"] <= job["TrainingStartTime"] <= job["TrainingEndTime"]
    assert job["LastModifiedTime"] >= job["TrainingEndTime"]
    assert job["TrainingTimeInSeconds"] >= 1
    assert job["BillableTimeInSeconds"] == job["TrainingTimeInSeconds"]
    # What was asked comes back as it was sent.
    assert job["HyperParameters"]["C"] == "0.5"
    assert job["HyperParameters"]["sagemaker_program"] == '"train.py"'
    assert job["AlgorithmSpecification"]["TrainingImage"] == SKLEARN_IMAGE
    assert job["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] == "train:accuracy"
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/train"
    assert job["OutputDataConfig"] == {"S3OutputPath": "s3://models/trained"}
    assert job["ResourceConfig"]["VolumeSizeInGB"] == 30
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 300}
    assert job["Environment"] == {"TRAINING_FLAVOUR": "test"}
    assert job["RoleArn"] == ROLE

    # Deploy what was trained, as the SDK's estimator.deploy() does.
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": artifacts},
        ExecutionRoleArn=ROLE,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAITER)

    answer = runtime.invoke_endpoint(
        EndpointName=name,
        Body="2.0,1.5,0.0,0.0\n-2.0,-1.5,0.0,0.0",
        ContentType="text/csv",
        Accept="application/json",
    )
    assert json.loads(answer["Body"].read()) == [1.0, 0.0]


# -- stopping ------------------------------------------------------------------------------


def test_stop_training_job_stops_a_running_job_and_a_stopped_one_cannot_be_stopped(
    sagemaker: Any, scripts: Path
) -> None:
    name = fresh("sleeper")
    create_job(sagemaker, name, source=f"file://{scripts / 'sleeper'}")
    deadline = time.monotonic() + 30
    while sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    sagemaker.stop_training_job(TrainingJobName=name)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig=FAST_WAITER
    )
    job = sagemaker.describe_training_job(TrainingJobName=name)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    assert job["SecondaryStatusTransitions"][-1]["Status"] == "Stopped"
    with pytest.raises(ClientError) as refused:
        sagemaker.stop_training_job(TrainingJobName=name)
    code, message = error_of(refused)
    assert code == "ValidationException" and "Stopped" in message


def test_a_job_past_its_max_runtime_is_stopped_saying_so(sagemaker: Any, scripts: Path) -> None:
    name = fresh("runaway")
    create_job(sagemaker, name, source=f"file://{scripts / 'sleeper'}", max_runtime=1)

    job = ended(sagemaker, name)

    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert "MaxRuntimeInSeconds of 1 s" in job["FailureReason"]
    assert job["SecondaryStatusTransitions"][-1]["Status"] == "MaxRuntimeExceeded"


# -- listing -------------------------------------------------------------------------------


def test_list_training_jobs_pages_filters_and_sorts(sagemaker: Any, scripts: Path) -> None:
    stem = fresh("listed")
    started = datetime.now(UTC) - timedelta(seconds=1)
    names = [f"{stem}-{letter}" for letter in "cab"]
    for job_name in names:
        create_job(
            sagemaker,
            job_name,
            source=f"file://{scripts / 'quick'}",
            hyperparameters={"fail": "yes" if job_name.endswith("-a") else "no"},
        )
    statuses = {n: ended(sagemaker, n)["TrainingJobStatus"] for n in names}
    assert statuses == {f"{stem}-a": "Failed", f"{stem}-b": "Completed", f"{stem}-c": "Completed"}

    seen: list[str] = []
    pages = 0
    request: dict[str, Any] = {"NameContains": stem, "SortBy": "Name", "MaxResults": 2}
    while True:
        page = sagemaker.list_training_jobs(**request)
        pages += 1
        seen += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
        if "NextToken" not in page:
            break
        request["NextToken"] = page["NextToken"]
    assert (seen, pages) == (sorted(names), 2)

    by_creation = sagemaker.list_training_jobs(
        NameContains=stem, SortBy="CreationTime", SortOrder="Descending"
    )["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in by_creation] == names[::-1]
    summary = by_creation[0]
    assert summary["TrainingJobArn"].endswith(f"training-job/{names[-1]}")
    assert summary["TrainingJobStatus"] == "Completed"
    assert summary["SecondaryStatus"] == "Completed"
    assert summary["CreationTime"] >= started
    assert summary["TrainingEndTime"] <= summary["LastModifiedTime"]

    failed = sagemaker.list_training_jobs(NameContains=stem, StatusEquals="Failed")
    assert [s["TrainingJobName"] for s in failed["TrainingJobSummaries"]] == [f"{stem}-a"]
    failure = sagemaker.describe_training_job(TrainingJobName=f"{stem}-a")["FailureReason"]
    assert "no good data" in failure
    later = sagemaker.list_training_jobs(NameContains=stem, CreationTimeAfter=datetime.now(UTC))
    assert later["TrainingJobSummaries"] == []
    recent = sagemaker.list_training_jobs(NameContains=stem, LastModifiedTimeAfter=started)
    assert len(recent["TrainingJobSummaries"]) == 3

    with pytest.raises(ClientError) as refused:
        sagemaker.list_training_jobs(NameContains="other", NextToken=request["NextToken"])
    assert error_of(refused)[0] == "ValidationException"


# -- errors --------------------------------------------------------------------------------


def test_a_missing_job_is_a_validation_exception_that_ends_the_waiter(sagemaker: Any) -> None:
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_training_job(TrainingJobName="nowhere")
    code, message = error_of(missing)
    assert code == "ValidationException"
    assert message.startswith("Requested resource not found")

    with pytest.raises(WaiterError, match="terminal failure state"):
        sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="nowhere", WaiterConfig=FAST_WAITER
        )
    with pytest.raises(ClientError) as stopping:
        sagemaker.stop_training_job(TrainingJobName="nowhere")
    assert error_of(stopping)[0] == "ValidationException"


def test_a_taken_name_is_resource_in_use_whatever_its_case(sagemaker: Any, scripts: Path) -> None:
    name = fresh("taken")
    create_job(sagemaker, name, source=f"file://{scripts / 'quick'}")

    with pytest.raises(sagemaker.exceptions.ResourceInUse):
        create_job(sagemaker, name.upper(), source=f"file://{scripts / 'quick'}")
    ended(sagemaker, name)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TrainingJobName": "not_valid"}, "trainingJobName"),
        ({"OutputDataConfig": {"S3OutputPath": "file:///tmp/out"}}, "s3OutputPath"),
        ({"StoppingCondition": {"MaxRuntimeInSeconds": 500_000}}, "MaxRuntimeInSeconds must be"),
        (
            {"AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "Pipe"}},
            "TrainingInputMode Pipe",
        ),
        ({"HyperParameters": {"epochs": "3"}}, "neither a built-in algorithm"),
    ],
)
def test_an_invalid_request_is_a_validation_exception_naming_the_problem(
    sagemaker: Any, change: dict[str, Any], named: str
) -> None:
    request: dict[str, Any] = {
        "TrainingJobName": fresh("invalid"),
        "AlgorithmSpecification": {"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://code/sklearn/sourcedir.tar.gz"',
        },
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://models/trained"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    } | change

    with pytest.raises(ClientError) as refused:
        sagemaker.create_training_job(**request)

    code, message = error_of(refused)
    assert code == "ValidationException" and named in message
    with pytest.raises(ClientError):
        sagemaker.describe_training_job(TrainingJobName=request["TrainingJobName"])


# -- the log route -------------------------------------------------------------------------


def test_the_log_is_read_in_pieces_by_an_administrator(
    sagemaker: Any, platform_url: str, scripts: Path
) -> None:
    name = fresh("logged")
    create_job(sagemaker, name, source=f"file://{scripts / 'quick'}")
    ended(sagemaker, name)
    url = f"{platform_url}/training-jobs/{name}/logs"

    first = httpx.get(url, headers=BEARER)
    assert first.status_code == 200, first.text
    piece = first.json()
    assert "quick job" in piece["text"] and piece["offset"] == 0
    assert piece["next_offset"] == len(piece["text"].encode())
    rest = httpx.get(url, params={"offset": piece["next_offset"]}, headers=BEARER).json()
    assert (rest["text"], rest["next_offset"]) == ("", piece["next_offset"])
    tail = httpx.get(url, params={"offset": 3}, headers=BEARER).json()
    assert tail["text"] == piece["text"][3:]

    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert httpx.get(url, params={"offset": "-1"}, headers=BEARER).status_code == 400
    missing = httpx.get(f"{platform_url}/training-jobs/nowhere/logs", headers=BEARER)
    assert missing.status_code == 404
    assert missing.headers["x-modelyard-error-type"] == "TrainingJobNotFound"


# -- the command line ----------------------------------------------------------------------


def modelyard(*args: str, server: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``modelyard train *args --server URL``, the management token in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env |= {"COLUMNS": "200", "MODELYARD_SERVING__MANAGEMENT_TOKEN": TOKEN}
    return subprocess.run(
        [MODELYARD, "train", *args, "--server", server],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_train_start_watch_and_list_from_the_command_line(
    platform_url: str, scripts: Path, tmp_path: Path
) -> None:
    name = fresh("cli")

    started = modelyard(
        "start",
        name,
        "--entry-point",
        "train.py",
        "--source-dir",
        str(scripts / "sklearn"),
        "--channel",
        "train=s3://data/train",
        "--hp",
        "C=0.25",
        "--metric",
        "train:accuracy=train-accuracy=([0-9.]+)",
        "--output",
        "s3://models/cli",
        "--max-runtime",
        "120",
        server=platform_url,
        cwd=tmp_path,
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().endswith(f":training-job/{name}")

    watched = modelyard("watch", name, "--interval", "0.1", server=platform_url, cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    assert "training on 200 rows, C=0.25" in watched.stdout
    assert "train-accuracy=" in watched.stdout
    assert "Completed / Completed" in watched.stdout
    assert f"s3://models/cli/{name}/output/model.tar.gz" in watched.stdout
    assert "metric train:accuracy = " in watched.stdout

    listed = modelyard("list", "--name-contains", name, server=platform_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if name in line]
    assert "Completed" in row

    unknown = modelyard("watch", "nowhere", server=platform_url, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "Requested resource not found" in unknown.stderr
