"""Prometheus metrics of the platform: what happened, per endpoint, variant and model.

A :class:`Metrics` object owns a ``CollectorRegistry`` and every metric family the
platform reports; :func:`modelyard.metrics_routes.metrics_route` serves it as
``GET /metrics``. It is built once per platform (``build_platform``,
``build_model_server``) and handed to the areas that record into it, never reached as a
module global, so two platforms in one process (tests) keep their own numbers.

Families (names follow the Prometheus conventions; latencies in seconds)::

    modelyard_invocations_total{endpoint,variant,model}            every invocation, failed ones too
    modelyard_invocation_errors_total{endpoint,variant,model,status_class="4xx"|"5xx"}
    modelyard_model_latency_seconds{endpoint,variant,model}        time in the model's code
    modelyard_overhead_latency_seconds{endpoint,variant,model}     the rest of the request's time
    modelyard_capture_records_written_total{endpoint,variant}
    modelyard_capture_records_dropped_total{endpoint,variant}
    modelyard_model_load_seconds{model}
    modelyard_cache_hits_total{model}, modelyard_cache_misses_total{model}
    modelyard_cache_evictions_total{model}
    modelyard_resident_models                                      models in memory now
    modelyard_model_memory_bytes{model}                            their measured memory
    modelyard_model_crashes_total{model}                           worker deaths it caused
    modelyard_model_quarantines_total{model}
    modelyard_worker_restarts_total

Errors are one counter with a ``status_class`` label rather than two counters (SageMaker's
Invocation4XXErrors and Invocation5XXErrors), as Prometheus labels partitions of one thing:
``sum by (status_class)`` gives SageMaker's pair, ``sum`` all errors. Latencies follow
SageMaker's split: ModelLatency is the time the model's code took (its handler, as the
worker measured it), OverheadLatency the request's remaining time in modelyard.

Who calls what, and where (each call is cheap: one dict lookup, then the increments)::

    # the protocol routes, once the answer's status is known: the endpoints runtime
    # (InvokeEndpoint), and the model server's own routes (serving/protocols/sagemaker.py,
    # kserve.py), which pass "" as endpoint and variant and the model's name as model;
    # model_seconds is the handler's time as the worker measured it, None if never reached
    metrics.invoked("churn", "AllTraffic", "churn-v3", 200, model_seconds=0.0021, total_seconds=0.003)
    # data capture, after each flush: records the flush wrote, and records it dropped
    metrics.captured("churn", "AllTraffic", written=250, dropped=0)
    # ModelCache.acquire: the model is READY (hit) or must be loaded or awaited (miss)
    metrics.cache_hit("churn-v3")
    metrics.cache_miss("churn-v3")
    # ModelCache._load_into_worker, once the entry is READY: load time, measured memory
    metrics.loaded("churn-v3", seconds=0.84, memory_bytes=12_582_912)
    # ModelCache._evict, when it makes room (_reserve, _evict_until) or unloads idle models
    metrics.evicted("churn-v3")
    # a model leaving memory otherwise: ModelCache.unload (on request), forget_worker (died)
    metrics.unloaded("churn-v3")
    # or, instead of that bookkeeping, a snapshot of what is resident (only changes written)
    metrics.resident({"churn-v3": 12_582_912, "iris": 1_048_576})
    # ModelCache.forget_worker, for each culprit; quarantined when record_crash says so
    metrics.crashed("churn-v3")
    metrics.quarantined("churn-v3")
    # WorkerPool._worker_exited, whenever it replaces a worker (crash, hang, memory)
    metrics.worker_restarted()

Recording methods are meant for the event loop's thread; counters and histograms may be
recorded from other threads too, the resident bookkeeping (``loaded``, ``evicted``,
``unloaded``, ``resident``) may not.

**Bounded label sets.** Model and endpoint names come from clients. Each group of families
tracks at most ``MetricsSettings.max_label_sets`` label sets, first come first tracked:
models for the per-model families, (endpoint, variant, model) triples for the invocation
families, (endpoint, variant) pairs for capture. A model beyond the bound is reported as
``model="_other"`` (everywhere, as the triples take their model label from the model
bound); a triple or pair beyond its bound as ``_other`` in every label. So a flood of
invented names costs at most ``max_label_sets + 1`` series per family, and the names
tracked are those seen first (the models in use at start, as a rule).

**Several processes.** With ``MetricsSettings.multiprocess_dir`` set, values go through
prometheus-client's multiprocess mode: each process writes its numbers to memory-mapped
files in that folder, and ``/metrics`` on any of them merges every file there
(``MultiProcessCollector``): counters and histograms add up over all processes, living or
dead; the gauges add up over living ones (``livesum``), a process removing its gauges at
:meth:`Metrics.close`. The library decides how it stores values once per *process* (the
``PROMETHEUS_MULTIPROC_DIR`` variable, read when it is imported), so this mode is the
process's too: the first multiprocess ``Metrics`` switches it, and a process holds at
most one ``Metrics`` in that mode and no in-memory ones beside it (both raise). The folder
is created if missing but never emptied here: other processes may already be writing in
it; whoever starts the processes empties it first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from modelyard.config import MetricsSettings

__all__ = ["LATENCY_BUCKETS", "LOAD_BUCKETS", "OTHER", "Metrics"]

#: The label value standing for every name beyond the bound of tracked label sets.
OTHER = "_other"

#: Request latency buckets (seconds): a cached tiny model answers in ~0.1 ms, the request
#: timeout defaults to 60 s; about 2.5x apart, as Prometheus' own defaults are.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
    10.0, 30.0, 60.0,
)  # fmt: skip

#: Model load buckets (seconds): from a re-load of pickled bytes (~1 ms) to the default
#: load timeout (300 s).
LOAD_BUCKETS = (
    0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
    10.0, 30.0, 60.0,
    120.0, 300.0,
)  # fmt: skip

_INVOCATION_LABELS = ("endpoint", "variant", "model")
_CAPTURE_LABELS = ("endpoint", "variant")
_MODEL_LABELS = ("model",)

# prometheus-client's value storage is one per process (module state of the library), so
# the record of which folder this process writes to is one per process too: it is what
# lets a second multiprocess Metrics, or an in-memory one beside it, fail loudly instead
# of silently mixing or overwriting numbers.
_multiprocess_claim: list[Path] = []
_multiprocess_lock = threading.Lock()

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")


@dataclass(frozen=True, kw_only=True, slots=True)
class _InvocationSeries:
    """The children of one (endpoint, variant, model) in the invocation families."""

    #: ``modelyard_invocations_total``.
    invocations: Counter
    #: ``modelyard_invocation_errors_total{status_class="4xx"}``.
    client_errors: Counter
    #: ``modelyard_invocation_errors_total{status_class="5xx"}``.
    server_errors: Counter
    #: ``modelyard_model_latency_seconds``.
    model_latency: Histogram
    #: ``modelyard_overhead_latency_seconds``.
    overhead_latency: Histogram


@dataclass(frozen=True, kw_only=True, slots=True)
class _CaptureSeries:
    """The children of one (endpoint, variant) in the capture families."""

    #: ``modelyard_capture_records_written_total``.
    written: Counter
    #: ``modelyard_capture_records_dropped_total``.
    dropped: Counter


@dataclass(frozen=True, kw_only=True, slots=True)
class _ModelSeries:
    """The children of one model in the per-model families."""

    #: ``modelyard_model_load_seconds``.
    load_time: Histogram
    #: ``modelyard_cache_hits_total``.
    cache_hits: Counter
    #: ``modelyard_cache_misses_total``.
    cache_misses: Counter
    #: ``modelyard_cache_evictions_total``.
    evictions: Counter
    #: ``modelyard_model_memory_bytes``.
    memory: Gauge
    #: ``modelyard_model_crashes_total``.
    crashes: Counter
    #: ``modelyard_model_quarantines_total``.
    quarantines: Counter


class _SeriesTable(Generic[K, S]):
    """The label sets of one group of families, at most ``limit`` of them, with their series.

    A tracked label set costs one dict read (the request path). A new one is admitted under
    a lock while there is room; past the limit it shares the ``overflow`` label set's
    series. Admission is permanent, so a name's label never changes while the process
    lives (gauges moved by increments stay consistent).
    """

    def __init__(
        self,
        make: Callable[[K], S],
        *,
        limit: int,
        overflow: K,
        normalize: Callable[[K], K] | None = None,
    ) -> None:
        self._make = make
        self._limit = limit
        self._overflow = overflow
        #: Maps a label set to the one it is tracked as (a triple's model to its model label).
        self._normalize = normalize
        self._series: dict[K, S] = {}
        self._overflow_series: S | None = None
        self._lock = threading.Lock()

    def get(self, key: K) -> S:
        """The series of ``key``: its own if tracked or admitted now, else the overflow's."""
        series = self._series.get(key)
        return series if series is not None else self._admit(key)

    def label(self, key: K) -> K:
        """The label set ``key`` is reported as (admitting it if there is room)."""
        self.get(key)
        return key if key in self._series else self._overflow

    def _admit(self, key: K) -> S:
        if self._normalize is not None:
            key = self._normalize(key)
            series = self._series.get(key)
            if series is not None:
                return series  # a name beyond a bound, in a label set already tracked
        with self._lock:
            series = self._series.get(key)
            if series is not None:
                return series
            if key != self._overflow and len(self._series) < self._limit:
                series = self._series[key] = self._make(key)
                return series
            if self._overflow_series is None:
                self._overflow_series = self._make(self._overflow)
            return self._overflow_series


