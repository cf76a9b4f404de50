"""The judge: measurements against a falsifier's thresholds -> a verdict. Pure; no numbers here.

Every threshold value comes from the contract. A metric the kind did not measure, or measured as
NaN / Inf, fails its threshold: absent or non-finite evidence is never a pass.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

PASS, FAIL, NOT_RUN, ERROR, WAIVED = "PASS", "FAIL", "NOT_RUN", "ERROR", "WAIVED"
VERDICTS = (PASS, FAIL, NOT_RUN, ERROR, WAIVED)

COMPARATORS = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
}


@dataclass(frozen=True)
class ThresholdResult:
    """One threshold checked: the measured value (None when absent or non-finite) and whether it held."""

    metric: str
    comparator: str
    value: float
    measured: float | None
    ok: bool
    reason: str = ""

    def to_dict(self) -> dict:
        return {"metric": self.metric, "comparator": self.comparator, "value": self.value,
                "measured": self.measured, "ok": self.ok}


def finite_or_none(x) -> float | None:
    """x as a float when it is a finite number, else None (for JSON: no NaN/Inf ever)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def check(threshold, measurements: dict) -> ThresholdResult:
    """Check one threshold (anything with metric / comparator / value) against the measurements."""
    metric, comp, value = threshold.metric, threshold.comparator, float(threshold.value)
    if comp not in COMPARATORS:
        raise ValueError(f"threshold on {metric}: unknown comparator {comp!r}; "
                         f"known: {', '.join(COMPARATORS)}")
    if metric not in measurements:
        return ThresholdResult(metric, comp, value, None, False, f"{metric} was not measured")
    measured = finite_or_none(measurements[metric])
    if measured is None:
        return ThresholdResult(metric, comp, value, None, False,
                               f"{metric} is not a finite number ({measurements[metric]!r})")
    ok = bool(COMPARATORS[comp](measured, value))
    reason = "" if ok else f"{metric} {_fmt(measured)} does not satisfy {comp} {_fmt(value)}"
    return ThresholdResult(metric, comp, value, measured, ok, reason)


def judge(measurements: dict, thresholds) -> tuple[str, str, list[ThresholdResult]]:
    """PASS when every threshold holds, else FAIL; returns (verdict, reason, per-threshold results).

    A falsifier without thresholds cannot be passed: that is a FAIL naming the gap.
    """
    results = [check(t, measurements) for t in thresholds]
    if not results:
        return FAIL, "no thresholds to judge against", results
    failed = [r.reason for r in results if not r.ok]
    return (FAIL, "; ".join(failed), results) if failed else (PASS, "", results)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def apply_waiver(verdict: str, reason: str, waiver, today: str) -> tuple[str, str]:
    """A matching waiver: unexpired turns FAIL into WAIVED; expired is itself a FAIL.

    waiver: anything with owner / reason / expires (ISO date) or None; today: ISO date.
    """
    if waiver is None:
        return verdict, reason
    if str(waiver.expires) < today:
        why = f"waiver by {waiver.owner} expired on {waiver.expires} ({waiver.reason})"
        return FAIL, f"{why}; {reason}" if reason else why
    if verdict == FAIL:
        return WAIVED, f"waived by {waiver.owner} until {waiver.expires}: {waiver.reason}; {reason}"
    return verdict, reason
