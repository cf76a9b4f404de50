"""The judge: measurements against a falsifier's thresholds -> a verdict. Pure; no numbers here.

`verdict` is the one place a verdict is decided: the runner calls it for every job, the
three-way blame for every stage it compares, the audit when it re-judges recorded evidence.
Every threshold value comes from the contract; the engine's own requirements (a GPU job must
have run on the GPU: harness.devices.GPU_RULES) are Rules judged the same way. A metric the kind
did not measure, or measured as NaN / Inf, fails its threshold: absent or non-finite evidence
is never a pass.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

PASS, FAIL, NOT_RUN, ERROR, WAIVED = "PASS", "FAIL", "NOT_RUN", "ERROR", "WAIVED"
VERDICTS = (PASS, FAIL, NOT_RUN, ERROR, WAIVED)

COMPARATORS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Rule:
    """A threshold the engine requires of every job of some kind, with the reason it exists
    (said first when it does not hold)."""

    metric: str
    comparator: str
    value: float
    why: str


@dataclass(frozen=True)
class Judgement:
    """A job's verdict, why, and each threshold checked."""

    verdict: str
    reason: str
    results: list

    def threshold_dicts(self) -> list[dict]:
        return [r.to_dict() for r in self.results]


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
        return {
            "metric": self.metric,
            "comparator": self.comparator,
            "value": self.value,
            "measured": self.measured,
            "ok": self.ok,
        }


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
        raise ValueError(f"threshold on {metric}: unknown comparator {comp!r}; known: {', '.join(COMPARATORS)}")
    if metric not in measurements:
        return ThresholdResult(metric, comp, value, None, False, f"{metric} was not measured")
    measured = finite_or_none(measurements[metric])
    if measured is None:
        return ThresholdResult(
            metric, comp, value, None, False, f"{metric} is not a finite number ({measurements[metric]!r})"
        )
    ok = bool(COMPARATORS[comp](measured, value))
    reason = "" if ok else f"{metric} {_fmt(measured)} does not satisfy {comp} {_fmt(value)}"
    why = getattr(threshold, "why", "")
    return ThresholdResult(metric, comp, value, measured, ok, f"{why}: {reason}" if why and reason else reason)


def judge(measurements: dict, thresholds, rules=()) -> tuple[str, str, list[ThresholdResult]]:
    """PASS when every threshold and rule holds, else FAIL; returns (verdict, reason,
    per-threshold results: the contract's thresholds, then the rules; the reason names a broken
    rule first).

    A falsifier without thresholds cannot be passed (rules do not count): that is a FAIL naming
    the gap.
    """
    required = [check(r, measurements) for r in rules]
    results = [check(t, measurements) for t in thresholds]
    failed = [r.reason for r in required + results if not r.ok]
    if not results:
        failed.append("no thresholds to judge against")
    checked = results + required
    return (FAIL, "; ".join(failed), checked) if failed else (PASS, "", checked)


def verdict(
    measurements: dict, thresholds, waiver=None, today: str = "", *, rules=(), preset: tuple[str, str] | None = None
) -> Judgement:
    """The verdict of one job: its measurements judged against the contract's thresholds and
    the engine's rules, then the waiver applied on `today` (ISO date). preset: (verdict, reason)
    of a job that produced nothing to judge (not run, errored, refuted before measuring); only
    the waiver applies to it."""
    if preset is None:
        v, reason, results = judge(measurements, thresholds, rules)
    else:
        (v, reason), results = preset, []
    v, reason = apply_waiver(v, reason, waiver, today)
    return Judgement(v, reason, list(results))


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
