"""Endpoints benchmark: InvokeEndpoint against the model server's own paths, replicas, scale.

Run ``.venv/bin/python bench/endpoints.py [--quick]`` (full < ~5 min, quick < 2 min). Needs
``wrk`` and boto3 (a dev dependency). Everything runs on 127.0.0.1 in a temporary home:
``modelyard up`` with its defaults (one worker per core), driven by boto3's ``sagemaker``
client, loaded by wrk:

a. **endpoint vs direct**: an endpoint with two weighted variants (70/30) of one SageMaker
   model (a scikit-learn LogisticRegression) and 100 % data capture, against the same
   model through the bare ``/invocations`` path of the same server; CSV rows, c64. (Two
   variants of two models would halve each model's batches; ``two_models`` in the
   results measures that too.)
b. **replicas**: one hot, CPU-heavy model (a random forest, batching off:
   ``max_batch_size`` 1) behind an endpoint with ``InitialInstanceCount`` 2, against the
   same behind one with 1; c64.
c. **many endpoints**: 1,000 endpoints (quick: 300), each its own small model, Zipf(1.0)
   traffic over them with room for 100 loaded models, against the same traffic over
   1,000 plain model-server names (``/models/{name}/invoke``); c64.

The cases alternate their two sides round by round and keep each side's best round
(interference only ever slows a run). It prints a table and writes
``bench/results/endpoints.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table

from procs import Server, servers_stopped, stop_all, wait_http
from report import best
from servers import MODELYARD
from wrk import WrkResult, fixed_body_script, run_wrk, wrk_path, zipf_script

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "endpoints.json"
N_FEATURES = 20
CONNECTIONS = 64
BUCKET = "bench"


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How long and how wide each case runs."""

    name: str
    seconds: float
    rounds: int
    warmup: float
    endpoints: int


QUICK = Mode(name="quick", seconds=3, rounds=2, warmup=1, endpoints=300)
FULL = Mode(name="full", seconds=5, rounds=3, warmup=2, endpoints=1000)


# -- the home ----------------------------------------------------------------------------


def build_home(home: Path, copies: int) -> str:
    """Models in the store: ``bench/lr``, ``bench/forest``, ``bench/m0000``..; a CSV row."""
    import joblib
    import numpy as np
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    bucket = home / "store" / BUCKET
    x, y = make_classification(n_samples=2000, n_features=N_FEATURES, random_state=0)
    lr = bucket / "lr"
    lr.mkdir(parents=True)
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), lr / "model.joblib")
    (lr / "model-settings.json").write_text(json.dumps({"method": "predict_proba"}))
    forest = bucket / "forest"
    forest.mkdir()
    model = RandomForestClassifier(n_estimators=60, random_state=0).fit(x, y)
    joblib.dump(model, forest / "model.joblib")
    settings = {"method": "predict_proba", "max_batch_size": 1}
    (forest / "model-settings.json").write_text(json.dumps(settings))
    for i in range(copies):
        folder = bucket / f"m{i:04d}"
        folder.mkdir()
        for file in ("model.joblib", "model-settings.json"):
            os.link(lr / file, folder / file)
    # The same artifacts as the model server's own models, for the direct paths.
    shutil.copytree(bucket, home / "store" / "models", copy_function=os.link)
    row = np.random.default_rng(1).normal(size=N_FEATURES).round(6)
    return ",".join(str(v) for v in row)


