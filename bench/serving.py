"""Serving benchmark: modelyard against a bare Starlette app, one model and a thousand.

Run ``.venv/bin/python bench/serving.py [--quick]`` (full < ~6 min, quick < 60 s). Needs
``wrk``. Everything runs on 127.0.0.1 in a temporary folder:

1. builds a scikit-learn LogisticRegression (20 features) as ``lr/`` and 1,000 copies
   ``m0000``..``m0999``;
2. starts ``modelyard serve --workers 1``: idle RSS, then cold-load overhead;
3. starts ``bench/reference_app.py`` (one process, the model in process) and runs the cases
   ``c1``, ``c8``, ``c64`` (one row, that many connections) and ``b32`` (32 rows, 8 conns)
   on both, taking the two servers in turn case by case;
4. restarts modelyard with room for ~100 models and sends a Zipf(1.0) mix over the 1,000
   names at concurrency 64;
5. *pinned*: the same single-model cases with each server's process tree on one CPU
   (``taskset``) and wrk on the other: what the design costs, apart from a second core;
6. *churn*, pinned: Zipf(1.0) over 200 of the names at concurrency 64, with at most 50
   models loaded, against the reference serving the same names through an in-process
   LRU of 50 models (``reference_app.py --lru``).

``--pin`` runs steps 5 and 6 alone and writes them into the results of an earlier run.
It prints tables and writes ``bench/results/serving.json`` with the targets and whether
they pass. Servers run in their own process groups and are killed on any exit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The script's own folder is first on sys.path, so its sibling modules import directly.
from procs import (
    Client,
    Server,
    get_json,
    pss_tree_mb,
    rss_tree_mb,
    servers_stopped,
    stop_all,
    wait_http,
)
from report import best, print_report, single_table, verdicts
from servers import SERVER_CPU, loaded_models, start_modelyard, start_reference
from wrk import WrkResult, fixed_body_script, run_wrk, v2_body, wrk_path, zipf_script

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "serving.json"
N_FEATURES = 20
N_COPIES = 1000
#: (concurrency, rows per request) of each single-model case.
CASES = {"c1": (1, 1), "c8": (8, 1), "c64": (64, 1), "b32": (8, 32)}
#: Concurrency of the many-models run; its ratio is taken against this single case.
MANY_CASE = "c64"
#: The churn case: Zipf over this many names, at most this many loaded.
CHURN_NAMES = 200
CHURN_LOADED = 50
#: The CPU wrk runs on in the pinned steps (the servers run on ``SERVER_CPU``).
WRK_CPU = "1" if SERVER_CPU == "0" else "0"


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How long each step runs."""

    #: "quick" or "full".
    name: str
    #: Seconds of each measured wrk run.
    seconds: float
    #: Measured runs per server and case, the servers taking turns; the best one counts.
    rounds: int
    #: Seconds of the warm-up run before it.
    warmup: float
    #: Whether every case gets its warm-up, or only the first case of each server.
    warmup_each: bool
    #: Cold models timed for the load overhead.
    cold_models: int
    #: Sequential requests for the warm median.
    warm_requests: int


QUICK = Mode(
    name="quick", seconds=3, rounds=1, warmup=1, warmup_each=False, cold_models=5, warm_requests=30
)
FULL = Mode(
    name="full", seconds=5, rounds=2, warmup=2, warmup_each=True, cold_models=10, warm_requests=100
)


# -- step 1: the model store -------------------------------------------------------------


