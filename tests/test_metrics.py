"""Metrics: each recording method moves its series, the label bound holds, ``/metrics`` serves.

Unit tests read a :class:`Metrics` the way Prometheus does, through its text exposition.
The multiprocess test runs its writers in their own processes: prometheus-client's
multiprocess mode is a property of a whole process, which this one must not take on.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from modelyard.config import MetricsSettings
from modelyard.metrics import LATENCY_BUCKETS, LOAD_BUCKETS, OTHER, Metrics
from modelyard.platform import build_model_server
from tests.fixtures import models
from tests.servers import model_server, settings_for

#: A sample: its name and its labels.
Key = tuple[str, frozenset[tuple[str, str]]]
Samples = dict[Key, float]

#: Every family /metrics reports, as the parser names them (counters lose ``_total``).
FAMILIES = {
    "modelyard_invocations": "counter",
    "modelyard_invocation_errors": "counter",
    "modelyard_model_latency_seconds": "histogram",
    "modelyard_overhead_latency_seconds": "histogram",
    "modelyard_capture_records_written": "counter",
    "modelyard_capture_records_dropped": "counter",
    "modelyard_model_load_seconds": "histogram",
    "modelyard_cache_hits": "counter",
    "modelyard_cache_misses": "counter",
    "modelyard_cache_evictions": "counter",
    "modelyard_resident_models": "gauge",
    "modelyard_model_memory_bytes": "gauge",
    "modelyard_model_crashes": "counter",
    "modelyard_model_quarantines": "counter",
    "modelyard_worker_restarts": "counter",
}

ROUTE = {"endpoint": "churn", "variant": "AllTraffic", "model": "churn-v3"}
VARIANT = {"endpoint": "churn", "variant": "AllTraffic"}
IRIS = {"model": "iris"}


def key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


def samples(text: str) -> Samples:
    """Every sample of an exposition (``_created`` timestamps left out: they only appear)."""
    return {
        key(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def read(metrics: Metrics) -> Samples:
    return samples(metrics.exposition().decode())


def moved(metrics: Metrics, action: Callable[[], object]) -> Samples:
    """What ``action`` changed, sample by sample (a new sample counts from 0)."""
    before = read(metrics)
    action()
    after = read(metrics)
    changed = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in before.keys() | after.keys()}
    return {k: delta for k, delta in changed.items() if delta}


def observation(
    name: str, value: float, buckets: tuple[float, ...], labels: Mapping[str, str]
) -> Samples:
    """What observing ``value`` adds to a histogram's samples."""
    added = {key(f"{name}_count", **labels): 1.0}
    if value:
        added[key(f"{name}_sum", **labels)] = value
    for bound in (*buckets, math.inf):
        if value <= bound:
            added[key(f"{name}_bucket", le=floatToGoString(bound), **labels)] = 1.0
    return added


# -- each recording method moves exactly its series -------------------------------------


def test_a_successful_invocation_counts_and_splits_its_latency() -> None:
    metrics = Metrics()
    changed = moved(metrics, lambda: metrics.invoked(*ROUTE.values(), 200, 0.002, 0.0035))
    assert changed == pytest.approx(
        {
            key("modelyard_invocations_total", **ROUTE): 1.0,
            **observation("modelyard_model_latency_seconds", 0.002, LATENCY_BUCKETS, ROUTE),
            **observation("modelyard_overhead_latency_seconds", 0.0015, LATENCY_BUCKETS, ROUTE),
        }
    )


@pytest.mark.parametrize(
    ("status", "status_class"),
    [(400, "4xx"), (404, "4xx"), (499, "4xx"), (500, "5xx"), (503, "5xx")],
)
def test_a_failed_invocation_counts_its_status_class(status: int, status_class: str) -> None:
    metrics = Metrics()
    changed = moved(metrics, lambda: metrics.invoked(*ROUTE.values(), status, None, 0.001))
    assert changed == pytest.approx(
        {
            key("modelyard_invocations_total", **ROUTE): 1.0,
            key("modelyard_invocation_errors_total", status_class=status_class, **ROUTE): 1.0,
            # The model never ran: the whole time is overhead, no model latency is observed.
            **observation("modelyard_overhead_latency_seconds", 0.001, LATENCY_BUCKETS, ROUTE),
        }
    )


