"""Re-judge recorded evidence against the contract: PASS must follow from the measurements,
WAIVED must rest on a waiver the contract grants and that had not expired.

Both use harness.judge.verdict (the engine's own verdict function, with the runner's rules for
the cell's backend) on the contract rebuilt from the report, so a report cannot claim a pass its
numbers do not support, nor a GPU pass that did not run on the GPU.
"""

from __future__ import annotations

from harness import judge
from harness.runner import rules_for


def unsupported_passes(contract, jobs: list[dict]) -> list[str]:
    """'F on C: why' for each PASS whose recorded measurements fail the contract's thresholds."""
    out = []
    backend_of = {c.id: c.backend for c in contract.devices}
    for job in jobs:
        if job["verdict"] != judge.PASS:
            continue
        falsifier = next((f for f in contract.falsifiers if f.id == job["falsifier"]), None)
        if falsifier is None:
            out.append(f"{job['falsifier']} on {job['cell']}: no such falsifier in the contract")
            continue
        judged = judge.verdict(job.get("measurements") or {}, falsifier.thresholds,
                               rules=rules_for(backend_of.get(job["cell"], "")))
        if judged.verdict != judge.PASS:
            out.append(f"{job['falsifier']} on {job['cell']}: recorded PASS, but {judged.reason}")
    return out


def invalid_waivers(contract, jobs: list[dict], created: str) -> list[str]:
    """'F on C: why' for each WAIVED job without an unexpired contract waiver on its run date."""
    day = created[:10]
    out = []
    for job in jobs:
        if job["verdict"] != judge.WAIVED:
            continue
        waiver = next((w for w in contract.waivers
                       if w.falsifier == job["falsifier"] and w.cell == job["cell"]), None)
        if waiver is None:
            out.append(f"{job['falsifier']} on {job['cell']}: WAIVED but the contract has no waiver")
        elif str(waiver.expires) < day:
            out.append(f"{job['falsifier']} on {job['cell']}: WAIVED by a waiver that expired "
                       f"{waiver.expires}, before the report's date {day}")
    return out
