"""``modelyard workflows …`` and ``modelyard jobs …``: the client commands of the workflows.

``workflows`` speaks the Step Functions API (AWS JSON 1.0 on ``POST /``, signed when a
management token is set), ``jobs`` the jobs API; ``jobs watch`` shows a job's progress,
one bar step per endpoint answered, from its execution's history.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from modelyard.cli_client import (
    HomeOption,
    ServerOption,
    check,
    connect,
    console,
    err_console,
    payload_bytes,
)

__all__ = ["jobs_app", "workflows_app"]

workflows_app = typer.Typer(
    help="Create state machines, start executions, follow them (the Step Functions API).",
    no_args_is_help=True,
)
jobs_app = typer.Typer(
    help="Create jobs, follow them, fetch their results (the jobs API).", no_args_is_help=True
)

#: Job statuses that will not change.
_FINISHED = frozenset({"SUCCEEDED", "PARTIAL", "FAILED", "CANCELLED"})
_ROLE = "arn:aws:iam::000000000000:role/modelyard"


def _states(client: httpx.Client, operation: str, body: dict[str, Any]) -> Any:
    """One Step Functions API call."""
    data = orjson.dumps(body)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"AWSStepFunctions.{operation}",
    }
    return check(client.post("/", content=data, headers=headers))


def _machine_arn(client: httpx.Client, name_or_arn: str) -> str | None:
    """The ARN of the state machine of that name (or that ARN); ``None`` if none has it."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    token: str | None = None
    while True:
        page = _states(client, "ListStateMachines", {"nextToken": token} if token else {})
        for machine in page.get("stateMachines", []):
            if machine["name"] == name_or_arn:
                return str(machine["stateMachineArn"])
        token = page.get("nextToken")
        if not token:
            return None