def test_overhead_is_never_negative() -> None:
    # Model time is measured in the worker, the total in the HTTP process.
    metrics = Metrics()
    changed = moved(metrics, lambda: metrics.invoked(*ROUTE.values(), 200, 0.002, 0.0019))
    assert changed == pytest.approx(
        {
            key("modelyard_invocations_total", **ROUTE): 1.0,
            **observation("modelyard_model_latency_seconds", 0.002, LATENCY_BUCKETS, ROUTE),
            **observation("modelyard_overhead_latency_seconds", 0.0, LATENCY_BUCKETS, ROUTE),
        }
    )


@pytest.mark.parametrize(
    ("seconds", "smallest_bucket"),
    [
        (0.00004, "0.0001"),
        (0.0001, "0.0001"),  # bounds are inclusive
        (0.00011, "0.00025"),
        (0.7, "1.0"),
        (60.0, "60.0"),
        (61.0, "+Inf"),
    ],
)
def test_latencies_fall_into_the_right_bucket(seconds: float, smallest_bucket: str) -> None:
    metrics = Metrics()
    metrics.invoked(*ROUTE.values(), 200, seconds, seconds)
    buckets = {
        labels["le"]: value
        for (name, label_set), value in read(metrics).items()
        if name == "modelyard_model_latency_seconds_bucket"
        for labels in [dict(label_set)]
    }
    bounds = [floatToGoString(b) for b in (*LATENCY_BUCKETS, math.inf)]
    assert buckets.keys() == set(bounds)
    first = bounds.index(smallest_bucket)
    assert [buckets[b] for b in bounds] == [0.0] * first + [1.0] * (len(bounds) - first)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (lambda m: m.cache_hit("iris"), {key("modelyard_cache_hits_total", model="iris"): 1.0}),
        (lambda m: m.cache_miss("iris"), {key("modelyard_cache_misses_total", model="iris"): 1.0}),
        (lambda m: m.crashed("iris"), {key("modelyard_model_crashes_total", model="iris"): 1.0}),
        (
            lambda m: m.quarantined("iris"),
            {key("modelyard_model_quarantines_total", model="iris"): 1.0},
        ),
        (lambda m: m.worker_restarted(), {key("modelyard_worker_restarts_total"): 1.0}),
        (
            lambda m: m.captured("churn", "AllTraffic", written=250, dropped=3),
            {
                key("modelyard_capture_records_written_total", **VARIANT): 250.0,
                key("modelyard_capture_records_dropped_total", **VARIANT): 3.0,
            },
        ),
        (
            lambda m: m.loaded("iris", 250.0, 4096),
            {
                **observation("modelyard_model_load_seconds", 250.0, LOAD_BUCKETS, IRIS),
                key("modelyard_model_memory_bytes", model="iris"): 4096.0,
                key("modelyard_resident_models"): 1.0,
            },
        ),
    ],
    ids=[
        "cache_hit",
        "cache_miss",
        "crashed",
        "quarantined",
        "worker_restarted",
        "captured",
        "loaded",
    ],
)
def test_each_recording_method_moves_exactly_its_series(
    record: Callable[[Metrics], None], expected: Samples
) -> None:
    metrics = Metrics()
    assert moved(metrics, lambda: record(metrics)) == pytest.approx(expected)


def test_resident_models_and_their_memory_follow_loads_evictions_and_unloads() -> None:
    metrics = Metrics()

    def resident() -> tuple[float, dict[str, float]]:
        values = read(metrics)
        memory = {
            dict(labels)["model"]: value
            for (name, labels), value in values.items()
            if name == "modelyard_model_memory_bytes"
        }
        return values[key("modelyard_resident_models")], memory

    metrics.loaded("a", 0.1, 100)
    metrics.loaded("b", 0.1, 200)
    assert resident() == (2.0, {"a": 100.0, "b": 200.0})
    metrics.loaded("a", 0.1, 150)  # measured again (a reload): replaces, does not add
    assert resident() == (2.0, {"a": 150.0, "b": 200.0})

    assert moved(metrics, lambda: metrics.evicted("a")) == {
        key("modelyard_cache_evictions_total", model="a"): 1.0,
        key("modelyard_model_memory_bytes", model="a"): -150.0,
        key("modelyard_resident_models"): -1.0,
    }
    assert moved(metrics, lambda: metrics.unloaded("b")) == {
        key("modelyard_model_memory_bytes", model="b"): -200.0,
        key("modelyard_resident_models"): -1.0,
    }
    assert moved(metrics, lambda: metrics.unloaded("never-loaded")) == {}

    metrics.resident({"b": 7, "c": 5})
    assert resident() == (2.0, {"a": 0.0, "b": 7.0, "c": 5.0})
    assert moved(metrics, lambda: metrics.resident({"b": 7, "c": 5})) == {}
    metrics.resident({})
    assert resident() == (0.0, {"a": 0.0, "b": 0.0, "c": 0.0})


