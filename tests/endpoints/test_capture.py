"""Data capture: SageMaker's DataCaptureConfig, and capture files as Model Monitor reads them.

Run against a local-folder store and the in-memory one; a store whose writes fail or hang
is a small fake of the ObjectStore seam, wrapping a real in-memory store.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.config import CaptureSettings, Settings
from modelyard.endpoints.capture import (
    CaptureConfig,
    CaptureCounts,
    CaptureEncoding,
    CaptureMode,
    CaptureWriter,
)
from modelyard.errors import InvalidRequest, ObjectStoreError
from modelyard.storage.objectstore import ObjectStore, open_store

#: 2024-03-05T07:08:09.123Z
MOMENT = datetime(2024, 3, 5, 7, 8, 9, 123_000, tzinfo=UTC)
DESTINATION = "s3://capture-bucket/some/prefix"
FAST = CaptureSettings(flush_interval_s=0.02)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def capture_config(**overrides: Any) -> CaptureConfig:
    """A config capturing everything, CSV and JSON listed as the SageMaker SDK lists them."""
    data: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": DESTINATION,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }
    data.update(overrides)
    return CaptureConfig.from_api(data)


def record(writer: CaptureWriter, config: CaptureConfig, **overrides: Any) -> None:
    arguments: dict[str, Any] = {
        "endpoint": "churn",
        "variant": "AllTraffic",
        "request_body": b"1,2,3\n",
        "request_content_type": "text/csv",
        "response_body": b'{"score": 0.25}',
        "response_content_type": "application/json",
        "inference_id": None,
    }
    arguments.update(overrides)
    writer.record(config, **arguments)


def object_keys(store: ObjectStore, prefix: str = "") -> list[str]:
    """Every object key under ``prefix``, sorted."""
    keys: list[str] = []
    for name in store.list(prefix):
        key = f"{prefix}/{name}" if prefix else name
        if store.is_dir(key):
            keys.extend(object_keys(store, key))
        else:
            keys.append(key)
    return sorted(keys)


def lines_of(store: ObjectStore, key: str) -> list[dict[str, Any]]:
    data = store.get(key)
    assert data.endswith(b"\n"), "JSON Lines: every record ends with a newline"
    return [orjson.loads(line) for line in data.splitlines()]


def all_records(store: ObjectStore) -> list[dict[str, Any]]:
    return [line for key in object_keys(store) for line in lines_of(store, key)]


def decoded(capture_data: dict[str, str]) -> bytes:
    """A captured body's bytes, decoded as its ``encoding`` says."""
    if capture_data["encoding"] == "BASE64":
        return base64.b64decode(capture_data["data"], validate=True)
    assert capture_data["encoding"] in ("CSV", "JSON")
    return capture_data["data"].encode("utf-8")


def run(
    store: ObjectStore,
    body: Callable[[CaptureWriter], Awaitable[None] | None],
    capture: CaptureSettings = FAST,
    **options: Any,
) -> CaptureWriter:
    """Start a writer, run ``body`` with it, stop it; return it for its counts."""

    async def main() -> CaptureWriter:
        writer = CaptureWriter(store, capture, **options)
        await writer.start()
        try:
            result = body(writer)
            if result is not None:
                await result
        finally:
            await writer.stop()
        return writer

    return asyncio.run(main())


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield open_store(str(tmp_path / "store"))
        return
    memory = open_store(f"memory://capture-{uuid.uuid4().hex}")
    yield memory
    if memory.exists(""):
        for name in memory.list(""):
            memory.delete(name, recursive=True)


# -- the record format -------------------------------------------------------------------


def test_a_record_is_one_json_line_in_sagemakers_format(store: ObjectStore) -> None:
    config = capture_config()
    run(
        store,
        lambda writer: record(
            writer,
            config,
            inference_id="order-42",
            event_id="8f45e35c-fa44-40d2-8ed3-1bcab3a596f3",
            inference_time=MOMENT,
        ),
    )

    [key] = object_keys(store)
    assert lines_of(store, key) == [
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": "1,2,3\n",
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": '{"score": 0.25}',
                    "encoding": "JSON",
                },
            },
            "eventMetadata": {
                "eventId": "8f45e35c-fa44-40d2-8ed3-1bcab3a596f3",
                "inferenceId": "order-42",
                "inferenceTime": "2024-03-05T07:08:09Z",
            },
            "eventVersion": "0",
        }
    ]


