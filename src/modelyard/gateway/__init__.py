"""Gateway: REST APIs as API Gateway serves them (mapping templates, validation,
throttling, quotas, caching, canary) in front of the other areas' facades."""

from __future__ import annotations

__all__: list[str] = []