def test_two_metrics_objects_keep_their_own_numbers() -> None:
    first, second = Metrics(), Metrics()
    first.cache_hit("iris")
    first.invoked(*ROUTE.values(), 200, 0.001, 0.002)
    first.worker_restarted()
    assert read(first)[key("modelyard_cache_hits_total", model="iris")] == 1.0
    assert read(first)[key("modelyard_worker_restarts_total")] == 1.0
    assert key("modelyard_cache_hits_total", model="iris") not in read(second)
    assert key("modelyard_invocations_total", **ROUTE) not in read(second)
    assert read(second)[key("modelyard_worker_restarts_total")] == 0.0


# -- the label bound --------------------------------------------------------------------

LIMIT = 4

names = st.lists(
    st.one_of(st.text(max_size=12), st.sampled_from([OTHER, "iris", "churn-v3"])), max_size=40
)


def by_label(values: Samples, name: str, label: str) -> dict[str, float]:
    """The samples of ``name``, keyed by the value of ``label``."""
    found: dict[str, float] = {}
    for (sample, labels), value in values.items():
        if sample == name:
            found[dict(labels)[label]] = value
    return found


def expected_counts(flood: list[str]) -> dict[str, float]:
    """Per label value: the first LIMIT distinct names keep theirs, the rest share _other."""
    tracked = [name for name in dict.fromkeys(flood) if name != OTHER][:LIMIT]
    counts: Counter[str] = Counter(name if name in tracked else OTHER for name in flood)
    return {name: float(count) for name, count in counts.items()}


@hypothesis_settings(max_examples=60, deadline=None)
@given(flood=names)
def test_a_flood_of_names_is_tracked_up_to_the_bound_and_the_rest_shares_other(
    flood: list[str],
) -> None:
    metrics = Metrics(MetricsSettings(max_label_sets=LIMIT))
    for name in flood:
        metrics.cache_hit(name)
        metrics.loaded(name, 0.01, 10)
        metrics.invoked("churn", "AllTraffic", name, 200, 0.001, 0.002)
        metrics.captured(name, "AllTraffic", written=1, dropped=0)
    values = read(metrics)  # also: whatever the names, the exposition parses

    expected = expected_counts(flood)
    assert by_label(values, "modelyard_cache_hits_total", "model") == expected
    assert by_label(values, "modelyard_model_load_seconds_count", "model") == expected
    # Every family stays within the bound (plus _other), memory of the _other models adds up.
    for name in ("modelyard_cache_misses_total", "modelyard_model_memory_bytes"):
        assert len(by_label(values, name, "model")) <= LIMIT + 1
    assert sum(by_label(values, "modelyard_model_memory_bytes", "model").values()) == (
        10.0 * len(set(flood))
    )
    invocations = {
        frozenset(labels): value
        for (sample, labels), value in values.items()
        if sample == "modelyard_invocations_total"
    }
    assert len(invocations) <= LIMIT + 1
    assert sum(invocations.values()) == len(flood)
    for labels in invocations:
        assert dict(labels)["model"] in {*expected, OTHER}
    # Pairs have one overflow pair, (_other, _other): an endpoint named "_other" is just a name.
    tracked = list(dict.fromkeys(flood))[:LIMIT]
    pairs = Counter((name, "AllTraffic") if name in tracked else (OTHER, OTHER) for name in flood)
    captured = {
        (dict(labels)["endpoint"], dict(labels)["variant"]): value
        for (sample, labels), value in values.items()
        if sample == "modelyard_capture_records_written_total"
    }
    assert captured == {pair: float(count) for pair, count in pairs.items()}


def test_a_model_beyond_the_bound_keeps_its_endpoint_while_triples_have_room() -> None:
    metrics = Metrics(MetricsSettings(max_label_sets=2))
    for model in ("a", "b", "c", "d"):
        metrics.cache_hit(model)
    metrics.invoked("churn", "AllTraffic", "d", 200, 0.001, 0.002)
    values = read(metrics)
    assert values[key("modelyard_cache_hits_total", model=OTHER)] == 2.0
    assert values[key("modelyard_invocations_total", **VARIANT, model=OTHER)] == 1.0