def test_event_id_and_inference_time_default_to_a_uuid_and_now(store: ObjectStore) -> None:
    config = capture_config()
    run(store, lambda writer: record(writer, config), clock=lambda: MOMENT.timestamp())

    [line] = all_records(store)
    metadata = line["eventMetadata"]
    assert set(metadata) == {"eventId", "inferenceTime"}, "no inferenceId when none was sent"
    assert re.fullmatch(UUID, metadata["eventId"])
    assert metadata["inferenceTime"] == "2024-03-05T07:08:09Z"
    assert datetime.fromisoformat(metadata["inferenceTime"]) == MOMENT.replace(microsecond=0)


def test_a_naive_inference_time_is_utc(store: ObjectStore) -> None:
    config = capture_config()
    naive = MOMENT.replace(tzinfo=None)
    run(store, lambda writer: record(writer, config, inference_time=naive))

    [line] = all_records(store)
    assert line["eventMetadata"]["inferenceTime"] == "2024-03-05T07:08:09Z"


@pytest.mark.parametrize(
    ("header", "content_type", "body", "encoding"),
    [
        ({"CsvContentTypes": ["text/csv"]}, "text/csv", b"1,2\n", "CSV"),
        # SageMaker's documented records: text/csv listed, the answer's charset ignored.
        ({"CsvContentTypes": ["text/csv"]}, "text/csv; charset=utf-8", b"0.5", "CSV"),
        ({"CsvContentTypes": ["text/csv"]}, "Text/CSV", b"0.5", "CSV"),
        ({"JsonContentTypes": ["application/json"]}, "application/json", b"[1]", "JSON"),
        ({"JsonContentTypes": ["application/jsonlines"]}, "application/jsonlines", b"{}", "JSON"),
        # Not listed: base64, SageMaker's default.
        ({"JsonContentTypes": ["application/json"]}, "text/csv", b"1,2", "BASE64"),
        (None, "text/csv", b"1,2", "BASE64"),
        (None, "application/json", b"[1]", "BASE64"),
        ({"CsvContentTypes": ["text/csv"]}, "application/x-npy", b"\x93NUMPY", "BASE64"),
        ({"CsvContentTypes": ["text/csv"]}, "", b"1,2", "BASE64"),
        # Listed as text but not UTF-8: base64 keeps the bytes.
        ({"CsvContentTypes": ["text/csv"]}, "text/csv", b"\xff\xfe1,2", "BASE64"),
    ],
)
def test_the_content_type_lists_decide_the_encoding(
    store: ObjectStore,
    header: dict[str, list[str]] | None,
    content_type: str,
    body: bytes,
    encoding: str,
) -> None:
    data: dict[str, Any] = {
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": DESTINATION,
        "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
    }
    if header is not None:
        data["CaptureContentTypeHeader"] = header
    config = CaptureConfig.from_api(data)
    assert config.encoding_for(content_type) is CaptureEncoding(encoding) or body == b"\xff\xfe1,2"

    run(
        store,
        lambda writer: record(
            writer,
            config,
            request_body=body,
            request_content_type=content_type,
            response_body=body,
            response_content_type=content_type,
        ),
    )

    [line] = all_records(store)
    for side in ("endpointInput", "endpointOutput"):
        captured = line["captureData"][side]
        assert captured["encoding"] == encoding
        assert captured["observedContentType"] == content_type
        assert decoded(captured) == body
        if encoding == "BASE64":
            assert captured["data"] == base64.b64encode(body).decode("ascii")
        else:
            assert captured["data"] == body.decode("utf-8")


