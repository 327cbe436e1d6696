"""A distributed Map's ``ItemReader``: the items of a Map Run, read from the object store.

::

    Resource                        ReaderConfig              an item is
    s3:getObject                    InputType JSON            an element of the object's array
                                    InputType JSONL           the value on one line
                                    InputType CSV             a row, as an object of strings
                                    InputType MANIFEST        a row of an S3 inventory's data files
                                    ManifestType ATHENA_DATA  a row/line of the files an Athena
                                                              UNLOAD manifest lists
    s3:listObjectsV2                (none)                    one object's metadata:
                                      {"Etag", "Key", "LastModified", "Size", "StorageClass"}

``s3://BUCKET/KEY`` is the store's key ``BUCKET/KEY``, as for the S3 tasks. ``Parameters``
(JSONPath) or ``Arguments`` (JSONata) name the ``Bucket`` and the ``Key`` or ``Prefix``;
``MaxItems``/``MaxItemsPath`` stop the reading after that many items (a CSV header row is
not an item). An object whose key ends in ``.gz`` is gunzipped first; Parquet files and
ZSTD compression are not readable here (``States.ItemReaderFailed`` says so).

Text delimited files follow Step Functions' rules: every field is a string; quoted fields
may hold delimiters and newlines; ``""`` is a quote; a backslash escapes the next character
(and is dropped before any other); a short row is padded with empty strings and a long one
loses its extra fields. Every failure to read or parse is ``States.ItemReaderFailed``.

The reading functions are synchronous (the store may be a remote S3): callers run them in
a thread. Each holds the object's bytes only while it parses them, and the items once.
"""

from __future__ import annotations

import csv
import enum
import gzip
import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from modelyard.errors import InvalidObjectKey, ObjectNotFound, ObjectStoreError
from modelyard.storage.objectstore import ObjectStore
from modelyard.workflows.dataflow import Dataflow
from modelyard.workflows.errors import ITEM_READER_FAILED, RUNTIME, PathMissing, StatesError
from modelyard.workflows.paths import evaluate_payload

__all__ = [
    "CSV_DELIMITERS",
    "InputType",
    "ItemReaderSpec",
    "ItemSource",
    "ReadItems",
    "item_reader_spec",
    "list_objects",
    "parse_csv",
    "parse_json",
    "parse_jsonl",
    "read_items",
]

#: The characters ``CSVDelimiter`` names.
CSV_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}

_GET_OBJECT = "getObject"
_LIST_OBJECTS = "listObjectsV2"


class InputType(enum.Enum):
    """What the object ``s3:getObject`` reads holds (``ReaderConfig.InputType``)."""

    #: A JSON array.
    JSON = "JSON"
    #: JSON Lines: one JSON value a line.
    JSONL = "JSONL"
    #: A text delimited file.
    CSV = "CSV"
    #: An S3 inventory ``manifest.json``.
    MANIFEST = "MANIFEST"
    #: An Apache Parquet file (not readable here).
    PARQUET = "PARQUET"


class ItemSource(enum.Enum):
    """Which S3 call gives the items (``ItemReader.Resource``)."""

    #: ``arn:aws:states:::s3:getObject``: the rows or elements of one object.
    GET_OBJECT = _GET_OBJECT
    #: ``arn:aws:states:::s3:listObjectsV2``: the metadata of the objects under a prefix.
    LIST_OBJECTS = _LIST_OBJECTS


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemReaderSpec:
    """An ``ItemReader`` with its fields evaluated: what :func:`read_items` reads."""

    #: The S3 call.
    source: ItemSource
    #: The bucket.
    bucket: str
    #: The object's key (``getObject``).
    key: str = ""
    #: The prefix of the listed keys (``listObjectsV2``).
    prefix: str = ""
    #: The object's format.
    input_type: InputType = InputType.JSON
    #: The header row's place: ``FIRST_ROW`` or ``GIVEN``.
    csv_header_location: str = "FIRST_ROW"
    #: The headers when ``GIVEN``.
    csv_headers: tuple[str, ...] = ()
    #: The field separator.
    csv_delimiter: str = ","
    #: ``ATHENA_DATA`` or ``S3_INVENTORY`` (``None``: as ``InputType`` says).
    manifest_type: str | None = None
    #: Stop after this many items (``None``: read all).
    max_items: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReadItems:
    """The items read, with where each came from when the reader says (Athena manifests)."""

    #: The items, in order.
    items: list[Any]
    #: ``$$.Map.Item.Source`` of each item (``s3://bucket/key``), or ``None``.
    sources: list[str] | None = None


