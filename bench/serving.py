"""Serving benchmark: modelyard against a bare Starlette app, one model and a thousand.

Run ``.venv/bin/python bench/serving.py [--quick]`` (full < ~6 min, quick < 60 s). Needs
``wrk``. Everything runs on 127.0.0.1 in a temporary folder:

1. builds a scikit-learn LogisticRegression (20 features) as ``lr/`` and 1,000 copies
   ``m0000``..``m0999``;
2. measures ``bench/reference_app.py`` (one process, the model in process) on the cases
   ``c1``, ``c8``, ``c64`` (one row, that many connections) and ``b32`` (32 rows, 8 conns);
3. starts ``modelyard serve --workers 1``: idle RSS, cold-load overhead, then the same cases;
4. restarts it with room for ~100 models and sends a Zipf(1.0) mix over the 1,000 names
   at concurrency 64.

It prints a table and writes ``bench/results/serving.json`` with the targets and whether
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
from procs import Client, Server, get_json, rss_tree_mb, stop_all, wait_http
from report import print_report
from wrk import WrkResult, fixed_body_script, run_wrk, v2_body, wrk_path, zipf_script

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "serving.json"
MODELYARD = Path(sys.executable).parent / "modelyard"
N_FEATURES = 20
N_COPIES = 1000
#: (concurrency, rows per request) of each single-model case.
CASES = {"c1": (1, 1), "c8": (8, 1), "c64": (64, 1), "b32": (8, 32)}
#: Concurrency of the many-models run; its ratio is taken against this single case.
MANY_CASE = "c64"
TARGETS = {
    "c64_ratio": ">= 0.8",
    "many_models_ratio_to_single": ">= 0.5 with 0 errors",
    "cold_load_overhead_ms": "<= 20",
    "idle_rss_mb": "<= 150",
}


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How long each step runs."""

    #: "quick" or "full".
    name: str
    #: Seconds of each measured wrk run.
    seconds: float
    #: Seconds of the warm-up run before it.
    warmup: float
    #: Cold models timed for the load overhead.
    cold_models: int
    #: Sequential requests for the warm median.
    warm_requests: int


QUICK = Mode(name="quick", seconds=3, warmup=1, cold_models=5, warm_requests=30)
FULL = Mode(name="full", seconds=10, warmup=2, cold_models=10, warm_requests=100)


# -- step 1: the model store -------------------------------------------------------------


def build_store(root: Path) -> dict[str, str]:
    """Write ``lr/`` and its copies under ``root``; return the request bodies by case."""
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
    blob = artifact.read_bytes()
    for i in range(N_COPIES):
        folder = root / f"m{i:04d}"
        folder.mkdir()
        (folder / "model.joblib").write_bytes(blob)
        (folder / "model-settings.json").write_text(settings)
    rows = np.random.default_rng(1).normal(size=(32, N_FEATURES)).round(6).tolist()
    return {case: v2_body(rows[:n_rows]) for case, (_, n_rows) in CASES.items()}


# -- the two servers ---------------------------------------------------------------------


def start_reference(store: Path, workdir: Path) -> Server:
    """The bare Starlette app serving ``lr`` in process."""
    server = Server.start(
        lambda port: [
            sys.executable,
            str(BENCH / "reference_app.py"),
            str(store / "lr" / "model.joblib"),
            str(port),
        ],
        workdir=workdir,
        log_name="reference",
    )
    wait_http(server.url + "/ping", server=server)
    return server


