"""The mathematically possible range of each metric family, for the threshold range lint.

These are facts about the metrics (a cosine lies in [-1, 1]), not tolerances: tolerances live
in the contracts. A metric is matched by the first family whose pattern it contains.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

INF = math.inf


@dataclass(frozen=True)
class MetricRange:
    family: str
    pattern: str  # regex searched in the metric name
    low: float
    high: float
    low_open: bool = False  # True: the value must be strictly above `low`

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high == INF else "]"
        high = "inf" if self.high == INF else f"{self.high:g}"
        return f"{left}{self.low:g}, {high}{right}"


FAMILIES: tuple[MetricRange, ...] = (
    MetricRange("cosine", r"cosine", -1.0, 1.0),
    MetricRange("agreement / overlap / rate", r"agreement|overlap|rate|fraction", 0.0, 1.0),
    MetricRange("boolean check (1 = holds)", r"_ok$|^all_finite$|in_range|distinct", 0.0, 1.0),
    MetricRange("throughput tok/s", r"tok_s", 0.0, INF, low_open=True),
    MetricRange("ratio", r"ratio", 0.0, INF, low_open=True),
    MetricRange("bytes", r"bytes", 0.0, INF),
    MetricRange("error (NMSE / abs / rel)", r"nmse|abs|rel|dev|diff|err", 0.0, INF),
    MetricRange("duration", r"_ms|_s$|seconds", 0.0, INF),
)


def metric_range(metric: str) -> MetricRange | None:
    """The range of `metric`'s family, or None when no family matches."""
    return next((f for f in FAMILIES if re.search(f.pattern, metric)), None)
