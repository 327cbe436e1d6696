"""The public API of modelyard.endpoints and modelyard.aws: ``__all__`` is what they export."""

from __future__ import annotations

from types import ModuleType

import pytest

import modelyard.aws
import modelyard.endpoints
import modelyard.identity


@pytest.mark.parametrize(
    "package", [modelyard.endpoints, modelyard.aws, modelyard.identity], ids=lambda p: p.__name__
)
def test_all_is_sorted_and_every_name_is_exported(package: ModuleType) -> None:
    names = package.__all__

    assert names == sorted(names)
    assert all(hasattr(package, name) for name in names)
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and getattr(value, "__module__", "").startswith("modelyard.")
    }
    # Type aliases (``Handler``) have no module of their own: every other name is checked.
    assert public <= set(names)
