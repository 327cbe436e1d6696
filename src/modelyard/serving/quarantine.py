"""Quarantine of models that keep crashing their worker processes.

One crash may be bad luck (an out-of-memory kill, a rare input); a model that takes its
worker down twice within ``window_s`` is quarantined: for ``base_s`` seconds the first
time, twice as long each time it offends again, while requests for it get
:class:`~modelyard.errors.ModelQuarantined` with a ``Retry-After``. A model that stays
quiet for ten windows starts again from ``base_s``.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from modelyard.errors import ModelQuarantined

__all__ = ["CrashRecord", "Quarantine"]

#: Crashes that make a model's quarantine.
CRASHES_TO_QUARANTINE = 2


@dataclass(kw_only=True)
class CrashRecord:
    """What one model did to its workers lately."""

    #: Monotonic times of its recent crashes, oldest first.
    crashes: deque[float] = field(default_factory=deque)
    #: Crashes since the server started.
    total: int = 0
    #: How many quarantines it served (the next one lasts base * 2**times).
    times_quarantined: int = 0
    #: Monotonic time the current quarantine ends (0: not quarantined).
    until: float = 0.0


class Quarantine:
    """Counts crashes per model and decides who may not load for a while."""

    def __init__(self, window_s: float, base_s: float) -> None:
        self.window_s = window_s
        self.base_s = base_s
        self._records: dict[str, CrashRecord] = {}

    def record_crash(self, name: str, now: float | None = None) -> float:
        """Count a crash of ``name``'s worker; returns the quarantine's length, or 0."""
        now = time.monotonic() if now is None else now
        record = self._records.setdefault(name, CrashRecord())
        if record.crashes and now - record.crashes[-1] > 10 * self.window_s:
            record.times_quarantined = 0  # quiet for long: forgiven
        while record.crashes and now - record.crashes[0] > self.window_s:
            record.crashes.popleft()
        record.crashes.append(now)
        record.total += 1
        if len(record.crashes) < CRASHES_TO_QUARANTINE:
            return 0.0
        length = self.base_s * float(2**record.times_quarantined)
        record.times_quarantined += 1
        record.until = now + length
        return length

    def check(self, name: str, now: float | None = None) -> None:
        """Raise ModelQuarantined while ``name`` is quarantined."""
        record = self._records.get(name)
        if record is None or not record.until:
            return
        now = time.monotonic() if now is None else now
        left = record.until - now
        if left <= 0:
            return
        raise ModelQuarantined(
            f"model {name!r} crashed its worker process {len(record.crashes)} times within "
            f"{self.window_s:g} s and is quarantined for another {left:.0f} s",
            retry_after_s=left,
        )

    def remaining(self, name: str, now: float | None = None) -> float:
        """Seconds left in ``name``'s quarantine (0 when it is free to load)."""
        record = self._records.get(name)
        if record is None:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, record.until - now)

    def describe(self) -> list[dict[str, object]]:
        """Models quarantined now, and their records, for operators."""
        now = time.monotonic()
        return [
            {
                "modelName": name,
                "retryAfterSeconds": round(record.until - now, 3),
                "crashes": record.total,
                "timesQuarantined": record.times_quarantined,
            }
            for name, record in sorted(self._records.items())
            if record.until > now
        ]
