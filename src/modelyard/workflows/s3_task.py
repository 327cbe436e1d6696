"""``arn:aws:states:::aws-sdk:s3:putObject|getObject|listObjectsV2`` over the object store.

``s3://BUCKET/KEY`` is the object store's key ``BUCKET/KEY`` everywhere in modelyard, so
a workflow written for S3 reads and writes the platform's store unchanged. Inputs and
results are the S3 API's fields as the AWS SDK integration takes and gives them
(``Bucket``, ``Key``, ``Body`` …); failures are ``S3.NoSuchKeyException``,
``S3.NoSuchBucketException`` and ``S3.S3Exception``, as the integration names them.
Store calls run in a thread: the store may be a remote S3.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from modelyard.errors import InvalidObjectKey, ObjectNotFound, ObjectStoreError
from modelyard.storage.objectstore import ObjectStore, put_object
from modelyard.workflows.environment import TaskContext
from modelyard.workflows.errors import StatesError

__all__ = ["READING", "RESOURCES", "S3Task"]

_BASE = "arn:aws:states:::aws-sdk:s3:"
#: The resource ARNs this task answers.
RESOURCES = (f"{_BASE}putObject", f"{_BASE}getObject", f"{_BASE}listObjectsV2")
#: Those of them that change nothing.
READING = frozenset({f"{_BASE}getObject", f"{_BASE}listObjectsV2"})

_MAX_KEYS = 1000


class S3Task:
    """Runs the S3 tasks of a workflow against the object store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def run(self, resource: str, payload: Any, task: TaskContext) -> Any:
        """The S3 call ``resource`` names, on ``payload``."""
        if not isinstance(payload, dict):
            raise StatesError("S3.S3Exception", "the task's input must be an object")
        action = resource.removeprefix(_BASE)
        bucket = _string(payload, "Bucket")
        try:
            if action == "putObject":
                return await self._put(bucket, payload)
            if action == "getObject":
                return await asyncio.to_thread(self._get, bucket, _string(payload, "Key"))
            if action == "listObjectsV2":
                return await asyncio.to_thread(self._list, bucket, payload)
        except ObjectNotFound as exc:
            raise StatesError("S3.NoSuchKeyException", exc.message) from exc
        except (InvalidObjectKey, ObjectStoreError) as exc:
            raise StatesError("S3.S3Exception", exc.message) from exc
        raise StatesError("States.Runtime", f"Unsupported S3 action {action!r}.")

    async def _put(self, bucket: str, payload: dict[str, Any]) -> dict[str, Any]:
        key = _string(payload, "Key")
        body = payload.get("Body", "")
        data = body.encode() if isinstance(body, str) else orjson.dumps(body)
        await put_object(self._store, f"{bucket}/{key}", data)
        return {"ETag": _etag(data)}

    def _get(self, bucket: str, key: str) -> dict[str, Any]:
        data = self._store.get(f"{bucket}/{key}")
        modified = self._store.modified(f"{bucket}/{key}")
        out: dict[str, Any] = {
            "Body": data.decode(errors="replace"),
            "ContentLength": len(data),
            "ETag": _etag(data),
        }
        if modified is not None:
            out["LastModified"] = _http_date(modified)
        return out

    def _list(self, bucket: str, payload: dict[str, Any]) -> dict[str, Any]:
        prefix = payload.get("Prefix") or ""
        if not isinstance(prefix, str):
            raise StatesError("S3.S3Exception", "Prefix must be a string")
        limit = payload.get("MaxKeys", _MAX_KEYS)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise StatesError("S3.S3Exception", "MaxKeys must be a non-negative integer")
        after = payload.get("ContinuationToken") or payload.get("StartAfter") or ""
        folder = prefix.rpartition("/")[0]
        keys = sorted(
            key for key in self._walk(bucket, folder) if key.startswith(prefix) and key > after
        )
        page, rest = keys[: min(limit, _MAX_KEYS)], keys[min(limit, _MAX_KEYS) :]
        out: dict[str, Any] = {
            "Name": bucket,
            "Prefix": prefix,
            "MaxKeys": limit,
            "KeyCount": len(page),
            "IsTruncated": bool(rest),
            "Contents": [{"Key": key, "Size": self._store.size(f"{bucket}/{key}")} for key in page],
        }
        if rest and page:
            out["NextContinuationToken"] = page[-1]
        return out

    def _walk(self, bucket: str, folder: str) -> list[str]:
        """Every object key under ``folder`` of ``bucket`` (relative to the bucket)."""
        keys: list[str] = []
        pending = [folder]
        while pending:
            current = pending.pop()
            base = f"{bucket}/{current}" if current else bucket
            for name in self._store.list(base):
                key = f"{current}/{name}" if current else name
                if self._store.is_dir(f"{bucket}/{key}"):
                    pending.append(key)
                else:
                    keys.append(key)
        return keys


def _string(payload: dict[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise StatesError("S3.S3Exception", f"{field} is required and must be a string")
    return value


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'


def _http_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
