"""The serving benchmark's results: shaping the figures, judging the targets, printing."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from wrk import WrkResult

__all__ = ["TARGETS", "best", "print_report", "single_table", "verdicts"]

#: The goals, as the results document states them.
TARGETS = {
    "c64_ratio": ">= 0.8",
    "many_models_ratio_to_single": ">= 0.5 with 0 errors",
    "cold_load_overhead_ms": "<= 20",
    "idle_pss_mb": "<= 150",
    "pinned_c64_ratio": ">= 1.5",
    "pinned_c64_not_below_c8": "c64 rps >= c8 rps",
    "pinned_c64_p99_vs_reference": "<= reference p99",
    "churn_ratio": ">= 1.0 with 0 errors",
}


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target with its measured value and whether it passes."""
    many = results["many_models"]
    pinned = results["pinned"]["cases"]
    churn = results["churn"]
    values = {
        "c64_ratio": results["single"]["c64"]["ratio"],
        "many_models_ratio_to_single": many["ratio_to_single"],
        "cold_load_overhead_ms": results["cold_load_overhead_ms"],
        "idle_pss_mb": results["idle_pss_mb"],
        "pinned_c64_ratio": pinned["c64"]["ratio"],
        "pinned_c64_not_below_c8": round(
            pinned["c64"]["modelyard_rps"] / pinned["c8"]["modelyard_rps"], 3
        ),
        "pinned_c64_p99_vs_reference": round(
            pinned["c64"]["p99_ms"] / pinned["c64"]["reference_p99_ms"], 3
        ),
        "churn_ratio": churn["ratio"],
    }
    passed = {
        "c64_ratio": values["c64_ratio"] >= 0.8,
        "many_models_ratio_to_single": many["ratio_to_single"] >= 0.5 and many["errors"] == 0,
        "cold_load_overhead_ms": values["cold_load_overhead_ms"] <= 20,
        "idle_pss_mb": values["idle_pss_mb"] <= 150,
        "pinned_c64_ratio": values["pinned_c64_ratio"] >= 1.5,
        "pinned_c64_not_below_c8": values["pinned_c64_not_below_c8"] >= 1.0,
        "pinned_c64_p99_vs_reference": values["pinned_c64_p99_vs_reference"] <= 1.0,
        "churn_ratio": churn["ratio"] >= 1.0 and churn["errors"] == 0,
    }
    return {k: {"target": TARGETS[k], "value": values[k], "pass": passed[k]} for k in TARGETS}


def best(rounds: list[WrkResult]) -> WrkResult:
    """The round with the most requests per second: interference only ever slows a run."""
    return max(rounds, key=lambda r: r.rps)


def single_table(
    mine: dict[str, list[WrkResult]], ref: dict[str, list[WrkResult]]
) -> dict[str, Any]:
    """The ``single`` section: modelyard vs reference per case, best rounds."""
    table = {}
    for case in mine:
        m, r = best(mine[case]), best(ref[case])
        table[case] = {
            "modelyard_rps": round(m.rps, 1),
            "reference_rps": round(r.rps, 1),
            "ratio": round(m.rps / r.rps, 3),
            "p50_ms": round(m.p50_ms, 3),
            "p99_ms": round(m.p99_ms, 3),
            "reference_p50_ms": round(r.p50_ms, 3),
            "reference_p99_ms": round(r.p99_ms, 3),
            "errors": sum(x.errors for x in mine[case]),
            "reference_errors": sum(x.errors for x in ref[case]),
            "modelyard_rounds_rps": [round(x.rps, 1) for x in mine[case]],
            "reference_rounds_rps": [round(x.rps, 1) for x in ref[case]],
        }
    return table


def _mark(passed: bool) -> str:
    return "[green]pass[/]" if passed else "[red]FAIL[/]"


