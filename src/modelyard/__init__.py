"""modelyard: serve many ML models behind one API and orchestrate work across them."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