def item_reader_spec(flow: Dataflow, effective: Any) -> ItemReaderSpec:
    """Evaluate the state's ``ItemReader`` (its Parameters/Arguments and ReaderConfig)."""
    reader: Mapping[str, Any] = flow.state.get("ItemReader")
    action = str(reader.get("Resource", "")).rpartition(":")[2]
    if flow.jsonata:
        arguments = flow.evaluate(reader.get("Arguments", {}), field="ItemReader/Arguments")
    else:
        arguments = evaluate_payload(
            reader.get("Parameters", {}), flow.scope(effective), rng=flow.rng, field="ItemReader"
        )
    if not isinstance(arguments, dict):
        raise StatesError(ITEM_READER_FAILED, "The ItemReader's arguments must be an object.")
    config: Mapping[str, Any] = reader.get("ReaderConfig") or {}
    bucket = _argument(arguments, "Bucket")
    try:
        source = ItemSource(action)
    except ValueError:
        raise StatesError(
            ITEM_READER_FAILED, f"The ItemReader resource {reader.get('Resource')!r} is unknown."
        ) from None
    return ItemReaderSpec(
        source=source,
        bucket=bucket,
        key=_argument(arguments, "Key") if source is ItemSource.GET_OBJECT else "",
        prefix=str(arguments.get("Prefix") or ""),
        input_type=InputType(config.get("InputType", "JSON")),
        csv_header_location=config.get("CSVHeaderLocation", "FIRST_ROW"),
        csv_headers=tuple(config.get("CSVHeaders", ())),
        csv_delimiter=CSV_DELIMITERS[config.get("CSVDelimiter", "COMMA")],
        manifest_type=config.get("ManifestType"),
        max_items=_max_items(flow, effective, config),
    )