class Metrics:
    """The platform's Prometheus metrics: its registry, families and recording methods.

    See the module's docstring for the families, the call sites and the two modes::

        metrics = Metrics(settings.metrics)
        metrics.invoked("", "", "iris", 200, model_seconds=0.0004, total_seconds=0.0009)
        body = metrics.exposition()  # what GET /metrics answers
    """

    def __init__(self, settings: MetricsSettings | None = None) -> None:
        self.settings = settings if settings is not None else MetricsSettings()
        #: The multiprocess folder, absolute, when several processes report together.
        self.multiprocess_dir = _enter_process_mode(self.settings.multiprocess_dir)
        #: What ``/metrics`` collects: this object's families, or every process's files.
        self.registry = CollectorRegistry()
        if self.multiprocess_dir is not None:
            MultiProcessCollector(self.registry, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        # In multiprocess mode the families must stay out of the registry: the collector
        # already reads their values from the files, and would report them twice.
        registry = self.registry if self.multiprocess_dir is None else None
        limit = self.settings.max_label_sets

        def counter(name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, documentation, labels, registry=registry)

        def histogram(
            name: str, documentation: str, labels: tuple[str, ...], buckets: tuple[float, ...]
        ) -> Histogram:
            return Histogram(name, documentation, labels, registry=registry, buckets=buckets)

        invocations = counter(
            "modelyard_invocations_total",
            "Invocations of a model, through an endpoint's variant or directly; failed ones too.",
            _INVOCATION_LABELS,
        )
        errors = counter(
            "modelyard_invocation_errors_total",
            "Invocations that failed, by status class: 4xx the client's fault, 5xx ours or the model's.",
            (*_INVOCATION_LABELS, "status_class"),
        )
        model_latency = histogram(
            "modelyard_model_latency_seconds",
            "Time an invocation spent in the model's code (SageMaker's ModelLatency).",
            _INVOCATION_LABELS,
            LATENCY_BUCKETS,
        )
        overhead_latency = histogram(
            "modelyard_overhead_latency_seconds",
            "Time an invocation spent in modelyard outside the model's code (SageMaker's OverheadLatency).",
            _INVOCATION_LABELS,
            LATENCY_BUCKETS,
        )
        written = counter(
            "modelyard_capture_records_written_total",
            "Data capture records written to the object store.",
            _CAPTURE_LABELS,
        )
        dropped = counter(
            "modelyard_capture_records_dropped_total",
            "Data capture records dropped (buffer full, store failing).",
            _CAPTURE_LABELS,
        )
        load_time = histogram(
            "modelyard_model_load_seconds",
            "Time a model took to load, artifact fetch included.",
            _MODEL_LABELS,
            LOAD_BUCKETS,
        )
        hits = counter(
            "modelyard_cache_hits_total", "Requests that found their model resident.", _MODEL_LABELS
        )
        misses = counter(
            "modelyard_cache_misses_total",
            "Requests whose model had to be loaded first.",
            _MODEL_LABELS,
        )
        evictions = counter(
            "modelyard_cache_evictions_total",
            "Models taken out of memory to make room or because they sat idle.",
            _MODEL_LABELS,
        )
        memory = Gauge(
            "modelyard_model_memory_bytes",
            "Measured memory of a resident model (0 when not resident).",
            _MODEL_LABELS,
            registry=registry,
            multiprocess_mode="livesum",
        )
        crashes = counter(
            "modelyard_model_crashes_total",
            "Worker processes that died while running the model's request.",
            _MODEL_LABELS,
        )
        quarantines = counter(
            "modelyard_model_quarantines_total",
            "Times the model was quarantined for crashing its workers.",
            _MODEL_LABELS,
        )
        self._resident_models = Gauge(
            "modelyard_resident_models",
            "Models loaded in a worker now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._worker_restarts = Counter(
            "modelyard_worker_restarts_total",
            "Worker processes replaced (crash, hang, memory).",
            registry=registry,
        )

        def model_series(model: str) -> _ModelSeries:
            return _ModelSeries(
                load_time=load_time.labels(model),
                cache_hits=hits.labels(model),
                cache_misses=misses.labels(model),
                evictions=evictions.labels(model),
                memory=memory.labels(model),
                crashes=crashes.labels(model),
                quarantines=quarantines.labels(model),
            )

        def invocation_series(key: tuple[str, str, str]) -> _InvocationSeries:
            return _InvocationSeries(
                invocations=invocations.labels(*key),
                client_errors=errors.labels(*key, "4xx"),
                server_errors=errors.labels(*key, "5xx"),
                model_latency=model_latency.labels(*key),
                overhead_latency=overhead_latency.labels(*key),
            )

        def capture_series(key: tuple[str, str]) -> _CaptureSeries:
            return _CaptureSeries(written=written.labels(*key), dropped=dropped.labels(*key))

        self._models: _SeriesTable[str, _ModelSeries] = _SeriesTable(
            model_series, limit=limit, overflow=OTHER
        )
        models = self._models

        def tracked_model(key: tuple[str, str, str]) -> tuple[str, str, str]:
            # A triple's model is labelled as in the per-model families, so both agree on
            # which models are "_other".
            return (key[0], key[1], models.label(key[2]))

        self._invocations: _SeriesTable[tuple[str, str, str], _InvocationSeries] = _SeriesTable(
            invocation_series, limit=limit, overflow=(OTHER, OTHER, OTHER), normalize=tracked_model
        )
        self._captures: _SeriesTable[tuple[str, str], _CaptureSeries] = _SeriesTable(
            capture_series, limit=limit, overflow=(OTHER, OTHER)
        )
        #: Resident models by name, with their memory: what the gauges were last told.
        self._resident: dict[str, int] = {}

    # -- invocations ---------------------------------------------------------------------

    def invoked(
        self,
        endpoint: str,
        variant: str,
        model: str,
        status: int,
        model_seconds: float | None,
        total_seconds: float,
    ) -> None:
        """An invocation was answered with HTTP ``status``.

        ``model_seconds`` is the time in the model's code, ``None`` when the request never
        reached it (refused, or failed before); ``total_seconds`` the request's whole time
        in modelyard. The bare model server passes ``""`` as endpoint and variant.
        """
        series = self._invocations.get((endpoint, variant, model))
        series.invocations.inc()
        if status >= 400:
            (series.server_errors if status >= 500 else series.client_errors).inc()
        if model_seconds is None:
            series.overhead_latency.observe(total_seconds)
        else:
            series.model_latency.observe(model_seconds)
            # Measured in two processes: never let clock granularity make it negative.
            series.overhead_latency.observe(max(total_seconds - model_seconds, 0.0))

    def captured(self, endpoint: str, variant: str, written: int, dropped: int) -> None:
        """Data capture wrote ``written`` records of a variant and dropped ``dropped``."""
        series = self._captures.get((endpoint, variant))
        if written:
            series.written.inc(written)
        if dropped:
            series.dropped.inc(dropped)

    # -- the model cache -----------------------------------------------------------------

    def cache_hit(self, model: str) -> None:
        """A request found ``model`` resident."""
        self._models.get(model).cache_hits.inc()

    def cache_miss(self, model: str) -> None:
        """A request found ``model`` not resident: it is loaded (or its load awaited) first."""
        self._models.get(model).cache_misses.inc()

    def loaded(self, model: str, seconds: float, memory_bytes: int) -> None:
        """``model`` finished loading in ``seconds`` and is resident, measuring ``memory_bytes``."""
        self._models.get(model).load_time.observe(seconds)
        self._enter(model, memory_bytes)

    def evicted(self, model: str) -> None:
        """The cache took ``model`` out of memory, to make room or because it sat idle."""
        self._models.get(model).evictions.inc()
        self._leave(model)

    def unloaded(self, model: str) -> None:
        """``model`` left memory without an eviction: unloaded on request, or its worker died."""
        self._leave(model)

    def resident(self, models: Mapping[str, int]) -> None:
        """Exactly ``models`` (name -> measured bytes) are resident now; only changes are written."""
        for model in [name for name in self._resident if name not in models]:
            self._leave(model)
        for model, memory_bytes in models.items():
            if self._resident.get(model) != memory_bytes:
                self._enter(model, memory_bytes)

    def crashed(self, model: str) -> None:
        """A worker died while running a request of ``model`` (it is the crash's culprit)."""
        self._models.get(model).crashes.inc()

    def quarantined(self, model: str) -> None:
        """``model`` was put in quarantine for crashing its workers."""
        self._models.get(model).quarantines.inc()

    # -- the worker pool -----------------------------------------------------------------

    def worker_restarted(self) -> None:
        """A worker process was replaced (it crashed, hung, or outgrew its memory limit)."""
        self._worker_restarts.inc()

    # -- exposition and life cycle -------------------------------------------------------

    def exposition(self) -> bytes:
        """Every family in the Prometheus text format (with multiprocess files: all processes')."""
        return generate_latest(self.registry)

    def close(self) -> None:
        """Withdraw this process's gauges from the multiprocess folder (it stops serving).

        Counters and histograms stay: what a process did still counts after it is gone.
        Nothing to do in memory. Record nothing after this.
        """
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]

    def _enter(self, model: str, memory_bytes: int) -> None:
        previous = self._resident.get(model, 0)
        self._resident[model] = memory_bytes
        # An increment, not a set: every model beyond the bound shares the "_other" gauge.
        self._models.get(model).memory.inc(memory_bytes - previous)
        self._resident_models.set(len(self._resident))

    def _leave(self, model: str) -> None:
        previous = self._resident.pop(model, None)
        if previous is None:
            return
        self._models.get(model).memory.dec(previous)
        self._resident_models.set(len(self._resident))