@pytest.mark.parametrize(
    ("modes", "sides"),
    [
        (["Input"], {"endpointInput"}),
        (["Output"], {"endpointOutput"}),
        (["Input", "Output"], {"endpointInput", "endpointOutput"}),
        (["InputAndOutput"], {"endpointInput", "endpointOutput"}),
    ],
)
def test_capture_options_choose_the_sides_captured(
    store: ObjectStore, modes: list[str], sides: set[str]
) -> None:
    config = capture_config(CaptureOptions=[{"CaptureMode": mode} for mode in modes])
    run(store, lambda writer: record(writer, config))

    [line] = all_records(store)
    assert set(line["captureData"]) == sides
    if "endpointInput" in sides:
        assert line["captureData"]["endpointInput"]["mode"] == "INPUT"
    if "endpointOutput" in sides:
        assert line["captureData"]["endpointOutput"]["mode"] == "OUTPUT"


# -- where the objects go ----------------------------------------------------------------


def test_objects_follow_sagemakers_layout(store: ObjectStore) -> None:
    config = capture_config()
    run(store, lambda writer: record(writer, config, inference_time=MOMENT))

    [key] = object_keys(store)
    folder = "capture-bucket/some/prefix/churn/AllTraffic/2024/03/05/07"
    assert re.fullmatch(rf"{re.escape(folder)}/08-09-123-{UUID}\.jsonl", key), key
    assert config.hour_prefix("churn", "AllTraffic", MOMENT) == folder


def test_one_object_per_endpoint_variant_and_hour_per_flush(store: ObjectStore) -> None:
    config = capture_config()
    next_hour = MOMENT + timedelta(minutes=55)  # 08:03:09 the same day

    def burst(writer: CaptureWriter) -> None:
        for second in range(10):
            record(writer, config, inference_time=MOMENT + timedelta(seconds=second))
        for second in range(3):
            record(writer, config, inference_time=next_hour + timedelta(seconds=second))
        for _ in range(4):
            record(writer, config, variant="Canary", inference_time=MOMENT)
        record(writer, config, endpoint="fraud", inference_time=MOMENT)

    # One flush: nothing is written before stop().
    writer = run(store, burst, CaptureSettings(flush_interval_s=60))

    keys = object_keys(store)
    base = "capture-bucket/some/prefix"
    folders = {key.rsplit("/", 1)[0]: len(lines_of(store, key)) for key in keys}
    assert len(keys) == len(folders) == 4
    assert folders == {
        f"{base}/churn/AllTraffic/2024/03/05/07": 10,
        f"{base}/churn/AllTraffic/2024/03/05/08": 3,
        f"{base}/churn/Canary/2024/03/05/07": 4,
        f"{base}/fraud/AllTraffic/2024/03/05/07": 1,
    }
    # Each object is named for its earliest record.
    assert any(re.search(rf"/08/03-09-123-{UUID}\.jsonl$", key) for key in keys)
    assert writer.counts() == {
        ("churn", "AllTraffic"): CaptureCounts(written=13, dropped=0),
        ("churn", "Canary"): (4, 0),
        ("fraud", "AllTraffic"): (1, 0),
    }


def test_a_bucket_without_prefix_and_https_uris(store: ObjectStore) -> None:
    bare = capture_config(DestinationS3Uri="s3://bare-bucket")
    hosted = capture_config(DestinationS3Uri="https://my.bucket.s3.eu-west-1.amazonaws.com/a/b/")

    def both(writer: CaptureWriter) -> None:
        record(writer, bare, inference_time=MOMENT)
        record(writer, hosted, inference_time=MOMENT)

    run(store, both)

    folders = [key.rsplit("/", 1)[0] for key in object_keys(store)]
    assert folders == [
        "bare-bucket/churn/AllTraffic/2024/03/05/07",
        "my.bucket/a/b/churn/AllTraffic/2024/03/05/07",
    ]


# -- sampling ----------------------------------------------------------------------------


