"""Fast reloads of evicted estimators: their pickled form kept in the worker.

joblib reads its files with the pure-Python unpickler (it must, to restore numpy arrays
stored beside the pickle), which costs ~0.3 ms for even a tiny estimator; the C unpickler
restores the same object from ``pickle.dumps`` bytes in ~0.02 ms. With many models and a
memory budget smaller than the set in use, evicted models come back again and again, so
the worker keeps the pickled bytes of small estimators it has loaded (keyed by the file's
path, size and mtime: a changed artifact is read afresh). The cache is bounded, and only
estimators that pickle round-trip are kept.
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["ReloadCache", "reload_cache"]


class ReloadCache:
    """Pickled bytes of recently loaded artifacts, least recently used dropped first."""

    def __init__(self, max_bytes: int = 64 << 20, max_item_bytes: int = 1 << 20) -> None:
        self.max_bytes = max_bytes
        self.max_item_bytes = max_item_bytes
        self._items: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
        self._bytes = 0

    def load(self, path: Path, loader: Callable[[Path], Any]) -> Any:
        """``loader(path)``, or a copy of what it returned before for this very file."""
        name = os.fspath(path)
        stat = os.stat(name)
        key = (name, stat.st_mtime_ns, stat.st_size)
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
            return pickle.loads(data)
        value = loader(path)
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # not picklable once loaded: always read from the file
            return value
        if len(data) <= self.max_item_bytes:
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
        return value

    def __len__(self) -> int:
        return len(self._items)


#: The cache of this worker process.
reload_cache = ReloadCache()
