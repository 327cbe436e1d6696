"""PipelineEvents: what a training pipeline tells the event log and webhooks as it runs.

Each event is a JSON object::

    {"type": "model.failed", "time": "2025-01-01T12:00:00.000000+00:00",
     "pipeline": "factchecks", "model": "DocSim-de", "reason": "AlgorithmError: ..."}

of type ``pipeline.started``, ``model.succeeded``, ``model.failed`` (with ``reason``),
``model.skipped`` or ``pipeline.finished`` (with ``summary``). It is appended as one line
to the event log (``<home>/logs/events.jsonl``) and POSTed to every webhook, one at a
time, in order. A webhook that fails or takes over :data:`WEBHOOK_TIMEOUT_S` is logged
and passed over: a listener never fails the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx

__all__ = ["WEBHOOK_TIMEOUT_S", "PipelineEvents"]

logger = logging.getLogger(__name__)

#: Seconds a webhook has to answer one event.
WEBHOOK_TIMEOUT_S: Final = 5.0


class PipelineEvents:
    """Emits a pipeline's events (see the module); use it as an async context manager."""

    def __init__(
        self,
        log_file: Path,
        webhooks: Sequence[str] = (),
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._log_file = log_file
        self._webhooks = tuple(webhooks)
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, transport=transport)

    async def __aenter__(self) -> PipelineEvents:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def emit(
        self, type: str, pipeline: str, model: str | None = None, **details: Any
    ) -> dict[str, Any]:
        """Record one event and send it to the webhooks; the event as sent."""
        event: dict[str, Any] = {
            "type": type,
            "time": self._clock().isoformat(),
            "pipeline": pipeline,
            "model": model,
            **details,
        }
        line = json.dumps(event, ensure_ascii=False, default=str)
        await asyncio.to_thread(self._append, line)
        for url in self._webhooks:
            try:
                response = await self._client.post(
                    url, content=line.encode(), headers={"content-type": "application/json"}
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                logger.warning("webhook %s did not take event %s: %s", url, type, exc)
        return event

    def _append(self, line: str) -> None:
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("a", encoding="utf-8") as log:
            log.write(line + "\n")
