"""Decide whether audited evidence raises or lowers a contract's status, and say why.

Raise: the recorded verdicts earn a level above the contract's status. Demote: the failures
alone refute the claimed level, i.e. even counting every NOT_RUN pair as a pass the claimed
level would not hold; missing evidence is never a regression. Both are judged by
harness.levels on the recorded verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from harness import levels
from harness.judge import ERROR, FAIL, NOT_RUN, PASS
from harness.trust.errors import TrustError
from harness.trust.evidence import evidence_created, parse_time

RAISE, DEMOTE, KEEP = "raise", "demote", "keep"


class PromotionError(TrustError):
    """The evidence would change the level but cannot be used (e.g. too old for the level)."""


@dataclass(frozen=True)
class Promotion:
    action: str  # RAISE, DEMOTE or KEEP
    old: str
    new: str
    reason: str  # cites the levels and the verdicts behind the change


def _verdicts(predicate: dict) -> dict[tuple[str, str], str]:
    return {(j["falsifier"], j["cell"]): j["verdict"] for j in predicate["jobs"]}


def _cite(verdicts: dict, pairs, wanted) -> str:
    """'VERDICT: F1 on c1, F2 on c1' for the pairs whose verdict is in `wanted`, grouped by verdict."""
    parts = []
    for v in wanted:
        hits = sorted(p for p in pairs if verdicts.get(p, NOT_RUN) == v)
        if hits:
            parts.append(f"{v}: " + ", ".join(f"{f} on {c}" for f, c in hits))
    return "; ".join(parts)


def _optimistic_level(contract_levels: dict, verdicts: dict, claimed: str) -> str:
    """The earned level if every pair the claim needs that did not run had passed."""
    filled = dict(verdicts)
    for pair in levels.pairs_up_to(contract_levels, claimed):
        if filled.get(pair, NOT_RUN) == NOT_RUN:
            filled[pair] = PASS
    return levels.earned_level(contract_levels, filled)


def _check_fresh(contract, level: str, created: str, today: date) -> None:
    days = getattr(contract.levels.get(level), "freshness_days", None)
    if days is None:
        return
    made = parse_time(created).date()
    if (today - made).days > days:
        raise PromotionError(
            f"evidence made {made} is older than {level}'s freshness of "
            f"{days} days on {today}; run the falsifiers again"
        )


def plan(contract, predicate: dict, today: date) -> Promotion:
    """What the audited `predicate` means for `contract`'s status (a harness.contract.Contract)."""
    verdicts, claimed = _verdicts(predicate), contract.status
    earned = levels.earned_level(contract.levels, verdicts)
    if levels.rank(earned) > levels.rank(claimed):
        _check_fresh(contract, earned, evidence_created(predicate), today)  # oldest input
        new_pairs = levels.pairs_up_to(contract.levels, earned) - levels.pairs_up_to(contract.levels, claimed)
        why = _cite(verdicts, new_pairs, ("PASS", "WAIVED"))
        return Promotion(
            RAISE,
            claimed,
            earned,
            f"Raised {claimed} -> {earned}: the report's verdicts earn {earned} (harness.levels). {why}.",
        )
    if levels.rank(earned) == levels.rank(claimed):
        return Promotion(KEEP, claimed, claimed, f"the evidence earns {earned}, as claimed")
    best = _optimistic_level(contract.levels, verdicts, claimed)
    if levels.rank(best) >= levels.rank(claimed):
        return Promotion(
            KEEP,
            claimed,
            claimed,
            f"the evidence earns only {earned}, but the "
            f"pairs that stop {claimed} did not run: missing evidence is no regression",
        )
    why = _cite(verdicts, levels.pairs_up_to(contract.levels, claimed), (FAIL, ERROR))
    return Promotion(
        DEMOTE,
        claimed,
        best,
        f"Demoted {claimed} -> {best}: the report's "
        f"verdicts refute {claimed} even counting every job not run as a pass. {why}.",
    )
