"""Levels: the one place a contract's level predicates are evaluated. Pure functions.

Audit and merge call these too, on the verdicts recorded in (merged) reports, so the earned
level of a report can be recomputed offline. A level predicate is one of
    {"pass": {"falsifiers": [...], "cells": [...]}}   every named falsifier PASS on every named cell
    {"all_of": [pred, ...]} | {"any_of": [pred, ...]} | {"quorum": {"min": n, "of": [pred, ...]}}
WAIVED counts as a pass. The ladder is cumulative: a level holds only if every level below it
holds too; DRAFT always holds; a level the contract does not define cannot be earned.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import exit_codes
from harness.contract.model import LEVEL_LADDER
from harness.judge import ERROR, FAIL, NOT_RUN, PASS, WAIVED

PASSING = (PASS, WAIVED)
_LEVEL_META_KEYS = ("description", "freshness_days")

EXIT_OK, EXIT_FALSIFIED, EXIT_INCONCLUSIVE, EXIT_INTERNAL = (
    exit_codes.OK,
    exit_codes.FALSIFIED,
    exit_codes.INCONCLUSIVE,
    exit_codes.INTERNAL,
)


def _predicate(level) -> dict:
    """The predicate of a level given as a harness.contract.model.Level or as the YAML dict."""
    pred = getattr(level, "predicate", level)
    return {k: v for k, v in pred.items() if k not in _LEVEL_META_KEYS}


def holds(pred: dict, verdicts: dict) -> bool:
    """Whether predicate `pred` holds on verdicts {(falsifier_id, cell_id): verdict}."""
    if "pass" in pred:
        return all(verdicts.get((f, c)) in PASSING for f, c in leaf_pairs(pred["pass"]))
    if "all_of" in pred:
        return all(holds(p, verdicts) for p in pred["all_of"])
    if "any_of" in pred:
        return any(holds(p, verdicts) for p in pred["any_of"])
    if "quorum" in pred:
        q = pred["quorum"]
        return sum(holds(p, verdicts) for p in q["of"]) >= int(q["min"])
    raise ValueError(f"level predicate: expected one of pass / all_of / any_of / quorum, got keys {sorted(pred)}")


def leaf_pairs(leaf: dict) -> list[tuple[str, str]]:
    """The (falsifier, cell) pairs a `pass` leaf names."""
    return [(f, c) for f in leaf["falsifiers"] for c in leaf["cells"]]


def needed_pairs(pred: dict) -> set[tuple[str, str]]:
    """Every (falsifier, cell) pair a predicate mentions (evidence that could make it hold)."""
    if "pass" in pred:
        return set(leaf_pairs(pred["pass"]))
    children = pred.get("all_of") or pred.get("any_of") or pred.get("quorum", {}).get("of", [])
    out: set[tuple[str, str]] = set()
    for p in children:
        out |= needed_pairs(p)
    return out


def level_holds(contract_levels: dict, verdicts: dict) -> dict[str, bool]:
    """{level: bool} for every level of the ladder above DRAFT, cumulative."""
    out, below = {}, True
    for name in LEVEL_LADDER[1:]:
        level = contract_levels.get(name)
        below = below and level is not None and holds(_predicate(level), verdicts)
        out[name] = below
    return out


def earned_level(contract_levels: dict, verdicts: dict) -> str:
    """The highest level of the ladder whose predicate (and every lower one) holds."""
    earned = LEVEL_LADDER[0]
    for name, ok in level_holds(contract_levels, verdicts).items():
        if ok:
            earned = name
    return earned


def rank(level: str) -> int:
    """Position of a level on the ladder; an unknown name is an error naming it."""
    if level not in LEVEL_LADDER:
        raise ValueError(f"unknown level {level!r}; ladder: {', '.join(LEVEL_LADDER)}")
    return LEVEL_LADDER.index(level)


def pairs_up_to(contract_levels: dict, declared: str) -> set[tuple[str, str]]:
    """Every (falsifier, cell) pair named by the levels from the first one up to `declared`."""
    out: set[tuple[str, str]] = set()
    for name in LEVEL_LADDER[1 : rank(declared) + 1]:
        if name in contract_levels:
            out |= needed_pairs(_predicate(contract_levels[name]))
    return out


@dataclass(frozen=True)
class Assessment:
    """A run's conclusion, computed once (assess): the exit code and summary, the earned level
    and which levels hold. The report and the CLI read it; nobody recomputes it."""

    exit_code: int
    summary: str
    declared: str
    earned: str
    holds: dict

    def levels(self) -> dict:
        return {"declared": self.declared, "earned": self.earned, "holds": dict(self.holds)}

    def decision(self) -> dict:
        return {"exit_code": self.exit_code, "summary": self.summary}


def assess(jobs: list[dict], contract_levels: dict, declared: str) -> Assessment:
    """decide() and level_holds() on job records, once."""
    code, summary, earned = decide(jobs, contract_levels, declared)
    verdicts = {(j["falsifier"], j["cell"]): j["verdict"] for j in jobs}
    return Assessment(code, summary, declared, earned, level_holds(contract_levels, verdicts))


def decide(jobs: list[dict], contract_levels: dict, declared: str) -> tuple[int, str, str]:
    """The exit code and a one-line summary from job records (verdict, counted, falsifier, cell).

    4 any ERROR; 1 any counted FAIL; 3 any counted NOT_RUN, or earned < declared while a job the
    declared level needs did not run; 1 earned < declared (the claim is refuted); else 0.
    Returns (exit_code, summary, earned).
    """
    verdicts = {(j["falsifier"], j["cell"]): j["verdict"] for j in jobs}
    earned = earned_level(contract_levels, verdicts)
    counted = [j for j in jobs if j.get("counted", True)]
    below = rank(earned) < rank(declared)
    missing = sorted(p for p in pairs_up_to(contract_levels, declared) if verdicts.get(p, NOT_RUN) == NOT_RUN)
    if any(j["verdict"] == ERROR for j in jobs):
        return EXIT_INTERNAL, _count(jobs, ERROR, "errored"), earned
    if any(j["verdict"] == FAIL for j in counted):
        return EXIT_FALSIFIED, _count(counted, FAIL, "falsified"), earned
    not_run = [j for j in counted if j["verdict"] == NOT_RUN]
    if not_run or (below and missing):
        what = (
            f"{len(not_run)} counted job(s) not run"
            if not_run
            else f"{len(missing)} job(s) needed for {declared} not run"
        )
        return EXIT_INCONCLUSIVE, f"inconclusive: {what}; earned {earned}, declared {declared}", earned
    if below:
        return EXIT_FALSIFIED, f"refuted: earned {earned} is below declared {declared}", earned
    return EXIT_OK, f"ok: earned {earned}, declared {declared}", earned


def _count(jobs: list[dict], verdict: str, word: str) -> str:
    n = sum(j["verdict"] == verdict for j in jobs)
    return f"{word}: {n} job(s) {verdict}"
