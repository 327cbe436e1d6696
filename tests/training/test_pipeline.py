"""The training pipeline: models_to_be_trained.json checked, trained, unpacked, skipped.

A pipeline folder is written per test: a DocSim over 20 German fact-checks (TF-IDF, to
stay fast; data read in place by a relative ``file://`` path), a RatingPrediction on
synthetic ratings in the object store (``s3://``), and a script-mode model whose
``train.py`` fails. Runs go through a real TrainingService (SQLite, a store folder);
events go to ``<home>/logs/events.jsonl`` and to a webhook on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelyard.serving.artifacts import ArtifactPolicy
from modelyard.storage import Database
from modelyard.storage.listing import ListQuery
from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.storage.training_jobs import TrainingJobs
from modelyard.training.events import PipelineEvents
from modelyard.training.pipeline import MANIFEST, PipelineSummary, run_pipeline
from modelyard.training.pipeline_files import InvalidPipeline
from modelyard.training.service import TrainingLimits, TrainingService
from tests.servers import model_server

FACTCHECKS = Path(__file__).parents[2] / "examples" / "factchecks" / "factchecks_de.csv"
PIPELINE = "factchecks"
DOCSIM = {
    "model_name": "DocSim",
    "language": "de",
    "embedding": "tfidf",
    "top_k": "3",
    "text_fields": "claim,article",
    "train_df": "factchecks_de.csv",
}
RATING = {"model_name": "RatingPrediction", "factors": "4", "train_df": "ratings.csv"}
FAILING_SCRIPT = 'import sys\nprint("reading labels")\nsys.exit("no labels column in the data")\n'


def factchecks_slice(rows: int = 20) -> str:
    with FACTCHECKS.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        kept = [row for _, row in zip(range(rows), reader, strict=False)]
        columns = list(reader.fieldnames or ())
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(kept)
    return out.getvalue()


def synthetic_ratings() -> bytes:
    rng = np.random.default_rng(3)
    lines = ["user,item,rating"]
    for user in range(20):
        for item in rng.choice(15, size=8, replace=False):
            lines.append(f"u{user},i{item},{4 + (user + item) % 2}")
    return ("\n".join(lines) + "\n").encode()


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_pipeline(root: Path, models: dict[str, dict[str, Any]]) -> Path:
    """``models``: name -> {"params": ..., "inputs": ..., "script": optional text}."""
    folder = root / PIPELINE
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "factchecks_de.csv").write_text(factchecks_slice(), encoding="utf-8")
    for name, model in models.items():
        write_json(folder / name / f"{name}-params.json", model["params"])
        write_json(folder / name / "inputData.json", model["inputs"])
        if "script" in model:
            (folder / name / "train.py").write_text(model["script"], encoding="utf-8")
    return write_json(folder / "models_to_be_trained.json", list(models))


GOOD: dict[str, dict[str, Any]] = {
    "DocSim-de": {"params": DOCSIM, "inputs": {"train": "file://../data/factchecks_de.csv"}},
    "Ratings": {"params": RATING, "inputs": {"train": "s3://data/ratings"}},
}
FAILING = {
    "Labeler": {
        "params": {"model_name": "Labeler", "epochs": "2"},
        "inputs": {"train": "file://../data"},
        "script": FAILING_SCRIPT,
    }
}


@dataclass
class Platform:
    """What a pipeline runs against: a training service, its store and database, a home."""

    service: TrainingService
    store: ObjectStore
    database: Database
    home: Path

    async def run(self, file: Path, webhooks: list[str] | None = None) -> PipelineSummary:
        async with PipelineEvents(self.home / "logs" / "events.jsonl", webhooks or []) as events:
            return await run_pipeline(
                file, service=self.service, store=self.store, events=events, poll_interval_s=0.05
            )

    def job_count(self) -> int:
        return len(TrainingJobs(self.database).page(ListQuery(limit=100)).items)

    def events(self) -> list[dict[str, Any]]:
        log = self.home / "logs" / "events.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


def platform_in(root: Path) -> Platform:
    database = Database(f"sqlite:///{root / 'modelyard.db'}")
    database.migrate()
    store_url = str(root / "store")
    store = open_store(store_url)
    store.put("data/ratings/ratings.csv", synthetic_ratings())
    service = TrainingService(
        jobs=TrainingJobs(database),
        store=store,
        root=root / "training",
        region="us-east-1",
        account_id="000000000000",
        # Fewer places than models: the third job waits for one.
        limits=TrainingLimits(max_concurrent=2, stop_grace_s=1.0),
        check_local_url=ArtifactPolicy(None, store_url).check,
    )
    return Platform(service=service, store=store, database=database, home=root / "home")


class Webhook(BaseHTTPRequestHandler):
    """Records the JSON body of every POST; answers 204."""

    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        self.server.received.append(json.loads(self.rfile.read(length)))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test reads what was received, not the server's log


@contextlib.contextmanager
def webhook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook on 127.0.0.1, in a thread: its URL and the events it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    received: list[dict[str, Any]] = []
    server.received = received  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/training", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with webhook_server() as hook:
        yield hook


# -- checks before anything starts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "file", "field", "problem"),
    [
        (
            {"params": DOCSIM | {"top_k": "0"}},
            "Broken/Broken-params.json",
            "top_k",
            "greater than or equal to 1",
        ),
        (
            {"params": RATING | {"factors": "many"}},
            "Broken/Broken-params.json",
            "factors",
            "many",
        ),
        (
            {"params": {"model_name": "TopicalPageRank", "n_topics": "0"}},
            "Broken/Broken-params.json",
            "n_topics",
            "greater than or equal to 1",
        ),
        (
            {"params": {"model_name": "KMeans"}},
            "Broken/Broken-params.json",
            "model_name",
            "no built-in algorithm",
        ),
        (
            {"params": DOCSIM, "inputs": {"train": "file://../data/claims.csv"}},
            "Broken/inputData.json",
            "train",
            "nothing at",
        ),
        (
            {"params": DOCSIM | {"train_df": "claims.csv"}},
            "Broken/Broken-params.json",
            "train_df",
            "'claims.csv' is not in the train channel",
        ),
    ],
)
def test_a_bad_model_is_refused_naming_field_and_file_and_nothing_starts(
    tmp_path: Path, broken: dict[str, Any], file: str, field: str, problem: str
) -> None:
    platform = platform_in(tmp_path)
    model = {"inputs": {"train": "file://../data/factchecks_de.csv"}} | broken
    pipeline = write_pipeline(tmp_path, GOOD | {"Broken": model})

    with pytest.raises(InvalidPipeline) as raised:
        asyncio.run(platform.run(pipeline))

    assert raised.value.file == (pipeline.parent / file).resolve()
    assert raised.value.field == field
    assert problem in raised.value.message
    assert f"{pipeline.parent / file}: {field}: " in str(raised.value)
    assert platform.job_count() == 0
    assert platform.events() == []


def test_bad_json_and_missing_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    platform = platform_in(tmp_path)
    pipeline = write_pipeline(tmp_path, GOOD)
    params = pipeline.parent / "DocSim-de" / "DocSim-de-params.json"
    params.write_text('{"model_name": "DocSim",}')

    with pytest.raises(InvalidPipeline, match="DocSim-de-params.json: file: is not JSON"):
        asyncio.run(platform.run(pipeline))
    (pipeline.parent / "Ratings" / "inputData.json").unlink()
    params.write_text(json.dumps(DOCSIM))
    with pytest.raises(InvalidPipeline, match=r"Ratings/inputData.json: file: is missing"):
        asyncio.run(platform.run(pipeline))
    write_json(pipeline, ["DocSim-de", "Nowhere"])
    with pytest.raises(InvalidPipeline, match="model 'Nowhere' has no folder"):
        asyncio.run(platform.run(pipeline))
    assert platform.job_count() == 0


# -- runs ---------------------------------------------------------------------------------


@dataclass
class Runs:
    """Three runs of one pipeline folder: first, again unchanged, again with a param changed."""

    platform: Platform
    pipeline: Path
    first: PipelineSummary
    first_events: list[dict[str, Any]]
    webhook_events: list[dict[str, Any]]
    again: PipelineSummary
    jobs_after_again: int
    changed: PipelineSummary


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("pipeline")
    platform = platform_in(root)
    pipeline = write_pipeline(root, GOOD | FAILING)

    async def go(url: str, received: list[dict[str, Any]]) -> Runs:
        try:
            first = await platform.run(pipeline, [url])
            first_events = platform.events()
            # The same models, the failing one left out: nothing of theirs changed.
            good = write_json(pipeline.parent / "good.json", list(GOOD))
            again = await platform.run(good)
            jobs_after_again = platform.job_count()
            write_json(
                pipeline.parent / "DocSim-de" / "DocSim-de-params.json", DOCSIM | {"top_k": "2"}
            )
            changed = await platform.run(good)
        finally:
            await platform.service.stop()
        return Runs(
            platform=platform,
            pipeline=pipeline,
            first=first,
            first_events=first_events,
            webhook_events=list(received),
            again=again,
            jobs_after_again=jobs_after_again,
            changed=changed,
        )

    with webhook_server() as (url, received):
        yield asyncio.run(go(url, received))


def outcomes(summary: PipelineSummary) -> dict[str, str]:
    return {outcome.model: outcome.status for outcome in summary.models}


def test_a_run_trains_each_model_and_one_failing_leaves_the_others(runs: Runs) -> None:
    first = runs.first

    assert outcomes(first) == {
        "DocSim-de": "Completed",
        "Ratings": "Completed",
        "Labeler": "Failed",
    }
    assert first.failed
    by_model = {outcome.model: outcome for outcome in first.models}
    labeler = by_model["Labeler"]
    assert "no labels column in the data" in (labeler.failure_reason or "")
    assert labeler.artifact is None
    for name in GOOD:
        outcome = by_model[name]
        assert outcome.job_name is not None and outcome.job_name.startswith(f"{name}-")
        assert len(outcome.job_name) == len(name) + 9
        assert outcome.failure_reason is None and not outcome.skipped and outcome.seconds > 0
        assert outcome.artifact == runs.platform.store.url_for(f"models/{PIPELINE}/{name}")


def test_completed_models_are_unpacked_into_one_servable_store_folder(runs: Runs) -> None:
    store = runs.platform.store
    folder = f"models/{PIPELINE}"

    assert store.list(folder) == [MANIFEST, "DocSim-de", "Ratings"]
    assert set(store.list(f"{folder}/DocSim-de")) == {
        "DocSim-de-model",
        "DocSim-de-params.json",
        "model_handler.py",
    }
    assert "rating-model.npz" in store.list(f"{folder}/Ratings/Ratings-model")
    served = store.url_for(folder)
    with (
        model_server(served, runs.platform.home / "serve") as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        response = client.post(
            "/models/DocSim-de/invoke",
            json={"query": "Macht die Grippeimpfung selbst krank?"},
        )
    assert response.status_code == 200, response.text
    # The changed params file is the one served: the last run set top_k to 2.
    assert len(response.json()["hits"]) == 2


def test_events_go_to_the_event_log_and_the_webhook_in_order(runs: Runs) -> None:
    events = runs.first_events

    assert events[0]["type"] == "pipeline.started"
    assert events[0]["models"] == ["DocSim-de", "Ratings", "Labeler"]
    assert events[-1]["type"] == "pipeline.finished"
    assert events[-1]["summary"] == runs.first.as_dict()
    middle = {event["model"]: event for event in events[1:-1]}
    assert len(events) == 5
    assert {model: event["type"] for model, event in middle.items()} == {
        "DocSim-de": "model.succeeded",
        "Ratings": "model.succeeded",
        "Labeler": "model.failed",
    }
    assert "no labels column in the data" in middle["Labeler"]["reason"]
    assert all(event["pipeline"] == PIPELINE and event["time"] for event in events)
    assert runs.webhook_events == events


def test_a_run_with_nothing_changed_skips_every_model(runs: Runs) -> None:
    assert outcomes(runs.again) == {"DocSim-de": "Skipped", "Ratings": "Skipped"}
    assert all(o.skipped and o.job_name is None and o.artifact for o in runs.again.models)
    assert not runs.again.failed
    # Three jobs of the first run, none since.
    assert runs.jobs_after_again == 3
    skipped = [e for e in runs.platform.events() if e["type"] == "model.skipped"]
    assert {e["model"] for e in skipped} >= {"DocSim-de", "Ratings"}


def test_a_changed_param_retrains_that_model_only(runs: Runs) -> None:
    assert outcomes(runs.changed) == {"DocSim-de": "Completed", "Ratings": "Skipped"}
    params = runs.platform.store.get(f"models/{PIPELINE}/DocSim-de/DocSim-de-params.json")
    assert json.loads(params)["top_k"] == "2"
    manifest = json.loads(runs.platform.store.get(f"models/{PIPELINE}/{MANIFEST}"))
    assert set(manifest["models"]) == {"DocSim-de", "Ratings"}
    docsim = {o.model: o for o in runs.changed.models}["DocSim-de"]
    assert manifest["models"]["DocSim-de"]["job_name"] == docsim.job_name


def test_a_webhook_that_fails_does_not_fail_the_pipeline(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    platform = platform_in(tmp_path)
    pipeline = write_pipeline(tmp_path, {"Ratings": GOOD["Ratings"]})

    async def go() -> PipelineSummary:
        try:
            # A port nobody listens on (the webhook's, closed below), then the live one.
            return await platform.run(pipeline, ["http://127.0.0.1:9/refused", url])
        finally:
            await platform.service.stop()

    summary = asyncio.run(go())

    assert outcomes(summary) == {"Ratings": "Completed"}
    assert [event["type"] for event in received] == [
        "pipeline.started",
        "model.succeeded",
        "pipeline.finished",
    ]


# -- the command line ------------------------------------------------------------------------


def test_the_cli_runs_a_pipeline_in_process_and_exits_1_when_a_model_failed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    open_store(str(home / "store")).put("data/ratings/ratings.csv", synthetic_ratings())
    pipeline = write_pipeline(tmp_path, {"Ratings": GOOD["Ratings"]} | FAILING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env |= {"MODELYARD_HOME": str(home), "COLUMNS": "200"}
    command = [str(Path(sys.executable).parent / "modelyard"), "pipeline", "run", str(pipeline)]

    # One webhook configured by the settings, one given on the command line.
    with webhook_server() as (configured, by_settings), webhook_server() as (url, received):
        done = subprocess.run(
            [*command, "--webhook", url],
            env=env | {"MODELYARD_TRAINING__WEBHOOKS": json.dumps([configured])},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert done.returncode == 1, done.stderr
    assert by_settings == received
    assert "Completed" in done.stdout and "Failed" in done.stdout
    assert "no labels column in the data" in done.stdout
    assert (home / "store" / "models" / PIPELINE / "Ratings" / "Ratings-params.json").is_file()
    log = (home / "logs" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in log] == received
    assert [event["type"] for event in received][::3] == ["pipeline.started", "pipeline.finished"]

    broken = write_json(tmp_path / "other" / "models_to_be_trained.json", ["Missing"])
    refused = subprocess.run(
        [*command[:-1], str(broken)], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert "model 'Missing' has no folder" in refused.stderr

    not_a_url = subprocess.run(
        command,
        env=env | {"MODELYARD_TRAINING__WEBHOOKS": '["ftp://example/hook"]'},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert not_a_url.returncode == 2
    assert "training.webhooks.0" in not_a_url.stderr


def test_the_cli_runs_several_pipelines_at_once_after_checking_them_all(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_store(str(home / "store")).put("data/ratings/ratings.csv", synthetic_ratings())
    first = write_pipeline(tmp_path / "a", {"Ratings": GOOD["Ratings"]})
    (tmp_path / "b").mkdir()
    second = (
        write_pipeline(tmp_path / "b", {"Ratings": GOOD["Ratings"]}).parent.rename(
            tmp_path / "b" / "ratings"
        )
        / "models_to_be_trained.json"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env |= {"MODELYARD_HOME": str(home), "COLUMNS": "200"}
    command = [str(Path(sys.executable).parent / "modelyard"), "pipeline", "run"]

    def run(*files: Path) -> subprocess.CompletedProcess[str]:
        paths = [str(file) for file in files]
        return subprocess.run(
            [*command, *paths], env=env, capture_output=True, text=True, timeout=60
        )

    broken = write_json(tmp_path / "c" / "other" / "models_to_be_trained.json", ["Missing"])
    refused = run(first, broken)
    same_name = run(first, write_pipeline(tmp_path / "d", {"Ratings": GOOD["Ratings"]}))
    both = run(first, second)

    assert refused.returncode == 2 and "model 'Missing' has no folder" in refused.stderr
    assert same_name.returncode == 2 and "one name" in same_name.stderr
    assert both.returncode == 0, both.stdout + both.stderr
    assert "pipeline factchecks" in both.stdout and "pipeline ratings" in both.stdout
    for pipeline in (PIPELINE, "ratings"):
        model = home / "store" / "models" / pipeline / "Ratings" / "Ratings-params.json"
        assert model.is_file()
    # The refused runs started nothing: the only pipelines in the log are the last two.
    log = [json.loads(line) for line in (home / "logs" / "events.jsonl").read_text().splitlines()]
    started = sorted(event["pipeline"] for event in log if event["type"] == "pipeline.started")
    assert started == [PIPELINE, "ratings"]