def start_up(home: Path, workdir: Path, env: dict[str, str]) -> Server:
    """``modelyard up`` over ``home``, ready for boto3."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    server = Server.start(
        lambda port: [str(MODELYARD), "up", "--home", str(home), "--port", str(port)],
        workdir=workdir,
        log_name="modelyard-up",
        env={**clean, **env},
    )
    wait_http(server.url + "/ping", server=server)
    return server


def sagemaker(url: str) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 3}, max_pool_connections=32),
    )


def deploy(
    client: Any,
    name: str,
    variants: list[tuple[str, str, float, int]],
    capture: bool = False,
    wait: bool = True,
    one_model: bool = False,
) -> None:
    """Models and a config for ``variants`` (variant, artifact, weight, count), then the endpoint.

    With ``one_model``, every variant serves one SageMaker model (of the first artifact).
    """
    production = []
    for variant, artifact, weight, count in variants:
        model = f"{name}-model" if one_model else f"{name}-{variant}"
        if not one_model or variant == variants[0][0]:
            client.create_model(
                ModelName=model,
                PrimaryContainer={
                    "Image": "modelyard",
                    "ModelDataUrl": f"s3://{BUCKET}/{artifact}",
                },
                ExecutionRoleArn="arn:aws:iam::000000000000:role/bench",
            )
        production.append(
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialVariantWeight": weight,
                "InitialInstanceCount": count,
                "InstanceType": "ml.m5.large",
            }
        )
    config: dict[str, Any] = {"EndpointConfigName": name, "ProductionVariants": production}
    if capture:
        config["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        }
    client.create_endpoint_config(**config)
    client.create_endpoint(EndpointName=name, EndpointConfigName=name)
    if wait:
        client.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600}
        )


def alternate(
    sides: dict[str, tuple[str, str]], mode: Mode, workdir: Path
) -> dict[str, list[WrkResult]]:
    """Each side's (url, wrk script) in turn, round by round, after a warm-up each."""
    for url, script in sides.values():
        run_wrk(url, script, connections=CONNECTIONS, seconds=mode.warmup, workdir=workdir)
    rounds: dict[str, list[WrkResult]] = {side: [] for side in sides}
    for _ in range(mode.rounds):
        for side, (url, script) in sides.items():
            rounds[side].append(
                run_wrk(url, script, connections=CONNECTIONS, seconds=mode.seconds, workdir=workdir)
            )
    return rounds


def compare(rounds: dict[str, list[WrkResult]], mine: str, reference: str) -> dict[str, Any]:
    m, r = best(rounds[mine]), best(rounds[reference])
    return {
        f"{mine}_rps": round(m.rps, 1),
        f"{reference}_rps": round(r.rps, 1),
        "ratio": round(m.rps / r.rps, 3),
        f"{mine}_p99_ms": round(m.p99_ms, 2),
        f"{reference}_p99_ms": round(r.p99_ms, 2),
        "errors": sum(x.errors for x in rounds[mine]),
        f"{reference}_errors": sum(x.errors for x in rounds[reference]),
        "error_sample": next((x.error_sample for x in rounds[mine] if x.error_sample), ""),
    }


# -- the cases -----------------------------------------------------------------------------


def endpoint_vs_direct(url: str, row: str, mode: Mode, workdir: Path, home: Path) -> dict[str, Any]:
    client = sagemaker(url)
    variants = [("a", "lr", 0.7, 1), ("b", "lr", 0.3, 1)]
    deploy(client, "split", variants, capture=True, one_model=True)
    deploy(client, "split2", variants, capture=True)
    csv = fixed_body_script(row, "text/csv")
    sides = {
        "endpoint": (f"{url}/endpoints/split/invocations", csv),
        "direct": (
            f"{url}/invocations",
            fixed_body_script(row, "text/csv", {"X-Amzn-SageMaker-Target-Model": "lr"}),
        ),
        "two_models": (f"{url}/endpoints/split2/invocations", csv),
    }
    rounds = alternate(sides, mode, workdir)
    result = compare(rounds, "endpoint", "direct")
    result["two_models_ratio"] = round(best(rounds["two_models"]).rps / result["direct_rps"], 3)
    time.sleep(3)  # the capture writer's flush
    captured = sum(
        len(path.read_bytes().splitlines())
        for path in (home / "store" / BUCKET / "capture" / "split").rglob("*.jsonl")
    )
    result["capture_records"] = captured
    return result


def replicas(url: str, row: str, mode: Mode, workdir: Path) -> dict[str, Any]:
    client = sagemaker(url)
    deploy(client, "one", [("main", "forest", 1.0, 1)])
    deploy(client, "two", [("main", "forest", 1.0, 2)])
    time.sleep(2)  # the second replica loads in the background
    script = fixed_body_script(row, "text/csv")
    sides = {
        "two_replicas": (f"{url}/endpoints/two/invocations", script),
        "one_replica": (f"{url}/endpoints/one/invocations", script),
    }
    return compare(alternate(sides, mode, workdir), "two_replicas", "one_replica")