@pytest.mark.parametrize("percentage", [0, 100])
def test_sampling_at_0_and_100_percent_is_exact(store: ObjectStore, percentage: int) -> None:
    config = capture_config(InitialSamplingPercentage=percentage)

    def many(writer: CaptureWriter) -> None:
        for _ in range(500):
            record(writer, config)

    writer = run(store, many, rng=random.Random(7))

    assert len(all_records(store)) == 5 * percentage
    expected = {} if percentage == 0 else {("churn", "AllTraffic"): (500, 0)}
    assert writer.counts() == expected


def test_sampling_at_30_percent_is_binomial(store: ObjectStore) -> None:
    config = capture_config(InitialSamplingPercentage=30)
    n, p = 2000, 0.3

    def many(writer: CaptureWriter) -> None:
        for _ in range(n):
            record(writer, config)

    run(store, many, CaptureSettings(flush_interval_s=60), rng=random.Random(20240305))

    captured = len(all_records(store))
    sd = math.sqrt(n * p * (1 - p))
    assert abs(captured - n * p) <= 5 * sd, captured


def test_disabled_capture_writes_nothing(store: ObjectStore) -> None:
    config = capture_config(EnableCapture=False)
    writer = run(store, lambda writer: record(writer, config))
    assert object_keys(store) == []
    assert writer.counts() == {}


# -- flushing and stopping ---------------------------------------------------------------


def test_records_are_flushed_in_the_background(store: ObjectStore) -> None:
    config = capture_config()

    async def wait_for_flush(writer: CaptureWriter) -> None:
        record(writer, config)
        deadline = time.monotonic() + 5
        # The count moves once the write has returned, so the object is there by then.
        while not writer.counts():
            assert time.monotonic() < deadline, "nothing flushed within 5 s"
            await asyncio.sleep(0.01)
        assert writer.counts() == {("churn", "AllTraffic"): (1, 0)}
        assert len(await asyncio.to_thread(all_records, store)) == 1

    run(store, wait_for_flush)


def test_a_graceful_stop_loses_no_record(store: ObjectStore) -> None:
    config = capture_config()
    seen_before_stop: list[str] = []

    async def many(writer: CaptureWriter) -> None:
        for index in range(300):
            record(writer, config, inference_id=str(index))
        seen_before_stop.extend(await asyncio.to_thread(object_keys, store))

    writer = run(store, many, CaptureSettings(flush_interval_s=60))

    assert seen_before_stop == [], "the interval had not passed: stop() wrote them"
    ids = sorted(int(line["eventMetadata"]["inferenceId"]) for line in all_records(store))
    assert ids == list(range(300))
    assert writer.counts() == {("churn", "AllTraffic"): (300, 0)}
    assert writer.buffered == 0


def test_records_offered_after_stop_are_dropped_and_counted(store: ObjectStore) -> None:
    config = capture_config()
    writer = run(store, lambda writer: record(writer, config))
    record(writer, config)
    assert writer.counts() == {("churn", "AllTraffic"): (1, 1)}


def test_a_writer_never_started_still_writes_at_stop(store: ObjectStore) -> None:
    config = capture_config()

    async def main() -> CaptureWriter:
        writer = CaptureWriter(store, FAST)
        record(writer, config)
        await writer.stop()
        return writer

    writer = asyncio.run(main())
    assert len(all_records(store)) == 1
    assert writer.counts() == {("churn", "AllTraffic"): (1, 0)}


# -- a failing, slow or full store -------------------------------------------------------


