"""Data capture: SageMaker's ``DataCaptureConfig`` and the writer of its JSON Lines records.

An endpoint config may capture what its endpoints receive and answer, in the format
SageMaker Model Monitor reads. Each invocation sampled is one JSON line::

    {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                       "data": "1,2,3\\n", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv; charset=utf-8",
                                        "mode": "OUTPUT", "data": "0.25", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "<uuid4>", "inferenceId": "<the caller's, if it sent one>",
                       "inferenceTime": "2024-03-05T07:08:09Z"},
     "eventVersion": "0"}

written under ``{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/`` (UTC, the hour of
the record's ``inferenceTime``), which is where Model Monitor looks for an analysis
window's data. modelyard's object store stands in for S3: ``s3://BUCKET/PREFIX`` names the
store key ``BUCKET/PREFIX``.

What readers rely on: Model Monitor picks the hour folders of its window and then filters
records by ``inferenceTime``; its built-in analyzer reads ``CSV`` and (flat) ``JSON`` data,
and ``BASE64`` only through a record preprocessor script; its merge job joins ground truth
on ``inferenceId`` when present, else on ``eventId``.

The writer is an *area*: :meth:`CaptureWriter.record` runs on the request path and only
samples and buffers; a background task encodes and writes, off the event loop, at least
every ``flush_interval_s`` and at :meth:`CaptureWriter.stop`::

    writer = CaptureWriter(store, settings.capture)
    await writer.start()
    config = CaptureConfig.from_api(endpoint_config["DataCaptureConfig"])
    writer.record(config, endpoint="churn", variant="AllTraffic", request_body=body,
                  request_content_type="text/csv", response_body=answer,
                  response_content_type="text/csv", inference_id=None)
    await writer.stop()          # writes what is buffered
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import orjson

from modelyard.config import CaptureSettings
from modelyard.endpoints.capture_config import CaptureConfig, CaptureEncoding, CaptureMode
from modelyard.ids import uuid4_strings
from modelyard.storage.objectstore import ObjectStore

__all__ = [
    "CaptureConfig",
    "CaptureCounts",
    "CaptureEncoding",
    "CaptureMetrics",
    "CaptureMode",
    "CaptureWriter",
]
# CaptureConfig, CaptureMode and CaptureEncoding live in capture_config.py; they are
# named here too, as what a caller of the writer needs comes from one module.

logger = logging.getLogger(__name__)

#: ``eventVersion`` of every record SageMaker writes today.
EVENT_VERSION = "0"


class CaptureCounts(NamedTuple):
    """Records of one endpoint variant written to the store and dropped, since start-up."""

    #: Records written to the store.
    written: int
    #: Records lost: the buffer was full, the store failed, or the writer was stopped.
    dropped: int


class CaptureMetrics(Protocol):
    """Where the writer reports its counts as they move (``modelyard.metrics.Metrics``).

    Called on the event loop's thread: after each flush with what it wrote and dropped per
    variant, and for each record dropped because the buffer was full or the writer
    stopped. What it raises is logged, never passed on.
    """

    def captured(self, endpoint: str, variant: str, written: int, dropped: int) -> None:
        """Records of ``endpoint``'s ``variant`` just written and dropped."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class _Pending:
    """One sampled invocation waiting for the flusher: raw pieces, nothing encoded yet."""

    #: The capture config it was sampled under.
    config: CaptureConfig
    #: Endpoint name.
    endpoint: str
    #: Variant name.
    variant: str
    #: Request body, ``None`` when input is not captured.
    request_body: bytes | None
    #: Request content type, as received.
    request_content_type: str
    #: Response body, ``None`` when output is not captured.
    response_body: bytes | None
    #: Response content type, as answered.
    response_content_type: str
    #: The caller's ``InferenceId``, if any.
    inference_id: str | None
    #: The event id, ``None`` for one generated when written.
    event_id: str | None
    #: When the inference happened, epoch seconds.
    inference_time: float


#: What writing one group of records came to: (endpoint, variant), written, dropped.
_Outcome = tuple[tuple[str, str], int, int]


