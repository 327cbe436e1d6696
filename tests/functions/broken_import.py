"""A module that fails at import: registering a handler from it answers 400."""

from __future__ import annotations

raise RuntimeError("this module cannot be imported")
