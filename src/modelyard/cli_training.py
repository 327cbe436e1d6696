"""``modelyard train …``: start training jobs, follow them, list, describe and stop them.

The commands speak the SageMaker API (AWS JSON 1.1 on ``POST /``, signed as boto3 signs)
and, for ``watch``, the platform's log route (``GET /training-jobs/{name}/logs``).
``train start`` sends a script-mode job as the SageMaker Python SDK would, except that the
source folder is read in place by the server (``sagemaker_submit_directory`` is its
``file://`` path: there is no S3 to upload it to)::

    modelyard train start churn --entry-point train.py --source-dir ./src \\
        --channel train=s3://data/churn --hp epochs=3 --output s3://models/churn --watch
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

import httpx
import orjson
import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modelyard.cli_client import HomeOption, ServerOption, check, connect, console, err_console

__all__ = ["train_app"]

train_app = typer.Typer(
    help="Start training jobs, follow them, list, describe and stop them (SageMaker's API).",
    no_args_is_help=True,
)

#: Statuses of a job that will not change.
_FINISHED: Final = frozenset({"Completed", "Failed", "Stopped"})
_ROLE: Final = "arn:aws:iam::000000000000:role/modelyard"
#: What ``AlgorithmSpecification.TrainingImage`` records for script mode by default: the
#: script runs on the server's Python whatever the image.
_DEFAULT_IMAGE: Final = "sagemaker-scikit-learn:latest"


def _sagemaker(client: httpx.Client, operation: str, body: dict[str, Any]) -> Any:
    """One SageMaker API call."""
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"SageMaker.{operation}",
    }
    return check(client.post("/", content=orjson.dumps(body), headers=headers))


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` → ``{"a": "1", "b": "2"}``; exit 2 naming a value without ``=``."""
    found: dict[str, str] = {}
    for value in values or []:
        key, equals, rest = value.partition("=")
        if not equals or not key:
            err_console.print(f"{what} {value!r} is not NAME=VALUE", markup=False, highlight=False)
            raise typer.Exit(2)
        found[key] = rest
    return found


def _hyperparameter(text: str) -> str:
    """A hyperparameter as the SageMaker Python SDK sends it: JSON-encoded, numbers and
    booleans as such (``3`` → ``3``), anything else as a string (``adam`` → ``"adam"``)."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    return json.dumps(value)


def _data_uri(uri: str) -> str:
    """A channel's URI: as given when it has a scheme, else the local path as ``file://``."""
    if "://" in uri:
        return uri
    return f"file://{Path(uri).expanduser().resolve()}"


@train_app.command("start")
def start(
    name: Annotated[str, typer.Argument(help="The training job's name (TrainingJobName)")],
    entry_point: Annotated[
        str,
        typer.Option(help="The script to run: a path inside --source-dir (sagemaker_program)"),
    ],
    source_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the script and its modules, read in place by the server "
            "(sagemaker_submit_directory) \\[default: the entry point's folder]",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=URI of an input channel: s3://BUCKET/PREFIX in the object store, or a "
            "local path (repeatable)"
        ),
    ] = None,
    hp: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE hyperparameter; the script gets --NAME VALUE (repeatable)"),
    ] = None,
    output: Annotated[
        str, typer.Option(help="S3OutputPath: where the model goes, s3://BUCKET/PREFIX")
    ] = "s3://models/training",
    max_runtime: Annotated[
        int, typer.Option(help="MaxRuntimeInSeconds: the job is stopped past it")
    ] = 3600,
    metric: Annotated[
        list[str] | None,
        typer.Option(help="NAME=REGEX: a metric the log reports, its value the first group"),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="NAME=VALUE environment variable (repeatable)")
    ] = None,
    image: Annotated[
        str, typer.Option(help="TrainingImage to record (script mode runs on the server's Python)")
    ] = _DEFAULT_IMAGE,
    instance_type: Annotated[str, typer.Option(help="InstanceType to record")] = "ml.m5.large",
    watch: Annotated[bool, typer.Option(help="Follow the job until it ends (train watch)")] = False,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Start a script-mode training job; prints its ARN."""
    if source_dir is None:
        script = Path(entry_point)
        source, program = script.parent.resolve(), script.name
    else:
        source, program = source_dir.resolve(), entry_point
    if not (source / program).is_file():
        err_console.print(f"no entry point {program!r} in {source}", markup=False, highlight=False)
        raise typer.Exit(2)
    hyperparameters = {k: _hyperparameter(v) for k, v in _pairs(hp, "--hp").items()}
    hyperparameters |= {
        "sagemaker_program": json.dumps(program),
        "sagemaker_submit_directory": json.dumps(f"file://{source}"),
    }
    algorithm: dict[str, Any] = {"TrainingImage": image, "TrainingInputMode": "File"}
    metrics = _pairs(metric, "--metric")
    if metrics:
        algorithm["MetricDefinitions"] = [{"Name": k, "Regex": v} for k, v in metrics.items()]
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": algorithm,
        "HyperParameters": hyperparameters,
        "RoleArn": _ROLE,
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "Environment": _pairs(env, "--env"),
    }
    channels = _pairs(channel, "--channel")
    if channels:
        request["InputDataConfig"] = [
            {
                "ChannelName": channel_name,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": _data_uri(uri)}},
            }
            for channel_name, uri in channels.items()
        ]
    with connect(server, home) as client:
        created = _sagemaker(client, "CreateTrainingJob", request)
        console.print(created["TrainingJobArn"], highlight=False, soft_wrap=True)
        if watch:
            _follow(client, name, interval=1.0)


@train_app.command("watch")
def watch_job(
    name: str,
    interval: Annotated[float, typer.Option(help="Seconds between looks")] = 1.0,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Follow a training job until it ends: its log as it is written, its status below.

    Exits 1 unless the job completes.
    """
    with connect(server, home) as client:
        _follow(client, name, interval=interval)


