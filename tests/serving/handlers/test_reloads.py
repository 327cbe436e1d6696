"""The worker's reload cache: fast reloads, fresh reads of changed files, bounded size."""

from __future__ import annotations

import os
import pickle
import threading
from pathlib import Path
from typing import Any

from modelyard.serving.handlers.reloads import ReloadCache


class CountingLoader:
    """Reads a pickle, counting how often the file itself was read."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, path: Path) -> Any:
        self.reads += 1
        return pickle.loads(path.read_bytes())


def _write(path: Path, value: Any) -> Path:
    path.write_bytes(pickle.dumps(value))
    return path


def test_a_reload_is_an_equal_copy_without_reading_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "model.pkl", {"weights": [1.0, 2.0]})
    cache, loader = ReloadCache(), CountingLoader()
    first = cache.load(path, loader)
    second = cache.load(path, loader)
    assert second == first == {"weights": [1.0, 2.0]}
    assert second is not first
    assert loader.reads == 1


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "model.pkl", "old")
    cache, loader = ReloadCache(), CountingLoader()
    assert cache.load(path, loader) == "old"
    _write(path, "newer value")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cache.load(path, loader) == "newer value"
    assert loader.reads == 2


def test_the_cache_stays_within_its_bounds(tmp_path: Path) -> None:
    cache, loader = ReloadCache(max_bytes=3000, max_item_bytes=1500), CountingLoader()
    for i in range(10):
        cache.load(_write(tmp_path / f"m{i}.pkl", b"x" * 1000), loader)
    big = _write(tmp_path / "big.pkl", b"x" * 5000)
    cache.load(big, loader)
    cache.load(big, loader)
    assert len(cache) <= 3
    assert loader.reads == 12  # the big one is never kept


def test_values_that_do_not_pickle_are_not_kept(tmp_path: Path) -> None:
    path = _write(tmp_path / "model.pkl", "ignored")
    cache = ReloadCache()
    lock = cache.load(path, lambda _: threading.Lock())
    assert cache.load(path, lambda _: threading.Lock()) is not lock
    assert len(cache) == 0