def build_model(root: Path) -> dict[str, str]:
    """Write ``lr/`` under ``root``; return the request bodies by case."""
    import joblib
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(n_samples=2000, n_features=N_FEATURES, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(x, y)
    settings = json.dumps({"handler": "sklearn", "method": "predict_proba"})
    artifact = root / "lr" / "model.joblib"
    artifact.parent.mkdir(parents=True)
    joblib.dump(model, artifact)
    (root / "lr" / "model-settings.json").write_text(settings)
    rows = np.random.default_rng(1).normal(size=(32, N_FEATURES)).round(6).tolist()
    return {case: v2_body(rows[:n_rows]) for case, (_, n_rows) in CASES.items()}


def copy_model(root: Path) -> None:
    """Add the copies ``m0000``..``m0999`` of ``lr/`` (hard links: same bytes, less time)."""
    for i in range(N_COPIES):
        folder = root / f"m{i:04d}"
        folder.mkdir()
        for file in ("model.joblib", "model-settings.json"):
            os.link(root / "lr" / file, folder / file)


# -- step 3: single-model cases --------------------------------------------------------


def measure_cases(
    servers: dict[str, Server], bodies: dict[str, str], mode: Mode, cpu: str | None = None
) -> dict[str, dict[str, list[WrkResult]]]:
    """Run every single-model case on each server's ``lr``; every round of each, by server.

    The servers take turns within each case, round by round, so that a drift in the
    machine's background load does not land on one side of the ratio. With ``cpu``, wrk
    runs there, with one thread.
    """
    threads = 1 if cpu is not None else None
    results: dict[str, dict[str, list[WrkResult]]] = {label: {} for label in servers}
    for i, (case, (connections, _)) in enumerate(CASES.items()):
        script = fixed_body_script(bodies[case])
        for label, server in servers.items():
            if i == 0 or mode.warmup_each:
                run_wrk(
                    server.url + "/v2/models/lr/infer",
                    script,
                    connections=connections,
                    seconds=mode.warmup,
                    workdir=server.workdir,
                    threads=threads,
                    cpu=cpu,
                )
            results[label][case] = []
        for _ in range(mode.rounds):
            for label, server in servers.items():
                result = run_wrk(
                    server.url + "/v2/models/lr/infer",
                    script,
                    connections=connections,
                    seconds=mode.seconds,
                    workdir=server.workdir,
                    threads=threads,
                    cpu=cpu,
                )
                results[label][case].append(result)
    return results


# -- step 2: RSS and cold loads on a fresh server --------------------------------------


def measure_fresh(server: Server, body: str, mode: Mode) -> dict[str, Any]:
    """Idle RSS, RSS with one model, and cold-load overhead; ``server`` must be fresh."""
    time.sleep(1.0)  # let the worker finish its own start-up before reading its memory
    idle_rss = rss_tree_mb(server.pid)
    idle_pss = pss_tree_mb(server.pid)

    client = Client(server.url)

    def infer(name: str) -> float:
        started = time.perf_counter()
        status, text = client.request("POST", f"/v2/models/{name}/infer", body)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"infer on {name} answered {status}: {text[:300]!r}")
        return elapsed

    first_ms = infer("m0000")  # also pays the import of scikit-learn in the worker
    first = get_json(server.url + "/models/m0000")
    warm = [infer("m0000") for _ in range(mode.warm_requests)]
    warm_median = statistics.median(warm)
    rss_one = rss_tree_mb(server.pid)
    pss_one = pss_tree_mb(server.pid)
    cold = []
    for i in range(1, mode.cold_models + 1):
        name = f"m{i:04d}"
        total_ms = infer(name)
        described = get_json(server.url + f"/models/{name}")
        load_ms = described["loadSeconds"] * 1000
        cold.append(
            {
                "model": name,
                "first_request_ms": round(total_ms, 3),
                "load_ms": round(load_ms, 3),
                "memory_bytes": described["memoryBytes"],
                "overhead_ms": round(total_ms - warm_median - load_ms, 3),
            }
        )
    client.close()
    return {
        "idle_rss_mb": round(idle_rss, 1),
        "idle_pss_mb": round(idle_pss, 1),
        "rss_one_model_mb": round(rss_one, 1),
        "pss_one_model_mb": round(pss_one, 1),
        # The first model's figure may include scikit-learn's import: size from later ones.
        "model_memory_bytes": int(statistics.median(c["memory_bytes"] for c in cold)),
        "model_memory_bytes_max": max(c["memory_bytes"] for c in cold),
        "cold_load_overhead_ms": round(statistics.median(c["overhead_ms"] for c in cold), 3),
        "cold_load_raw": {
            "warm_median_ms": round(warm_median, 3),
            "first_model": {
                "model": "m0000",
                "first_request_ms": round(first_ms, 3),
                "load_ms": round(first["loadSeconds"] * 1000, 3),
                "memory_bytes": first["memoryBytes"],
                "total_load_ms": round(first["totalLoadSeconds"] * 1000, 3),
            },
            "cold_models": cold,
        },
    }


# -- step 4: many models -----------------------------------------------------------------


