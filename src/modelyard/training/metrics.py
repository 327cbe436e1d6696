"""Metrics of a training job, read from its log by ``MetricDefinitions`` as SageMaker does.

Each definition is ``{"Name": "validation:rmse", "Regex": "rmse=([0-9.]+)"}``: every match
of the regex in the log is one value of the metric (its first group, else the whole match);
the last one is the metric's final value (``FinalMetricDataList``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_DEFINITIONS", "MetricDefinition", "final_metrics", "metric_definitions"]

#: SageMaker accepts 40 metric definitions per job.
MAX_DEFINITIONS: Final = 40
#: Longest regex SageMaker accepts.
_MAX_REGEX: Final = 500


@dataclass(frozen=True)
class MetricDefinition:
    """A metric and the regex that finds its values in the log."""

    name: str
    pattern: re.Pattern[str]


def metric_definitions(documents: Sequence[Mapping[str, str]]) -> list[MetricDefinition]:
    """``AlgorithmSpecification.MetricDefinitions`` checked and compiled; ValueError
    naming the definition that is not valid."""
    if len(documents) > MAX_DEFINITIONS:
        raise ValueError(
            f"MetricDefinitions: at most {MAX_DEFINITIONS} metrics, not {len(documents)}"
        )
    found: list[MetricDefinition] = []
    for index, document in enumerate(documents):
        name, regex = document.get("Name", ""), document.get("Regex", "")
        where = f"MetricDefinitions[{index}]"
        if not name or len(name) > 255:
            raise ValueError(f"{where}.Name must be 1 to 255 characters")
        if not regex or len(regex) > _MAX_REGEX:
            raise ValueError(f"{where}.Regex must be 1 to {_MAX_REGEX} characters")
        try:
            found.append(MetricDefinition(name, re.compile(regex)))
        except re.error as exc:
            raise ValueError(
                f"{where}.Regex {regex!r} is not a regular expression: {exc}"
            ) from None
    return found


def final_metrics(
    definitions: Sequence[MetricDefinition], lines: Iterable[str]
) -> dict[str, float]:
    """The last value of each metric found in ``lines`` (metrics never found are left out)."""
    final: dict[str, float] = {}
    for line in lines:
        for definition in definitions:
            for match in definition.pattern.finditer(line):
                text = match.group(1) if definition.pattern.groups else match.group(0)
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(value):
                    final[definition.name] = value
    return final