# -- GET /metrics -----------------------------------------------------------------------


def test_the_model_server_serves_metrics_for_prometheus(tmp_path: Path) -> None:
    store = tmp_path / "store"
    models.sum_model(store)
    with model_server(store, tmp_path / "home") as url, httpx.Client(base_url=url) as client:
        assert client.post("/models/sum/invoke", json=[1, 2, 3]).status_code == 200
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families.items() >= FAMILIES.items()
    values = samples(response.text)
    assert values[key("modelyard_worker_restarts_total")] == 0.0
    assert values[key("modelyard_resident_models")] >= 0.0


def test_each_platform_serves_its_own_metrics(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    first = build_model_server(settings_for(tmp_path / "one"), store)
    second = build_model_server(settings_for(tmp_path / "two"), store)
    first.metrics.invoked("", "", "iris", 200, 0.0004, 0.0009)

    async def scrape(app: object) -> str:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://modelyard") as client:
            return (await client.get("/metrics")).text

    direct = key("modelyard_invocations_total", endpoint="", variant="", model="iris")
    assert samples(asyncio.run(scrape(first.app)))[direct] == 1.0
    assert direct not in samples(asyncio.run(scrape(second.app)))


# -- several processes ------------------------------------------------------------------

# Each writer is a process of its own, as serving processes are; the second one also
# scrapes, through the real route, what every process wrote.
WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path

    import httpx
    from starlette.applications import Starlette

    from modelyard.config import MetricsSettings
    from modelyard.metrics import Metrics
    from modelyard.metrics_routes import metrics_route

    folder, role = Path(sys.argv[1]), sys.argv[2]
    metrics = Metrics(MetricsSettings(multiprocess_dir=folder))
    for _ in range(2 if role == "first" else 3):
        metrics.invoked("churn", "AllTraffic", "churn-v3", 200, 0.002, 0.003)
    metrics.invoked("churn", "AllTraffic", "churn-v3", 503, None, 0.001)
    metrics.loaded(role, 0.5, 100 if role == "first" else 50)
    metrics.worker_restarted()

    # The process's mode is taken: neither another multiprocess Metrics nor an in-memory one.
    for settings in (MetricsSettings(multiprocess_dir=folder), MetricsSettings()):
        try:
            Metrics(settings)
        except RuntimeError:
            pass
        else:
            sys.exit(f"a second Metrics was built with {settings}")

    if role == "first":
        metrics.close()  # a graceful stop: its gauges leave, its counts stay
        sys.exit(0)

    async def scrape() -> httpx.Response:
        app = Starlette(routes=[metrics_route(metrics)])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://modelyard") as client:
            return await client.get("/metrics")

    response = asyncio.run(scrape())
    print(response.headers["content-type"])
    print(response.text)
    """
)


def run_writer(folder: Path, role: str) -> str:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MODELYARD_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(folder), role],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_processes_sharing_a_multiprocess_folder_report_together(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    run_writer(folder, "first")
    content_type, _, text = run_writer(folder, "second").partition("\n")

    assert content_type == CONTENT_TYPE_LATEST
    values = samples(text)
    assert values[key("modelyard_invocations_total", **ROUTE)] == 2 + 1 + 3 + 1
    assert values[key("modelyard_invocation_errors_total", status_class="5xx", **ROUTE)] == 2
    assert values[key("modelyard_model_latency_seconds_count", **ROUTE)] == 5
    bucket = key("modelyard_model_latency_seconds_bucket", le="0.0025", **ROUTE)
    assert values[bucket] == 5
    assert values[key("modelyard_overhead_latency_seconds_count", **ROUTE)] == 7
    assert values[key("modelyard_worker_restarts_total")] == 2
    for role in ("first", "second"):
        assert values[key("modelyard_model_load_seconds_count", model=role)] == 1
    # Gauges count living processes only: the first one withdrew its gauges when it closed.
    assert values[key("modelyard_resident_models")] == 1
    memory = by_label(values, "modelyard_model_memory_bytes", "model")
    assert memory == {"second": 50.0, "churn-v3": 0.0}  # seen, never loaded: 0
