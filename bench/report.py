"""Printing the serving benchmark's results as tables (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_report"]


def _mark(passed: bool) -> str:
    return "[green]pass[/]" if passed else "[red]FAIL[/]"


def print_report(results: dict[str, Any]) -> None:
    """Print the single-model cases, many-models, cold load, RSS and the targets."""
    console = Console()
    machine = results["machine"]
    console.print(
        f"[bold]modelyard serving benchmark[/] ({results['mode']}, {machine['nproc']} CPUs, "
        f"Python {machine['python']}, {results['elapsed_s']} s)"
    )
    single = Table(title="single model (lr): modelyard vs bare Starlette")
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
    for case, row in results["single"].items():
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
    console.print(single)

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
    other.add_row("  models loaded at end", str(resident["count"]))
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
    other.add_row("idle RSS MiB (server + workers)", f"{results['idle_rss_mb']:.1f}")
    other.add_row("RSS with one model MiB", f"{results['rss_one_model_mb']:.1f}")
    other.add_row("one model's memoryBytes", str(results["model_memory_bytes"]))
    console.print(other)

    targets = Table(title="targets")
    for column in ("target", "goal", "measured", "verdict"):
        targets.add_column(column)
    for name, verdict in results["targets"].items():
        targets.add_row(name, verdict["target"], str(verdict["value"]), _mark(verdict["pass"]))
    console.print(targets)