def measure_many(
    store: Path, workdir: Path, body: str, fresh: dict[str, Any], single_rps: float, mode: Mode
) -> dict[str, Any]:
    """Zipf(1.0) over the 1,000 copies with room for about 100 of them.

    The budget is 100 x the largest ``memoryBytes`` measured among the cold copies, plus
    what the first model of a fresh worker was charged. Copies of one artifact measure
    anywhere from its file size to a few pages (RSS deltas are page-granular), so a budget
    from the median binds at ~40 models; and a server may charge the worker's one-off
    import of scikit-learn to the first model, which the budget must then admit.
    """
    first_bytes = fresh["cold_load_raw"]["first_model"]["memory_bytes"]
    budget_mb = (first_bytes + 100 * fresh["model_memory_bytes_max"]) / 2**20
    env = {
        "MODELYARD_SERVING__MAX_LOADED_MODELS": "100",
        "MODELYARD_SERVING__MEMORY_BUDGET_MB": f"{budget_mb:.3f}",
    }
    names = [f"m{i:04d}" for i in range(N_COPIES)]
    server = start_modelyard(store, workdir, env)
    try:
        url = server.url + "/v2/models/m0000/infer"  # the script picks the path itself
        script = zipf_script(body, names)
        connections = CASES[MANY_CASE][0]
        warm = run_wrk(url, script, connections=connections, seconds=mode.warmup, workdir=workdir)
        seconds = mode.seconds * mode.rounds  # one run: the cache's state carries over
        result = run_wrk(url, script, connections=connections, seconds=seconds, workdir=workdir)
        time.sleep(0.5)  # let the requests wrk left in flight finish
        rss = pss_tree_mb(server.pid)
        resident = loaded_models(server)
        # Read before stopping: what the server logs while stopping is not the run's story.
        log_tail = server.output()[-1500:] if result.errors else ""
    finally:
        server.stop()
    return {
        "rps": round(result.rps, 1),
        "ratio_to_single": round(result.rps / single_rps, 3),
        "errors": result.errors,
        "non200": result.non200,
        "socket_errors": result.socket_errors,
        "warmup_errors": warm.errors,
        "p50_ms": round(result.p50_ms, 3),
        "p99_ms": round(result.p99_ms, 3),
        "concurrency": connections,
        "compared_with": MANY_CASE,
        "max_loaded_models": 100,
        "memory_budget_mb": round(budget_mb, 3),
        "rss_at_end_mb": round(rss, 1),
        "loaded_at_end": resident,
        "error_sample": result.error_sample,
        "server_log_tail": log_tail,
    }


# -- steps 5 and 6: pinned --------------------------------------------------------------


def measure_pinned(
    store: Path, workdir: Path, bodies: dict[str, str], mode: Mode
) -> dict[str, Any]:
    """The single-model cases with each server on ``SERVER_CPU`` and wrk on ``WRK_CPU``."""
    reference = start_reference(store, workdir, pin=True)
    mine = start_modelyard(store, workdir, pin=True)
    try:
        wait_http(reference.url + "/ping", server=reference)
        time.sleep(1.0)  # the worker's own start-up, before anything is measured
        pinned = measure_cases(
            {"modelyard": mine, "reference": reference}, bodies, mode, cpu=WRK_CPU
        )
        pss = pss_tree_mb(mine.pid)
    finally:
        mine.stop()
        reference.stop()
    table = single_table(pinned["modelyard"], pinned["reference"])
    return {"cases": table, "pss_after_mb": round(pss, 1)}


def measure_churn(store: Path, workdir: Path, body: str, mode: Mode) -> dict[str, Any]:
    """Zipf(1.0) over ``CHURN_NAMES`` names, ``CHURN_LOADED`` loaded at most, both pinned.

    modelyard's memory budget is ample: the model count is what binds, as in the LRU.
    """
    names = [f"m{i:04d}" for i in range(CHURN_NAMES)]
    env = {
        "MODELYARD_SERVING__MAX_LOADED_MODELS": str(CHURN_LOADED),
        "MODELYARD_SERVING__MEMORY_BUDGET_MB": "4096",
    }
    reference = start_reference(store, workdir, pin=True, lru=CHURN_LOADED)
    mine = start_modelyard(store, workdir, env, pin=True)
    servers = {"modelyard": mine, "reference": reference}
    script = zipf_script(body, names)
    connections = CASES[MANY_CASE][0]
    rounds: dict[str, list[WrkResult]] = {"modelyard": [], "reference": []}
    try:
        wait_http(reference.url + "/ping", server=reference)
        for server in servers.values():
            run_wrk(
                server.url + "/v2/models/m0000/infer",
                script,
                connections=connections,
                seconds=mode.warmup,
                workdir=workdir,
                threads=1,
                cpu=WRK_CPU,
            )
        for _ in range(mode.rounds):
            for label, server in servers.items():
                rounds[label].append(
                    run_wrk(
                        server.url + "/v2/models/m0000/infer",
                        script,
                        connections=connections,
                        seconds=mode.seconds,
                        workdir=workdir,
                        threads=1,
                        cpu=WRK_CPU,
                    )
                )
        resident = loaded_models(mine)
    finally:
        mine.stop()
        reference.stop()
    m, r = best(rounds["modelyard"]), best(rounds["reference"])
    return {
        "names": CHURN_NAMES,
        "max_loaded": CHURN_LOADED,
        "concurrency": connections,
        "modelyard_rps": round(m.rps, 1),
        "reference_rps": round(r.rps, 1),
        "ratio": round(m.rps / r.rps, 3),
        "p50_ms": round(m.p50_ms, 3),
        "p99_ms": round(m.p99_ms, 3),
        "reference_p50_ms": round(r.p50_ms, 3),
        "reference_p99_ms": round(r.p99_ms, 3),
        "errors": sum(x.errors for x in rounds["modelyard"]),
        "reference_errors": sum(x.errors for x in rounds["reference"]),
        "loaded_at_end": resident,
    }


