"""Hardening benchmark: fuzzed 5xx, bystanders of a crash, recovery after ``kill -9``.

Run ``.venv/bin/python bench/hardening.py [--quick]`` (full < ~3 min, quick < 1 min).
Everything runs on 127.0.0.1 in a temporary folder, ``modelyard serve`` with its default
settings (one worker per core) unless a step says otherwise:

1. **fuzz**: 2,000 requests (quick: 300) drawn afresh by ``tests/serving/fuzz.py`` over
   every route and content type; counts the 5xx, and those that are not a model's own
   error (the target: none). Reference: the same count over the requests sent.
2. **bystanders**: 8 connections keep invoking four healthy models while, one at a time,
   five models (quick: three) each take their worker down with a segfault, 0.3 s into a
   request; counts the bystander requests that failed per crash. Reference: the 8
   requests in flight that a crash failed before requests were sent again.
3. **recovery**: under the same load, ``kill -9`` of the worker hosting a scikit-learn
   model, then the time until that model's next 200: once 0.5 s after the model's first
   load (the template is still importing scikit-learn for later workers: the worst
   case), then five times (quick: three) in the steady state. Reference, measured in the
   same run: starting a fresh interpreter that imports the worker and loads the model,
   as a replacement worker did before the template.

It prints a table and writes ``bench/results/hardening.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from procs import Server, servers_stopped
from servers import start_modelyard

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # the fuzzer and toy models live with the tests

from tests.fixtures import models  # noqa: E402
from tests.serving.fuzz import build_fuzz_store, requests, send, verdict  # noqa: E402

RESULTS = BENCH / "results" / "hardening.json"
CONNECTIONS = 8
HEALTHY = [f"ok{i}" for i in range(4)]


# -- 1. fuzz -----------------------------------------------------------------------------------


def fuzz(workdir: Path, count: int) -> dict[str, Any]:
    """Send ``count`` fresh fuzzed requests; count the 5xx and the ones that are ours."""
    from hypothesis import HealthCheck, given, settings

    store = build_fuzz_store(workdir / "fuzz-store")
    sources = workdir / "fuzz-sources"
    models.sum_model(sources)
    (sources / "file.txt").write_text("not a model")
    server = start_modelyard(store, workdir, workers=None)
    statuses: dict[int, int] = {}
    problems: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:

            @settings(
                max_examples=count,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(requests(str(sources)))
            def run(request: Any) -> None:
                response = send(client, request)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                problem = verdict(request, response)
                if problem is not None:
                    problems.append(f"{request!r} -> {problem}")

            run()
    finally:
        server.stop()
    sent = sum(statuses.values())
    five = sum(n for status, n in statuses.items() if status >= 500)
    return {
        "requests": sent,
        "status_counts": dict(sorted(statuses.items())),
        "5xx": five,
        "5xx_not_model_errors": len(problems),
        "examples": problems[:10],
    }


# -- 2 and 3: crashes under load -----------------------------------------------------------


def _crasher(parent: Path, name: str) -> None:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(
        textwrap.dedent(
            """
            import ctypes
            import time

            from modelyard.serving.model import Model


            class Crasher(Model):
                def predict(self, inputs, parameters):
                    if "crash" in repr(inputs):
                        time.sleep(0.3)
                        ctypes.string_at(0)
                    return inputs
            """
        )
    )


class Load:
    """``CONNECTIONS`` clients invoking the healthy models in turn, recording every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        #: (start, end, status) of every request, monotonic seconds.
        self.answers: list[tuple[float, float, int]] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            await asyncio.gather(*(self._client(client, i) for i in range(CONNECTIONS)))

    def stop(self) -> None:
        self._stop.set()

    async def _client(self, client: httpx.AsyncClient, index: int) -> None:
        turn = index
        while not self._stop.is_set():
            name = HEALTHY[turn % len(HEALTHY)]
            turn += 1
            started = time.monotonic()
            try:
                status = (await client.post(f"/models/{name}/invoke", json=[1])).status_code
            except httpx.HTTPError:
                status = 599
            self.answers.append((started, time.monotonic(), status))


async def _crashes(server: Server, crashes: int) -> dict[str, Any]:
    load = Load(server.url)
    running = asyncio.create_task(load.run())
    per_crash = []
    latencies = []
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        for name in HEALTHY:  # everyone loaded and spread over the workers first
            await client.post(f"/models/{name}/invoke", json=[0])
        await asyncio.sleep(1.0)
        for i in range(crashes):
            name = f"crash{i}"
            assert (await client.post(f"/models/{name}/invoke", json=["ok"])).status_code == 200
            await asyncio.sleep(0.3)
            started = time.monotonic()
            response = await client.post(f"/models/{name}/invoke", json="crash")
            ended = time.monotonic()
            await asyncio.sleep(1.0)
            window = [a for a in load.answers if a[1] >= started and a[0] <= ended + 0.5]
            per_crash.append(
                {
                    "crash_status": response.status_code,
                    "bystanders": len(window),
                    "bystander_failures": sum(1 for a in window if a[2] != 200),
                }
            )
            latencies += [a[1] - a[0] for a in window]
    load.stop()
    await running
    failures = [c["bystander_failures"] for c in per_crash]
    return {
        "crashes": per_crash,
        "bystander_failures_per_crash": statistics.mean(failures),
        "bystander_p99_ms": round(_percentile(latencies, 99) * 1000, 1),
        "load_errors_total": sum(1 for a in load.answers if a[2] != 200),
        "load_requests_total": len(load.answers),
    }


