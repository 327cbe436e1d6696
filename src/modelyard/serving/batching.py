"""Adaptive batching in the worker: which queued requests a handler answers together.

Whatever frames arrived together are answered together: the :class:`Invoke` and
:class:`Infer` requests for one model among them form a *run*, which its handler answers
with one ``invoke_batch``/``infer_batch`` call (the scikit-learn runtime stacks their rows
into one estimator call). Under no load runs are single requests and nothing waits;
under load they grow with the queue. A model may cap its runs (``max_batch_size`` in
model-settings.json) and wait a little for more requests (``max_wait_ms``), trading a
bounded latency for bigger batches.

Only requests are regrouped, and never across another kind of frame: a ``Load`` or
``Unload`` stays a barrier, so every request is answered by the model state it was sent
against. Independent requests may be answered in a different order; answers carry their
request's id.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable

from modelyard.serving.ipc import Frame, FrameReader, Infer, Invoke

__all__ = ["BatchLimits", "Run", "gather", "runs"]

#: Frames to answer together: ``(request_id, frame)``, all requests for one model, or
#: one frame of another kind.
Run = list[tuple[int, Frame]]

#: ``max_batch_size`` and ``max_wait_ms`` of a model, by its key: (None, 0.0) by default.
BatchLimits = Callable[[str], tuple[int | None, float]]


def runs(frames: list[tuple[int, Frame]], limits: BatchLimits) -> list[Run]:
    """Group ``frames`` into runs, in the order their first frame arrived."""
    grouped: list[Run] = []
    open_runs: dict[tuple[type, str], Run] = {}
    for item in frames:
        frame = item[1]
        if type(frame) is Infer or type(frame) is Invoke:
            key = (type(frame), frame.model)
            run = open_runs.get(key)
            if run is not None:
                cap = limits(frame.model)[0]
                if cap is not None and len(run) >= cap:
                    run = None
            if run is None:
                run = open_runs[key] = []
                grouped.append(run)
            run.append(item)
        else:
            open_runs = {}  # a barrier: later requests start new runs
            grouped.append([item])
    return grouped


def gather(
    sock: socket.socket,
    reader: FrameReader,
    frames: list[tuple[int, Frame]],
    limits: BatchLimits,
) -> bool:
    """Wait for more frames when a model of ``frames`` asks to (``max_wait_ms``).

    Waits until the longest wait asked for among the models with requests here has
    passed, or every such model's batch is full, reading whatever arrives into
    ``frames``. Returns False when the HTTP process closed the socket meanwhile.
    """
    wait_ms = 0.0
    for _, frame in frames:
        if type(frame) is Infer or type(frame) is Invoke:
            wait_ms = max(wait_ms, limits(frame.model)[1])
    if wait_ms <= 0:
        return True
    deadline = time.monotonic() + wait_ms / 1000
    while not _full(frames, limits):
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        readable, _, _ = select.select([sock], [], [], left)
        if not readable:
            return True
        data = sock.recv(1 << 20)
        if not data:
            return False
        frames += reader.feed(data)
    return True


def _full(frames: list[tuple[int, Frame]], limits: BatchLimits) -> bool:
    counts: dict[str, int] = {}
    for _, frame in frames:
        if type(frame) is Infer or type(frame) is Invoke:
            counts[frame.model] = counts.get(frame.model, 0) + 1
    for model, count in counts.items():
        cap, wait = limits(model)
        if wait > 0 and (cap is None or count < cap):
            return False
    return True
