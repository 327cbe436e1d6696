"""``modelyard pipeline run``: train the models of a ``models_to_be_trained.json``.

The pipeline runs in this process, against the home's database and object store (the
ones ``modelyard up`` uses), with a training service built as the platform builds it::

    modelyard pipeline run pipelines/factchecks/models_to_be_trained.json \\
        --webhook http://127.0.0.1:9000/hooks/training

One line per model shows its status as it goes; the summary follows. The exit status is
1 if any model failed, 2 if the pipeline's files are at fault (nothing is started then).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from modelyard.cli_client import console, err_console
from modelyard.config import Settings
from modelyard.serving.artifacts import ArtifactPolicy
from modelyard.storage import Database
from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.training.events import PipelineEvents
from modelyard.training.pipeline import PipelineSummary, run_pipeline
from modelyard.training.pipeline_files import InvalidPipeline
from modelyard.training.service import TrainingService

__all__ = ["build_training", "pipeline_app"]

pipeline_app = typer.Typer(
    help="Train the models a models_to_be_trained.json lists, into one model store folder.",
    no_args_is_help=True,
)

#: How each status is shown.
_STYLES = {
    "Completed": "green",
    "Skipped": "cyan",
    "Failed": "red",
    "Stopped": "red",
}


def build_training(settings: Settings) -> tuple[TrainingService, ObjectStore]:
    """A training service over the home's database and store, as ``platform.py`` builds
    it (the same folders, limits and allowed-URL rule), and that store."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store_url = settings.resolved_store_url.rstrip("/")
    database = Database(
        settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    database.migrate()
    store = open_store(store_url, settings.store_options)
    # Imported here: the platform's modules are more than the other commands need.
    from modelyard.platform import build_training

    policy = ArtifactPolicy(settings.serving.allowed_model_urls, store_url)
    service = build_training(settings, database, store, policy.check)
    return service, store


@pipeline_app.command("run")
def run(
    file: Annotated[
        Path,
        typer.Argument(help="The pipeline file: a JSON list of models, their folders beside it"),
    ],
    webhook: Annotated[
        list[str] | None,
        typer.Option(help="URL each event is POSTed to as JSON (repeatable)"),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="The pipeline's name, its store folder \\[default: the file's folder]"),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(help="State folder \\[env: MODELYARD_HOME, default ./.modelyard]"),
    ] = None,
) -> None:
    """Train every listed model whose inputs or params changed; unpack them into
    <store>/models/<pipeline>/<model>/ (servable by name), print the summary."""
    try:
        settings = Settings(home=home) if home is not None else Settings()
    except ValidationError as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    try:
        summary = asyncio.run(_run(settings, file, webhook or [], name))
    except InvalidPipeline as exc:
        err_console.print(f"[red]invalid pipeline[/] {escape(exc.message)}", highlight=False)
        raise typer.Exit(2) from None
    console.print(_summary_table(summary))
    if summary.failed:
        raise typer.Exit(1)


async def _run(
    settings: Settings, file: Path, webhooks: list[str], name: str | None
) -> PipelineSummary:
    service, store = build_training(settings)
    statuses: dict[str, str] = {}
    with Live(_status_table(statuses), console=console, auto_refresh=False) as live:

        def progress(model: str, status: str) -> None:
            statuses[model] = status
            live.update(_status_table(statuses), refresh=True)

        try:
            async with PipelineEvents(settings.home / "logs" / "events.jsonl", webhooks) as events:
                return await run_pipeline(
                    file,
                    service=service,
                    store=store,
                    events=events,
                    models_prefix=settings.models_prefix,
                    name=name,
                    progress=progress,
                )
        finally:
            # Ctrl+C included: no job is left running with nobody to record its end.
            await service.stop()


def _status_table(statuses: dict[str, str]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    for model, status in statuses.items():
        style = _STYLES.get(status, "yellow")
        table.add_row(escape(model), f"[{style}]{escape(status)}[/]")
    return table


def _summary_table(summary: PipelineSummary) -> Table:
    table = Table(title=f"pipeline {escape(summary.pipeline)} ({summary.seconds:.1f} s)")
    for column in ("model", "status", "job", "seconds", "model folder / reason"):
        table.add_column(column)
    for outcome in summary.models:
        style = _STYLES.get(outcome.status, "yellow")
        table.add_row(
            escape(outcome.model),
            f"[{style}]{escape(outcome.status)}[/]",
            escape(outcome.job_name or "-"),
            f"{outcome.seconds:.1f}",
            escape(outcome.failure_reason or outcome.artifact or ""),
        )
    return table
