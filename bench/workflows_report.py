"""The workflows benchmark's results: judging the targets, and printing the tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["TARGETS", "jobs_table", "report", "verdicts"]

#: The targets: the goal each result is held to.
TARGETS = {
    "sqlite_jobs_per_s": ">= 100",
    "sqlite_overhead_ms_p50": "<= 10",
    "postgres_2_vs_1": ">= 1.5",
    "distributed_map_items_per_s": ">= 5000",
}


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and whether it passes (``None``: not measured)."""
    sqlite = results.get("sqlite", {})
    one, two = results.get("postgres_1", {}), results.get("postgres_2", {})
    both = one.get("jobs_per_s") and two.get("jobs_per_s")
    values = {
        "sqlite_jobs_per_s": sqlite.get("jobs_per_s"),
        "sqlite_overhead_ms_p50": sqlite.get("overhead_ms_p50"),
        "postgres_2_vs_1": round(two["jobs_per_s"] / one["jobs_per_s"], 3) if both else None,
        "distributed_map_items_per_s": results.get("distributed_map", {}).get("items_per_s"),
    }
    passed = {
        "sqlite_jobs_per_s": lambda v: v >= 100,
        "sqlite_overhead_ms_p50": lambda v: v <= 10,
        "postgres_2_vs_1": lambda v: v >= 1.5,
        "distributed_map_items_per_s": lambda v: v >= 5000,
    }
    return {
        key: {
            "target": TARGETS[key],
            "value": values[key],
            # None: the case did not run (--only, or no PostgreSQL).
            "pass": None if values[key] is None else passed[key](values[key]),
        }
        for key in TARGETS
    }


def jobs_table(console: Console, results: dict[str, Any]) -> None:
    machine = results["machine"]
    table = Table(
        title=f"workflows benchmark: jobs ({results['mode']}, {machine['nproc']} CPUs, "
        f"load {machine['loadavg_before']}, {results['settings']['endpoints_per_job']} endpoints a job)"
    )
    for column in (
        "case",
        "done (burst)",
        "jobs/s",
        "reference jobs/s",
        "ratio",
        "overhead p50/p99 ms (1 in flight)",
        "overhead p50/p99 ms (burst)",
        "model p50 ms",
        "CPUs busy: server loop + threads / machine",
    ):
        table.add_column(column, justify="right")
    for key in ("sqlite", "postgres_1", "postgres_2"):
        case = results.get(key)
        if case is None:
            continue
        if "skipped" in case:
            table.add_row(key, "skipped", *[""] * 7)
            continue
        burst, one = case["burst"], case["one_at_a_time"]
        cpus = burst["server_cpu"]["cpus"]
        table.add_row(
            key,
            f"{burst['done']}/{burst['jobs']}" + (" (limit)" if burst["timed_out"] else ""),
            f"{case['jobs_per_s']:.1f}",
            f"{case['reference']['jobs_per_s']:.1f}",
            f"{case['ratio_to_reference']}",
            f"{one['overhead_ms_p50']} / {one['overhead_ms_p99']}",
            f"{burst['overhead_ms_p50']} / {burst['overhead_ms_p99']}",
            f"{one['model_ms_p50']}",
            f"{cpus['main_thread']} + {cpus['other_threads']} / {cpus['machine']}",
        )
    console.print(table)


def report(results: dict[str, Any]) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    if any(key in results for key in ("sqlite", "postgres_1", "postgres_2")):
        jobs_table(console, results)
    dmap = results.get("distributed_map")
    if dmap is not None:
        console.print(
            f"distributed Map: {dmap['items']} items in batches of {dmap['batch']}, "
            f"{dmap['status']}, {dmap['items_per_s']:.0f} items/s end to end "
            f"(execution {dmap.get('server_elapsed_s')} s); plain loop "
            f"{dmap['reference']['items_per_s']:.0f} items/s; ratio {dmap['ratio_to_reference']}"
        )
    targets = Table(title="targets")
    for column in ("target", "goal", "value", "verdict"):
        targets.add_column(column, justify="right")
    for key, verdict in results["targets"].items():
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "not run"}[verdict["pass"]]
        targets.add_row(key, verdict["target"], str(verdict["value"]), mark)
    console.print(targets)