async def _kill_and_wait(client: httpx.AsyncClient, model: str, body: str) -> float:
    """Kill the worker hosting ``model``; seconds until ``model`` answers 200 again."""
    csv = {"content-type": "text/csv"}
    stats = (await client.get("/stats")).json()
    pid = next(w["pid"] for w in stats["workers"] if model in w["models"])
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while True:
        response = await client.post(f"/models/{model}/invoke", content=body, headers=csv)
        if response.status_code == 200:
            return time.monotonic() - killed


async def _recovery(server: Server, kills: int) -> dict[str, Any]:
    load = Load(server.url)
    running = asyncio.create_task(load.run())
    times = []
    csv = {"content-type": "text/csv"}
    row = ",".join(["0.5"] * 20)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        # The worst case: a kill right after the first model of a library loaded, while
        # the template is still importing that library for later workers.
        first_load = await client.post("/models/lr/invoke", content=row, headers=csv)
        assert first_load.status_code == 200, first_load.text
        await asyncio.sleep(0.5)
        first = await _kill_and_wait(client, "lr", row)
        # Then the steady state: the template holds what the models need.
        await asyncio.sleep(3.0)
        for _ in range(kills):
            times.append(await _kill_and_wait(client, "lr", row))
            await asyncio.sleep(1.0)
    load.stop()
    await running
    return {
        "first_kill_s": round(first, 3),
        "times_s": [round(t, 3) for t in times],
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        # The request a killed worker was running fails with it (it may have been the cause).
        "load_errors_total": sum(1 for a in load.answers if a[2] != 200),
    }


def fresh_worker_seconds(store: Path, rounds: int) -> float:
    """What a replacement used to cost: a new interpreter, the worker's imports, the load."""
    code = (
        "from pathlib import Path; from modelyard.serving.worker import WorkerState; "
        f"WorkerState()._load('lr', {str(store / 'lr')!r})"
    )
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.monotonic() - started)
    return statistics.median(times)


def crashes_and_recovery(workdir: Path, crashes: int, kills: int) -> dict[str, Any]:
    store = workdir / "crash-store"
    for name in HEALTHY:
        models.sum_model(store, name)
    for i in range(crashes):
        _crasher(store, f"crash{i}")
    models.sklearn_model(store, "lr", n_features=20)
    server = start_modelyard(store, workdir, workers=None)
    try:
        bystanders = asyncio.run(_crashes(server, crashes))
        recovery = asyncio.run(_recovery(server, kills))
    finally:
        server.stop()
    recovery["reference_fresh_worker_s"] = round(fresh_worker_seconds(store, 3), 3)
    recovery["ratio"] = round(recovery["median_s"] / recovery["reference_fresh_worker_s"], 3)
    return {"bystanders": bystanders, "recovery": recovery}


def _percentile(values: list[float], percent: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


# -- report ------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> None:
    console = Console()
    fuzzed = results["fuzz"]
    crash = results["bystanders"]
    recovery = results["recovery"]
    table = Table(title=f"hardening ({results['mode']}, {results['cpus']} CPUs)")
    for column in ("figure", "measured", "reference", "ratio", "target"):
        table.add_column(column)
    table.add_row(
        "fuzz: 5xx not a model's own error",
        str(fuzzed["5xx_not_model_errors"]),
        f"{fuzzed['requests']} requests ({fuzzed['5xx']} 5xx in all)",
        f"{fuzzed['5xx_not_model_errors'] / fuzzed['requests']:.4f}",
        "0",
    )
    table.add_row(
        f"bystander failures per crash (c{CONNECTIONS})",
        f"{crash['bystander_failures_per_crash']:.2f}",
        f"{CONNECTIONS} in flight",
        f"{crash['bystander_failures_per_crash'] / CONNECTIONS:.3f}",
        "0",
    )
    table.add_row("bystander p99 ms around crashes", f"{crash['bystander_p99_ms']:.1f}", "", "", "")
    table.add_row(
        "  first kill, template still warming (s)", f"{recovery['first_kill_s']:.3f}", "", "", ""
    )
    table.add_row(
        "next 200 after kill -9 (median / max s)",
        f"{recovery['median_s']:.3f} / {recovery['max_s']:.3f}",
        f"{recovery['reference_fresh_worker_s']:.3f} s fresh worker",
        f"{recovery['ratio']:.3f}",
        "<= 0.5 s",
    )
    console.print(table)
    if fuzzed["examples"]:
        console.print("[red]5xx that are ours:[/]")
        for example in fuzzed["examples"]:
            console.print(f"  {example}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, crashes and kills")
    args = parser.parse_args()
    counts = (300, 3, 3) if args.quick else (2000, 5, 5)
    with servers_stopped(), tempfile.TemporaryDirectory(prefix="modelyard-hardening-") as tmp:
        workdir = Path(tmp)
        results: dict[str, Any] = {
            "mode": "quick" if args.quick else "full",
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "fuzz": fuzz(workdir, counts[0]),
        }
        results.update(crashes_and_recovery(workdir, counts[1], counts[2]))
    results["targets"] = {
        "fuzz_5xx_not_model_errors": {
            "target": 0,
            "value": results["fuzz"]["5xx_not_model_errors"],
        },
        "bystander_failures_per_crash": {
            "target": 0,
            "value": results["bystanders"]["bystander_failures_per_crash"],
        },
        "recovery_median_s": {"target": "<= 0.5", "value": results["recovery"]["median_s"]},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    report(results)


if __name__ == "__main__":
    main()
