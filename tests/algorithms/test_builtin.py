"""The built-in algorithms end to end: trained as training jobs, served by the model server.

One training service (SQLite, a store folder) trains TopicalPageRank, DocSim and
RatingPrediction on small data, as jobs naming the built-in algorithm; their
``model.tar.gz`` are unpacked into a model store and served by the real model server over
HTTP, whose answers are checked. Jobs with bad hyperparameters fail naming the problem.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from modelyard.algorithms.builtin import InvalidTrainingInput, params_of
from modelyard.algorithms.builtin_layout import BuiltInAlgorithm
from modelyard.storage import Database
from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.storage.training_jobs import TrainingJobs
from modelyard.storage.training_records import TrainingJob, TrainingJobStatus
from modelyard.training.programs import BUILT_IN_METRICS
from modelyard.training.service import NewTrainingJob, TrainingLimits, TrainingService
from tests.servers import model_server

FACTCHECKS = Path(__file__).parents[2] / "examples" / "factchecks" / "factchecks_de.csv"
#: Fact-checks trained on: the first rows of the example corpus.
N_FACTCHECKS = 30

#: The seed's TopicalPageRank params file, with few topics to train fast.
TPR_PARAMS = {
    "model_name": "TopicalPageRank",
    "grammar": "NP: {<ADJ>*<NOUN|PROPN>}",
    "language": "de",
    "normalization": "None",
    "n_topics": "5",
    "window": "10",
    "max_count": "10",
    "train_df": "factchecks_de.csv",
}
DOCSIM_PARAMS = {
    "model_name": "DocSim",
    "language": "de",
    "embedding": "e5",
    "top_k": "3",
    "text_fields": "claim,article",
    "train_df": "factchecks_de.csv",
}
RATING_PARAMS = {"model_name": "RatingPrediction", "factors": "4", "train_df": "ratings.csv"}
METRICS = [
    {"Name": "validation:rmse", "Regex": r"validation:rmse=([0-9.]+)"},
    {"Name": "train:documents", "Regex": r"train:documents=([0-9]+)"},
]

#: Job name -> (algorithm, hyperparameters, data prefix in the store).
JOBS: dict[str, tuple[str, dict[str, str], str]] = {
    "tpr": ("TopicalPageRank", TPR_PARAMS | {"name": "TopicalPageRank-de"}, "factchecks"),
    "docsim": ("DocSim", DOCSIM_PARAMS, "factchecks"),
    "rating": ("RatingPrediction", RATING_PARAMS, "ratings"),
    "tpr-no-topics": ("TopicalPageRank", TPR_PARAMS | {"n_topics": "0"}, "factchecks"),
    "docsim-no-file": ("DocSim", DOCSIM_PARAMS | {"train_df": "claims.csv"}, "factchecks"),
}
#: The served models: job name -> model name on the model server.
SERVED = {"tpr": "keyphrases-de", "docsim": "factcheck-search", "rating": "ratings"}


@dataclass(frozen=True)
class Trained:
    """The jobs as they ended, how long training took, and the store the models are in."""

    jobs: dict[str, TrainingJob]
    seconds: float
    store: ObjectStore
    models: Path


def factchecks_slice() -> bytes:
    """The first ``N_FACTCHECKS`` rows of the German fact-checks, as CSV."""
    with FACTCHECKS.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(N_FACTCHECKS), reader, strict=False)]
        columns = list(reader.fieldnames or ())
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def synthetic_ratings() -> bytes:
    """Ratings with a structure a model can learn: users like the items of their group."""
    rng = np.random.default_rng(7)
    lines = ["user,item,rating"]
    for user in range(40):
        for item in rng.choice(30, size=15, replace=False):
            liked = user % 3 == item % 3
            rating = np.clip(round((4.5 if liked else 1.8) + rng.normal(0, 0.4)), 1, 5)
            lines.append(f"u{user},i{item},{rating:.0f}")
    return ("\n".join(lines) + "\n").encode()


def job(name: str, algorithm: str, hyperparameters: dict[str, str], data: str) -> NewTrainingJob:
    """A job of the built-in ``algorithm``; the rating job leaves its metrics to the
    built-in's own definitions."""
    metrics = {} if name == "rating" else {"MetricDefinitions": METRICS}
    return NewTrainingJob(
        name=name,
        algorithm={"AlgorithmName": algorithm, "TrainingInputMode": "File"} | metrics,
        hyperparameters=hyperparameters,
        input_data_config=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3Uri": f"s3://data/{data}"}},
            }
        ],
        output_data_config={"S3OutputPath": "s3://models/trained"},
        resource_config={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        stopping_condition={"MaxRuntimeInSeconds": 300},
        role_arn="arn:aws:iam::000000000000:role/training",
        environment={},
    )


