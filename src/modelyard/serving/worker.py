"""The model worker process: hosts loaded models and answers frames from the HTTP process.

Forked from the template process (:mod:`modelyard.serving.forkserver`), which calls
:func:`run` with the worker's end of a Unix socketpair and its *marker*: eight bytes of
memory shared with the HTTP process, where the worker writes the id of the last request
it started before starting it. Model code only ever runs here, so a model that crashes,
hangs or exhausts memory takes down this process alone; the HTTP process notices, reads
the marker to tell the requests that were running (they failed with the worker) from
those still queued (they never started, and are sent again elsewhere), and starts
another worker.

Requests are served one at a time, in arrival order. That order is what makes eviction
safe: an UNLOAD sent after an INFER for the same model is processed after it.
"""

from __future__ import annotations

import gc
import mmap
import resource
import signal
import socket
import struct
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from modelyard.errors import ModelTooLarge, ModelyardError
from modelyard.serving.ipc import FrameReader, Kind, encode_frame
from modelyard.serving.memory import RSS_NOISE_BYTES, OwnRss, release_free_memory

__all__ = ["MARKER", "library_modules", "run"]

#: The marker's layout: id of the last request the worker started.
MARKER = struct.Struct("<Q")

#: Where library modules live: a module imported from here may be warmed in the template.
_LIBRARY_ROOTS = tuple(
    {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
)


def library_modules(names: list[str]) -> list[str]:
    """Those of ``names`` that are library modules (standard library or site-packages)."""
    found = []
    for name in names:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        spec = getattr(module, "__spec__", None)
        # Only modules importable by their name (some extension modules register aliases).
        if (
            isinstance(path, str)
            and path.startswith(_LIBRARY_ROOTS)
            and getattr(spec, "name", None) == name
        ):
            found.append(name)
    return found


class WorkerState:
    """The models loaded in this worker, and how to answer each kind of frame."""

    def __init__(self) -> None:
        from modelyard.serving import handlers
        from modelyard.serving.codecs import v2

        self._load_handler = handlers.load_handler
        self._v2 = v2
        self.models: dict[str, Any] = {}
        self._rss = OwnRss()
        #: What each model's load added to RSS, to decide whether its unload trims the heap.
        self._rss_deltas: dict[str, int] = {}
        # What is imported now lives as long as the process: keep it out of every
        # future collection, so collections after unloads only walk model objects.
        gc.freeze()

    def dispatch(self, kind: int, payload: Any) -> Any:
        """Answer one frame; raises a ModelyardError to report a failure."""
        if kind == Kind.INFER:
            name, body, header_length = payload
            handler = self._handler(name)
            request = self._v2.decode_request(body, header_length)
            response = handler.infer(request)
            return self._v2.encode_response(response, request)
        if kind == Kind.INVOKE:
            name, body, content_type, accept = payload
            return self._handler(name).invoke(body, content_type, accept)
        if kind == Kind.LOAD:
            return self._load(*payload)
        if kind == Kind.UNLOAD:
            handler = self.models.pop(payload, None)
            if handler is not None:
                handler.unload()
                del handler
                # Trimming the heap costs about a millisecond: worth it only when the
                # model held more than allocator noise (evictions of small models are hot).
                if self._rss_deltas.pop(payload, 0) >= RSS_NOISE_BYTES:
                    release_free_memory()
            return self._rss()
        if kind == Kind.METADATA:
            return self._handler(payload).metadata()
        if kind == Kind.STATS:
            return {"rss_bytes": self._rss(), "models": sorted(self.models)}
        raise ModelyardError(f"unknown frame kind {kind}")

    def infer_batch(self, name: str, payloads: list[Any]) -> list[Any]:
        """Answer several V2 requests for one model; each outcome is a reply or an error."""
        outcomes: list[Any] = [None] * len(payloads)
        requests = []
        positions = []
        try:
            handler = self._handler(name)
        except ModelyardError as exc:
            return [exc] * len(payloads)
        for position, (_, body, header_length) in enumerate(payloads):
            try:
                requests.append(self._v2.decode_request(body, header_length))
                positions.append(position)
            except Exception as exc:
                outcomes[position] = exc
        batch = getattr(handler, "infer_batch", None)
        if batch is not None and len(requests) > 1:
            answers = batch(requests)
        else:
            answers = []
            for request in requests:
                try:
                    answers.append(handler.infer(request))
                except Exception as exc:
                    answers.append(exc)
        for position, request, answer in zip(positions, requests, answers, strict=True):
            if isinstance(answer, BaseException):
                outcomes[position] = answer
                continue
            try:
                outcomes[position] = self._v2.encode_response(answer, request)
            except Exception as exc:
                outcomes[position] = exc
        return outcomes

    def _handler(self, name: str) -> Any:
        try:
            return self.models[name]
        except KeyError:
            from modelyard.errors import ModelNotResident

            raise ModelNotResident(f"model {name!r} is not loaded in this worker") from None

    def _load(self, name: str, model_dir: str) -> dict[str, Any]:
        if name in self.models:  # a reload after a failed unload: start clean
            self.models.pop(name).unload()
        modules_before = len(sys.modules)
        last_module = next(reversed(sys.modules))
        started = time.perf_counter()
        handler, memory = self._load_measured(name, model_dir)
        load_seconds = time.perf_counter() - started
        imported = (
            library_modules(_imported_since(last_module))
            if len(sys.modules) > modules_before
            else []
        )
        if imported and handler.pure_load:
            # The load imported libraries (scikit-learn for the first pickle, say): their
            # memory is shared by every later model, not this one's. A handler whose load
            # has no side effects is loaded once more with them in place, so that the
            # measurement is the model's own. (User code may count or log its loads, so
            # for other handlers the first model of a library is charged its import.)
            handler.unload()
            del handler
            release_free_memory()
            handler, memory = self._load_measured(name, model_dir)
        self.models[name] = handler
        self._rss_deltas[name] = memory
        return {"rss_delta_bytes": memory, "load_seconds": load_seconds, "imported": imported}

    def _load_measured(self, name: str, model_dir: str) -> tuple[Any, int]:
        """Load a handler; return it with what its load added to this process's RSS."""
        before = self._rss()
        handler = self._load_handler_guarded(name, model_dir)
        return handler, max(0, self._rss() - before)

    def _load_handler_guarded(self, name: str, model_dir: str) -> Any:
        try:
            return self._load_handler(name, Path(model_dir))
        except (MemoryError, ModelyardError) as exc:
            if _caused_by_memory_error(exc):
                limit = resource.getrlimit(resource.RLIMIT_DATA)[0]
                within = f" (worker limit {limit / 2**20:.0f} MiB)" if limit > 0 else ""
                raise ModelTooLarge(
                    f"model {name!r} ran out of memory while loading{within}"
                ) from exc
            raise


def _imported_since(last_module: str) -> list[str]:
    """Modules imported after ``last_module`` (sys.modules keeps insertion order)."""
    fresh: list[str] = []
    for name in reversed(sys.modules):
        if name == last_module:
            fresh.reverse()  # in import order: dependencies first
            return fresh
        fresh.append(name)
    return []  # the reference point was removed meanwhile: claim nothing


def _caused_by_memory_error(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _error_payload(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, ModelyardError):
        return type(exc).__name__, exc.message
    if isinstance(exc, MemoryError):
        return "InferenceFailed", "out of memory (MemoryError)"
    return "InferenceFailed", f"{type(exc).__name__}: {exc}"


def _reply(request_id: int, outcome: Any) -> bytes:
    if isinstance(outcome, BaseException):
        return encode_frame(request_id, Kind.ERROR, _error_payload(outcome))
    return encode_frame(request_id, Kind.OK, outcome)


def _runs(frames: list[tuple[int, int, Any]]) -> list[list[tuple[int, int, Any]]]:
    """Group frames into batches: V2 requests for one model together, anything else alone.

    Only V2 requests are regrouped, and never across another kind of frame: a LOAD or
    UNLOAD stays a barrier, so every request is still answered by the model state it was
    sent against. Independent V2 requests may be answered in a different order; replies
    carry their request's id.
    """
    runs: list[list[tuple[int, int, Any]]] = []
    by_model: dict[str, list[tuple[int, int, Any]]] = {}
    for frame in frames:
        _, kind, payload = frame
        if kind == Kind.INFER:
            group = by_model.get(payload[0])
            if group is None:
                group = by_model[payload[0]] = []
                runs.append(group)
            group.append(frame)
        else:
            by_model = {}  # a barrier: later requests start new groups
            runs.append([frame])
    return runs


def serve(sock: socket.socket, marker: mmap.mmap | None = None) -> None:
    """Answer frames until the HTTP process closes the socket.

    Whatever arrived together is answered together: consecutive V2 requests for the same
    model go to the handler as one batch (adaptive batching: the deeper the queue, the
    bigger the batch, with no added wait when the queue is short).
    """
    state = WorkerState()
    reader = FrameReader()
    recv = sock.recv
    sendall = sock.sendall
    mark = MARKER.pack_into if marker is not None else None
    shared: Any = marker
    while True:
        data = recv(1 << 20)
        if not data:
            return
        for run in _runs(reader.feed(data)):
            if mark is not None:
                # Before anything of this run executes: a crash from here on is this
                # run's, and every later request is known not to have started.
                mark(shared, 0, max(request_id for request_id, _, _ in run))
            if len(run) > 1:
                outcomes = state.infer_batch(run[0][2][0], [payload for _, _, payload in run])
                sendall(
                    b"".join(
                        _reply(rid, out) for (rid, _, _), out in zip(run, outcomes, strict=True)
                    )
                )
                continue
            request_id, kind, payload = run[0]
            try:
                outcome = state.dispatch(kind, payload)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # report every failure; the process itself lives on
                outcome = exc
            sendall(_reply(request_id, outcome))


def run(sock: socket.socket, marker_fd: int, memory_limit: int) -> None:
    """Serve as a worker on ``sock`` until the HTTP process closes it."""
    # The parent decides when we stop (it closes our socket after its graceful shutdown):
    # ^C in a terminal, or a SIGTERM to the whole process group, must not kill workers
    # while they still have requests to answer. If the parent dies, recv sees EOF.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if memory_limit > 0:
        # Allocations past the limit fail with MemoryError instead of the kernel OOM killer.
        resource.setrlimit(resource.RLIMIT_DATA, (memory_limit, memory_limit))
    marker = mmap.mmap(marker_fd, MARKER.size)
    try:
        serve(sock, marker)
    finally:
        sock.close()