def _argument(arguments: Mapping[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value:
        raise StatesError(
            ITEM_READER_FAILED, f"The ItemReader's {name} is required and must be a string."
        )
    return value


def _max_items(flow: Dataflow, effective: Any, config: Mapping[str, Any]) -> int | None:
    if "MaxItems" in config:
        value = config["MaxItems"]
        value = (
            flow.evaluate(value, field="ItemReader/ReaderConfig/MaxItems")
            if flow.jsonata
            else value
        )
    elif "MaxItemsPath" in config:
        path = config["MaxItemsPath"]
        try:
            value = flow.scope(effective).resolve(path)
        except PathMissing:
            raise StatesError(
                RUNTIME, f"Invalid path '{path}' for MaxItemsPath of state '{flow.state.name}'."
            ) from None
    else:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StatesError(
            RUNTIME,
            f"The MaxItems of state '{flow.state.name}' must be a non-negative integer, not "
            f"{orjson.dumps(value).decode()}.",
        )
    # 0 means no limit, as an absent MaxItems does.
    return value or None


# -- reading -----------------------------------------------------------------------------


def read_items(store: ObjectStore | None, spec: ItemReaderSpec) -> ReadItems:
    """The items ``spec`` names; ``States.ItemReaderFailed`` when they cannot be read."""
    if store is None:
        raise StatesError(ITEM_READER_FAILED, "No object store is configured to read items from.")
    if spec.source is ItemSource.LIST_OBJECTS:
        return ReadItems(items=list_objects(store, spec.bucket, spec.prefix, spec.max_items))
    if spec.manifest_type == "ATHENA_DATA":
        return _athena(store, spec)
    if spec.input_type is InputType.MANIFEST or spec.manifest_type == "S3_INVENTORY":
        return ReadItems(items=_inventory(store, spec))
    data = _get(store, spec.bucket, spec.key)
    return ReadItems(items=_parse(data, spec, spec.input_type, spec.max_items, _uri(spec)))


def _parse(
    data: bytes, spec: ItemReaderSpec, input_type: InputType, limit: int | None, where: str
) -> list[Any]:
    if input_type is InputType.JSON:
        return parse_json(data, limit, where)
    if input_type is InputType.JSONL:
        return parse_jsonl(data, limit, where)
    if input_type is InputType.CSV:
        headers = spec.csv_headers if spec.csv_header_location == "GIVEN" else None
        return parse_csv(
            data, delimiter=spec.csv_delimiter, headers=headers, limit=limit, where=where
        )
    raise StatesError(ITEM_READER_FAILED, f"InputType {input_type.value} is not supported here.")


def parse_json(data: bytes, limit: int | None = None, where: str = "the object") -> list[Any]:
    """The elements of the JSON array ``data`` (at most ``limit``)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StatesError(ITEM_READER_FAILED, f"{where} is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise StatesError(ITEM_READER_FAILED, f"{where} must contain a JSON array.")
    return value if limit is None else value[:limit]


def parse_jsonl(data: bytes, limit: int | None = None, where: str = "the object") -> list[Any]:
    """The values of the JSON Lines ``data``, blank lines skipped (at most ``limit``)."""
    items: list[Any] = []
    start, size, line = 0, len(data), 0
    # Line by line through the bytes: a split() would copy the whole object once more.
    while start < size and (limit is None or len(items) < limit):
        end = data.find(b"\n", start)
        if end < 0:
            end = size
        text = data[start:end]
        start, line = end + 1, line + 1
        if not text.strip():
            continue
        try:
            items.append(orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            raise StatesError(
                ITEM_READER_FAILED, f"Line {line} of {where} is not valid JSON: {exc}"
            ) from None
    return items


def parse_csv(
    data: bytes | str,
    *,
    delimiter: str = ",",
    headers: tuple[str, ...] | list[str] | None = None,
    limit: int | None = None,
    where: str = "the object",
) -> list[dict[str, str]]:
    """The rows of a text delimited file as objects of strings (at most ``limit`` rows).

    ``headers`` ``None`` takes them from the first row (``FIRST_ROW``).
    """
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise StatesError(ITEM_READER_FAILED, f"{where} is not UTF-8 text: {exc}") from None
    rows = _rows(text, delimiter, where)
    if headers is None:
        headers = next(rows, [])
    names = list(headers)
    if len(set(names)) < len(names):
        raise StatesError(ITEM_READER_FAILED, "CSV headers cannot contain duplicates.")
    width = len(names)
    items: list[dict[str, str]] = []
    for row in rows:
        if limit is not None and len(items) >= limit:
            break
        if len(row) < width:
            row = row + [""] * (width - len(row))
        items.append(dict(zip(names, row, strict=False)))
    return items


def _rows(text: str, delimiter: str, where: str) -> Iterator[list[str]]:
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        escapechar="\\",
        strict=False,
    )
    try:
        for row in reader:
            # A blank line separates no record.
            if row:
                yield row
    except csv.Error as exc:
        raise StatesError(
            ITEM_READER_FAILED, f"{where} is not a valid delimited file: {exc}"
        ) from None


def list_objects(
    store: ObjectStore, bucket: str, prefix: str = "", limit: int | None = None
) -> list[dict[str, Any]]:
    """The metadata of the objects of ``bucket`` whose keys start with ``prefix``, by key."""
    keys: list[str] = []
    pending = [prefix.rpartition("/")[0]]
    try:
        # S3 prefixes are strings, not folders: "folder1" also lists "folder10/...".
        while pending:
            folder = pending.pop()
            for name in store.list(f"{bucket}/{folder}" if folder else bucket):
                key = f"{folder}/{name}" if folder else name
                if not key.startswith(prefix):
                    continue
                if store.is_dir(f"{bucket}/{key}"):
                    pending.append(key)
                else:
                    keys.append(key)
        keys.sort()
        if limit is not None:
            del keys[limit:]
        return [_metadata(store, bucket, key) for key in keys]
    except (InvalidObjectKey, ObjectStoreError, ObjectNotFound) as exc:
        raise StatesError(
            ITEM_READER_FAILED, f"Failed to list s3://{bucket}/{prefix}: {exc.message}"
        ) from exc


def _metadata(store: ObjectStore, bucket: str, key: str) -> dict[str, Any]:
    data = store.get(f"{bucket}/{key}")
    modified = store.modified(f"{bucket}/{key}")
    return {
        "Etag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"',
        "Key": key,
        "LastModified": int(modified) if modified is not None else 0,
        "Size": len(data),
        "StorageClass": "STANDARD",
    }


def _get(store: ObjectStore, bucket: str, key: str) -> bytes:
    try:
        data = store.get(f"{bucket}/{key}")
    except ObjectNotFound as exc:
        raise StatesError(
            ITEM_READER_FAILED,
            f"Failed to read s3://{bucket}/{key}: The specified key does not exist.",
        ) from exc
    except (InvalidObjectKey, ObjectStoreError) as exc:
        raise StatesError(
            ITEM_READER_FAILED, f"Failed to read s3://{bucket}/{key}: {exc.message}"
        ) from exc
    if key.endswith((".gz", ".gzip")):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise StatesError(
                ITEM_READER_FAILED, f"s3://{bucket}/{key} is not valid GZIP: {exc}"
            ) from None
    if key.endswith((".zst", ".zstd")):
        raise StatesError(
            ITEM_READER_FAILED, f"ZSTD objects are not supported: s3://{bucket}/{key}"
        )
    return data


def _uri(spec: ItemReaderSpec) -> str:
    return f"s3://{spec.bucket}/{spec.key}"


def _inventory(store: ObjectStore, spec: ItemReaderSpec) -> list[Any]:
    """The rows of the data files an S3 inventory ``manifest.json`` lists."""
    manifest = _json_object(_get(store, spec.bucket, spec.key), _uri(spec))
    if manifest.get("fileFormat", "CSV") != "CSV":
        raise StatesError(
            ITEM_READER_FAILED, "The output format of an Amazon S3 inventory report must be CSV."
        )
    destination = str(manifest.get("destinationBucket", "")).removeprefix("arn:aws:s3:::")
    schema = manifest.get("fileSchema")
    files = manifest.get("files")
    if not destination or not isinstance(schema, str) or not isinstance(files, list):
        raise StatesError(
            ITEM_READER_FAILED,
            f"{_uri(spec)} is not an S3 inventory manifest "
            "(destinationBucket, fileSchema and files are required).",
        )
    headers = [name.strip() for name in schema.split(",")]
    items: list[Any] = []
    for file in files:
        left = None if spec.max_items is None else spec.max_items - len(items)
        if left == 0:
            break
        key = file.get("key") if isinstance(file, dict) else None
        if not isinstance(key, str):
            raise StatesError(ITEM_READER_FAILED, f"{_uri(spec)} lists a file without a key.")
        items.extend(
            parse_csv(
                _get(store, destination, key),
                delimiter=spec.csv_delimiter,
                headers=headers,
                limit=left,
                where=f"s3://{destination}/{key}",
            )
        )
    return items


def _athena(store: ObjectStore, spec: ItemReaderSpec) -> ReadItems:
    """The rows of the data files an Athena ``UNLOAD`` manifest lists, with their sources."""
    listing = _get(store, spec.bucket, spec.key).decode("utf-8", errors="replace")
    items: list[Any] = []
    sources: list[str] = []
    for line in listing.splitlines():
        uri = line.strip().strip('"')
        if not uri:
            continue
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not uri.startswith("s3://") or not key:
            raise StatesError(ITEM_READER_FAILED, f"{_uri(spec)} lists {uri!r}, not an S3 URI.")
        left = None if spec.max_items is None else spec.max_items - len(items)
        if left == 0:
            break
        read = _parse(_get(store, bucket, key), spec, spec.input_type, left, uri)
        items.extend(read)
        sources.extend([uri] * len(read))
    return ReadItems(items=items, sources=sources)


def _json_object(data: bytes, where: str) -> dict[str, Any]:
    """``data`` as a JSON object; ``States.ItemReaderFailed`` when it is not one."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise StatesError(ITEM_READER_FAILED, f"{where} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise StatesError(ITEM_READER_FAILED, f"{where} must contain a JSON object.")
    return value
