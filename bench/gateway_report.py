"""The gateway benchmark's results: judging the targets, and printing the tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["SIDES", "TARGETS", "report", "verdicts"]

#: The targets: the goal each result is held to.
TARGETS = {
    "overhead_ms_p50": "<= 1",
    "throughput_ratio": ">= 0.8",
    "shared_limit_error_pct": "<= 5",
}

_PASSES: dict[str, Callable[[float], bool]] = {
    "overhead_ms_p50": lambda v: v <= 1,
    "throughput_ratio": lambda v: v >= 0.8,
    "shared_limit_error_pct": lambda v: v <= 5,
}


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and whether it passes (``None``: not measured)."""
    out = {}
    for key, goal in TARGETS.items():
        value = results.get(key)
        # None: the case did not run (no Redis for the shared throttling).
        out[key] = {
            "target": goal,
            "value": value,
            "pass": None if value is None else _PASSES[key](value),
        }
    return out


#: The sides of the rating case, as the tables name them.
SIDES = {
    "route": "rating route",
    "open_route": "  same, no authorizer",
    "direct": "endpoint (reference)",
}


def _rating_tables(console: Console, results: dict[str, Any]) -> None:
    machine = results["machine"]
    rating = results["rating"]
    single = rating["latency"]
    table = Table(
        title=f"gateway benchmark: rating route vs endpoint ({results['mode']}, "
        f"{machine['nproc']} CPUs, load {machine['loadavg_before']}); "
        f"one at a time, {single['requests']} requests each"
    )
    for column in ("side", "p50 ms", "p90 ms", "p99 ms", "mean ms", "p50 - reference's ms"):
        table.add_column(column, justify="right")
    direct = single["direct_ms"]["p50"]
    for side, label in SIDES.items():
        figures = single[f"{side}_ms"]
        table.add_row(
            label,
            *(f"{figures[k]:.3f}" for k in ("p50", "p90", "p99", "mean")),
            f"{figures['p50'] - direct:.3f}",
        )
    console.print(table)
    console.print(
        f"overhead p50 {single['overhead_ms_p50']:.3f} ms, p99 {single['overhead_ms_p99']:.3f} "
        f"ms; of the p50, the authorizer {single['authorizer_ms_p50']:.3f} ms"
    )

    load = Table(
        title=f"throughput: {rating['concurrency']} in flight, {rating['seconds']} s, "
        f"best of {rating['rounds']} round(s)"
    )
    for column in (
        "side",
        "req/s",
        "rounds req/s",
        "errors",
        "ratio",
        "server CPU µs/request: loop + threads + worker",
        "CPUs busy: server / machine",
    ):
        load.add_column(column, justify="right")
    for side, label in SIDES.items():
        figures = rating[side]
        cpu = figures["server_cpu_us_per_request"]
        busy = figures["server_cpu"]["cpus"]
        load.add_row(
            label,
            f"{figures['rps']:.1f}",
            ", ".join(f"{r:.0f}" for r in figures["rounds_rps"]),
            str(figures["errors"]),
            f"{figures['ratio']}",
            f"{cpu['main_thread']} + {cpu['other_threads']} + {cpu['workers']}",
            f"{busy['main_thread'] + busy['other_threads'] + busy['workers']:.2f} "
            f"/ {busy['machine']:.2f}",
        )
    console.print(load)


def _throttling_line(console: Console, case: dict[str, Any]) -> None:
    if "skipped" in case:
        console.print(f"shared throttling: skipped ({case['skipped']})")
        return
    table = Table(
        title=f"shared throttling: 2 processes on {case['database']}, Redis {case['redis']}, "
        f"stage {case['rate_limit']} req/s burst {case['burst_limit']}"
    )
    for column in (
        "seconds",
        "requests/s sent",
        "200",
        "429",
        "other",
        "expected 200 (burst + rate x T)",
        "ratio to expected",
        "error %",
    ):
        table.add_column(column, justify="right")
    table.add_row(
        f"{case['seconds']:g}",
        f"{case['requests_per_s']:.0f}",
        str(case["allowed"]),
        str(case["throttled"]),
        str(case["other_answers"] + sum(case["failures"].values())),
        f"{case['expected']:g}",
        f"{case['allowed'] / case['expected']:.3f}",
        f"{case['shared_limit_error_pct']:.2f}",
    )
    console.print(table)


def report(results: dict[str, Any]) -> None:
    """Print the tables and the verdicts."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    _rating_tables(console, results)
    _throttling_line(console, results["shared_throttling"])
    targets = Table(title="targets")
    for column in ("target", "goal", "value", "verdict"):
        targets.add_column(column, justify="right")
    for key, verdict in results["targets"].items():
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "not run"}[verdict["pass"]]
        targets.add_row(key, verdict["target"], str(verdict["value"]), mark)
    console.print(targets)
