"""Where a model may come from, and how much of it the server will read.

A model URL sent to ``POST /models`` is client input: it is normalised (``file://`` plus
the real path, symlinks followed, for local paths; a known fsspec scheme otherwise),
refused under ``/proc``, ``/sys`` and ``/dev`` whatever the settings say, and then must
match one of the allowed patterns in full (``ServingSettings.allowed_model_urls``, like
TorchServe's ``allowed_urls``). Only then does the server look at what is there, and
only at regular files and folders, within limits of size, file count and time: a
device, FIFO or socket is never opened, and a walk of ``/`` stops at the first limit.

Errors name the model and the problem, never a host path: what exists outside the store
is not the client's business.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import fsspec  # type: ignore[import-untyped]  # fsspec ships no type information

from modelyard.errors import (
    InvalidModelArtifact,
    InvalidModelName,
    ModelNotFound,
    ModelUrlNotAllowed,
)

__all__ = [
    "ARCHIVE_SUFFIXES",
    "FORBIDDEN_ROOTS",
    "MAX_MODEL_NAME_LENGTH",
    "MAX_URL_LENGTH",
    "STORE_MANIFEST",
    "ArtifactLimits",
    "ArtifactPolicy",
    "cache_key",
    "check_model_name",
    "is_local_url",
    "local_path",
    "measure_folder",
    "unpack_archive",
]

#: Archives a model may come as (SageMaker's model.tar.gz, and its plain-tar cousins).
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

#: A store folder holding this file is a model store of its own (a training pipeline's
#: models, each served by name through a MultiModel endpoint), not one model.
STORE_MANIFEST = ".pipeline.json"

#: Never a model, whatever the allowed patterns say: kernel and device file systems.
FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")

#: SageMaker's ``TargetModel`` may be up to 1,024 characters; so may a model name here.
MAX_MODEL_NAME_LENGTH = 1024

#: Longest model URL accepted (Linux's PATH_MAX).
MAX_URL_LENGTH = 4096

_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def check_model_name(name: str) -> str:
    """Return ``name`` if a contract can serve it; InvalidModelName (400) otherwise.

    SageMaker's ``TargetModel`` pattern is ``\\A\\S[\\p{Print}]*\\z``, 1 to 1,024
    characters; ``.`` and ``..`` are refused too, as names also key files on disk.
    """
    if not name:
        raise InvalidModelName("the model name is empty")
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidModelName(
            f"the model name is {len(name)} characters long; at most "
            f"{MAX_MODEL_NAME_LENGTH} are allowed"
        )
    if not name.isprintable() or name[0].isspace():
        raise InvalidModelName(
            f"the model name {name[:64]!r} has a control character or leading whitespace"
        )
    if name in (".", ".."):
        raise InvalidModelName(f"{name!r} is not a model name")
    return name


def cache_key(name: str) -> str:
    """A file name for ``name``'s local copies: the name itself when short and plain.

    Other names (long, or with characters a file system may refuse) get a readable
    prefix and a hash, so no client-chosen name is ever used raw as a host file name.
    """
    if _SAFE_KEY.fullmatch(name):
        return name
    readable = _UNSAFE_CHARS.sub("_", name)[:48].strip("._") or "model"
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:24]}"


def is_local_url(url: str) -> bool:
    """Whether ``url`` names a local path (plain path or ``file://``)."""
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> Path:
    """The path of a local URL (``file:///a/b`` or ``/a/b``)."""
    return Path(url.removeprefix("file://"))


@dataclass(frozen=True, kw_only=True)
class ArtifactLimits:
    """How much of an artifact the server reads before refusing it.

    >>> ArtifactLimits(max_bytes=4 * 2**30, max_files=10_000, timeout_s=300)
    """

    #: Bytes of all regular files (a folder's, or an archive's and its members').
    max_bytes: int
    #: Entries (files, folders, links) a folder or archive may hold.
    max_files: int
    #: Seconds a check, download or unpack may take.
    timeout_s: float

    def deadline(self) -> float:
        """The monotonic time by which work started now must be done."""
        return time.monotonic() + self.timeout_s


class ArtifactPolicy:
    """Which model URLs may be registered: normalised, then matched against patterns."""

    def __init__(self, allowed: list[str] | None, store_url: str) -> None:
        store = normalise_store_url(store_url)
        patterns = allowed if allowed is not None else [r"file://.*", re.escape(store) + r"(/.*)?"]
        try:
            #: The allowed patterns, each matched against a whole normalised URL.
            self.patterns = [re.compile(p) for p in patterns]
        except re.error as exc:
            raise ValueError(f"invalid pattern in allowed_model_urls: {exc}") from exc
        self._store = store

    def check(self, name: str, url: str) -> str:
        """The normalised ``url``, if ``name`` may be registered there.

        Raises InvalidModelArtifact (400) for a URL that cannot name an artifact and
        ModelUrlNotAllowed (403) for one outside the allowed locations. Nothing is read
        but the path's symlinks (to resolve them).
        """
        normalised = self.normalise(name, url)
        if is_local_url(normalised):
            path = normalised.removeprefix("file://")
            inside = path.rstrip("/") + "/"
            if any(
                path == root or path.startswith(root + "/") or root.startswith(inside)
                for root in FORBIDDEN_ROOTS
            ):
                raise ModelUrlNotAllowed(
                    f"model {name!r}: models may not come from /proc, /sys or /dev"
                )
        if not any(pattern.fullmatch(normalised) for pattern in self.patterns):
            raise ModelUrlNotAllowed(
                f"model {name!r}: loading models from that location is not allowed "
                "(see MODELYARD_SERVING__ALLOWED_MODEL_URLS)"
            )
        return normalised

    def is_in_store(self, normalised: str) -> bool:
        """Whether a normalised URL lies in the object store."""
        return normalised == self._store or normalised.startswith(self._store + "/")

    @staticmethod
    def normalise(name: str, url: str) -> str:
        """``file://`` + the real path for local URLs; a cleaned fsspec URL otherwise."""
        if len(url) > MAX_URL_LENGTH:
            raise InvalidModelArtifact(
                f"model {name!r}: the url is {len(url)} characters long; at most "
                f"{MAX_URL_LENGTH} are allowed"
            )
        if not url.isprintable() or not url.strip():
            raise InvalidModelArtifact(
                f"model {name!r}: the url is empty or has control characters"
            )
        url = url.strip()
        if is_local_url(url):
            raw = url.removeprefix("file://")
            if raw.startswith("localhost/"):
                raw = raw.removeprefix("localhost")
            if not raw.startswith("/"):
                raise InvalidModelArtifact(f"model {name!r}: a local url must be an absolute path")
            return "file://" + os.path.realpath(raw)
        scheme, _, rest = url.partition("://")
        scheme = scheme.lower()
        if scheme not in fsspec.available_protocols():
            raise InvalidModelArtifact(f"model {name!r}: unknown url scheme {scheme!r}")
        parts = [part for part in rest.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            raise InvalidModelArtifact(
                f"model {name!r}: the url has no path, or a '.' or '..' part"
            )
        return f"{scheme}://{'/'.join(parts)}"


def normalise_store_url(store_url: str) -> str:
    """The store's URL in the form :meth:`ArtifactPolicy.normalise` gives."""
    if is_local_url(store_url):
        return "file://" + os.path.realpath(store_url.removeprefix("file://"))
    scheme, _, rest = store_url.partition("://")
    return f"{scheme.lower()}://{'/'.join(p for p in rest.split('/') if p)}"


def inspect_local(name: str, path: Path, limits: ArtifactLimits) -> tuple[bool, int]:
    """What a local artifact is: ``(is_folder, bytes)``, within the limits.

    A folder is walked (without following links into other folders); a file must be a
    tar archive. Raises ModelNotFound when nothing is there and InvalidModelArtifact for
    anything else that is not a model artifact.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelNotFound(f"model {name!r}: no model artifact at the given url") from None
    except OSError as exc:
        raise InvalidModelArtifact(
            f"model {name!r}: the artifact cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        return True, measure_folder(name, path, limits)
    if not stat.S_ISREG(info.st_mode):
        raise InvalidModelArtifact(
            f"model {name!r}: the url names a device, FIFO or socket, not a model artifact"
        )
    if info.st_size > limits.max_bytes:
        raise InvalidModelArtifact(_too_large(name, limits))
    if not _is_tar(path):
        raise InvalidModelArtifact(
            f"model {name!r}: the url names a file that is not a tar archive "
            "(a model is a folder or a .tar.gz archive)"
        )
    return False, info.st_size


def measure_folder(name: str, folder: Path, limits: ArtifactLimits) -> int:
    """Bytes of the regular files under ``folder``; InvalidModelArtifact past a limit.

    Links are followed to check what they point at, but never into folders (no loops).
    """
    deadline = limits.deadline()
    total = 0
    entries = 0
    pending = [str(folder)]
    while pending:
        try:
            scanner = os.scandir(pending.pop())
        except OSError as exc:
            raise InvalidModelArtifact(
                f"model {name!r}: a folder of the artifact cannot be read "
                f"({exc.strerror or type(exc).__name__})"
            ) from None
        with scanner:
            for entry in scanner:
                entries += 1
                if entries > limits.max_files:
                    raise InvalidModelArtifact(
                        f"model {name!r}: the artifact holds more than {limits.max_files} files"
                    )
                if entries % 256 == 0 and time.monotonic() > deadline:
                    raise InvalidModelArtifact(_too_slow(name, limits))
                try:
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if stat.S_ISLNK(mode):
                        target = os.stat(entry.path)
                        mode = target.st_mode
                        if stat.S_ISDIR(mode):
                            continue
                except OSError:
                    continue  # a dangling link: the handler will say if it needed it
                if stat.S_ISDIR(mode):
                    if not entry.is_symlink():
                        pending.append(entry.path)
                elif stat.S_ISREG(mode):
                    total += entry.stat().st_size
                    if total > limits.max_bytes:
                        raise InvalidModelArtifact(_too_large(name, limits))
                else:
                    raise InvalidModelArtifact(
                        f"model {name!r}: the artifact holds a device, FIFO or socket "
                        f"({entry.name!r}); only regular files and folders may be in a model"
                    )
    return total


def unpack_archive(name: str, archive: Path, target: Path, limits: ArtifactLimits) -> None:
    """Unpack ``archive`` into the new folder ``target`` atomically, within the limits.

    Members are vetted first (count, sizes, kinds; then tarfile's ``data`` filter refuses
    absolute paths, links out of the folder and special files), so nothing is written
    for an archive that would be refused. A half-unpacked model is never seen: members go
    to a scratch folder renamed into place.
    """
    import shutil
    import tempfile

    deadline = limits.deadline()
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = []
            total = 0
            for member in tar:
                members.append(member)
                if len(members) > limits.max_files:
                    raise InvalidModelArtifact(
                        f"model {name!r}: the archive holds more than {limits.max_files} files"
                    )
                if time.monotonic() > deadline:
                    raise InvalidModelArtifact(_too_slow(name, limits))
                if member.isreg():
                    total += member.size
                    if total > limits.max_bytes:
                        raise InvalidModelArtifact(_too_large(name, limits))
                elif not (member.isdir() or member.issym() or member.islnk()):
                    raise InvalidModelArtifact(
                        f"model {name!r}: the archive holds a device or FIFO "
                        f"({member.name!r}); only regular files and folders may be in a model"
                    )
            tar.extractall(scratch, members=members, filter="data")
        os.replace(scratch, target)
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        if target.is_dir():  # another process unpacked it first
            return
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise InvalidModelArtifact(
            f"model {name!r}: cannot unpack the archive ({reason})"
        ) from None
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _too_large(name: str, limits: ArtifactLimits) -> str:
    return (
        f"model {name!r}: the artifact is larger than {limits.max_bytes / 2**20:.0f} MiB "
        "(MODELYARD_SERVING__MAX_ARTIFACT_BYTES)"
    )


def _too_slow(name: str, limits: ArtifactLimits) -> str:
    return (
        f"model {name!r}: reading the artifact took longer than {limits.timeout_s:g} s "
        "(MODELYARD_SERVING__ARTIFACT_TIMEOUT_S)"
    )