async def train_all(database: Database, store: ObjectStore, root: Path) -> dict[str, TrainingJob]:
    service = TrainingService(
        jobs=TrainingJobs(database),
        store=store,
        root=root,
        region="us-east-1",
        account_id="000000000000",
        limits=TrainingLimits(max_concurrent=len(JOBS), stop_grace_s=1.0),
        check_local_url=lambda what, url: url,
    )
    await service.start()
    try:
        for name, (algorithm, hyperparameters, data) in JOBS.items():
            await service.create(job(name, algorithm, hyperparameters, data))
        ended: dict[str, TrainingJob] = {}
        deadline = time.monotonic() + 120
        while len(ended) < len(JOBS):
            assert time.monotonic() < deadline, f"still training: {set(JOBS) - set(ended)}"
            for name in set(JOBS) - set(ended):
                described = await service.describe(name)
                if described.status.finished:
                    ended[name] = described
            await asyncio.sleep(0.1)
        return ended
    finally:
        await service.stop()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("builtin")
    database = Database(f"sqlite:///{root / 'modelyard.db'}")
    database.migrate()
    store = open_store(str(root / "store"))
    store.put("data/factchecks/factchecks_de.csv", factchecks_slice())
    store.put("data/ratings/ratings.csv", synthetic_ratings())
    started = time.monotonic()
    jobs = asyncio.run(train_all(database, store, root / "training"))
    seconds = time.monotonic() - started
    models = root / "models"
    for name, served in SERVED.items():
        assert jobs[name].status is TrainingJobStatus.COMPLETED, jobs[name].failure_reason
        archive = store.get(f"models/trained/{name}/output/model.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(archive)) as unpacked:
            unpacked.extractall(models / served, filter="data")
    return Trained(jobs=jobs, seconds=seconds, store=store, models=models)


@pytest.fixture(scope="module")
def client(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        model_server(trained.models, tmp_path_factory.mktemp("home")) as url,
        httpx.Client(base_url=url, timeout=60) as http,
    ):
        yield http


def invoke(client: httpx.Client, model: str, body: Any, content_type: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        f"/models/{model}/invoke", content=content, headers={"content-type": content_type}
    )


# -- training --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_name", "label", "files"),
    [
        ("tpr", "TopicalPageRank-de", ["topics.npz", "vocabulary.json", "lexicon.json"]),
        ("docsim", "DocSim", ["docsim.json", "docs.json", "embeddings.npy"]),
        ("rating", "RatingPrediction", ["rating-model.npz", "rating-model.json"]),
    ],
)
def test_a_built_in_job_saves_params_model_and_handler(
    trained: Trained, job_name: str, label: str, files: list[str]
) -> None:
    archive = trained.store.get(f"models/trained/{job_name}/output/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(archive)) as packed:
        members = {m.name.removeprefix("./") for m in packed.getmembers() if m.isfile()}
        params_file = packed.extractfile(f"{label}-params.json")
        assert params_file is not None
        params = json.loads(params_file.read())

    assert {m for m in members if "/" not in m} == {f"{label}-params.json", "model_handler.py"}
    assert {m.partition("/")[0] for m in members if "/" in m} == {f"{label}-model"}
    assert {f"{label}-model/{f}" for f in files} <= members
    algorithm, hyperparameters, _ = JOBS[job_name]
    assert params == {k: v for k, v in hyperparameters.items() if k != "name"}
    assert params["model_name"] == algorithm
    assert all(isinstance(value, str) for value in params.values())


def test_the_jobs_log_their_figures_and_the_rating_job_a_held_out_rmse(trained: Trained) -> None:
    rating = trained.jobs["rating"]
    rmse = rating.final_metrics["validation:rmse"]
    lines = synthetic_ratings().decode().splitlines()[1:]
    values = np.array([float(line.rsplit(",", 1)[1]) for line in lines])
    # Better than always answering the mean, which scores the ratings' standard deviation.
    assert 0 < rmse < 0.6 * float(values.std())
    # The built-in's own metrics, defined without being asked for, as SageMaker's are.
    assert set(rating.final_metrics) == set(BUILT_IN_METRICS["RatingPrediction"])
    assert rating.final_metrics["train:ratings"] == len(lines)
    assert rating.final_metrics["train:users"] == len({line.split(",")[0] for line in lines})
    assert rating.algorithm["MetricDefinitions"][0] == {
        "Name": "validation:rmse",
        "Regex": r"validation:rmse=([-+0-9.eE]+)",
    }
    for indexed in ("tpr", "docsim"):
        assert trained.jobs[indexed].final_metrics == {"train:documents": N_FACTCHECKS}
    assert trained.seconds < 90


@pytest.mark.parametrize(
    ("job_name", "reason"),
    [
        ("tpr-no-topics", "n_topics: Input should be greater than or equal to 1"),
        ("docsim-no-file", "train_df 'claims.csv' is not in the train channel"),
    ],
)
def test_a_job_with_bad_params_or_data_fails_naming_the_problem(
    trained: Trained, job_name: str, reason: str
) -> None:
    failed = trained.jobs[job_name]

    assert failed.status is TrainingJobStatus.FAILED
    assert reason in (failed.failure_reason or "")
    assert failed.model_artifacts is None


def test_params_are_strings_again_and_the_name_names_the_model() -> None:
    # What TrainingContext hands over: JSON values decoded.
    decoded = {"n_topics": 100, "window": 10, "grammar": "NP: {<NOUN>}", "name": "TPR-de"}

    label, params = params_of(decoded, BuiltInAlgorithm.TOPICAL_PAGERANK)

    assert label == "TPR-de"
    assert params == {
        "n_topics": "100",
        "window": "10",
        "grammar": "NP: {<NOUN>}",
        "model_name": "TopicalPageRank",
    }


@pytest.mark.parametrize(
    ("hyperparameters", "problem"),
    [
        ({"model_name": "DocSim"}, "the job trains 'RatingPrediction'"),
        ({"name": "../elsewhere"}, "model name '../elsewhere'"),
    ],
)
def test_params_naming_another_algorithm_or_an_unsafe_name_are_refused(
    hyperparameters: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidTrainingInput, match=problem):
        params_of(hyperparameters, BuiltInAlgorithm.RATING_PREDICTION)


# -- serving ---------------------------------------------------------------------------------

GERMAN_TEXT = (
    "Die Bundesregierung plant neue Förderprogramme für Wärmepumpen. Hausbesitzer sollen beim "
    "Austausch alter Ölheizungen finanzielle Unterstützung erhalten."
)


def test_keyphrases_of_a_german_text_sent_as_plain_text(client: httpx.Client) -> None:
    response = invoke(client, "keyphrases-de", GERMAN_TEXT.encode(), "text/plain; charset=utf-8")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    keyphrases = response.json()["keyphrases"]
    phrases = [k["phrase"] for k in keyphrases]
    assert "finanzielle Unterstützung" in phrases
    assert "Wärmepumpen" in phrases
    assert 0 < len(keyphrases) <= 10
    scores = [k["score"] for k in keyphrases]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


def test_keyphrases_of_several_texts_in_json_answer_one_list_each(client: httpx.Client) -> None:
    texts = [GERMAN_TEXT, "Erneuerbare Energien ersetzen alte Kohlekraftwerke."]
    response = client.post("/predictions/keyphrases-de", json={"text": texts})

    assert response.status_code == 200, response.text
    answers = response.json()
    assert len(answers) == 2
    assert any(k["phrase"] == "Erneuerbare Energien" for k in answers[1]["keyphrases"])
    single = client.post("/predictions/keyphrases-de", json={"text": texts[0]})
    assert single.json() == answers[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "Kann man durch die Grippeschutzimpfung tatsächlich selbst an Influenza erkranken?",
            "de-001",
        ),
        (
            "Hat die WHO Strahlung von Mobiltelefonen offiziell als Ursache für Gehirntumore "
            "eingestuft?",
            "de-006",
        ),
    ],
)
def test_docsim_finds_the_factcheck_of_a_reworded_claim_first(
    client: httpx.Client, query: str, expected: str
) -> None:
    response = invoke(client, "factcheck-search", {"query": query, "k": 2}, "application/json")

    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert [hit["id"] for hit in hits][:1] == [expected]
    assert len(hits) == 2 and hits[0]["score"] >= hits[1]["score"]
    assert {"claim", "verdict", "article", "topic", "date"} <= set(hits[0])


