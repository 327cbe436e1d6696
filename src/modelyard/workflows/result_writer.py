"""What a Map Run's child executions produced: their records, ResultWriter's files, progress.

A :class:`ChildRecord` is one child execution's end. From the records come

- the state's result without a ``ResultWriter`` (``COMPACT``: each child's output in item
  order) or with only a ``WriterConfig`` (its ``Transformation``);
- with ``Resource: arn:aws:states:::s3:putObject``, the files Step Functions exports under
  ``<Prefix>/<map run id>/``: ``SUCCEEDED_n.json`` (successful children),
  ``FAILED_n.json`` (failed, timed out, aborted), ``PENDING_n.json`` (never started, when the
  run failed) and the ``manifest.json`` that lists them; each file holds at most 5 GB.

A failed child is always reported as its execution's metadata (the ``NONE`` shape), whatever
the transformation, as Step Functions does.

:class:`MapRunProgress` keeps what a Map Run has finished in the store, under
``.map-runs/<map run id>/`` (a name no S3 bucket can have), so that an execution replayed
after a crash skips the child executions that already ended, and a Map Run that ended is
not run again at all.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from modelyard.errors import InvalidObjectKey, ObjectNotFound, ObjectStoreError
from modelyard.storage.objectstore import ObjectStore
from modelyard.workflows.dataflow import Dataflow
from modelyard.workflows.errors import RESULT_WRITER_FAILED, StatesError
from modelyard.workflows.paths import evaluate_payload
from modelyard.workflows.timestamps import iso8601

__all__ = [
    "MAX_RESULT_FILE_BYTES",
    "ChildRecord",
    "ChildStatus",
    "MapRunProgress",
    "OutputType",
    "ResultWriterSpec",
    "Transformation",
    "entry",
    "result_files",
    "result_writer_spec",
    "transformed",
    "write_results",
]

#: Step Functions' largest result file: 5 GB; past it the results go on in the next file.
MAX_RESULT_FILE_BYTES: Final = 5 * 1024**3

#: Where Map Run progress lives in the store (a leading dot: no bucket is named so).
PROGRESS_ROOT: Final = ".map-runs"


class ChildStatus(enum.Enum):
    """How a child execution ended (or that it never started)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    #: Not started: the Map Run failed first.
    PENDING = "PENDING"


class Transformation(enum.Enum):
    """``WriterConfig.Transformation``: how child results are reported."""

    #: Each child's execution metadata, output included (default when exporting to S3).
    NONE = "NONE"
    #: Each child's output (default without a ResultWriter).
    COMPACT = "COMPACT"
    #: Each child's output, arrays spliced into the result.
    FLATTEN = "FLATTEN"


class OutputType(enum.Enum):
    """``WriterConfig.OutputType``: the format of the exported files."""

    #: One JSON array a file.
    JSON = "JSON"
    #: JSON Lines: one entry a line.
    JSONL = "JSONL"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildRecord:
    """One child execution of a Map Run, as it ended."""

    #: Its place among the Map Run's children (batch number when batching).
    index: int
    #: Its name (the last part of its ARN).
    name: str
    #: Its ARN.
    arn: str
    #: How many items it processed.
    items: int
    #: How it ended.
    status: ChildStatus
    #: Its input, as JSON text.
    input_text: str
    #: Its output (SUCCEEDED).
    output: Any = None
    #: Its output as JSON text (SUCCEEDED).
    output_text: str | None = None
    #: The error it failed with.
    error: str | None = None
    #: The error's cause.
    cause: str | None = None
    #: When it started, epoch seconds.
    start: float = 0.0
    #: When it ended, epoch seconds.
    stop: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether it counts as a failure (failed, timed out or aborted)."""
        return self.status in (ChildStatus.FAILED, ChildStatus.TIMED_OUT, ChildStatus.ABORTED)


@dataclass(frozen=True, kw_only=True, slots=True)
class ResultWriterSpec:
    """A ``ResultWriter`` with its fields evaluated."""

    #: Where to export (``None``: no ``Resource``, the results are the state's result).
    bucket: str | None = None
    #: The key prefix of the export.
    prefix: str = ""
    #: How results are reported (NONE when exporting, unless ``WriterConfig`` says).
    transformation: Transformation = Transformation.NONE
    #: The format of the exported files.
    output_type: OutputType = OutputType.JSON


def result_writer_spec(flow: Dataflow, effective: Any) -> ResultWriterSpec | None:
    """Evaluate the state's ``ResultWriter``, if any: checked before anything runs."""
    writer: Mapping[str, Any] | None = flow.state.get("ResultWriter")
    if writer is None:
        return None
    config: Mapping[str, Any] = writer.get("WriterConfig") or {}
    transformation = Transformation(config.get("Transformation", "NONE"))
    output_type = OutputType(config.get("OutputType", "JSON"))
    if "Resource" not in writer:
        return ResultWriterSpec(transformation=transformation, output_type=output_type)
    if flow.jsonata:
        target = flow.evaluate(writer.get("Arguments", {}), field="ResultWriter/Arguments")
    else:
        target = evaluate_payload(
            writer.get("Parameters", {}), flow.scope(effective), rng=flow.rng, field="ResultWriter"
        )
    target = target if isinstance(target, dict) else {}
    bucket, prefix = target.get("Bucket"), target.get("Prefix", "")
    if not isinstance(bucket, str) or not bucket or not isinstance(prefix, str):
        raise StatesError(
            RESULT_WRITER_FAILED,
            "The ResultWriter needs a Bucket and, if any, a Prefix, both strings.",
        )
    return ResultWriterSpec(
        bucket=bucket, prefix=prefix, transformation=transformation, output_type=output_type
    )


