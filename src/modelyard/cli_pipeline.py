"""``modelyard pipeline run``: train the models of ``models_to_be_trained.json`` files.

The pipelines run in this process, against the home's database and object store (the
ones ``modelyard up`` uses), with a training service built as the platform builds it::

    modelyard pipeline run pipelines/factchecks/models_to_be_trained.json \\
        --webhook http://127.0.0.1:9000/hooks/training

Several files run at once, their jobs sharing the service's concurrency limit. One line
per model shows its status as it goes; a summary per pipeline follows. The exit status
is 1 if any model failed, 2 if a pipeline's files are at fault (nothing is started then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
from modelyard.training.pipeline_files import InvalidPipeline, read_pipeline
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
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Pipeline files: JSON lists of models, their folders beside each",
            show_default=False,
        ),
    ],
    webhook: Annotated[
        list[str] | None,
        typer.Option(
            help="URL each event is POSTed to as JSON (repeatable), besides "
            "MODELYARD_TRAINING__WEBHOOKS"
        ),
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
    <store>/models/<pipeline>/<model>/ (servable by name), print the summaries."""
    try:
        settings = Settings(home=home) if home is not None else Settings()
    except ValidationError as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    try:
        if name is not None and len(files) > 1:
            raise typer.BadParameter("--name names one pipeline: give one file with it")
        # Every file is read and checked before any job starts: a typo starts nothing.
        names = [read_pipeline(file, name).name for file in files]
        if len(set(names)) < len(names):
            raise typer.BadParameter(f"two pipelines have one name (their folder's): {names}")
        webhooks = [*settings.training.webhooks, *(webhook or [])]
        summaries = asyncio.run(_run(settings, files, names, webhooks, name))
    except InvalidPipeline as exc:
        err_console.print(f"[red]invalid pipeline[/] {escape(exc.message)}", highlight=False)
        raise typer.Exit(2) from None
    for summary in summaries:
        console.print(_summary_table(summary))
    if any(summary.failed for summary in summaries):
        raise typer.Exit(1)


async def _run(
    settings: Settings, files: list[Path], names: list[str], webhooks: list[str], name: str | None
) -> list[PipelineSummary]:
    service, store = build_training(settings)
    statuses: dict[str, str] = {}
    with Live(_status_table(statuses), console=console, auto_refresh=False) as live:

        def progress_of(pipeline: str | None) -> Callable[[str, str], None]:
            def progress(model: str, status: str) -> None:
                statuses[f"{pipeline}/{model}" if pipeline else model] = status
                live.update(_status_table(statuses), refresh=True)

            return progress

        try:
            async with PipelineEvents(settings.home / "logs" / "events.jsonl", webhooks) as events:
                runs = [
                    run_pipeline(
                        file,
                        service=service,
                        store=store,
                        events=events,
                        models_prefix=settings.models_prefix,
                        name=name,
                        progress=progress_of(pipeline if len(files) > 1 else None),
                    )
                    for file, pipeline in zip(files, names, strict=True)
                ]
                return list(await asyncio.gather(*runs))
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