class FailingStore:
    """An object store whose writes fail; everything else is a real in-memory store."""

    def __init__(self) -> None:
        self.inner = open_store(f"memory://failing-{uuid.uuid4().hex}")
        self.attempts = 0

    def put(self, key: str, data: bytes) -> None:
        self.attempts += 1
        raise ObjectStoreError(f"cannot write {key!r}: the disk is full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class BlockingStore:
    """An object store whose writes hang until released, then succeed."""

    def __init__(self) -> None:
        self.inner = open_store(f"memory://blocking-{uuid.uuid4().hex}")
        self.entered = threading.Event()
        self.release = threading.Event()

    def put(self, key: str, data: bytes) -> None:
        self.entered.set()
        assert self.release.wait(timeout=30), "the test never released the store"
        self.inner.put(key, data)

    def list(self, prefix: str = "") -> builtins.list[str]:
        return self.inner.list(prefix)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_failing_store_drops_and_counts_records() -> None:
    failing = FailingStore()
    config = capture_config()

    async def many(writer: CaptureWriter) -> None:
        for _ in range(5):
            record(writer, config)  # never raises
        record(writer, config, variant="Canary")
        await asyncio.sleep(0.1)  # several flush intervals

    writer = run(failing, many)  # type: ignore[arg-type]  # a fake of the ObjectStore seam

    assert failing.attempts == 2, "one object per variant, tried once"
    assert writer.counts() == {
        ("churn", "AllTraffic"): CaptureCounts(written=0, dropped=5),
        ("churn", "Canary"): (0, 1),
    }


def test_a_full_buffer_drops_without_blocking_record_or_the_loop() -> None:
    blocking = BlockingStore()
    config = capture_config()
    capture = CaptureSettings(flush_interval_s=0.02, max_buffered_records=10)

    async def overflow(writer: CaptureWriter) -> None:
        record(writer, config)
        # The flusher is now stuck in the store's write, in its worker thread.
        assert await asyncio.to_thread(blocking.entered.wait, 5)
        started = time.perf_counter()
        for _ in range(25):
            record(writer, config)
        spent = time.perf_counter() - started
        assert spent < 0.5, f"record() took {spent:.3f} s while the store hung"
        # The loop is free: a short sleep returns on time.
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        assert time.perf_counter() - started < 0.5
        assert writer.buffered == 10
        assert writer.counts() == {("churn", "AllTraffic"): (0, 15)}
        blocking.release.set()

    writer = run(blocking, overflow, capture)  # type: ignore[arg-type]  # fake of the seam

    assert writer.counts() == {("churn", "AllTraffic"): (11, 15)}
    assert len(all_records(blocking.inner)) == 11


def test_the_byte_limit_drops_large_bodies(store: ObjectStore) -> None:
    config = capture_config()
    capture = CaptureSettings(flush_interval_s=60, max_buffered_bytes=100)

    def large(writer: CaptureWriter) -> None:
        record(writer, config, request_body=b"x" * 40, response_body=b"y" * 20)
        record(writer, config, request_body=b"x" * 40, response_body=b"y" * 20)

    writer = run(store, large, capture)
    assert writer.counts() == {("churn", "AllTraffic"): (1, 1)}


def test_output_only_capture_keeps_no_request_bytes(store: ObjectStore) -> None:
    config = capture_config(CaptureOptions=[{"CaptureMode": "Output"}])
    capture = CaptureSettings(flush_interval_s=60, max_buffered_bytes=100)

    def large_requests(writer: CaptureWriter) -> None:
        for _ in range(3):
            record(writer, config, request_body=b"x" * 1000, response_body=b"0.5")

    writer = run(store, large_requests, capture)
    assert writer.counts() == {("churn", "AllTraffic"): (3, 0)}


class RecordingMetrics:
    """Remembers what the writer reported, as ``Metrics.captured`` would receive it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, int]] = []

    def captured(self, endpoint: str, variant: str, written: int, dropped: int) -> None:
        self.calls.append((endpoint, variant, written, dropped))

    def totals(self) -> dict[tuple[str, str], tuple[int, int]]:
        totals: dict[tuple[str, str], tuple[int, int]] = {}
        for endpoint, variant, written, dropped in self.calls:
            before = totals.get((endpoint, variant), (0, 0))
            totals[(endpoint, variant)] = (before[0] + written, before[1] + dropped)
        return totals


def test_counts_are_reported_to_metrics_as_they_move(store: ObjectStore) -> None:
    config = capture_config()
    metrics = RecordingMetrics()
    capture = CaptureSettings(flush_interval_s=60, max_buffered_records=3)

    def some(writer: CaptureWriter) -> None:
        for _ in range(5):
            record(writer, config)  # two do not fit
        record(writer, config, variant="Canary")  # nor does this one

    writer = run(store, some, capture, metrics=metrics)
    record(writer, config)  # after stop

    assert metrics.totals() == {("churn", "AllTraffic"): (3, 3), ("churn", "Canary"): (0, 1)}
    assert metrics.totals() == writer.counts()
    assert ("churn", "AllTraffic", 3, 0) in metrics.calls, "one call per variant per flush"


def test_a_failing_metrics_sink_changes_nothing(store: ObjectStore) -> None:
    class Broken:
        def captured(self, endpoint: str, variant: str, written: int, dropped: int) -> None:
            raise RuntimeError("metrics are down")

    config = capture_config()
    writer = run(store, lambda writer: record(writer, config), metrics=Broken())
    assert writer.counts() == {("churn", "AllTraffic"): (1, 0)}
    assert len(all_records(store)) == 1


# -- the round trip, for any body --------------------------------------------------------

CONTENT_TYPES = st.one_of(
    st.sampled_from(
        ["text/csv", "text/csv; charset=utf-8", "application/json", "application/x-npy", ""]
    ),
    st.text(max_size=40),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request_body=st.binary(max_size=300),
    request_type=CONTENT_TYPES,
    response_body=st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode)),
    response_type=CONTENT_TYPES,
)
def test_any_body_round_trips_through_the_record(
    request_body: bytes, request_type: str, response_body: bytes, response_type: str
) -> None:
    store = open_store(f"memory://roundtrip-{uuid.uuid4().hex}")
    config = capture_config()
    run(
        store,
        lambda writer: record(
            writer,
            config,
            request_body=request_body,
            request_content_type=request_type,
            response_body=response_body,
            response_content_type=response_type,
        ),
        CaptureSettings(flush_interval_s=60),
    )

    [key] = object_keys(store)
    [line] = lines_of(store, key)
    store.delete(key.split("/", 1)[0], recursive=True)
    captured_input = line["captureData"]["endpointInput"]
    captured_output = line["captureData"]["endpointOutput"]
    assert decoded(captured_input) == request_body
    assert decoded(captured_output) == response_body
    assert captured_input["observedContentType"] == request_type
    assert captured_output["observedContentType"] == response_type
    assert captured_input["encoding"] in {"CSV", "JSON", "BASE64"}


# -- DataCaptureConfig -------------------------------------------------------------------


def test_from_api_reads_every_member() -> None:
    data = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": "s3://bucket/model-monitor/data-capture",
        "KmsKeyId": "alias/ExampleAlias",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {
            "CsvContentTypes": ["text/csv"],
            "JsonContentTypes": ["application/json"],
        },
    }
    config = CaptureConfig.from_api(data)

    assert config.enabled is True
    assert config.sampling_percentage == 20
    assert config.destination_key == "bucket/model-monitor/data-capture"
    assert config.capture_modes == (CaptureMode.INPUT, CaptureMode.OUTPUT)
    assert config.captures_input and config.captures_output
    assert config.csv_content_types == ("text/csv",)
    assert config.json_content_types == ("application/json",)
    assert config.kms_key_id == "alias/ExampleAlias"
    assert config.to_api() == data
    assert CaptureConfig.from_api(config.to_api()) == config


def test_from_api_defaults() -> None:
    config = CaptureConfig.from_api(
        {
            "InitialSamplingPercentage": 0,
            "DestinationS3Uri": "s3://bucket/",
            "CaptureOptions": [{"CaptureMode": "Output"}],
        }
    )
    assert config.enabled is True, "EnableCapture defaults to enabled"
    assert config.destination_key == "bucket"
    assert not config.captures_input and config.captures_output
    assert config.csv_content_types == config.json_content_types == ()
    assert config.encoding_for("text/csv") is CaptureEncoding.BASE64
    assert "CaptureContentTypeHeader" not in config.to_api()


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("s3://bucket/a/b", "bucket/a/b"),
        ("s3://bucket/a/b/", "bucket/a/b"),
        ("https://bucket.s3.amazonaws.com/a", "bucket/a"),
        ("https://bucket.s3.us-west-2.amazonaws.com/a", "bucket/a"),
        ("https://s3.us-west-2.amazonaws.com/bucket/a", "bucket/a"),
        ("https://s3-us-west-2.amazonaws.com/bucket", "bucket"),
        ("https://bucket.s3.cn-north-1.amazonaws.com.cn/a", "bucket/a"),
    ],
)
def test_destination_uris_name_store_keys(uri: str, key: str) -> None:
    assert capture_config(DestinationS3Uri=uri).destination_key == key


VALID: dict[str, Any] = {
    "InitialSamplingPercentage": 50,
    "DestinationS3Uri": "s3://bucket/prefix",
    "CaptureOptions": [{"CaptureMode": "Input"}],
}


@pytest.mark.parametrize(
    ("change", "member"),
    [
        ({"EnableCapture": "yes"}, "EnableCapture"),
        ({"InitialSamplingPercentage": None}, "InitialSamplingPercentage"),
        ({"InitialSamplingPercentage": 101}, "InitialSamplingPercentage"),
        ({"InitialSamplingPercentage": -1}, "InitialSamplingPercentage"),
        ({"InitialSamplingPercentage": 12.5}, "InitialSamplingPercentage"),
        ({"InitialSamplingPercentage": True}, "InitialSamplingPercentage"),
        ({"DestinationS3Uri": None}, "DestinationS3Uri"),
        ({"DestinationS3Uri": "file:///tmp/capture"}, "DestinationS3Uri"),
        ({"DestinationS3Uri": "https://example.com/capture"}, "DestinationS3Uri"),
        ({"DestinationS3Uri": "s3://"}, "DestinationS3Uri"),
        ({"DestinationS3Uri": "s3://bucket/a//b"}, "DestinationS3Uri"),
        ({"DestinationS3Uri": "s3://bucket/../b"}, "DestinationS3Uri"),
        ({"DestinationS3Uri": "s3://bucket/" + "a" * 512}, "DestinationS3Uri"),
        ({"CaptureOptions": []}, "CaptureOptions"),
        ({"CaptureOptions": None}, "CaptureOptions"),
        ({"CaptureOptions": [{"CaptureMode": "Both"}]}, "CaptureOptions[0].CaptureMode"),
        ({"CaptureOptions": ["Input"]}, "CaptureOptions[0].CaptureMode"),
        ({"CaptureOptions": [{"CaptureMode": "Input"}] * 33}, "CaptureOptions"),
        ({"KmsKeyId": "key with spaces"}, "KmsKeyId"),
        ({"CaptureContentTypeHeader": []}, "CaptureContentTypeHeader"),
        (
            {"CaptureContentTypeHeader": {"CsvContentTypes": []}},
            "CaptureContentTypeHeader.CsvContentTypes",
        ),
        (
            {"CaptureContentTypeHeader": {"JsonContentTypes": ["json"]}},
            "CaptureContentTypeHeader.JsonContentTypes[0]",
        ),
        (
            {"CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv; charset=utf-8"]}},
            "CaptureContentTypeHeader.CsvContentTypes[0]",
        ),
        (
            {"CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"] * 11}},
            "CaptureContentTypeHeader.CsvContentTypes",
        ),
    ],
)
def test_from_api_names_the_member_at_fault(change: dict[str, Any], member: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        CaptureConfig.from_api({**VALID, **change})
    assert f"DataCaptureConfig.{member}" in caught.value.message


def test_from_api_refuses_what_is_not_an_object() -> None:
    with pytest.raises(InvalidRequest, match="DataCaptureConfig"):
        CaptureConfig.from_api(["not", "an", "object"])  # type: ignore[arg-type]


def test_settings_hold_the_capture_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_CAPTURE__FLUSH_INTERVAL_S", "0.5")
    monkeypatch.setenv("MODELYARD_CAPTURE__MAX_BUFFERED_RECORDS", "7")
    loaded = Settings()
    assert loaded.capture.flush_interval_s == 0.5
    assert loaded.capture.max_buffered_records == 7
    assert Settings().capture == CaptureSettings(flush_interval_s=0.5, max_buffered_records=7)