def many_endpoints(url: str, row: str, mode: Mode, workdir: Path) -> dict[str, Any]:
    client = sagemaker(url)
    names = [f"m{i:04d}" for i in range(mode.endpoints)]
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: deploy(client, f"e{n}", [("main", n, 1.0, 1)], wait=False), names))
    waiter = client.get_waiter("endpoint_in_service")
    for name in names:
        waiter.wait(EndpointName=f"e{name}", WaiterConfig={"Delay": 0.2, "MaxAttempts": 3000})
    created_s = time.monotonic() - started
    sides = {
        "endpoints": (
            f"{url}/endpoints/e{names[0]}/invocations",
            zipf_script(
                row,
                [f"e{n}" for n in names],
                path="/endpoints/{name}/invocations",
                content_type="text/csv",
            ),
        ),
        "model_server": (
            f"{url}/models/{names[0]}/invoke",
            zipf_script(row, names, path="/models/{name}/invoke", content_type="text/csv"),
        ),
    }
    result = compare(alternate(sides, mode, workdir), "endpoints", "model_server")
    result.update(
        {"count": mode.endpoints, "max_loaded_models": 100, "created_s": round(created_s, 1)}
    )
    return result


# -- putting it together ---------------------------------------------------------------------


def run(mode: Mode) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelyard-endpoints-") as tmp, servers_stopped():
        workdir = Path(tmp)
        home = workdir / "home"
        print("[1/4] building the home", flush=True)
        row = build_home(home, mode.endpoints)
        env = {
            "MODELYARD_SERVING__MAX_LOADED_MODELS": "100",
            "MODELYARD_SERVING__MEMORY_BUDGET_MB": "2048",
        }
        server = start_up(home, workdir, env)
        try:
            print(f"[2/4 {time.monotonic() - started:5.1f} s] endpoint vs direct", flush=True)
            direct = endpoint_vs_direct(server.url, row, mode, workdir, home)
            print(f"[3/4 {time.monotonic() - started:5.1f} s] replicas", flush=True)
            replica = replicas(server.url, row, mode, workdir)
            print(
                f"[4/4 {time.monotonic() - started:5.1f} s] {mode.endpoints} endpoints", flush=True
            )
            many = many_endpoints(server.url, row, mode, workdir)
        finally:
            server.stop()
    results: dict[str, Any] = {
        "mode": mode.name,
        "cpus": os.cpu_count(),
        "elapsed_s": round(time.monotonic() - started, 1),
        "endpoint_vs_direct": direct,
        "replicas": replica,
        "many_endpoints": many,
    }
    results["targets"] = {
        "endpoint_vs_direct": {
            "target": ">= 0.9",
            "value": direct["ratio"],
            "pass": direct["ratio"] >= 0.9,
        },
        "replicas": {
            "target": ">= 1.6",
            "value": replica["ratio"],
            "pass": replica["ratio"] >= 1.6,
        },
        "many_endpoints": {
            "target": ">= 0.8 with 0 errors",
            "value": many["ratio"],
            "pass": many["ratio"] >= 0.8 and many["errors"] == 0,
        },
    }
    return results


def report(results: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    table = Table(
        title=f"endpoints benchmark ({results['mode']}, {results['cpus']} CPUs, c{CONNECTIONS})"
    )
    for column in (
        "case",
        "modelyard rps",
        "reference",
        "reference rps",
        "ratio",
        "p99 ms",
        "ref p99 ms",
        "errors",
        "target",
    ):
        table.add_column(column, justify="right")
    cases = (
        ("endpoint vs direct", "endpoint_vs_direct", "endpoint", "direct", "/invocations"),
        ("replicas 2 vs 1", "replicas", "two_replicas", "one_replica", "1 replica"),
        (
            f"{results['many_endpoints']['count']} endpoints, Zipf",
            "many_endpoints",
            "endpoints",
            "model_server",
            "model-server names",
        ),
    )
    for label, key, mine, ref, ref_label in cases:
        row = results[key]
        verdict = results["targets"][key]
        mark = "[green]pass[/]" if verdict["pass"] else "[red]FAIL[/]"
        table.add_row(
            label,
            f"{row[f'{mine}_rps']:.0f}",
            ref_label,
            f"{row[f'{ref}_rps']:.0f}",
            f"{row['ratio']:.2f}",
            f"{row[f'{mine}_p99_ms']:.1f}",
            f"{row[f'{ref}_p99_ms']:.1f}",
            str(row["errors"]),
            f"{verdict['target']} {mark}",
        )
    console.print(table)
    console.print(
        f"capture records written during case a: {results['endpoint_vs_direct']['capture_records']}; "
        f"{results['many_endpoints']['count']} endpoints created in {results['many_endpoints']['created_s']} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, 300 endpoints")
    args = parser.parse_args()
    if wrk_path() is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
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
    report(results)
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
