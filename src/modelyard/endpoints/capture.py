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
samples, encodes one line (in C: orjson, base64) and buffers; a background task writes,
off the event loop, at least every ``flush_interval_s`` and at :meth:`CaptureWriter.stop`::

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
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import orjson

from modelyard.config import CaptureSettings
from modelyard.endpoints.capture_config import CaptureConfig, CaptureEncoding, CaptureMode
from modelyard.ids import uuid4_string
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


#: Records written together: destination key, endpoint, variant, hour (epoch // 3600).
_Group = tuple[str, str, str, int]


class _Encoded(NamedTuple):
    """One sampled invocation, encoded, waiting for the flusher."""

    group: _Group
    #: When the inference happened, epoch seconds.
    inference_time: float
    #: The JSON line.
    line: bytes


#: What writing one group of records came to: (endpoint, variant), written, dropped.
_Outcome = tuple[tuple[str, str], int, int]


class CaptureWriter:
    """Writes sampled invocations of endpoints as SageMaker capture files, off the request path.

    - :meth:`record` is called on the event loop's thread for every invocation of an
      endpoint whose config captures data. It samples, encodes the record's line and
      returns: no I/O, and it never raises. Encoding here rather than in the flusher's
      thread is deliberate: a Python thread encoding thousands of records competes with
      the event loop for the GIL and slows every request far more than the few
      microseconds each line costs on the loop.
    - A background task (started by :meth:`start`) takes the buffered records at least
      every ``flush_interval_s`` (sooner when the buffer is half full), and in a worker
      thread writes **one object per destination, endpoint, variant and hour per
      flush**. :meth:`stop` writes whatever is buffered before returning, so a
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
        self._buffer: list[_Encoded] = []
        # inferenceTime strings by epoch second: formatting a time costs more than the
        # rest of a small record, and a burst shares a few seconds.
        self._times: dict[int, str] = {}
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
        inference_time: datetime | float | None = None,
    ) -> None:
        """Capture one invocation of ``endpoint``'s ``variant``, if ``config`` samples it.

        Content types are the headers as sent and answered (``""`` when there was none:
        that is captured in base64). ``inference_id`` is the caller's ``InferenceId``;
        ``event_id`` defaults to a fresh UUID, ``inference_time`` (a datetime, naive
        meaning UTC, or epoch seconds) to now. Cheap and synchronous; never raises.
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
            moment = _epoch(inference_time, self._clock)
            line = self._line(
                config,
                request=request,
                request_content_type=request_content_type,
                response=response,
                response_content_type=response_content_type,
                metadata=self._metadata(event_id, inference_id, moment),
            )
            group = (config.destination_key, endpoint, variant, int(moment // 3600))
            self._buffer.append(_Encoded(group, moment, line))
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

    def _metadata(
        self, event_id: str | None, inference_id: str | None, moment: float
    ) -> dict[str, str]:
        metadata = {"eventId": event_id or uuid4_string()}
        if inference_id is not None:
            # Model Monitor's merge job matches ground truth on inferenceId when present.
            metadata["inferenceId"] = inference_id
        second = math.floor(moment)
        if (text := self._times.get(second)) is None:
            if len(self._times) >= 64:
                self._times.clear()
            text = self._times[second] = _iso8601(second)
        metadata["inferenceTime"] = text
        return metadata

    @staticmethod
    def _line(
        config: CaptureConfig,
        *,
        request: bytes | None,
        request_content_type: str,
        response: bytes | None,
        response_content_type: str,
        metadata: dict[str, str],
    ) -> bytes:
        """One capture record, as a JSON line (field order as SageMaker writes it)."""
        capture: dict[str, dict[str, str]] = {}
        if request is not None:
            capture["endpointInput"] = _capture_data(config, "INPUT", request, request_content_type)
        if response is not None:
            capture["endpointOutput"] = _capture_data(
                config, "OUTPUT", response, response_content_type
            )
        record = {"captureData": capture, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}
        return orjson.dumps(record) + b"\n"

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
            for encoded in batch:
                key = (encoded.group[1], encoded.group[2])
                lost[key] = lost.get(key, 0) + 1
            outcomes = [(key, 0, dropped) for key, dropped in lost.items()]
        for key, written, dropped in outcomes:
            self._tally(key, written=written, dropped=dropped)

    def _write(self, batch: Sequence[_Encoded]) -> list[_Outcome]:
        """Store ``batch``, one object per destination/endpoint/variant/hour.

        Runs in a worker thread; touches no state of the writer (the loop counts the
        outcomes it returns).
        """
        groups: dict[_Group, list[_Encoded]] = {}
        for encoded in batch:
            groups.setdefault(encoded.group, []).append(encoded)
        outcomes: list[_Outcome] = []
        for (destination, endpoint, variant, _), records in groups.items():
            try:
                first = min(encoded.inference_time for encoded in records)
                key = _object_key(destination, endpoint, variant, first)
                self._store.put(key, b"".join(encoded.line for encoded in records))
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


def _epoch(moment: datetime | float | None, clock: Callable[[], float]) -> float:
    if moment is None:
        return clock()
    if isinstance(moment, int | float):
        return moment
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()