def _enter_process_mode(directory: Path | None) -> Path | None:
    """Put this process's prometheus-client in the mode ``directory`` asks for, or refuse.

    Returns the folder, absolute and created, in multiprocess mode.
    """
    in_multiprocess_mode: bool = values.ValueClass._multiprocess
    with _multiprocess_lock:
        if directory is None:
            if in_multiprocess_mode:
                raise RuntimeError(
                    "prometheus-client writes this process's metrics to a multiprocess folder "
                    "(PROMETHEUS_MULTIPROC_DIR, or a Metrics with metrics.multiprocess_dir): an "
                    "in-memory Metrics beside it would mix its numbers into that folder's"
                )
            return None
        if _multiprocess_claim:
            raise RuntimeError(
                f"this process already writes its metrics to {_multiprocess_claim[0]}: "
                "one Metrics per process in multiprocess mode (two would overwrite each other)"
            )
        folder = directory.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        # The one place modelyard touches the environment for metrics: prometheus-client
        # takes the folder of its value files from PROMETHEUS_MULTIPROC_DIR (read whenever it
        # opens one), so it must name ours; children started later inherit it.
        current = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if current is not None and Path(current).resolve() != folder:
            raise ValueError(
                f"PROMETHEUS_MULTIPROC_DIR is {current!r} but metrics.multiprocess_dir is "
                f"{str(folder)!r}: set one folder"
            )
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        if not in_multiprocess_mode:
            # The library chose its value class when it was imported, before our settings
            # were read: switch it now, before any value of ours exists (as its own tests do).
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        _multiprocess_claim.append(folder)
        return folder