def print_report(results: dict[str, Any]) -> None:
    """Print the single-model cases, many-models, cold load, RSS and the targets."""
    console = Console()
    if not console.is_terminal:  # piped to a file: wide enough that no header is cut
        console = Console(width=120)
    machine = results["machine"]
    console.print(
        f"[bold]modelyard serving benchmark[/] ({results['mode']}, {machine['nproc']} CPUs, "
        f"Python {machine['python']}, {results['elapsed_s']} s, load average "
        f"{machine['loadavg_before']} before, {machine['loadavg_after']} after)"
    )
    console.print(_cases_table("single model (lr): modelyard vs bare Starlette", results["single"]))
    console.print(
        _cases_table("pinned: servers on one CPU, wrk on the other", results["pinned"]["cases"])
    )
    churn = results["churn"]
    console.print(
        f"churn (pinned, Zipf 1.0 over {churn['names']} names, {churn['max_loaded']} loaded, "
        f"c{churn['concurrency']}): modelyard {churn['modelyard_rps']:.0f} rps vs in-process "
        f"LRU {churn['reference_rps']:.0f} rps, ratio {churn['ratio']:.2f}, p99 "
        f"{churn['p99_ms']:.1f} vs {churn['reference_p99_ms']:.1f} ms, errors {churn['errors']}"
    )
    _print_rest(console, results)


def _cases_table(title: str, cases: dict[str, Any]) -> Table:
    single = Table(title=title)
    for column in (
        "case",
        "modelyard rps",
        "reference rps",
        "ratio",
        "p50 ms",
        "p99 ms",
        "ref p50 ms",
        "ref p99 ms",
        "errors",
    ):
        single.add_column(column, justify="right")
    for case, row in cases.items():
        single.add_row(
            case,
            f"{row['modelyard_rps']:.0f}",
            f"{row['reference_rps']:.0f}",
            f"{row['ratio']:.2f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row['reference_p50_ms']:.2f}",
            f"{row['reference_p99_ms']:.2f}",
            str(row["errors"]),
        )
    return single


def _print_rest(console: Console, results: dict[str, Any]) -> None:
    many = results["many_models"]
    raw = results["cold_load_raw"]
    other = Table(title="many models, cold loads, memory")
    other.add_column("measure")
    other.add_column("value", justify="right")
    other.add_row(
        f"many-models rps (Zipf 1.0 over 1,000, c{many['concurrency']})", f"{many['rps']:.0f}"
    )
    other.add_row(f"  ratio to single {many['compared_with']}", f"{many['ratio_to_single']:.2f}")
    other.add_row("  errors (non-200 + socket)", str(many["errors"]))
    other.add_row("  p50 / p99 ms", f"{many['p50_ms']:.2f} / {many['p99_ms']:.2f}")
    resident = many["loaded_at_end"]
    other.add_row("  models ready / listed at end", f"{resident['ready']} / {resident['count']}")
    if "loads" in resident:
        other.add_row("  loads / evictions", f"{resident['loads']} / {resident['evictions']}")
    other.add_row(
        "  their median load / total load ms",
        f"{resident['median_load_ms']} / {resident['median_total_load_ms']}",
    )
    if many["error_sample"]:
        other.add_row("  first error", many["error_sample"][:120])
    other.add_row("cold-load overhead ms (median)", f"{results['cold_load_overhead_ms']:.2f}")
    other.add_row("  warm request ms (median)", f"{raw['warm_median_ms']:.2f}")
    for cold in raw["cold_models"][:3]:
        other.add_row(
            f"  {cold['model']}: first request / load ms",
            f"{cold['first_request_ms']:.2f} / {cold['load_ms']:.2f}",
        )
    first = raw["first_model"]
    other.add_row(
        "  first model ever (imports): request / load ms",
        f"{first['first_request_ms']:.1f} / {first['load_ms']:.1f}",
    )
    other.add_row(
        "idle PSS / RSS MiB (server + template + workers)",
        f"{results['idle_pss_mb']:.1f} / {results['idle_rss_mb']:.1f}",
    )
    other.add_row(
        "PSS / RSS with one model MiB",
        f"{results['pss_one_model_mb']:.1f} / {results['rss_one_model_mb']:.1f}",
    )
    other.add_row("one model's memoryBytes", str(results["model_memory_bytes"]))
    console.print(other)

    targets = Table(title="targets")
    for column in ("target", "goal", "measured", "verdict"):
        targets.add_column(column)
    for name, verdict in results["targets"].items():
        targets.add_row(name, verdict["target"], str(verdict["value"]), _mark(verdict["pass"]))
    console.print(targets)
