"""A training job's data in and model out: channels from the store or local paths, and the
model folder packed as ``model.tar.gz`` into the store.

modelyard's object store stands in for S3: ``s3://BUCKET/KEY`` names the store's key
``BUCKET/KEY``. A channel's ``S3Uri`` with ``S3DataType: S3Prefix`` brings every object
under the prefix into ``input/data/<channel>/`` (keeping the paths below the prefix; a key
that is exactly the URI brings that one object); a ``file://`` path is read in place (the
channel's folder links to it), under the same allowed-URL rule as models. The model goes
to ``<S3OutputPath>/<TrainingJobName>/output/model.tar.gz``, as SageMaker puts it, and its
``s3://`` URL is what CreateModel's ``ModelDataUrl`` takes.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modelyard.storage.objectstore import ObjectStore

__all__ = [
    "ChannelSource",
    "bring_channel",
    "model_key",
    "pack_folder",
    "store_key",
    "store_url",
]


@dataclass(frozen=True, kw_only=True)
class ChannelSource:
    """Where a channel's data is: a key (prefix) of the store, or a local path."""

    #: The store key or prefix (``s3://``), else None.
    key: str | None = None
    #: The local path (``file://`` or a plain absolute path), else None.
    path: Path | None = None

    @classmethod
    def of(cls, uri: str) -> ChannelSource:
        """The source ``uri`` names; ValueError for one that names none."""
        if uri.startswith("s3://"):
            return cls(key=store_key(uri))
        if uri.startswith("file://") or uri.startswith("/"):
            path = uri.removeprefix("file://")
            if not path.startswith("/"):
                raise ValueError(f"{uri!r}: a local channel must be an absolute path")
            return cls(path=Path(path))
        raise ValueError(f"{uri!r}: a channel's data is at s3://BUCKET/KEY or file:///PATH")


def store_key(uri: str) -> str:
    """``s3://BUCKET/KEY`` → ``BUCKET/KEY``: the store key an S3 URI names."""
    parts = [part for part in uri.removeprefix("s3://").split("/") if part]
    if not parts or any(part in (".", "..") for part in parts):
        raise ValueError(f"{uri!r} is not an s3://BUCKET/KEY URI")
    return "/".join(parts)


def store_url(key: str) -> str:
    """``BUCKET/KEY`` → ``s3://BUCKET/KEY``."""
    return f"s3://{key}"


def bring_channel(store: ObjectStore, source: ChannelSource, target: Path) -> int:
    """Put a channel's data in ``target`` (its folder); the number of files it holds.

    Blocking: run it off the event loop. A local source is linked, not copied; the
    caller has checked it against the allowed-URL rule.
    """
    if source.path is not None:
        if not source.path.exists():
            raise FileNotFoundError(f"{source.path} does not exist")
        if target.is_dir() and not target.is_symlink():
            target.rmdir()  # the empty folder the job's layout made: the link takes its place
        if source.path.is_dir():
            target.symlink_to(source.path, target_is_directory=True)
            return sum(1 for item in source.path.rglob("*") if item.is_file())
        target.mkdir(parents=True, exist_ok=True)
        (target / source.path.name).symlink_to(source.path)
        return 1
    assert source.key is not None
    target.mkdir(parents=True, exist_ok=True)
    if store.exists(source.key) and not store.is_dir(source.key):
        store.download(source.key, target / PurePosixPath(source.key).name)
        return 1
    prefix = source.key.rstrip("/")
    count = 0
    for key in _objects_under(store, prefix):
        local = target.joinpath(*PurePosixPath(key).relative_to(prefix).parts)
        local.parent.mkdir(parents=True, exist_ok=True)
        store.download(key, local)
        count += 1
    if count == 0:
        raise FileNotFoundError(f"nothing in the store at s3://{source.key}")
    return count


def _objects_under(store: ObjectStore, prefix: str) -> list[str]:
    """Every object's key under ``prefix``, however deep (the store lists one level)."""
    found: list[str] = []
    pending = [prefix]
    while pending:
        folder = pending.pop()
        for name in store.list(folder):
            key = f"{folder}/{name}"
            (pending if store.is_dir(key) else found).append(key)
    return sorted(found)


def model_key(output_path: str, job_name: str, name: str = "model.tar.gz") -> str:
    """Where a job's packed model (or ``output.tar.gz``) goes in the store."""
    return f"{store_key(output_path)}/{job_name}/output/{name}"


def pack_folder(folder: Path) -> bytes:
    """``folder``'s files as a gzipped tar, paths relative to it (``model.tar.gz``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for item in sorted(folder.rglob("*")):
            if item.is_file() and not item.is_symlink():
                archive.add(item, arcname=item.relative_to(folder).as_posix())
    return buffer.getvalue()
