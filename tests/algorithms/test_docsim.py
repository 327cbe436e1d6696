"""DocSim: fact-checks found by meaning (e5) and by shared words (TF-IDF), saved and loaded."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelyard.algorithms.docsim import (
    DocSim,
    DocSimParams,
    EmptyQuery,
    InvalidCorpus,
    InvalidDocSimParams,
    read_corpus,
)
from modelyard.algorithms.docsim_index import top_k
from modelyard.errors import InvalidRequest, ModelLoadFailed

#: (id, topic, verdict, claim, article): short German fact-checks on distinct subjects.
FACTCHECKS = [
    (
        "fc-01",
        "Gesundheit",
        "falsch",
        "Corona-Impfstoffe verändern das menschliche Erbgut.",
        "mRNA gelangt nicht in den Zellkern und kann die DNA nicht umschreiben.",
    ),
    (
        "fc-02",
        "Klima",
        "falsch",
        "Der Klimawandel ist eine Erfindung von Wissenschaftlern.",
        "Messreihen weltweit zeigen eine deutliche Erwärmung seit der Industrialisierung.",
    ),
    (
        "fc-03",
        "Finanzen",
        "falsch",
        "Die Bundesregierung schafft das Bargeld im nächsten Jahr ab.",
        "Es gibt keinen Beschluss, Münzen und Scheine abzuschaffen; die Bundesbank widerspricht.",
    ),
    (
        "fc-04",
        "Energie",
        "irreführend",
        "Windräder töten jedes Jahr Millionen Vögel in Deutschland.",
        "Studien schätzen Zehntausende Kollisionen; Glasscheiben und Katzen töten weit mehr Vögel.",
    ),
    (
        "fc-05",
        "Migration",
        "falsch",
        "Asylbewerber erhalten monatlich 3000 Euro vom Staat.",
        "Die Leistungen nach dem Asylbewerberleistungsgesetz liegen bei einigen hundert Euro.",
    ),
    (
        "fc-06",
        "Technik",
        "falsch",
        "Der 5G-Mobilfunk löst Krankheiten beim Menschen aus.",
        "Die Strahlung liegt unter den Grenzwerten; Studien finden keinen Zusammenhang.",
    ),
    (
        "fc-07",
        "Ernährung",
        "falsch",
        "Zitronenwasser heilt Krebs innerhalb weniger Wochen.",
        "Es gibt keine Belege; Tumore werden mit Operation, Chemotherapie und Bestrahlung behandelt.",
    ),
    (
        "fc-08",
        "Verkehr",
        "falsch",
        "Ab 2025 dürfen in der EU keine Autos mit Benzinmotor mehr fahren.",
        "Das Verbrenner-Aus betrifft Neuzulassungen ab 2035, nicht Autos, die schon fahren.",
    ),
    (
        "fc-09",
        "Wahlen",
        "falsch",
        "Bei der Bundestagswahl wurden massenhaft Stimmzettel gefälscht.",
        "Die Wahlleitung fand keine Hinweise auf Manipulation; Auszählungen sind öffentlich.",
    ),
    (
        "fc-10",
        "Gesundheit",
        "falsch",
        "Masern sind harmlos, eine Impfung ist überflüssig.",
        "Masern können Hirnentzündungen auslösen und verlaufen in seltenen Fällen tödlich.",
    ),
    (
        "fc-11",
        "Wissenschaft",
        "falsch",
        "Die Mondlandung 1969 wurde in einem Filmstudio gedreht.",
        "Gestein vom Mond, Spiegel auf der Oberfläche und unabhängige Beobachtungen belegen sie.",
    ),
    (
        "fc-12",
        "Lebensmittel",
        "falsch",
        "In Deutschland werden bald Insekten heimlich ins Brot gemischt.",
        "Insektenmehl muss auf der Zutatenliste stehen; heimlich beimischen ist verboten.",
    ),
    (
        "fc-13",
        "Energie",
        "teilweise richtig",
        "Deutschland importiert Atomstrom aus Frankreich.",
        "Im europäischen Netz fließt Strom in beide Richtungen; zeitweise kommt mehr aus Frankreich.",
    ),
    (
        "fc-14",
        "Wetter",
        "falsch",
        "Kondensstreifen von Flugzeugen sind Chemikalien zur Wettersteuerung.",
        "Kondensstreifen bestehen aus gefrorenem Wasserdampf aus den Triebwerken.",
    ),
    (
        "fc-15",
        "Soziales",
        "falsch",
        "Rentner müssen künftig ihre Wohnung an Flüchtlinge abgeben.",
        "Kein Gesetz sieht vor, dass Rentner Wohnraum räumen müssen.",
    ),
]

#: (paraphrase, id): the same claim in other words, and the fact-check that answers it.
PARAPHRASES = [
    ("Die mRNA-Spritze gegen Covid manipuliert unsere DNA.", "fc-01"),
    (
        "Man wird bald nicht mehr mit Scheinen und Münzen bezahlen können, weil der Staat es verbietet.",
        "fc-03",
    ),
    ("Mobilfunkmasten der fünften Generation machen Leute krank.", "fc-06"),
    ("Die Landung auf dem Mond war ein inszenierter Fake aus Hollywood.", "fc-11"),
    (
        "Die weißen Streifen, die Jets hinter sich herziehen, sind Gift zur Wettermanipulation.",
        "fc-14",
    ),
]


def corpus_rows() -> list[dict[str, str]]:
    """The fact-checks as CSV rows (column -> text)."""
    return [
        {"id": fc_id, "date": f"2024-01-{n:02d}", "claim": claim, "verdict": verdict,
         "article": article, "topic": topic}
        for n, (fc_id, topic, verdict, claim, article) in enumerate(FACTCHECKS, start=1)
    ]  # fmt: skip


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write rows as a fact-check CSV with the corpus's column order."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(
            file, fieldnames=["id", "date", "claim", "verdict", "article", "topic"]
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def e5_docsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocSim]:
    """One e5 DocSim over the corpus, fitted from a CSV once for the module (e5 costs time)."""
    path = write_csv(tmp_path_factory.mktemp("corpus") / "factchecks_de.csv", corpus_rows())
    params = DocSimParams.parse({"model_name": "DocSim", "language": "de", "embedding": "e5",
                                 "top_k": "5", "text_fields": "claim,article",
                                 "train_df": "factchecks_de.csv"})  # fmt: skip
    yield DocSim.fit_csv(path, params)


@pytest.fixture(scope="module")
def tfidf_docsim() -> DocSim:
    """A TF-IDF DocSim over the claims alone."""
    return DocSim.fit(
        corpus_rows(), DocSimParams.parse({"embedding": "tfidf", "text_fields": "claim"})
    )


# --- e5: by meaning ----------------------------------------------------------------------


@pytest.mark.parametrize(("paraphrase", "expected"), PARAPHRASES)
def test_paraphrased_claim_ranks_its_factcheck_first(
    e5_docsim: DocSim, paraphrase: str, expected: str
) -> None:
    hits = e5_docsim.search(paraphrase)
    assert hits[0].id == expected, [(hit.id, round(hit.score, 3)) for hit in hits]


def test_hit_carries_the_factcheck_fields_and_a_cosine_score(e5_docsim: DocSim) -> None:
    hit = e5_docsim.search("Die mRNA-Spritze gegen Covid manipuliert unsere DNA.", k=1)[0]
    assert hit.as_dict() == {
        "id": "fc-01",
        "score": hit.score,
        "date": "2024-01-01",
        "claim": "Corona-Impfstoffe verändern das menschliche Erbgut.",
        "verdict": "falsch",
        "article": "mRNA gelangt nicht in den Zellkern und kann die DNA nicht umschreiben.",
        "topic": "Gesundheit",
    }
    assert 0.0 < hit.score <= 1.0 + 1e-5


def test_hits_are_best_first_and_k_defaults_to_top_k(e5_docsim: DocSim) -> None:
    hits = e5_docsim.search("Flugzeuge versprühen Chemikalien")
    scores = [hit.score for hit in hits]
    assert len(hits) == 5  # top_k from the params
    assert scores == sorted(scores, reverse=True)
    assert len({hit.id for hit in hits}) == 5


def test_k_larger_than_the_corpus_returns_every_factcheck(e5_docsim: DocSim) -> None:
    hits = e5_docsim.search("Impfung", k=100)
    assert sorted(hit.id for hit in hits) == sorted(row[0] for row in FACTCHECKS)
    assert len(e5_docsim.search("Impfung", k=1)) == 1


@pytest.mark.parametrize("k", [0, -3])
def test_k_below_one_is_refused(e5_docsim: DocSim, k: int) -> None:
    with pytest.raises(InvalidRequest, match="k must be"):
        e5_docsim.search("Impfung", k=k)


@pytest.mark.parametrize("query", ["", "   \n\t "])
def test_empty_query_is_refused(e5_docsim: DocSim, query: str) -> None:
    with pytest.raises(EmptyQuery, match="query text is empty"):
        e5_docsim.search(query)


def test_e5_save_and_load_give_the_same_hits(e5_docsim: DocSim, tmp_path: Path) -> None:
    e5_docsim.save(tmp_path / "model")
    loaded = DocSim.load(tmp_path / "model")
    query = "Die weißen Streifen am Himmel sind Gift."
    assert loaded.search(query, k=15) == e5_docsim.search(query, k=15)
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "docs.json",
        "docsim.json",
        "embeddings.npy",
    ]
    matrix = np.load(tmp_path / "model" / "embeddings.npy")
    assert matrix.shape == (15, 384)
    assert matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)


#: Loads the DocSim at argv[1], answers one query, prints the process's threads.
THREADS_AFTER_A_QUERY = """
import os, sys
from modelyard.algorithms.docsim import DocSim
DocSim.load(sys.argv[1]).search("Die weißen Streifen am Himmel sind Gift.", k=3)
print(len(os.listdir("/proc/self/task")))
"""


def test_a_loaded_model_queries_on_the_threads_its_params_say(
    e5_docsim: DocSim, tmp_path: Path
) -> None:
    # Serving workers answer each query on one core unless the params say more: a team of
    # threads per query, in every worker, would fight for the cores.
    counts = {}
    for threads in (1, 3):
        folder = tmp_path / f"threads-{threads}"
        e5_docsim.save(folder)
        description = json.loads((folder / "docsim.json").read_text())
        description["params"]["query_threads"] = threads
        (folder / "docsim.json").write_text(json.dumps(description))
        environment = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
        done = subprocess.run(
            [sys.executable, "-c", THREADS_AFTER_A_QUERY, str(folder)],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        counts[threads] = int(done.stdout)
    assert DocSimParams().query_threads == 1
    assert counts[3] == counts[1] + 2  # the OpenMP team: two more threads


# --- TF-IDF: by shared words ---------------------------------------------------------------


def test_tfidf_finds_the_claim_sharing_words(tfidf_docsim: DocSim) -> None:
    hits = tfidf_docsim.search("Windräder töten Vögel", k=3)
    assert hits[0].id == "fc-04"
    assert hits[0].score > 2 * hits[1].score


def test_tfidf_misses_paraphrases_that_share_few_words(tfidf_docsim: DocSim) -> None:
    # What the e5 test above finds by meaning, word overlap does not: the paraphrases are real.
    misses = [
        expected for query, expected in PARAPHRASES if tfidf_docsim.search(query)[0].id != expected
    ]
    assert misses == ["fc-01", "fc-03"]


def test_tfidf_query_without_shared_terms_scores_zero(tfidf_docsim: DocSim) -> None:
    hits = tfidf_docsim.search("qqqq xxxx", k=3)
    assert [hit.score for hit in hits] == [0.0, 0.0, 0.0]
    assert [hit.id for hit in hits] == ["fc-01", "fc-02", "fc-03"]  # ties: document order


def test_tfidf_word_analyzer(tmp_path: Path) -> None:
    docsim = DocSim.fit(
        corpus_rows(),
        DocSimParams.parse({"embedding": "tfidf", "tfidf_analyzer": "word", "top_k": "2"}),
    )
    hits = docsim.search("Atomstrom aus Frankreich")
    assert hits[0].id == "fc-13"
    assert len(hits) == 2


def test_tfidf_save_and_load_give_the_same_hits(tfidf_docsim: DocSim, tmp_path: Path) -> None:
    tfidf_docsim.save(tmp_path)
    loaded = DocSim.load(tmp_path)
    for query in ["Bargeld abschaffen", "Insekten im Brot", "Mond Studio"]:
        assert loaded.search(query, k=15) == tfidf_docsim.search(query, k=15)
    assert not (tmp_path / "embeddings.npy").exists()


def test_return_fields_limit_what_hits_carry() -> None:
    params = DocSimParams.parse({"embedding": "tfidf", "return_fields": "claim,verdict"})
    hit = DocSim.fit(corpus_rows(), params).search("Masern Impfung", k=1)[0]
    assert hit.as_dict() == {
        "id": "fc-10",
        "score": hit.score,
        "claim": "Masern sind harmlos, eine Impfung ist überflüssig.",
        "verdict": "falsch",
    }


# --- parameters -----------------------------------------------------------------------------


def test_params_parse_strings_as_a_params_file_writes_them() -> None:
    params = DocSimParams.parse({"model_name": "DocSim", "language": "de", "embedding": "e5",
                                 "top_k": "5", "text_fields": "claim, article",
                                 "max_chars": "500", "train_df": "factchecks_de.csv"})  # fmt: skip
    assert params.top_k == 5
    assert params.max_chars == 500
    assert params.text_fields == ("claim", "article")
    assert params.train_df == "factchecks_de.csv"
    assert DocSimParams.parse({}).embedding == "e5"
    assert DocSimParams.parse({"text_fields": ["claim"]}).text_fields == ("claim",)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"top_k": "five"}, "top_k"),
        ({"top_k": "0"}, "top_k"),
        ({"embedding": "bert"}, "embedding"),
        ({"text_fields": ""}, "text_fields"),
        ({"text_fields": "claim,,article"}, "text_fields"),
        ({"text_fields": "claim,claim"}, "text_fields"),
        ({"max_chars": "-1"}, "max_chars"),
        ({"language": "Deutsch"}, "language"),
        ({"model_name": "TopicalPageRank"}, "model_name"),
        ({"topk": "5"}, "topk"),
    ],
)
def test_invalid_params_name_the_field(raw: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidDocSimParams, match=rf"Invalid DocSim parameters: {field}\b"):
        DocSimParams.parse(raw)


def test_params_are_frozen() -> None:
    params = DocSimParams.parse({})
    with pytest.raises(ValueError, match="frozen"):
        params.top_k = 3  # type: ignore[misc]


# --- corpus and files -------------------------------------------------------------------------


def test_text_field_missing_from_the_corpus_is_named() -> None:
    params = DocSimParams.parse({"embedding": "tfidf", "text_fields": "claim,summary"})
    with pytest.raises(InvalidCorpus, match="text_fields: the corpus has no column summary"):
        DocSim.fit(corpus_rows(), params)


def test_duplicate_ids_and_empty_corpus_are_refused() -> None:
    params = DocSimParams.parse({"embedding": "tfidf"})
    rows = corpus_rows()
    with pytest.raises(InvalidCorpus, match="'fc-01' is used twice"):
        DocSim.fit([*rows, rows[0]], params)
    with pytest.raises(InvalidCorpus, match="no fact-checks"):
        DocSim.fit([], params)


def test_read_corpus_needs_an_id_column(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("claim,verdict\nA,falsch\n", encoding="utf-8")
    with pytest.raises(InvalidCorpus, match="no 'id' column"):
        read_corpus(tmp_path / "bad.csv")
    with pytest.raises(InvalidCorpus, match="No corpus file"):
        read_corpus(tmp_path / "missing.csv")
    rows = read_corpus(write_csv(tmp_path / "ok.csv", corpus_rows()))
    assert rows == corpus_rows()


def test_load_refuses_missing_or_damaged_files(tfidf_docsim: DocSim, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadFailed, match="Cannot load the DocSim"):
        DocSim.load(tmp_path / "nothing")
    tfidf_docsim.save(tmp_path)
    (tmp_path / "docs.json").write_text(json.dumps([{"id": "fc-01"}]), encoding="utf-8")
    with pytest.raises(ModelLoadFailed, match="does not hold 15 documents"):
        DocSim.load(tmp_path)


# --- top-k selection --------------------------------------------------------------------------


def test_top_k_matches_a_full_sort() -> None:
    scores = np.random.default_rng(7).standard_normal(1000).astype(np.float32)
    for k in (1, 5, 999, 1000, 2000):
        expected = np.argsort(-scores, kind="stable")[: min(k, 1000)]
        assert top_k(scores, k).tolist() == expected.tolist()