def _follow(client: httpx.Client, name: str, *, interval: float) -> None:
    # Looked at before the live line appears: an unknown job is one line on stderr.
    job = _sagemaker(client, "DescribeTrainingJob", {"TrainingJobName": name})
    logs = f"/training-jobs/{quote(name, safe='')}/logs"
    offset = 0
    partial = ""  # the log's last line, until its end is written
    with Live(_status_line(job), console=console, auto_refresh=False) as live:
        while True:
            piece = check(client.get(logs, params={"offset": offset}))
            offset = piece["next_offset"]
            lines = (partial + piece["text"]).split("\n")
            partial = lines.pop()
            for line in lines:
                live.console.print(line, markup=False, highlight=False, soft_wrap=True)
            live.update(_status_line(job), refresh=True)
            if job["TrainingJobStatus"] in _FINISHED:
                # It was described as ended before this read: nothing more is written,
                # and once a read finds nothing new everything has been shown.
                if not piece["text"]:
                    break
                continue
            if not piece["text"]:
                time.sleep(interval)
            job = _sagemaker(client, "DescribeTrainingJob", {"TrainingJobName": name})
    if not console.is_terminal:
        console.line()  # Live ends its last render with a new line on terminals only
    if partial:
        console.print(partial, markup=False, highlight=False, soft_wrap=True)
    _summary(job)
    if job["TrainingJobStatus"] != "Completed":
        raise typer.Exit(1)


def _status_line(job: dict[str, Any]) -> Text:
    status = job["TrainingJobStatus"]
    style = {"Completed": "green", "Failed": "red", "Stopped": "yellow"}.get(status, "cyan")
    transitions = job.get("SecondaryStatusTransitions") or []
    message = transitions[-1].get("StatusMessage", "") if transitions else ""
    end = job.get("TrainingEndTime") if status in _FINISHED else None
    elapsed = int((end or time.time()) - float(job["CreationTime"]))
    line = Text()
    line.append(f"{job['TrainingJobName']}  ")
    line.append(f"{status} / {job['SecondaryStatus']}", style=f"bold {style}")
    line.append(f"  {elapsed // 60}:{elapsed % 60:02d}  {message}")
    return line


def _summary(job: dict[str, Any]) -> None:
    if job.get("FailureReason"):
        console.print(f"[red]reason[/] {escape(job['FailureReason'])}", soft_wrap=True)
    artifacts = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if artifacts and job["TrainingJobStatus"] != "Failed":
        console.print(f"model  {artifacts}", markup=False, highlight=False, soft_wrap=True)
    for metric in job.get("FinalMetricDataList") or []:
        console.print(
            f"metric {metric['MetricName']} = {metric.get('Value')}", markup=False, highlight=False
        )


@train_app.command("list")
def list_jobs(
    status: Annotated[
        str | None, typer.Option(help="Only jobs of this status (InProgress, Completed, ...)")
    ] = None,
    name_contains: Annotated[str | None, typer.Option(help="Only names containing this")] = None,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """List training jobs, newest first."""
    table = Table()
    # The name is what gets copied: never wrapped nor cut, the other columns give way.
    table.add_column("name", no_wrap=True)
    for header in ("status", "secondary", "created", "ended"):
        table.add_column(header)
    request: dict[str, Any] = {
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 100,
    }
    if status:
        request["StatusEquals"] = status
    if name_contains:
        request["NameContains"] = name_contains
    with connect(server, home) as client:
        while True:
            page = _sagemaker(client, "ListTrainingJobs", request)
            for job in page["TrainingJobSummaries"]:
                table.add_row(
                    job["TrainingJobName"],
                    job["TrainingJobStatus"],
                    job.get("SecondaryStatus", ""),
                    _moment(job.get("CreationTime")),
                    _moment(job.get("TrainingEndTime")),
                )
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
    console.print(table)


@train_app.command("describe")
def describe_job(name: str, server: ServerOption = None, home: HomeOption = None) -> None:
    """Show a training job as DescribeTrainingJob answers it (JSON)."""
    with connect(server, home) as client:
        found = _sagemaker(client, "DescribeTrainingJob", {"TrainingJobName": name})
    console.print_json(orjson.dumps(found).decode())


@train_app.command("stop")
def stop_job(name: str, server: ServerOption = None, home: HomeOption = None) -> None:
    """Stop a training job (it goes Stopping, then Stopped; the model so far is kept)."""
    with connect(server, home) as client:
        _sagemaker(client, "StopTrainingJob", {"TrainingJobName": name})
    console.print(f"[yellow]stopping[/] {escape(name)}")


def _moment(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds")
