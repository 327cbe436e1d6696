"""Where models may come from: URL normalisation, the allowed list, names, artifact limits."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import (
    InvalidModelArtifact,
    InvalidModelName,
    ModelNotFound,
    ModelUrlNotAllowed,
)
from modelyard.serving.artifacts import (
    ArtifactLimits,
    ArtifactPolicy,
    cache_key,
    check_model_name,
    inspect_local,
    measure_folder,
    unpack_archive,
)
from tests.fixtures.models import sum_model, tarball

LIMITS = ArtifactLimits(max_bytes=1 << 20, max_files=50, timeout_s=10)


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lr", "a" * 1024, "model-a.b_c", "ünïcode", "with space"])
def test_names_the_contracts_allow(name: str) -> None:
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("a" * 1025, "1025 characters"),
        ("tab\there", "control character"),
        ("new\nline", "control character"),
        (" leading", "leading whitespace"),
        (".", "not a model name"),
        ("..", "not a model name"),
    ],
)
def test_names_no_contract_allows_are_refused(name: str, problem: str) -> None:
    with pytest.raises(InvalidModelName, match=problem):
        check_model_name(name)


@given(st.text(min_size=1, max_size=1024))
def test_cache_keys_are_safe_file_names_and_distinct(name: str) -> None:
    key = cache_key(name)
    assert 1 <= len(key) <= 100
    assert "/" not in key and "\x00" not in key and key not in (".", "..")
    assert key.isascii()
    if key != name:  # hashed: another name would give another key
        assert cache_key(name + "x") != key


def test_a_long_name_gets_a_hashed_key_that_a_file_system_takes(tmp_path: Path) -> None:
    name = "b" * 300
    key = cache_key(name)
    assert key != name and key.startswith("b")
    (tmp_path / key).mkdir()  # would be ENAMETOOLONG with the raw name


# -- the allowed list ------------------------------------------------------------------------


def test_local_urls_are_normalised_to_their_real_path(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    policy = ArtifactPolicy(None, str(tmp_path / "store"))
    expected = f"file://{os.path.realpath(real)}"
    assert policy.check("m", str(link)) == expected
    assert policy.check("m", f"file://{tmp_path}/x/../real") == expected
    assert policy.check("m", f"file://{real}/") == expected


@pytest.mark.parametrize(
    "url",
    ["/proc/self", "/proc", "/sys/kernel", "/dev/zero", "file:///dev/null", "/", "/tmp/../proc"],
)
def test_system_folders_are_refused_whatever_the_settings(url: str) -> None:
    policy = ArtifactPolicy([".*"], "/srv/store")
    with pytest.raises(ModelUrlNotAllowed) as refused:
        policy.check("m", url)
    assert "'m'" in refused.value.message


def test_a_link_into_a_system_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(ModelUrlNotAllowed):
        ArtifactPolicy([".*"], "/srv/store").check("m", str(tmp_path / "zero"))


def test_only_urls_matching_a_pattern_in_full_are_allowed(tmp_path: Path) -> None:
    store = tmp_path / "store"
    allowed = tmp_path / "allowed"
    policy = ArtifactPolicy([f"file://{os.path.realpath(allowed)}/.*"], str(store))
    assert policy.check("m", str(allowed / "a")).endswith("/allowed/a")
    for url in (str(tmp_path / "elsewhere"), str(allowed) + "-not", "s3://bucket/a"):
        with pytest.raises(ModelUrlNotAllowed) as refused:
            policy.check("m", url)
        assert str(tmp_path) not in refused.value.message


def test_a_link_out_of_the_allowed_folder_is_refused(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (tmp_path / "outside").mkdir()
    (allowed / "sneaky").symlink_to(tmp_path / "outside")
    policy = ArtifactPolicy([f"file://{os.path.realpath(allowed)}/.*"], str(tmp_path))
    with pytest.raises(ModelUrlNotAllowed):
        policy.check("m", str(allowed / "sneaky"))


def test_by_default_local_paths_and_the_store_are_allowed_and_nothing_else() -> None:
    policy = ArtifactPolicy(None, "s3://models-bucket/prod")
    assert policy.check("m", "/opt/ml/models/m/model") == "file:///opt/ml/models/m/model"
    assert (
        policy.check("m", "s3://models-bucket/prod/m.tar.gz") == "s3://models-bucket/prod/m.tar.gz"
    )
    assert policy.check("m", "S3://models-bucket//prod/m/") == "s3://models-bucket/prod/m"
    for url in ("s3://models-bucket/production/m", "s3://other/prod/m", "ftp://127.0.0.1/x"):
        with pytest.raises(ModelUrlNotAllowed):
            policy.check("m", url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("nosuchscheme://host/x", "unknown url scheme 'nosuchscheme'"),
        ("relative/path", "absolute path"),
        ("/tmp/" + "x" * 5000, "at most 4096"),
        ("s3://bucket/../etc", "'..' part"),
        ("s3://", "no path"),
        ("/tmp/nul\x00byte", "control characters"),
    ],
)
def test_urls_that_cannot_name_an_artifact_are_bad_requests(url: str, problem: str) -> None:
    with pytest.raises(InvalidModelArtifact, match=problem):
        ArtifactPolicy([".*"], "/srv/store").check("m", url)


@given(st.text(max_size=300))
def test_the_policy_never_fails_otherwise(url: str) -> None:
    policy = ArtifactPolicy(None, "/srv/store")
    try:
        checked = policy.check("m", url)
    except (InvalidModelArtifact, ModelUrlNotAllowed):
        return
    assert checked.startswith(("file:///", "/srv")) or "://" in checked


# -- what is there -----------------------------------------------------------------------------


def test_a_folder_is_measured(tmp_path: Path) -> None:
    folder = sum_model(tmp_path)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert inspect_local("m", folder, LIMITS) == (True, size)


def test_nothing_there_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as missing:
        inspect_local("m", tmp_path / "nothing", LIMITS)
    assert str(tmp_path) not in missing.value.message


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(InvalidModelArtifact, match="device, FIFO or socket"):
        inspect_local("m", fifo, LIMITS)
    assert time.monotonic() - started < 5  # opening it would block forever


def test_a_socket_inside_a_model_folder_is_refused(tmp_path: Path) -> None:
    folder = sum_model(tmp_path)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(folder / "control.sock"))
        with pytest.raises(InvalidModelArtifact, match="'control.sock'"):
            measure_folder("m", folder, LIMITS)


def test_a_link_to_a_device_inside_a_model_folder_is_refused(tmp_path: Path) -> None:
    folder = sum_model(tmp_path)
    (folder / "weights.bin").symlink_to("/dev/zero")
    with pytest.raises(InvalidModelArtifact, match="device"):
        measure_folder("m", folder, LIMITS)


def test_a_folder_with_too_many_files_is_refused(tmp_path: Path) -> None:
    for i in range(60):
        (tmp_path / f"f{i}").write_text("x")
    with pytest.raises(InvalidModelArtifact, match="more than 50 files"):
        measure_folder("m", tmp_path, LIMITS)


def test_a_folder_too_large_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"\0" * (2 << 20))
    with pytest.raises(InvalidModelArtifact, match="larger than 1 MiB"):
        measure_folder("m", tmp_path, LIMITS)


def test_a_link_loop_ends(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "file").write_text("x")
    assert measure_folder("m", tmp_path, LIMITS) == 1


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(InvalidModelArtifact, match="not a tar archive") as refused:
        inspect_local("m", passwd, LIMITS)
    assert "passwd" not in refused.value.message


# -- archives ----------------------------------------------------------------------------------


def _archive(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            data = io.BytesIO(b"\0" * member.size) if member.isreg() else None
            tar.addfile(member, data)
    return path


def test_an_archive_is_unpacked_atomically(tmp_path: Path) -> None:
    archive = tarball(sum_model(tmp_path / "src"))
    target = tmp_path / "cache" / "m" / "v1"
    unpack_archive("m", archive, target, LIMITS)
    assert (target / "model.py").is_file()
    assert [p.name for p in target.parent.iterdir()] == ["v1"]  # no scratch left


def test_an_archive_declaring_too_much_data_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    bomb = tarfile.TarInfo("weights.bin")
    bomb.size = 2 << 20
    archive = _archive(tmp_path / "bomb.tar.gz", [bomb])
    target = tmp_path / "cache" / "m" / "v1"
    with pytest.raises(InvalidModelArtifact, match="larger than 1 MiB"):
        unpack_archive("m", archive, target, LIMITS)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_an_archive_with_too_many_members_is_refused(tmp_path: Path) -> None:
    members = []
    for i in range(60):
        member = tarfile.TarInfo(f"f{i}")
        member.size = 1
        members.append(member)
    archive = _archive(tmp_path / "many.tar.gz", members)
    with pytest.raises(InvalidModelArtifact, match="more than 50 files"):
        unpack_archive("m", archive, tmp_path / "out" / "v", LIMITS)


def test_an_archive_holding_a_device_is_refused(tmp_path: Path) -> None:
    device = tarfile.TarInfo("zero")
    device.type = tarfile.CHRTYPE
    device.devmajor, device.devminor = 1, 5
    archive = _archive(tmp_path / "dev.tar.gz", [device])
    with pytest.raises(InvalidModelArtifact, match="device or FIFO"):
        unpack_archive("m", archive, tmp_path / "out" / "v", LIMITS)


def test_an_archive_escaping_its_folder_is_refused(tmp_path: Path) -> None:
    escape = tarfile.TarInfo("../../escaped")
    escape.size = 1
    archive = _archive(tmp_path / "escape.tar.gz", [escape])
    with pytest.raises(InvalidModelArtifact, match="cannot unpack"):
        unpack_archive("m", archive, tmp_path / "out" / "v", LIMITS)
    assert not (tmp_path / "escaped").exists()


def test_a_corrupt_archive_is_a_bad_artifact(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(InvalidModelArtifact, match="cannot unpack") as refused:
        unpack_archive("m", archive, tmp_path / "out" / "v", LIMITS)
    assert str(tmp_path) not in refused.value.message