def run_pinned(mode: Mode, started: float) -> dict[str, Any]:
    """Steps 5 and 6 in a fresh temporary store; their section of the results."""
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp, servers_stopped():
        workdir = Path(tmp)
        store = workdir / "store"
        store.mkdir()
        bodies = build_model(store)
        copy_model(store)
        print(f"[5/6 {time.monotonic() - started:5.1f} s] pinned single-model cases", flush=True)
        pinned = measure_pinned(store, workdir, bodies, mode)
        print(
            f"[6/6 {time.monotonic() - started:5.1f} s] pinned churn: {CHURN_NAMES} names, "
            f"{CHURN_LOADED} loaded",
            flush=True,
        )
        churn = measure_churn(store, workdir, bodies["c1"], mode)
    return {"pinned": pinned, "churn": churn}


# -- putting it together -----------------------------------------------------------------


def run(mode: Mode) -> dict[str, Any]:
    """Every step, in order; returns the results document."""
    started = time.monotonic()

    def step(number: int, what: str) -> None:
        print(f"[{number}/6 {time.monotonic() - started:5.1f} s] {what}", flush=True)

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average {load_before:.2f}: other work will skew the figures")
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp, servers_stopped():
        workdir = Path(tmp)
        store = workdir / "store"
        store.mkdir()
        step(1, f"building the model store ({N_COPIES} copies) in {store}")
        bodies = build_model(store)
        # The reference starts while the copies are written and modelyard starts; it is
        # ready and idle before anything is measured.
        reference = start_reference(store, workdir)
        copy_model(store)

        step(2, "modelyard, fresh: idle RSS and cold loads")
        mine = start_modelyard(store, workdir)
        wait_http(reference.url + "/ping", server=reference)
        fresh = measure_fresh(mine, bodies["c1"], mode)
        step(3, "single-model cases, reference and modelyard in turn")
        single = measure_cases({"modelyard": mine, "reference": reference}, bodies, mode)
        mine.stop()
        reference.stop()

        step(4, "modelyard: many models (Zipf over 1,000)")
        many = measure_many(
            store, workdir, bodies["c1"], fresh, best(single["modelyard"][MANY_CASE]).rps, mode
        )
    results: dict[str, Any] = {
        "mode": mode.name,
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # Other work on the machine skews every figure: the 1-minute load, before and after.
            "loadavg_before": round(load_before, 2),
            "loadavg_after": round(os.getloadavg()[0], 2),
        },
        "wrk": {
            "seconds": mode.seconds,
            "rounds": mode.rounds,
            "warmup_seconds": mode.warmup,
            "warmup_each_case": mode.warmup_each,
            "threads": "min(2, c)",
        },
        "single": single_table(single["modelyard"], single["reference"]),
        "many_models": many,
        **fresh,
        **run_pinned(mode, started),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    results["targets"] = verdicts(results)
    return results


def main() -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="only the pinned steps (one CPU for the servers, one for wrk), written into "
        "the results of an earlier run",
    )
    args = parser.parse_args()
    if wrk_path() is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    # SIGTERM takes the same path as Ctrl+C, so the finally blocks stop the servers; SIGINT
    # is set too because a shell starts background jobs with it ignored.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode = QUICK if args.quick else FULL
    try:
        if args.pin:
            if not RESULTS.exists():
                print(f"--pin adds to {RESULTS}: run the full benchmark first", file=sys.stderr)
                return 2
            started = time.monotonic()
            results = json.loads(RESULTS.read_text())
            results.update(run_pinned(mode, started))
            results["targets"] = verdicts(results)
        else:
            results = run(mode)
    except KeyboardInterrupt:
        print("interrupted; servers stopped", file=sys.stderr)
        return 130
    finally:
        stop_all()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
