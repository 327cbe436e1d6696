"""Where model artifacts come from: the model store, and models registered by URL.

A model in the store is a folder ``<name>/`` or an archive ``<name>.tar.gz`` (SageMaker's
model.tar.gz convention, the model files at the archive root). ``POST /models`` may also
register a model by URL (a local path or any fsspec URL). Before a worker loads a model the
repository makes it a local folder: a local folder is used in place, an archive is unpacked
once into the cache folder, a remote artifact is downloaded there first.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from modelyard.errors import ModelNotFound, ModelyardError
from modelyard.storage.objectstore import ObjectStore, open_store

__all__ = [
    "InMemoryRegistrations",
    "ModelRepository",
    "Registration",
    "Registrations",
    "is_local_url",
]

ARCHIVE_SUFFIX = ".tar.gz"


@dataclass(frozen=True, kw_only=True)
class Registration:
    """A model registered by URL (SageMaker's LoadModel)."""

    #: Name it is served under.
    name: str
    #: Where its artifact is: a local path or an fsspec URL.
    url: str


class Registrations(Protocol):
    """Storage of registered models: in memory for ``serve``, the database for ``up``."""

    def add(self, name: str, url: str) -> object: ...

    def get(self, name: str) -> Registration | None: ...

    def remove(self, name: str) -> bool: ...

    def list(self) -> Iterable[Registration]: ...


class InMemoryRegistrations:
    """Registrations kept for the life of the process."""

    def __init__(self) -> None:
        self._by_name: dict[str, Registration] = {}

    def add(self, name: str, url: str) -> Registration:
        """Register (or re-register) ``name`` at ``url``."""
        registration = Registration(name=name, url=url)
        self._by_name[name] = registration
        return registration

    def get(self, name: str) -> Registration | None:
        """The registration of ``name``, if any."""
        return self._by_name.get(name)

    def remove(self, name: str) -> bool:
        """Forget ``name``; whether it was registered."""
        return self._by_name.pop(name, None) is not None

    def list(self) -> list[Registration]:
        """All registrations."""
        return list(self._by_name.values())


def is_local_url(url: str) -> bool:
    """Whether ``url`` names a local path (plain path or ``file://``)."""
    return "://" not in url or url.startswith("file://")


def _local_path(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for file in files:
            try:
                total += os.stat(os.path.join(folder, file)).st_size
            except OSError:
                continue
    return total


def _unpack(archive: Path, target: Path) -> None:
    """Unpack ``archive`` into ``target`` atomically (a half-unpacked model is never seen)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(scratch, filter="data")
        os.replace(scratch, target)
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        if target.is_dir():  # another process unpacked it first
            return
        raise ModelyardError(f"cannot unpack {archive.name}: {exc}") from exc


class ModelRepository:
    """Finds model artifacts by name and makes them local folders for the workers."""

    def __init__(
        self,
        store_url: str,
        cache_dir: Path,
        registrations: Registrations | None = None,
        store_options: dict[str, object] | None = None,
    ) -> None:
        self.store_url = store_url.rstrip("/")
        self.cache_dir = cache_dir
        self.registrations: Registrations = registrations or InMemoryRegistrations()
        self._store_options = store_options or {}
        self._local_root = _local_path(self.store_url) if is_local_url(self.store_url) else None
        self._remote_store: ObjectStore | None = None

    def names(self) -> list[str]:
        """Every model name available: in the store, or registered."""
        found = set(self._store_names())
        found.update(r.name for r in self.registrations.list())
        return sorted(found)

    def url_of(self, name: str) -> str | None:
        """Where the artifact of ``name`` is, or None if there is no such model."""
        registration = self.registrations.get(name)
        if registration is not None:
            return registration.url
        if self._local_root is not None:
            folder = self._local_root / name
            if _is_model_name(name) and folder.is_dir():
                return str(folder)
            archive = self._local_root / f"{name}{ARCHIVE_SUFFIX}"
            if _is_model_name(name) and archive.is_file():
                return str(archive)
            return None
        if not _is_model_name(name):
            return None
        store = self._store()
        for key in (name, f"{name}{ARCHIVE_SUFFIX}"):
            if store.exists(key):
                return store.url_for(key)
        return None

    def register(self, name: str, url: str) -> None:
        """Register ``name`` at ``url``; ModelNotFound if nothing is there."""
        if not _is_model_name(name):
            raise ModelNotFound(f"invalid model name {name!r}")
        if not self._url_exists(url):
            raise ModelNotFound(f"no model artifact at {url!r}")
        existing = self.registrations.get(name)
        if existing is not None:
            if existing.url == url:
                return
            self.registrations.remove(name)  # re-registered elsewhere: the newest URL wins
        self.registrations.add(name, url)

    def deregister(self, name: str) -> bool:
        """Forget a registration; whether there was one."""
        return self.registrations.remove(name)

    async def fetch(self, name: str) -> tuple[str, str, int]:
        """Make ``name`` a local folder: returns (folder, url, artifact bytes)."""
        url = self.url_of(name)
        if url is None:
            raise ModelNotFound(f"model {name!r} was not found in {self.store_url}")
        if is_local_url(url):
            path = _local_path(url)
            if path.is_dir():
                return str(path), url, _tree_size(path)
            return await asyncio.to_thread(self._unpack_local, name, path, url)
        return await asyncio.to_thread(self._download, name, url)

    # -- internals ---------------------------------------------------------------------

    def _store_names(self) -> list[str]:
        if self._local_root is not None:
            try:
                children = list(os.scandir(self._local_root))
            except FileNotFoundError:
                return []
            names = []
            for child in children:
                if child.name.startswith("."):
                    continue
                if child.is_dir():
                    names.append(child.name)
                elif child.name.endswith(ARCHIVE_SUFFIX):
                    names.append(child.name[: -len(ARCHIVE_SUFFIX)])
            return names
        return [
            base[: -len(ARCHIVE_SUFFIX)] if base.endswith(ARCHIVE_SUFFIX) else base
            for base in self._store().list()
            if not base.startswith(".")
        ]

    def _url_exists(self, url: str) -> bool:
        if is_local_url(url):
            return _local_path(url).exists()
        parent, key = _split_url(url)
        return open_store(parent, self._store_options).exists(key)

    def _store(self) -> ObjectStore:
        if self._remote_store is None:
            self._remote_store = open_store(self.store_url, self._store_options)
        return self._remote_store

    def _unpack_local(self, name: str, archive: Path, url: str) -> tuple[str, str, int]:
        stat = archive.stat()
        target = self.cache_dir / "models" / name / f"{stat.st_mtime_ns}-{stat.st_size}"
        if not target.is_dir():
            _unpack(archive, target)
        return str(target), url, _tree_size(target)

    def _download(self, name: str, url: str) -> tuple[str, str, int]:
        parent, key = _split_url(url)
        store = open_store(parent, self._store_options)
        modified = store.modified(key)
        version = f"{int(modified * 1e6)}-{store.size(key)}" if modified else "latest"
        target = self.cache_dir / "models" / name / version
        if target.is_dir():
            return str(target), url, _tree_size(target)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        download_dir = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".download-"))
        try:
            if store.is_dir(key):
                store.download(key, download_dir / "model")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(download_dir / "model", target)
            else:
                store.download(key, download_dir / "model.tar.gz")
                _unpack(download_dir / "model.tar.gz", target)
        finally:
            shutil.rmtree(download_dir, ignore_errors=True)
        return str(target), url, _tree_size(target)


def _split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b.tar.gz`` -> (``s3://bucket/a``, ``b.tar.gz``)."""
    parent, _, key = url.rstrip("/").rpartition("/")
    return parent, key


def _is_model_name(name: str) -> bool:
    # Names become path components: refuse anything that could walk out of the store.
    return bool(name) and name not in {".", ".."} and "/" not in name and "\\" not in name
