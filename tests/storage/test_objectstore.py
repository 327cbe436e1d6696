"""The object store: one suite, run on a local folder, fsspec memory and an S3 server."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import InvalidObjectKey, ObjectNotFound, ObjectStoreError
from modelyard.storage import ObjectStore, open_store
from modelyard.storage.objectstore import INLINE_PUT_BYTES, FsspecStore, put_object

BACKENDS = ["local", "memory", "s3"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "local":
        return str(tmp_path / "store")
    if backend == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    s3_server: Any = request.getfixturevalue("s3_server")
    return f"s3://{s3_server.new_bucket()}/prefix"


@pytest.fixture
def store_options(backend: str, request: pytest.FixtureRequest) -> dict[str, object]:
    if backend != "s3":
        return {}
    s3_server: Any = request.getfixturevalue("s3_server")
    return dict(s3_server.options)


@pytest.fixture
def store(store_url: str, store_options: dict[str, object]) -> ObjectStore:
    return open_store(store_url, store_options)


def write_tree(store: ObjectStore) -> None:
    """models/a/model.bin, models/a/code/handler.py, models/b.json, readme.txt."""
    store.put("models/a/model.bin", b"\x00\x01\x02")
    store.put("models/a/code/handler.py", b"def handle(): ...\n")
    store.put("models/b.json", b"{}")
    store.put("readme.txt", b"hello")


def test_open_store_gives_an_object_store(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_put_then_get_gives_the_bytes_back(store: ObjectStore) -> None:
    store.put("models/a/model.bin", b"\x00weights\xff")

    assert store.get("models/a/model.bin") == b"\x00weights\xff"


def test_put_replaces_the_object(store: ObjectStore) -> None:
    store.put("data.csv", b"1,2\n")
    store.put("data.csv", b"3\n")

    assert store.get("data.csv") == b"3\n"
    assert store.list() == ["data.csv"]


def test_put_of_empty_bytes_keeps_an_empty_object(store: ObjectStore) -> None:
    store.put("empty", b"")

    assert store.exists("empty")
    assert store.get("empty") == b""
    assert store.size("empty") == 0


def test_get_of_a_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match=r"no object or folder at .*missing\.bin"):
        store.get("models/missing.bin")


def test_get_of_a_folder_raises_object_not_found(store: ObjectStore) -> None:
    write_tree(store)

    with pytest.raises(ObjectNotFound, match="is a folder, not an object"):
        store.get("models/a")


def test_exists_and_is_dir_tell_objects_folders_and_nothing_apart(store: ObjectStore) -> None:
    write_tree(store)

    assert (store.exists("models/b.json"), store.is_dir("models/b.json")) == (True, False)
    assert (store.exists("models/a"), store.is_dir("models/a")) == (True, True)
    assert (store.exists("models/nope"), store.is_dir("models/nope")) == (False, False)


def test_keys_with_surrounding_slashes_name_the_same_object(store: ObjectStore) -> None:
    store.put("/models/b.json", b"{}")

    assert store.get("models/b.json/") == b"{}"
    assert store.list("/models/") == ["b.json"]


def test_list_gives_immediate_children_sorted(store: ObjectStore) -> None:
    write_tree(store)

    assert store.list() == ["models", "readme.txt"]
    assert store.list("models") == ["a", "b.json"]
    assert store.list("models/a") == ["code", "model.bin"]


def test_list_of_a_missing_prefix_or_an_object_is_empty(store: ObjectStore) -> None:
    write_tree(store)

    assert store.list("nothing/here") == []
    assert store.list("readme.txt") == []


def test_list_sees_what_another_store_on_the_same_root_wrote(
    store_url: str, store_options: dict[str, object]
) -> None:
    # Two processes share a store; listings cached by one must not hide the other's writes.
    reader = open_store(store_url, {**store_options, "skip_instance_cache": True})
    writer = open_store(store_url, {**store_options, "skip_instance_cache": True})
    writer.put("models/a/model.bin", b"1")
    assert reader.list("models") == ["a"]

    writer.put("models/b/model.bin", b"2")

    assert reader.list("models") == ["a", "b"]
    assert reader.exists("models/b/model.bin")


def test_delete_removes_an_object(store: ObjectStore) -> None:
    write_tree(store)

    store.delete("models/b.json")

    assert not store.exists("models/b.json")
    assert store.get("models/a/model.bin") == b"\x00\x01\x02"


def test_delete_of_a_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.delete("models/missing.bin")


def test_delete_of_a_folder_needs_recursive(store: ObjectStore) -> None:
    write_tree(store)

    with pytest.raises(ObjectStoreError, match="is a folder; delete it with recursive=True"):
        store.delete("models/a")
    assert store.exists("models/a/model.bin")


def test_delete_recursive_removes_the_folder_and_all_under_it(store: ObjectStore) -> None:
    write_tree(store)

    store.delete("models/a", recursive=True)

    assert not store.exists("models/a")
    assert store.list("models") == ["b.json"]


def test_delete_of_the_root_is_refused(store: ObjectStore) -> None:
    write_tree(store)

    with pytest.raises(InvalidObjectKey, match="names the store root"):
        store.delete("", recursive=True)
    assert store.exists("readme.txt")


def test_download_of_an_object_writes_the_file(store: ObjectStore, tmp_path: Path) -> None:
    write_tree(store)
    target = tmp_path / "local" / "deep" / "model.bin"

    store.download("models/a/model.bin", target)

    assert target.read_bytes() == b"\x00\x01\x02"


def test_download_of_a_folder_copies_it_recursively(store: ObjectStore, tmp_path: Path) -> None:
    write_tree(store)
    target = tmp_path / "cache" / "a"

    store.download("models/a", target)

    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["code/handler.py", "model.bin"]
    assert (target / "code" / "handler.py").read_bytes() == b"def handle(): ...\n"


def test_download_of_a_missing_key_raises_object_not_found(
    store: ObjectStore, tmp_path: Path
) -> None:
    with pytest.raises(ObjectNotFound):
        store.download("models/missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_upload_of_a_file_stores_its_bytes(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")

    store.upload(source, "models/c/model.bin")

    assert store.get("models/c/model.bin") == b"weights"


def test_upload_of_a_folder_then_download_round_trips(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "code" / "lib").mkdir(parents=True)
    (source / "model.bin").write_bytes(b"\x00" * 1000)
    (source / "code" / "handler.py").write_text("x = 1\n")
    (source / "code" / "lib" / "util.py").write_text("y = 2\n")

    store.upload(source, "models/c")
    store.download("models/c", tmp_path / "back")

    assert store.list("models/c") == ["code", "model.bin"]
    for relative in ["model.bin", "code/handler.py", "code/lib/util.py"]:
        assert (tmp_path / "back" / relative).read_bytes() == (source / relative).read_bytes()


def test_upload_of_a_missing_local_path_raises(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectStoreError, match="no such file or folder"):
        store.upload(tmp_path / "nope", "models/c")


def test_modified_of_a_new_object_is_now(store: ObjectStore) -> None:
    before = time.time()
    store.put("models/b.json", b"{}")

    modified = store.modified("models/b.json")

    # S3 keeps whole seconds; allow for that and for a little clock skew.
    assert modified is not None
    assert before - 2 <= modified <= time.time() + 2


def test_modified_of_a_folder_is_its_latest_object(store: ObjectStore) -> None:
    write_tree(store)

    folder = store.modified("models/a")

    assert folder is not None
    assert folder == max(
        store.modified("models/a/model.bin") or 0.0,
        store.modified("models/a/code/handler.py") or 0.0,
    )


def test_modified_of_a_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.modified("models/missing.bin")


def test_size_of_an_object_and_of_a_folder(store: ObjectStore) -> None:
    write_tree(store)

    assert store.size("models/a/model.bin") == 3
    assert store.size("models") == 3 + len(b"def handle(): ...\n") + 2


def test_size_of_a_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.size("models/missing.bin")


def test_url_for_names_the_backend_and_the_key(store: ObjectStore, backend: str) -> None:
    scheme = {"local": "file://", "memory": "memory://", "s3": "s3://"}[backend]

    url = store.url_for("models/a/model.bin")

    assert url.startswith(scheme)
    assert url.endswith("/models/a/model.bin")
    assert url.startswith(store.url_for("").rstrip("/"))


@pytest.mark.parametrize("key", ["..", "../outside", "models/../../etc", "a//b", "./a", "a\\b"])
def test_keys_that_could_leave_the_root_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidObjectKey):
        store.put(key, b"x")
    with pytest.raises(InvalidObjectKey):
        store.exists(key)


def test_open_store_creates_a_local_folder(tmp_path: Path) -> None:
    root = tmp_path / "new" / "store"

    store = open_store(str(root))
    store.put("a.txt", b"a")

    assert (root / "a.txt").read_bytes() == b"a"


def test_open_store_of_an_unknown_protocol_raises_object_store_error() -> None:
    with pytest.raises(ObjectStoreError, match="cannot open the object store at 'nosuch://x'"):
        open_store("nosuch://x")


def test_an_unreachable_s3_server_raises_object_store_error() -> None:
    store = open_store(
        "s3://bucket/prefix",
        # Nothing listens on port 9 here; one attempt only, so the test is quick.
        {
            "endpoint_url": "http://127.0.0.1:9",
            "key": "x",
            "secret": "y",
            "config_kwargs": {"retries": {"max_attempts": 1}},
            "skip_instance_cache": True,
        },
    )

    with pytest.raises(ObjectStoreError, match="cannot read 's3://bucket/prefix/a'"):
        store.get("a")


segment = st.text(st.characters(codec="utf-8", exclude_characters="/\\\x00"), min_size=1)


@pytest.mark.parametrize("backend_url", ["local", "memory"])
@settings(max_examples=50, deadline=None)
@given(key=st.text(max_size=300), data=st.binary(max_size=64))
def test_any_key_raises_only_domain_errors(backend_url: str, key: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = folder if backend_url == "local" else f"memory://h-{uuid.uuid4().hex}"
        store = open_store(url)
        try:
            store.put(key, data)
        except (InvalidObjectKey, ObjectStoreError) as exc:
            # Refused keys are refused with our errors, saying why.
            assert repr(key) in exc.message or "cannot write" in exc.message
            return
        assert store.get(key) == data
        assert store.exists(key)


@settings(max_examples=50, deadline=None)
@given(parts=st.lists(segment.filter(lambda s: s not in (".", "..")), min_size=1, max_size=4))
def test_put_get_and_list_round_trip_any_valid_key(parts: list[str]) -> None:
    store = open_store(f"memory://h-{uuid.uuid4().hex}")
    key = "/".join(parts)

    store.put(key, key.encode())

    assert store.get(key) == key.encode()
    assert store.list("/".join(parts[:-1])) == [parts[-1]]


def test_put_over_a_local_folder_raises_object_store_error(tmp_path: Path) -> None:
    store = open_store(str(tmp_path))
    store.put("models/a/model.bin", b"1")

    with pytest.raises(ObjectStoreError, match="cannot write"):
        store.put("models/a", b"2")
    assert store.get("models/a/model.bin") == b"1"


def test_a_write_cut_short_by_a_kill_is_not_listed(tmp_path: Path) -> None:
    """A local write goes to a partial file renamed into place; a process killed between
    the two leaves the partial file, which is never an object."""
    store = open_store(str(tmp_path))
    store.put("parts/0.json", b"{}")
    (tmp_path / "parts" / "1.json.partial-0123abcd").write_bytes(b'{"trunc')
    assert store.list("parts") == ["0.json"]


@pytest.mark.parametrize("size", [10, INLINE_PUT_BYTES + 1])
def test_put_object_writes_small_local_objects_at_once_and_others_in_a_thread(
    tmp_path: Path, size: int
) -> None:
    """A job's small answers go to a local folder without a thread hand-off; a large
    object, or one for a remote store, never blocks the event loop."""
    local = open_store(str(tmp_path / "store"))
    remote = open_store(f"memory://test-{uuid.uuid4().hex}")
    writers: list[tuple[str, bool]] = []
    for store in (local, remote):
        assert isinstance(store, FsspecStore)
        put = store.put

        def recording(key: str, data: bytes, put: Any = put) -> None:
            writers.append((key, threading.current_thread() is threading.main_thread()))
            put(key, data)

        store.put = recording  # type: ignore[method-assign]

    async def scenario() -> None:
        await put_object(local, "results/local.json", b"x" * size)
        await put_object(remote, "results/remote.json", b"y" * size)

    asyncio.run(scenario())

    assert local.get("results/local.json") == b"x" * size
    assert remote.get("results/remote.json") == b"y" * size
    assert writers == [
        ("results/local.json", size <= INLINE_PUT_BYTES),
        ("results/remote.json", False),
    ]