class CaptureWriter:
    """Writes sampled invocations of endpoints as SageMaker capture files, off the request path.

    - :meth:`record` is called on the event loop's thread for every invocation of an
      endpoint whose config captures data. It samples, keeps the raw bodies and returns:
      no encoding, no serialisation, no I/O, and it never raises.
    - A background task (started by :meth:`start`) takes the buffered records at least
      every ``flush_interval_s`` (sooner when the buffer is half full), and in a worker
      thread encodes them and writes **one object per destination, endpoint, variant and
      hour per flush**. :meth:`stop` writes whatever is buffered before returning, so a
      graceful stop loses no record accepted before it.
    - The buffer holds at most ``max_buffered_records`` records and
      ``max_buffered_bytes`` bytes of bodies (plus one batch being written); records that
      do not fit are dropped, as are records whose object the store failed to write, and
      records offered once :meth:`stop` has begun. Every loss is counted: :meth:`counts`
      has the totals by ``(endpoint, variant)``, and the ``metrics`` given hear of each
      change (:class:`CaptureMetrics`).

    Objects are named ``{mm}-{ss}-{fff}-{uuid4}.jsonl`` inside the hour folder, from the
    earliest record they hold (``32-18-648-cee08c3a-….jsonl``). SageMaker's documentation
    only says ``filename.jsonl``; that shape is what real capture keys show (one is quoted
    in public test fixtures), so this is the observed naming, not a documented one.
    """

    def __init__(
        self,
        store: ObjectStore,
        settings: CaptureSettings | None = None,
        *,
        metrics: CaptureMetrics | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``metrics`` hears of every count as it moves (:meth:`counts` has them too);
        ``rng`` decides sampling (seed one for tests); ``clock`` gives epoch seconds."""
        self._store = store
        self._metrics = metrics
        self._settings = settings or CaptureSettings()
        self._rng = rng or random.Random()
        self._clock = clock
        self._buffer: list[_Pending] = []
        self._buffered_bytes = 0
        # The flusher is woken early at half the limits, so that a burst is written
        # before it overflows rather than after.
        self._early_records = max(1, self._settings.max_buffered_records // 2)
        self._early_bytes = max(1, self._settings.max_buffered_bytes // 2)
        self._written: dict[tuple[str, str], int] = {}
        self._dropped: dict[tuple[str, str], int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._closed = False

    # -- request path --------------------------------------------------------------------

    def record(
        self,
        config: CaptureConfig,
        *,
        endpoint: str,
        variant: str,
        request_body: bytes,
        request_content_type: str,
        response_body: bytes,
        response_content_type: str,
        inference_id: str | None,
        event_id: str | None = None,
        inference_time: datetime | None = None,
    ) -> None:
        """Capture one invocation of ``endpoint``'s ``variant``, if ``config`` samples it.

        Content types are the headers as sent and answered (``""`` when there was none:
        that is captured in base64). ``inference_id`` is the caller's ``InferenceId``;
        ``event_id`` defaults to a fresh UUID, ``inference_time`` (naive means UTC) to
        now. Cheap and synchronous; never raises.
        """
        try:
            if not config.enabled or not self._sampled(config.sampling_percentage):
                return
            request = request_body if config.captures_input else None
            response = response_body if config.captures_output else None
            size = (0 if request is None else len(request)) + (
                0 if response is None else len(response)
            )
            if (
                self._closed
                or len(self._buffer) >= self._settings.max_buffered_records
                or self._buffered_bytes + size > self._settings.max_buffered_bytes
            ):
                self._tally((endpoint, variant), written=0, dropped=1)
                return
            self._buffer.append(
                _Pending(
                    config=config,
                    endpoint=endpoint,
                    variant=variant,
                    request_body=request,
                    request_content_type=request_content_type,
                    response_body=response,
                    response_content_type=response_content_type,
                    inference_id=inference_id,
                    event_id=event_id,
                    inference_time=self._clock()
                    if inference_time is None
                    else _epoch(inference_time),
                )
            )
            self._buffered_bytes += size
            if (
                len(self._buffer) >= self._early_records
                or self._buffered_bytes >= self._early_bytes
            ):
                self._wake.set()
        except Exception:
            # Capture must never fail an invocation: a fault here costs the record only.
            logger.exception("data capture could not buffer a record of %r/%r", endpoint, variant)
            with contextlib.suppress(Exception):
                self._tally((endpoint, variant), written=0, dropped=1)

    def _sampled(self, percentage: int) -> bool:
        # 0 and 100 are decided without the generator, so they are exact by construction.
        if percentage >= 100:
            return True
        if percentage <= 0:
            return False
        return self._rng.random() * 100.0 < percentage

    # -- metrics -------------------------------------------------------------------------

    def counts(self) -> dict[tuple[str, str], CaptureCounts]:
        """Records written and dropped so far, by ``(endpoint, variant)``.

        Safe to call from any thread (a metrics collector may run in a thread pool): the
        counters are copied first, and ``dict.copy`` is atomic under the GIL.
        """
        written, dropped = self._written.copy(), self._dropped.copy()
        return {
            key: CaptureCounts(written=written.get(key, 0), dropped=dropped.get(key, 0))
            for key in written.keys() | dropped.keys()
        }

    @property
    def buffered(self) -> int:
        """Records waiting for the next flush."""
        return len(self._buffer)

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background flusher (records offered before are kept and written)."""
        if self._task is not None:
            return
        self._stopping = False
        self._closed = False
        # A fresh event, bound to the loop that runs the flusher.
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="data-capture-flusher")

    async def stop(self) -> None:
        """Write every buffered record, then stop; records offered from now on are dropped."""
        # Closed first: the buffer can then only shrink, so the drain below ends.
        self._closed = True
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                # It finishes the flush under way (never cut in the middle of a write).
                await task
            except Exception:
                logger.exception("the data capture flusher failed")
        while self._buffer:
            await self._flush()

    async def _run(self) -> None:
        interval = self._settings.flush_interval_s
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        """Write what is buffered now, in a worker thread; never raises."""
        if not self._buffer:
            return
        # Swapped on the loop's thread, where record() appends: no lock is needed.
        batch, self._buffer = self._buffer, []
        self._buffered_bytes = 0
        try:
            outcomes = await asyncio.to_thread(self._write, batch)
        except Exception:
            # E.g. the default executor is shut down: the batch is lost, and counted.
            logger.exception("data capture could not write %d records", len(batch))
            lost: dict[tuple[str, str], int] = {}
            for pending in batch:
                key = (pending.endpoint, pending.variant)
                lost[key] = lost.get(key, 0) + 1
            outcomes = [(key, 0, dropped) for key, dropped in lost.items()]
        for key, written, dropped in outcomes:
            self._tally(key, written=written, dropped=dropped)

    def _write(self, batch: Sequence[_Pending]) -> list[_Outcome]:
        """Encode and store ``batch``, one object per destination/endpoint/variant/hour.

        Runs in a worker thread; touches no state of the writer (the loop counts the
        outcomes it returns).
        """
        groups: dict[tuple[str, str, str, int], list[_Pending]] = {}
        for pending in batch:
            hour = int(pending.inference_time // 3600)
            group = (pending.config.destination_key, pending.endpoint, pending.variant, hour)
            groups.setdefault(group, []).append(pending)
        outcomes: list[_Outcome] = []
        # inferenceTime strings by whole second: formatting a time costs more than the
        # rest of a record, and a burst shares a few seconds.
        times: dict[int, str] = {}
        for (destination, endpoint, variant, _), records in groups.items():
            try:
                ids = uuid4_strings(len(records))
                data = b"".join(
                    _line(pending, times, event_id)
                    for pending, event_id in zip(records, ids, strict=True)
                )
                first = min(pending.inference_time for pending in records)
                key = _object_key(destination, endpoint, variant, first)
                self._store.put(key, data)
            except Exception as exc:
                # A failing store costs these records, never an invocation; the next
                # flush tries again with its own records.
                logger.warning(
                    "data capture dropped %d records of %r/%r: %s",
                    len(records),
                    endpoint,
                    variant,
                    exc,
                )
                outcomes.append(((endpoint, variant), 0, len(records)))
            else:
                outcomes.append(((endpoint, variant), len(records), 0))
        return outcomes

    def _tally(self, key: tuple[str, str], *, written: int, dropped: int) -> None:
        """Count records written and dropped (on the loop's thread), and report them."""
        if written:
            self._written[key] = self._written.get(key, 0) + written
        if dropped:
            self._dropped[key] = self._dropped.get(key, 0) + dropped
        if self._metrics is not None:
            try:
                self._metrics.captured(key[0], key[1], written=written, dropped=dropped)
            except Exception:
                logger.exception("data capture could not report its counts")


# -- the record format -------------------------------------------------------------------


def _line(pending: _Pending, times: dict[int, str], fresh_id: str) -> bytes:
    """One capture record, as a JSON line (field order as SageMaker writes it).

    ``times`` memoises ``inferenceTime`` strings by epoch second; ``fresh_id`` is the
    ``eventId`` when the caller gave none.
    """
    capture: dict[str, dict[str, str]] = {}
    if pending.request_body is not None:
        capture["endpointInput"] = _capture_data(
            pending.config, "INPUT", pending.request_body, pending.request_content_type
        )
    if pending.response_body is not None:
        capture["endpointOutput"] = _capture_data(
            pending.config, "OUTPUT", pending.response_body, pending.response_content_type
        )
    metadata = {"eventId": pending.event_id or fresh_id}
    if pending.inference_id is not None:
        # Model Monitor's merge job matches ground truth on inferenceId when present.
        metadata["inferenceId"] = pending.inference_id
    second = math.floor(pending.inference_time)
    if (moment := times.get(second)) is None:
        moment = times[second] = _iso8601(second)
    metadata["inferenceTime"] = moment
    record = {"captureData": capture, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}
    return orjson.dumps(record) + b"\n"


def _capture_data(
    config: CaptureConfig, mode: str, body: bytes, content_type: str
) -> dict[str, str]:
    encoding = config.encoding_for(content_type)
    data: str | None = None
    if encoding is not CaptureEncoding.BASE64:
        try:
            data = body.decode("utf-8")
        except UnicodeDecodeError:
            # A body that is not text whatever its header says could not be written as
            # text without losing bytes: base64 keeps it whole, and says so.
            encoding = CaptureEncoding.BASE64
    if data is None:
        data = base64.b64encode(body).decode("ascii")
    return {
        "observedContentType": content_type,
        "mode": mode,
        "data": data,
        "encoding": str(encoding),
    }


def _iso8601(epoch: float) -> str:
    # Whole seconds and "Z", as in every record of SageMaker's documentation.
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _object_key(destination: str, endpoint: str, variant: str, epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    name = f"{moment:%M-%S}-{moment.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
    return f"{destination}/{endpoint}/{variant}/{moment:%Y/%m/%d/%H}/{name}"


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()
