"""The model worker process: hosts loaded models and answers frames from the HTTP process.

Forked from the template process (:mod:`modelyard.serving.forkserver`), which calls
:func:`run` with the worker's end of a Unix socketpair and its *marker*: eight bytes of
memory shared with the HTTP process, where the worker writes the id of the last request
it started before starting it. Model code only ever runs here, so a model that crashes,
hangs or exhausts memory takes down this process alone; the HTTP process notices, reads
the marker to tell the requests that were running (they failed with the worker) from
those still queued (they never started, and are sent again elsewhere), and starts
another worker.

Frames are served one run at a time, in arrival order (see ``batching``): that order is
what makes eviction safe, as an ``Unload`` sent after a request for the same model is
processed after it. Each answer to a request carries the seconds its run took in the
model's code and codecs (SageMaker's ModelLatency).
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

from modelyard.errors import ModelNotResident, ModelTooLarge, ModelyardError
from modelyard.serving.batching import Run, gather, runs
from modelyard.serving.ipc import (
    Done,
    Failed,
    Frame,
    FrameReader,
    Infer,
    Invoke,
    Load,
    Metadata,
    Stats,
    Unload,
    encode_frame,
)
from modelyard.serving.memory import RSS_NOISE_BYTES, OwnRss, release_free_memory

__all__ = ["MARKER", "NO_ANSWER", "library_modules", "run"]

#: The marker's layout: id of the last request the worker started.
MARKER = struct.Struct("<Q")

#: Request id of a frame that wants no answer (request ids start at 1).
NO_ANSWER = 0

#: Longest an answer waits for the answers of the runs after it, to be sent with them.
FLUSH_S = 0.0005

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

    def answer(self, run: Run) -> list[Any]:
        """Answer a run (see ``batching``): one outcome, a value or an exception, per frame."""
        frame = run[0][1]
        if type(frame) is Invoke:
            return self._invoke([f for _, f in run])  # type: ignore[misc]
        if type(frame) is Infer:
            return self._infer([f for _, f in run])  # type: ignore[misc]
        try:
            return [self._dispatch(frame)]
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # report every failure; the process itself lives on
            return [exc]

    def batch_limits(self, model: str) -> tuple[int | None, float]:
        """``max_batch_size`` and ``max_wait_ms`` of a loaded model (defaults otherwise)."""
        handler = self.models.get(model)
        if handler is None:
            return None, 0.0
        settings = handler.settings
        return settings.max_batch_size, settings.max_wait_ms or 0.0

    def _dispatch(self, frame: Frame) -> Any:
        if type(frame) is Load:
            return self._load(frame.model, frame.model_dir)
        if type(frame) is Unload:
            handler = self.models.pop(frame.model, None)
            if handler is not None:
                handler.unload()
                del handler
                # Trimming the heap costs about a millisecond: worth it only when the
                # model held more than allocator noise (evictions of small models are hot).
                if self._rss_deltas.pop(frame.model, 0) >= RSS_NOISE_BYTES:
                    release_free_memory()
            return self._rss()
        if type(frame) is Metadata:
            return self._handler(frame.model).metadata()
        if type(frame) is Stats:
            return {"rss_bytes": self._rss(), "models": sorted(self.models)}
        raise ModelyardError(f"unexpected frame {type(frame).__name__}")

    def _invoke(self, requests: list[Invoke]) -> list[Any]:
        """Answers ``(body, content_type, custom_attributes, seconds)`` or errors."""
        try:
            handler = self._handler(requests[0].model)
        except ModelyardError as exc:
            return [exc] * len(requests)
        started = time.perf_counter()
        try:
            replies = handler.invoke_batch(requests)
        except Exception as exc:  # a handler's bug: every request of the run fails with it
            return [exc] * len(requests)
        seconds = time.perf_counter() - started
        return [
            reply if isinstance(reply, BaseException) else (*reply, seconds) for reply in replies
        ]

    def _infer(self, frames: list[Infer]) -> list[Any]:
        """Answers ``(body, headers, seconds)`` or errors."""
        outcomes: list[Any] = [None] * len(frames)
        try:
            handler = self._handler(frames[0].model)
        except ModelyardError as exc:
            return [exc] * len(frames)
        started = time.perf_counter()
        requests = []
        positions = []
        for position, frame in enumerate(frames):
            try:
                requests.append(self._v2.decode_request(frame.body, frame.header_length))
                positions.append(position)
            except Exception as exc:
                outcomes[position] = exc
        try:
            answers = handler.infer_batch(requests) if requests else []
        except Exception as exc:
            answers = [exc] * len(requests)
        encoded = []
        for position, request, answer in zip(positions, requests, answers, strict=True):
            if isinstance(answer, BaseException):
                outcomes[position] = answer
                continue
            try:
                encoded.append((position, self._v2.encode_response(answer, request)))
            except Exception as exc:
                outcomes[position] = exc
        seconds = time.perf_counter() - started
        for position, (body, headers) in encoded:
            outcomes[position] = (body, headers, seconds)
        return outcomes

    def _handler(self, name: str) -> Any:
        try:
            return self.models[name]
        except KeyError:
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
        return encode_frame(request_id, Failed(*_error_payload(outcome)))
    return encode_frame(request_id, Done(outcome))


def serve(sock: socket.socket, marker: mmap.mmap | None = None) -> None:
    """Answer frames until the HTTP process closes the socket."""
    state = WorkerState()
    reader = FrameReader()
    recv = sock.recv
    sendall = sock.sendall
    limits = state.batch_limits
    perf_counter = time.perf_counter
    mark = MARKER.pack_into if marker is not None else None
    shared: Any = marker
    open_ = True
    while open_:
        data = recv(1 << 20)
        if not data:
            return
        frames = reader.feed(data)
        open_ = gather(sock, reader, frames, limits)
        # Answers go out when the frames that came together are answered, or every
        # FLUSH_S on the way: one send (and one wake-up of the HTTP process) for many
        # small runs, instead of one each, at a bounded cost in latency.
        answers: list[bytes] = []
        flushed = perf_counter()
        for run in runs(frames, limits):
            if mark is not None:
                # Before anything of this run executes: a crash from here on is this
                # run's, and every later request is known not to have started.
                mark(shared, 0, max(request_id for request_id, _ in run))
            outcomes = state.answer(run)
            answers += [
                _reply(rid, outcome)
                for (rid, _), outcome in zip(run, outcomes, strict=True)
                if rid != NO_ANSWER
            ]
            if answers and perf_counter() - flushed >= FLUSH_S:
                sendall(b"".join(answers))
                answers = []
                flushed = perf_counter()
        if answers:
            sendall(b"".join(answers))


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
