"""The public API of modelyard.storage: what ``__all__`` names is what the package exports."""

from __future__ import annotations

import modelyard.storage


def test_all_is_sorted_and_every_name_is_exported() -> None:
    names = modelyard.storage.__all__

    assert names == sorted(names)
    assert all(hasattr(modelyard.storage, name) for name in names)
    public = {
        name
        for name, value in vars(modelyard.storage).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("modelyard.")
    }
    assert public == set(names)
