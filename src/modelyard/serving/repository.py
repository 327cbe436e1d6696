"""Where model artifacts come from: the model store, and models registered by URL.

A model in the store is a folder ``<name>/`` or an archive ``<name>.tar.gz`` (SageMaker's
model.tar.gz convention, the model files at the archive root); a folder holding a
``.pipeline.json`` is a training pipeline's store of models, served through a MultiModel
endpoint, and not a model of its own. ``POST /models`` may also
register a model by URL (a local path or an fsspec URL) when the artifact policy allows
it (see :mod:`modelyard.serving.artifacts`). Before a worker loads a model the repository
makes it a local folder: a local folder is used in place, an archive is unpacked once
into the cache folder, a remote artifact is downloaded there first; all within the
artifact limits.

Every method here may touch the disk, the database or a remote store: callers on the
event loop run them in a thread (``fetch`` does so itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from modelyard.errors import (
    InvalidModelArtifact,
    ModelAlreadyExists,
    ModelNotFound,
    ModelyardError,
    RegistrationExists,
)
from modelyard.serving.artifacts import (
    STORE_MANIFEST,
    ArtifactLimits,
    ArtifactPolicy,
    cache_key,
    check_model_name,
    inspect_local,
    is_local_url,
    local_path,
    measure_folder,
    unpack_archive,
)
from modelyard.serving.facade import ModelRef
from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.storage.registrations import ModelRegistration

__all__ = [
    "InMemoryRegistrations",
    "ModelRepository",
    "Registrations",
    "is_local_url",
]

ARCHIVE_SUFFIX = ".tar.gz"

#: What the limits are when the caller sets none (tests, tools).
DEFAULT_LIMITS = ArtifactLimits(max_bytes=4 * 2**30, max_files=10_000, timeout_s=300.0)


class Registrations(Protocol):
    """Storage of registered models: in memory for ``serve``, the database for ``up``.

    ``add`` raises :class:`~modelyard.errors.RegistrationExists` when the name is taken.
    """

    def add(self, name: str, url: str) -> object: ...

    def get(self, name: str) -> ModelRegistration | None: ...

    def remove(self, name: str) -> bool: ...

    def list(self) -> Iterable[ModelRegistration]: ...


class InMemoryRegistrations:
    """Registrations kept for the life of the process."""

    def __init__(self) -> None:
        self._by_name: dict[str, ModelRegistration] = {}

    def add(self, name: str, url: str) -> ModelRegistration:
        """Register ``name`` at ``url``; RegistrationExists if the name is taken."""
        if name in self._by_name:
            raise RegistrationExists(f"model {name!r} is already registered")
        registration = ModelRegistration(name=name, url=url, created_at=datetime.now(UTC))
        self._by_name[name] = registration
        return registration

    def get(self, name: str) -> ModelRegistration | None:
        """The registration of ``name``, if any."""
        return self._by_name.get(name)

    def remove(self, name: str) -> bool:
        """Forget ``name``; whether it was registered."""
        return self._by_name.pop(name, None) is not None

    def list(self) -> list[ModelRegistration]:
        """All registrations."""
        return list(self._by_name.values())


class ModelRepository:
    """Finds model artifacts by name and makes them local folders for the workers."""

    def __init__(
        self,
        store_url: str,
        cache_dir: Path,
        registrations: Registrations | None = None,
        store_options: dict[str, object] | None = None,
        *,
        allowed_urls: list[str] | None = None,
        limits: ArtifactLimits = DEFAULT_LIMITS,
        store_root: str | None = None,
    ) -> None:
        self.store_url = store_url.rstrip("/")
        #: The object store's root, where ``s3://BUCKET/KEY`` URLs point (the models'
        #: folder when there is no store, as for ``serve``).
        self.store_root = (store_root or store_url).rstrip("/")
        self.cache_dir = cache_dir
        self.registrations: Registrations = registrations or InMemoryRegistrations()
        self.policy = ArtifactPolicy(allowed_urls, self.store_root)
        self.limits = limits
        self._store_options = store_options or {}
        self._local_root = local_path(self.store_url) if is_local_url(self.store_url) else None
        self._remote_store: ObjectStore | None = None
        #: Local artifacts fetched, by (key, area URL): trusted while unchanged.
        self._fetched: dict[tuple[str, str | None], _Fetched] = {}

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
        return self._store_url_of(name)

    def register(self, name: str, url: str) -> bool:
        """Register ``name`` at ``url``; whether a new registration was made.

        The URL must be allowed (403) and name a model artifact within the limits (404
        when nothing is there, 400 for anything else). A name already served by another
        artifact, registered or in the store, is refused (409) whether or not that model
        is loaded: names are not taken over. Registering a name again at the same
        artifact changes nothing and returns False.
        """
        check_model_name(name)
        normalised = self.policy.check(name, url)
        self._inspect(name, normalised)
        existing = self.registrations.get(name)
        if existing is not None:
            if self._same(name, existing.url, normalised):
                return False
            raise ModelAlreadyExists(
                f"model {name!r} is already registered with another artifact; "
                "delete it before registering it again"
            )
        in_store = self._store_url_of(name)
        if in_store is not None:
            if self._same(name, in_store, normalised):
                return False
            raise ModelAlreadyExists(
                f"model {name!r} is a model of the store and cannot be registered elsewhere"
            )
        self._fetched.pop((name, None), None)
        self.registrations.add(name, url)
        return True

    def deregister(self, name: str) -> bool:
        """Forget a registration; whether there was one."""
        self._fetched.pop((name, None), None)
        return self.registrations.remove(name)

    def is_registered(self, name: str) -> bool:
        """Whether ``name`` was registered by URL (rather than found in the store)."""
        return self.registrations.get(name) is not None

    def check_url(self, url: str) -> str:
        """A SageMaker-style artifact URL, normalised, if models may come from it.

        ``s3://BUCKET/KEY`` is the object store's key ``BUCKET/KEY`` (the store stands in
        for S3); other URLs and paths are taken as they are. The allowed-URL rule applies.
        """
        if url.startswith("s3://"):
            url = f"{self.store_root}/{url.removeprefix('s3://').lstrip('/')}"
        return self.policy.check("(artifact)", url)

    async def fetch(self, model: ModelRef) -> tuple[str, str, int]:
        """Make ``model`` a local folder: returns (folder, url, artifact bytes).

        Runs in a thread, within the artifact limits: nothing here blocks the event loop.
        A local artifact fetched before, whose file or folder is unchanged since (one
        ``stat`` says so), is answered at once: reloads of evicted models are the hot
        path when many models share a small budget, and a thread hop costs more than the
        rest of such a reload.
        """
        known = self._fetched.get((model.key, model.url))
        if known is not None:
            try:
                if _stamp(known.source) == known.stamp:
                    return known.answer
            except OSError:
                pass
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.fetch_now, model), self.limits.timeout_s + 5
            )
        except TimeoutError:
            raise InvalidModelArtifact(
                f"model {model.key!r}: fetching the artifact took longer than "
                f"{self.limits.timeout_s:g} s"
            ) from None

    def fetch_now(self, model: ModelRef) -> tuple[str, str, int]:
        """:meth:`fetch`, blocking the calling thread."""
        name = model.key
        check_model_name(name)
        if model.url is not None:
            # An area's model: the URL is the area's, checked again at each load.
            url = model.url
            source = self.policy.check(name, url)
        else:
            registration = self.registrations.get(name)
            if registration is not None:
                # Checked again at each load: a path may have become a link elsewhere since.
                url = registration.url
                source = self.policy.check(name, url)
            else:
                found = self._store_url_of(name)
                if found is None:
                    raise ModelNotFound(f"model {name!r} was not found in the model store")
                url = source = found
        # The stamp is taken before the artifact is read: a change while reading it makes
        # the next fetch read it again rather than trust what was read.
        stamp: tuple[int, int, int, int] | None = None
        if is_local_url(url):
            with contextlib.suppress(OSError):  # nothing there: _fetch_from says so
                stamp = _stamp(url)
        answer = self._fetch_from(name, url, source)
        if stamp is not None:
            if len(self._fetched) >= _MAX_FETCHED:
                self._fetched.clear()
            self._fetched[(name, model.url)] = _Fetched(source=url, stamp=stamp, answer=answer)
        return answer

    def _fetch_from(self, name: str, url: str, source: str) -> tuple[str, str, int]:
        if is_local_url(source):
            path = local_path(source)
            is_folder, size = inspect_local(name, path, self.limits)
            if is_folder:
                return str(path), url, size
            return self._unpack_local(name, path, url)
        return self._download(name, source, url)

    # -- internals ---------------------------------------------------------------------

    def _store_url_of(self, name: str) -> str | None:
        if not _is_store_name(name):
            return None
        if self._local_root is not None:
            folder = self._local_root / name
            if folder.is_dir():
                return None if (folder / STORE_MANIFEST).exists() else str(folder)
            archive = self._local_root / f"{name}{ARCHIVE_SUFFIX}"
            if archive.is_file():
                return str(archive)
            return None
        store = self._store()
        if store.exists(f"{name}/{STORE_MANIFEST}"):
            return None
        for key in (name, f"{name}{ARCHIVE_SUFFIX}"):
            if store.exists(key):
                return store.url_for(key)
        return None

    def _same(self, name: str, url: str, normalised: str) -> bool:
        try:
            return self.policy.normalise(name, url) == normalised
        except ModelyardError:
            return False

    def _inspect(self, name: str, normalised: str) -> None:
        if is_local_url(normalised):
            inspect_local(name, local_path(normalised), self.limits)
            return
        parent, key = _split_url(normalised)
        store = open_store(parent, self._store_options)
        if not store.exists(key):
            raise ModelNotFound(f"model {name!r}: no model artifact at the given url")
        if store.size(key) > self.limits.max_bytes:
            raise InvalidModelArtifact(
                f"model {name!r}: the artifact is larger than "
                f"{self.limits.max_bytes / 2**20:.0f} MiB (MODELYARD_SERVING__MAX_ARTIFACT_BYTES)"
            )

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
                    if not os.path.exists(os.path.join(child.path, STORE_MANIFEST)):
                        names.append(child.name)
                elif child.name.endswith(ARCHIVE_SUFFIX):
                    names.append(child.name[: -len(ARCHIVE_SUFFIX)])
            return names
        store = self._store()
        return [
            base[: -len(ARCHIVE_SUFFIX)] if base.endswith(ARCHIVE_SUFFIX) else base
            for base in store.list()
            if not base.startswith(".") and not store.exists(f"{base}/{STORE_MANIFEST}")
        ]

    def _store(self) -> ObjectStore:
        if self._remote_store is None:
            self._remote_store = open_store(self.store_url, self._store_options)
        return self._remote_store

    def _local_copy(self, name: str, version: str) -> Path:
        return self.cache_dir / "models" / cache_key(name) / version

    def _unpack_local(self, name: str, archive: Path, url: str) -> tuple[str, str, int]:
        stat = archive.stat()
        target = self._local_copy(name, f"{stat.st_mtime_ns}-{stat.st_size}")
        if not target.is_dir():
            unpack_archive(name, archive, target, self.limits)
        return str(target), url, measure_folder(name, target, self.limits)

    def _download(self, name: str, source: str, url: str) -> tuple[str, str, int]:
        parent, key = _split_url(source)
        store = open_store(parent, self._store_options)
        if not store.exists(key):
            raise ModelNotFound(f"model {name!r}: no model artifact at its url")
        size = store.size(key)
        if size > self.limits.max_bytes:
            raise InvalidModelArtifact(
                f"model {name!r}: the artifact is larger than "
                f"{self.limits.max_bytes / 2**20:.0f} MiB (MODELYARD_SERVING__MAX_ARTIFACT_BYTES)"
            )
        modified = store.modified(key)
        version = f"{int(modified * 1e6)}-{size}" if modified else "latest"
        target = self._local_copy(name, version)
        if target.is_dir():
            return str(target), url, measure_folder(name, target, self.limits)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        download_dir = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix=".download-"))
        try:
            if store.is_dir(key):
                store.download(key, download_dir / "model")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(download_dir / "model", target)
            else:
                store.download(key, download_dir / "model.tar.gz")
                unpack_archive(name, download_dir / "model.tar.gz", target, self.limits)
        finally:
            shutil.rmtree(download_dir, ignore_errors=True)
        return str(target), url, measure_folder(name, target, self.limits)


#: Most fetches remembered (a few hundred bytes each).
_MAX_FETCHED = 100_000


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A local artifact made a folder, and how its source looked then."""

    #: The URL as registered or found (a link in it is followed by the stamp's stat).
    source: str
    #: Device, inode, size and modification time of what ``source`` names.
    stamp: tuple[int, int, int, int]
    #: What ``fetch`` answered.
    answer: tuple[str, str, int]


def _stamp(url: str) -> tuple[int, int, int, int]:
    info = os.stat(local_path(url))  # follows links: a link pointed elsewhere changes it
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def _split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b.tar.gz`` -> (``s3://bucket/a``, ``b.tar.gz``)."""
    parent, _, key = url.rstrip("/").rpartition("/")
    return parent, key


def _is_store_name(name: str) -> bool:
    # Store names are path components: anything that could walk out of the store, or
    # that no file system would take, is simply not in the store.
    return (
        bool(name)
        and len(name) <= 255
        and name not in {".", ".."}
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
    )