def entry(record: ChildRecord, state_machine_arn: str, *, express: bool) -> dict[str, Any]:
    """``record`` as Step Functions reports a child execution (``Transformation`` NONE)."""
    if record.status is ChildStatus.PENDING:
        return {"Input": record.input_text, "InputDetails": {"Included": True}, "Status": "PENDING"}
    out: dict[str, Any] = {}
    if record.failed:
        out["Cause"] = record.cause or ""
        out["Error"] = record.error or ""
    out["ExecutionArn"] = record.arn
    out["Input"] = record.input_text
    out["InputDetails"] = {"Included": True}
    out["Name"] = record.name
    if record.status is ChildStatus.SUCCEEDED:
        out["Output"] = record.output_text
    out["OutputDetails"] = {"Included": True}
    out["RedriveCount"] = 0
    if record.status is ChildStatus.SUCCEEDED:
        out["RedriveStatus"] = "NOT_REDRIVABLE"
        out["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    else:
        # Failed express children can only be redriven by redriving their Map Run.
        out["RedriveStatus"] = "REDRIVABLE_BY_MAP_RUN" if express else "REDRIVABLE"
    out["StartDate"] = iso8601(record.start)
    out["StateMachineArn"] = state_machine_arn
    out["Status"] = record.status.value
    out["StopDate"] = iso8601(record.stop)
    return out


def transformed(
    records: Iterable[ChildRecord],
    transformation: Transformation,
    state_machine_arn: str,
    *,
    express: bool,
) -> list[Any]:
    """The results of ``records`` in order, as ``transformation`` reports them."""
    out: list[Any] = []
    for record in records:
        if transformation is Transformation.NONE or record.status is not ChildStatus.SUCCEEDED:
            out.append(entry(record, state_machine_arn, express=express))
        elif transformation is Transformation.FLATTEN and isinstance(record.output, list):
            out.extend(record.output)
        else:
            out.append(record.output)
    return out


def result_files(
    entries: Iterable[Any], output_type: OutputType, limit: int = MAX_RESULT_FILE_BYTES
) -> list[bytes]:
    """``entries`` as the contents of result files of at most ``limit`` bytes each.

    An entry larger than ``limit`` by itself still gets a file of its own.
    """
    json = output_type is OutputType.JSON
    # The brackets of a JSON array, or nothing; then one separator between entries.
    frame = 2 if json else 0
    files: list[bytes] = []
    chunk: list[bytes] = []
    size = frame
    for value in entries:
        encoded = orjson.dumps(value)
        extra = len(encoded) + (1 if chunk or not json else 0)
        if chunk and size + extra > limit:
            files.append(_file(chunk, json))
            chunk, size = [], frame
            extra = len(encoded) + (0 if json else 1)
        chunk.append(encoded)
        size += extra
    if chunk:
        files.append(_file(chunk, json))
    return files


def _file(chunk: list[bytes], json: bool) -> bytes:
    if json:
        return b"[" + b",".join(chunk) + b"]"
    return b"\n".join(chunk) + b"\n"


def write_results(
    store: ObjectStore | None,
    *,
    bucket: str,
    prefix: str,
    map_run_arn: str,
    state_machine_arn: str,
    express: bool,
    records: Sequence[ChildRecord],
    transformation: Transformation = Transformation.NONE,
    output_type: OutputType = OutputType.JSON,
    limit: int = MAX_RESULT_FILE_BYTES,
) -> dict[str, Any]:
    """Export ``records`` (every child, pending ones included) under ``<prefix>/<run id>/``.

    Returns the state's result, ``{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}``
    with the manifest's key; a failure to write is ``States.ResultWriterFailed``.
    """
    if store is None:
        raise StatesError(RESULT_WRITER_FAILED, "No object store is configured to write to.")
    folder = f"{prefix}{'/' if prefix and not prefix.endswith('/') else ''}"
    folder += f"{map_run_arn.rpartition(':')[2]}/"
    groups: dict[str, list[Any]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    succeeded = [record for record in records if record.status is ChildStatus.SUCCEEDED]
    groups["SUCCEEDED"] = transformed(succeeded, transformation, state_machine_arn, express=express)
    for record in records:
        if record.failed:
            groups["FAILED"].append(entry(record, state_machine_arn, express=express))
        elif record.status is ChildStatus.PENDING:
            groups["PENDING"].append(entry(record, state_machine_arn, express=express))
    manifest: dict[str, Any] = {
        "DestinationBucket": bucket,
        "MapRunArn": map_run_arn,
        "ResultFiles": {name: [] for name in groups},
    }
    for name, entries in groups.items():
        for number, body in enumerate(result_files(entries, output_type, limit)):
            key = f"{folder}{name}_{number}.json"
            _put(store, bucket, key, body)
            manifest["ResultFiles"][name].append({"Key": key, "Size": len(body)})
    _put(store, bucket, f"{folder}manifest.json", orjson.dumps(manifest))
    return {
        "MapRunArn": map_run_arn,
        "ResultWriterDetails": {"Bucket": bucket, "Key": f"{folder}manifest.json"},
    }


def _put(store: ObjectStore, bucket: str, key: str, body: bytes) -> None:
    try:
        store.put(f"{bucket}/{key}", body)
    except (InvalidObjectKey, ObjectStoreError) as exc:
        raise StatesError(
            RESULT_WRITER_FAILED, f"Failed to write s3://{bucket}/{key}: {exc.message}"
        ) from exc


# -- progress kept for a resume -----------------------------------------------------------


class MapRunProgress:
    """The child executions a Map Run has finished, and its outcome, kept in the store.

    ``save`` adds a part file of finished children; ``finished`` reads the parts back (a
    part written for another shape of run, items or children, is ignored: the dataset
    changed, so nothing is skipped); ``conclude`` records how the run ended, which
    ``outcome`` answers from then on, and drops the parts. Synchronous: the store may be
    remote, so call these in a thread, one at a time.
    """

    def __init__(self, store: ObjectStore, map_run_id: str) -> None:
        self._store = store
        self._root = f"{PROGRESS_ROOT}/{map_run_id}"
        self._shape: list[int] = []
        self._parts = 0

    def outcome(self) -> Mapping[str, Any] | None:
        """How the run ended, if it did."""
        try:
            outcome = orjson.loads(self._store.get(f"{self._root}/outcome.json"))
        except ObjectNotFound:
            return None
        return outcome if isinstance(outcome, dict) else None

    def finished(self, *, children: int, items: int) -> dict[int, ChildRecord]:
        """The finished children of a run of this shape, by index."""
        self._shape = [children, items]
        found: dict[int, ChildRecord] = {}
        names = self._store.list(f"{self._root}/parts")
        self._parts = len(names)
        for name in names:
            part = orjson.loads(self._store.get(f"{self._root}/parts/{name}"))
            if part.get("shape") != self._shape:
                continue
            for row in part["records"]:
                record = _record(row)
                if 0 <= record.index < children:
                    found[record.index] = record
        return found

    def save(self, records: Sequence[ChildRecord]) -> None:
        """Add a part with ``records`` (finished children)."""
        self._parts += 1
        body = {"shape": self._shape, "records": [_row(record) for record in records]}
        self._store.put(f"{self._root}/parts/{self._parts:08d}.json", orjson.dumps(body))

    def conclude(self, outcome: Mapping[str, Any]) -> None:
        """Record how the run ended and drop its parts."""
        self._store.put(f"{self._root}/outcome.json", orjson.dumps(outcome))
        if self._store.exists(f"{self._root}/parts"):
            self._store.delete(f"{self._root}/parts", recursive=True)


def _row(record: ChildRecord) -> list[Any]:
    return [
        record.index,
        record.name,
        record.arn,
        record.items,
        record.status.value,
        record.input_text,
        record.output_text,
        record.error,
        record.cause,
        record.start,
        record.stop,
    ]


def _record(row: list[Any]) -> ChildRecord:
    index, name, arn, items, status, input_text, output_text, error, cause, start, stop = row
    return ChildRecord(
        index=index,
        name=name,
        arn=arn,
        items=items,
        status=ChildStatus(status),
        input_text=input_text,
        output=None if output_text is None else orjson.loads(output_text),
        output_text=output_text,
        error=error,
        cause=cause,
        start=start,
        stop=stop,
    )
