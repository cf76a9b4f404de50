"""Which pv falsification tests become which executable falsifiers, and with what thresholds.

A test is known by its id's ending (…-PARITY-001 and so on, the ids pv's Qwen3-MoE contracts
use) or, failing that, by its rule naming exactly one known claim. Its falsifier is the
template contract's falsifier with the same ending (kind, params, devices, thresholds), renamed
to the upstream id and worded with the upstream rule. A tolerance on the cited obligation is an
absolute bound on the kind's error metric (TOLERANCE_METRIC) and replaces the template's value
there; without one the template's thresholds stand (said in the output's comments).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

from harness.importers.pv_read import PvObligation, PvTest

KNOWN = ("PARITY-001", "PARITY-002", "INVARIANTS-001", "DETERMINISM-001", "THROUGHPUT-001", "MEMORY-001")
# rule words -> the known ending they name (a rule naming two claims maps to neither)
RULE_WORDS = {
    "PARITY-002": r"\btransformers\b|\boracle\b|independent reference",
    "PARITY-001": r"\bparity\b",
    "INVARIANTS-001": r"\binvariants?\b|weights sum to (one|1)",
    "DETERMINISM-001": r"determinis|bit-identical",
    "THROUGHPUT-001": r"throughput|tok(ens)?/s",
    "MEMORY-001": r"\bmemory\b|\bvram\b|resident",
}
# kind -> (metric, comparator, value from the tolerance); throughput has none: a rate is not one
TOLERANCE_METRIC = {
    "parity": ("max_abs", "<=", lambda tol: tol),
    "oracle": ("max_abs", "<=", lambda tol: tol),
    "invariant": ("router_weight_sum_max_dev", "<=", lambda tol: tol),
    "determinism": ("max_abs_diff", "<=", lambda tol: tol),
    "memory": ("weight_expansion_ratio", "<=", lambda tol: 1.0 + tol),
}
_ID = re.compile(r"^FALSIFY-[A-Z0-9][A-Z0-9-]*$")


def known_ending(test: PvTest) -> tuple[str | None, str]:
    """(ending, how it was recognised) or (None, why not)."""
    for end in KNOWN:
        if test.id.upper().endswith("-" + end):
            return end, f"id ends in {end}"
    named = [end for end, words in RULE_WORDS.items() if re.search(words, test.rule, re.I)]
    if len(named) == 1:
        return named[0], f"rule names {named[0]}"
    if named:
        return None, f"its rule names several claims ({', '.join(named)})"
    return None, "neither its id nor its rule names a claim this harness can run"


def falsifier_id(test_id: str) -> str:
    """The upstream id when it is a valid falsifier id, else a FALSIFY- id made from it."""
    if _ID.match(test_id):
        return test_id
    body = re.sub(r"[^A-Z0-9]+", "-", test_id.upper()).strip("-") or "IMPORTED"
    return "FALSIFY-" + (body[len("FALSIFY-") :] if body.startswith("FALSIFY-") else body)


def template_falsifier(template_doc: dict, ending: str) -> dict | None:
    return next((f for f in template_doc["falsifiers"] if f["id"].endswith("-" + ending)), None)


def map_test(
    test: PvTest, template_doc: dict, obligations: dict[str, PvObligation], template_dir: Path, out_dir: Path
) -> tuple[dict | None, list[str]]:
    """(falsifier document, comment lines) for a test, or (None, [why not])."""
    ending, how = known_ending(test)
    if ending is None:
        return None, [how]
    base = template_falsifier(template_doc, ending)
    if base is None:
        return None, [f"{how}, but the template has no falsifier ending in {ending}"]
    f = copy.deepcopy(base)
    f["id"] = falsifier_id(test.id)
    f["claim"] = test.rule + (f"; predicted: {test.prediction}" if test.prediction else "") if test.rule else f["claim"]
    if test.if_fails:
        f["if_fails"] = test.if_fails
    if f["kind"] == "oracle":  # the fixture stays the template's file, seen from --out
        fixture = (template_dir / f["params"]["fixture"]).resolve()
        rel = Path(os.path.relpath(fixture, out_dir.resolve()))
        f["params"]["fixture"] = (fixture if rel.parts[:1] == ("..",) else rel).as_posix()
    notes = [f"from pv test {test.id} ({how}); template {base['id']}"]
    if test.test:
        notes.append(f"upstream test (not run): {test.test}")
    notes.append(_thresholds(f, obligations.get(test.obligation), test))
    return f, notes


def _thresholds(f: dict, obligation: PvObligation | None, test: PvTest) -> str:
    """Apply the obligation's tolerance to f's thresholds; say where the thresholds came from."""
    if obligation is None or obligation.tolerance is None:
        cited = f"obligation {test.obligation} gives" if test.obligation else "no obligation cited,"
        return f"thresholds: the template's ({cited} no tolerance)"
    rule = TOLERANCE_METRIC.get(f["kind"])
    if rule is None:
        return (
            f"thresholds: the template's (tolerance {obligation.tolerance:g} of "
            f"{obligation.id} is not a bound for a {f['kind']} falsifier)"
        )
    metric, comparator, value = rule
    bound = {"metric": metric, "comparator": comparator, "value": value(obligation.tolerance)}
    same = [i for i, t in enumerate(f["thresholds"]) if t["metric"] == metric and t["comparator"] == comparator]
    if same:
        f["thresholds"][same[0]] = bound  # in place: the template's order stays
    else:
        f["thresholds"].append(bound)
    return (
        f"thresholds: {metric} {comparator} {bound['value']:g} from {obligation.id}'s "
        f"tolerance {obligation.tolerance:g}; the rest from the template"
    )
