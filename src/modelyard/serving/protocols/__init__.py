"""The HTTP protocols of the model server, each a thin layer over the DataPlane."""

from __future__ import annotations