def start_modelyard(store: Path, workdir: Path, env: dict[str, str] | None = None) -> Server:
    """``modelyard serve --workers 1`` over ``store``, ready to answer."""
    if not MODELYARD.exists():
        raise SystemExit(f"{MODELYARD} not found: install the project into its .venv first")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    server = Server.start(
        lambda port: [
            str(MODELYARD),
            "serve",
            "--model-store",
            str(store),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        workdir=workdir,
        log_name="modelyard",
        env={**clean, "MODELYARD_HOME": str(workdir / "home"), **(env or {})},
    )
    wait_http(server.url + "/ping", server=server)
    wait_http(server.url + "/v2/health/ready", server=server)
    return server


# -- step 2-4: single-model cases --------------------------------------------------------


def measure_cases(server: Server, bodies: dict[str, str], mode: Mode) -> dict[str, WrkResult]:
    """Run every single-model case against ``server``'s ``lr`` model."""
    url = server.url + "/v2/models/lr/infer"
    results = {}
    for case, (connections, _) in CASES.items():
        script = fixed_body_script(bodies[case])
        run_wrk(url, script, connections=connections, seconds=mode.warmup, workdir=server.workdir)
        results[case] = run_wrk(
            url, script, connections=connections, seconds=mode.seconds, workdir=server.workdir
        )
    return results


def single_table(mine: dict[str, WrkResult], ref: dict[str, WrkResult]) -> dict[str, Any]:
    """The ``single`` section: modelyard vs reference per case."""
    return {
        case: {
            "modelyard_rps": round(mine[case].rps, 1),
            "reference_rps": round(ref[case].rps, 1),
            "ratio": round(mine[case].rps / ref[case].rps, 3),
            "p50_ms": round(mine[case].p50_ms, 3),
            "p99_ms": round(mine[case].p99_ms, 3),
            "reference_p50_ms": round(ref[case].p50_ms, 3),
            "reference_p99_ms": round(ref[case].p99_ms, 3),
            "errors": mine[case].errors,
            "reference_errors": ref[case].errors,
        }
        for case in CASES
    }


# -- step 6-7: RSS and cold loads on a fresh server --------------------------------------


def measure_fresh(server: Server, body: str, mode: Mode) -> dict[str, Any]:
    """Idle RSS, RSS with one model, and cold-load overhead; ``server`` must be fresh."""
    time.sleep(1.0)  # let the worker finish its own start-up before reading its memory
    idle_rss = rss_tree_mb(server.pid)

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
        "rss_one_model_mb": round(rss_one, 1),
        # The first model's figure includes scikit-learn's import: size from the later ones.
        "model_memory_bytes": int(statistics.median(c["memory_bytes"] for c in cold)),
        "cold_load_overhead_ms": statistics.median(c["overhead_ms"] for c in cold),
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


# -- step 5: many models -----------------------------------------------------------------


def measure_many(
    store: Path, workdir: Path, body: str, model_bytes: int, single_rps: float, mode: Mode
) -> dict[str, Any]:
    """Zipf(1.0) over the 1,000 copies with room for about 100 of them."""
    budget_mb = model_bytes * 100 / 2**20
    env = {"MODELYARD_SERVING__MAX_LOADED_MODELS": "100"}
    if model_bytes > 0:  # a model measured at 0 bytes would make a 0 budget: count alone
        env["MODELYARD_SERVING__MEMORY_BUDGET_MB"] = f"{budget_mb:.3f}"
    names = [f"m{i:04d}" for i in range(N_COPIES)]
    server = start_modelyard(store, workdir, env)
    try:
        url = server.url + "/v2/models/m0000/infer"  # the script picks the path itself
        script = zipf_script(body, names)
        connections = CASES[MANY_CASE][0]
        warm = run_wrk(url, script, connections=connections, seconds=mode.warmup, workdir=workdir)
        result = run_wrk(
            url, script, connections=connections, seconds=mode.seconds, workdir=workdir
        )
        rss = rss_tree_mb(server.pid)
        resident = loaded_models(server)
    finally:
        server.stop()
    log_tail = server.output()[-1500:] if result.errors else ""
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
        "memory_budget_mb": round(budget_mb, 3) if model_bytes > 0 else None,
        "rss_at_end_mb": round(rss, 1),
        "loaded_at_end": resident,
        "error_sample": result.error_sample,
        "server_log_tail": log_tail,
    }


def loaded_models(server: Server) -> dict[str, Any]:
    """What the models resident in ``server`` measured: count, memory, load times."""
    listed = get_json(server.url + "/models?max_results=1000")["models"]
    described = [get_json(server.url + f"/models/{m['modelName']}") for m in listed]
    ready = [d for d in described if d["state"] == "ready"]
    return {
        "count": len(listed),
        "ready": len(ready),
        "memory_bytes_total": sum(d["memoryBytes"] for d in ready),
        "median_load_ms": round(statistics.median(d["loadSeconds"] for d in ready) * 1000, 3)
        if ready
        else None,
        "median_total_load_ms": round(
            statistics.median(d["totalLoadSeconds"] for d in ready) * 1000, 3
        )
        if ready
        else None,
    }


# -- putting it together -----------------------------------------------------------------


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and whether it passes."""
    many = results["many_models"]
    values = {
        "c64_ratio": results["single"]["c64"]["ratio"],
        "many_models_ratio_to_single": many["ratio_to_single"],
        "cold_load_overhead_ms": results["cold_load_overhead_ms"],
        "idle_rss_mb": results["idle_rss_mb"],
    }
    passed = {
        "c64_ratio": values["c64_ratio"] >= 0.8,
        "many_models_ratio_to_single": many["ratio_to_single"] >= 0.5 and many["errors"] == 0,
        "cold_load_overhead_ms": values["cold_load_overhead_ms"] <= 20,
        "idle_rss_mb": values["idle_rss_mb"] <= 150,
    }
    return {k: {"target": TARGETS[k], "value": values[k], "pass": passed[k]} for k in TARGETS}


def run(mode: Mode) -> dict[str, Any]:
    """Every step, in order; returns the results document."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
        workdir = Path(tmp)
        store = workdir / "store"
        store.mkdir()
        print(f"[1/5] building the model store ({N_COPIES} copies) in {store}", flush=True)
        bodies = build_store(store)

        print("[2/5] reference app", flush=True)
        server = start_reference(store, workdir)
        try:
            ref = measure_cases(server, bodies, mode)
        finally:
            server.stop()

        print("[3/5] modelyard: fresh start, RSS and cold loads", flush=True)
        server = start_modelyard(store, workdir)
        try:
            fresh = measure_fresh(server, bodies["c1"], mode)
            print("[4/5] modelyard: single-model cases", flush=True)
            mine = measure_cases(server, bodies, mode)
        finally:
            server.stop()

        print("[5/5] modelyard: many models (Zipf over 1,000)", flush=True)
        many = measure_many(
            store,
            workdir,
            bodies["c1"],
            fresh["model_memory_bytes"],
            mine[MANY_CASE].rps,
            mode,
        )
    results: dict[str, Any] = {
        "mode": mode.name,
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "wrk": {"seconds": mode.seconds, "warmup_seconds": mode.warmup, "threads": "min(2, c)"},
        "single": single_table(mine, ref),
        "many_models": many,
        **fresh,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    results["targets"] = verdicts(results)
    return results


def main() -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (< 60 s in all)")
    args = parser.parse_args()
    if wrk_path() is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    # SIGTERM takes the same path as Ctrl+C, so the finally blocks stop the servers.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        results = run(QUICK if args.quick else FULL)
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