def test_docsim_takes_a_plain_text_query_and_answers_top_k(client: httpx.Client) -> None:
    query = b"Macht die Grippeimpfung selbst krank?"
    response = invoke(client, "factcheck-search", query, "text/plain")

    assert response.status_code == 200, response.text
    assert len(response.json()["hits"]) == 3  # the params' top_k


def test_ratings_answer_object2vec_predictions(client: httpx.Client) -> None:
    pairs = [("u0", "i3"), ("u0", "i1"), ("u1", "i4"), ("stranger", "i0")]
    body = {"instances": [{"in0": [user], "in1": [item]} for user, item in pairs]}

    response = invoke(client, "ratings", body, "application/json")

    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(pairs)
    scores = [p["scores"][0] for p in predictions]
    assert all(math.isfinite(s) and 1.0 <= s <= 5.0 for s in scores)
    # u0 likes the items of its group (i3), not the others (i1).
    assert scores[0] > scores[1] + 1.0


@pytest.mark.parametrize(
    ("model", "body", "content_type", "status", "problem"),
    [
        ("keyphrases-de", b"\x93NUMPY", "application/x-npy", 415, "'application/x-npy'"),
        ("keyphrases-de", {"text": "   "}, "application/json", 400, "text is empty"),
        ("keyphrases-de", {"txt": "Hallo"}, "application/json", 400, "unknown key 'txt'"),
        ("factcheck-search", {"k": 3}, "application/json", 400, "'query' is missing"),
        ("factcheck-search", {"query": "Impfung", "k": 0}, "application/json", 400, "k must be"),
        ("factcheck-search", b"{not json", "application/json", 400, "not JSON"),
        ("ratings", {"instances": [{"in0": ["u1"]}]}, "application/json", 400, "no 'in1'"),
        ("ratings", b"u1,i1", "text/csv", 415, "send application/json"),
    ],
)
def test_bad_input_is_a_client_error_naming_the_problem(
    client: httpx.Client,
    model: str,
    body: Any,
    content_type: str,
    status: int,
    problem: str,
) -> None:
    response = invoke(client, model, body, content_type)

    assert response.status_code == status, response.text
    assert problem in response.json()["message"]