@workflows_app.command("create")
def create_workflow(
    name: str,
    definition: Annotated[
        Path,
        typer.Option(help="The ASL file (JSON)", exists=True, dir_okay=False, readable=True),
    ],
    type: Annotated[str, typer.Option(help="STANDARD or EXPRESS")] = "STANDARD",
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Create a state machine from an ASL file (or update the one of that name)."""
    text = definition.read_text()
    with connect(server, home) as client:
        arn = _machine_arn(client, name)
        if arn is None:
            made = _states(
                client,
                "CreateStateMachine",
                {"name": name, "definition": text, "roleArn": _ROLE, "type": type.upper()},
            )
            # soft_wrap: an ARN is copied whole, never broken over lines.
            console.print(
                f"[green]created[/] {escape(made['stateMachineArn'])}",
                highlight=False,
                soft_wrap=True,
            )
            return
        _states(client, "UpdateStateMachine", {"stateMachineArn": arn, "definition": text})
    console.print(f"[green]updated[/] {escape(arn)}", highlight=False, soft_wrap=True)


@workflows_app.command("start")
def start_workflow(
    machine: Annotated[str, typer.Argument(help="State machine name or ARN")],
    input: Annotated[str | None, typer.Option(help="Input JSON, or @FILE, or -")] = None,
    name: Annotated[str | None, typer.Option(help="Execution name")] = None,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Start an execution; prints its ARN."""
    body = payload_bytes(input) or b"{}"
    with connect(server, home) as client:
        arn = _machine_arn(client, machine)
        if arn is None:
            err_console.print(f"no state machine named {machine!r}", markup=False, highlight=False)
            raise typer.Exit(1)
        request: dict[str, Any] = {"stateMachineArn": arn, "input": body.decode()}
        if name:
            request["name"] = name
        started = _states(client, "StartExecution", request)
    console.print(started["executionArn"], highlight=False, soft_wrap=True)


@workflows_app.command("describe")
def describe_workflow(
    execution_arn: str, server: ServerOption = None, home: HomeOption = None
) -> None:
    """Show an execution: status, input, output or error."""
    with connect(server, home) as client:
        found = _states(client, "DescribeExecution", {"executionArn": execution_arn})
    console.print_json(orjson.dumps(found).decode())


@workflows_app.command("history")
def workflow_history(
    execution_arn: str,
    data: Annotated[bool, typer.Option(help="Include inputs and outputs")] = False,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """List an execution's history events."""
    table = Table("id", "type", "state", "detail")
    with connect(server, home) as client:
        token: str | None = None
        while True:
            request: dict[str, Any] = {
                "executionArn": execution_arn,
                "includeExecutionData": data,
                "maxResults": 1000,
            }
            if token:
                request["nextToken"] = token
            page = _states(client, "GetExecutionHistory", request)
            for event in page["events"]:
                details: dict[str, Any] = next(
                    (v for k, v in event.items() if k.endswith("EventDetails")), {}
                )
                state = details.get("name", "") if isinstance(details, dict) else ""
                detail = {k: v for k, v in details.items() if k != "name"} if data else ""
                table.add_row(
                    str(event["id"]),
                    event["type"],
                    escape(str(state)),
                    escape(orjson.dumps(detail).decode()) if detail else "",
                )
            token = page.get("nextToken")
            if not token:
                break
    console.print(table)


# -- jobs --------------------------------------------------------------------------------


@jobs_app.command("create")
def create_job(
    data: Annotated[str, typer.Option(help="The job's data: text, or @FILE, or - for stdin")],
    category: Annotated[list[str], typer.Option(help="Category to fan out to (repeatable)")],
    content_type: Annotated[str, typer.Option(help="Content type of the data")] = (
        "application/json"
    ),
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Create a job; prints its id."""
    body = payload_bytes(data)
    with connect(server, home) as client:
        created = check(
            client.post(
                "/create-job",
                params={"categories": ",".join(category)},
                content=body,
                headers={"Content-Type": content_type},
            )
        )
    console.print(created["job_id"], highlight=False, soft_wrap=True)


@jobs_app.command("get")
def get_job(job_id: str, server: ServerOption = None, home: HomeOption = None) -> None:
    """Show a job: its status and, once it has ended, every endpoint's result."""
    with connect(server, home) as client:
        found = check(client.get(f"/jobs/{quote(job_id, safe='')}"))
    console.print_json(orjson.dumps(found).decode())


@jobs_app.command("list")
def list_jobs(
    max_results: Annotated[int, typer.Option(help="Jobs per page")] = 50,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """List jobs, newest first."""
    table = Table()
    # The id is what gets copied: never wrapped nor cut, the other columns give way.
    table.add_column("job", no_wrap=True, min_width=36)
    for header in ("status", "categories", "created", "finished"):
        table.add_column(header)
    with connect(server, home) as client:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"max_results": max_results}
            if token:
                params["next_token"] = token
            page = check(client.get("/jobs", params=params))
            for job in page["jobs"]:
                table.add_row(
                    job["job_id"],
                    job["status"],
                    escape(", ".join(job["categories"])),
                    job["created_at"],
                    job["finished_at"] or "",
                )
            token = page.get("next_token")
            if not token:
                break
    console.print(table)


@jobs_app.command("watch")
def watch_job(
    job_id: str,
    interval: Annotated[float, typer.Option(help="Seconds between looks")] = 0.5,
    server: ServerOption = None,
    home: HomeOption = None,
) -> None:
    """Follow a job with a progress bar until it ends; then show its results.

    Exits 1 when the job ends FAILED or CANCELLED.
    """
    with connect(server, home) as client:
        # Looked at before the bar appears: an unknown job is one line on stderr, no bar.
        job = check(client.get(f"/jobs/{quote(job_id, safe='')}"))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task(job["status"], total=None)
            while True:
                done, total = _progress(client, job)
                progress.update(bar, completed=done, total=total, description=job["status"])
                if job["status"] in _FINISHED:
                    break
                time.sleep(interval)
                job = check(client.get(f"/jobs/{quote(job_id, safe='')}"))
    console.print_json(orjson.dumps(job).decode())
    if job["status"] in {"FAILED", "CANCELLED"}:
        raise typer.Exit(1)


def _progress(client: httpx.Client, job: dict[str, Any]) -> tuple[int, int | None]:
    """(endpoints answered, endpoints in all) from the job's execution history."""
    arn = job.get("execution_arn")
    if not arn:
        return 0, None
    total: int | None = None
    done = 0
    token: str | None = None
    while True:
        request: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        if token:
            request["nextToken"] = token
        page = _states(client, "GetExecutionHistory", request)
        for event in page["events"]:
            if event["type"] == "MapStateStarted":
                total = event.get("mapStateStartedEventDetails", {}).get("length")
            elif event["type"] in {"MapIterationSucceeded", "MapIterationFailed"}:
                done += 1
        token = page.get("nextToken")
        if not token:
            return done, total
