"""Re-judge recorded evidence against the contract: PASS must follow from the measurements,
WAIVED must rest on a waiver the contract grants and that had not expired, each measured cell
must have run on an adapter its selector and hardware flag admit, and the time the evidence
was made (the oldest input's, for a merged report) is what freshness is judged on.

The verdicts use harness.judge.verdict (the engine's own verdict function, with the runner's rules for
the cell's backend) on the contract rebuilt from the report, so a report cannot claim a pass its
numbers do not support, nor a GPU pass that did not run on the GPU.
"""

from __future__ import annotations

import re
from datetime import datetime

import backends
from harness import judge
from harness.devices import GPU_BACKEND
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
        judged = judge.verdict(
            job.get("measurements") or {}, falsifier.thresholds, rules=rules_for(backend_of.get(job["cell"], ""))
        )
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
        waiver = next((w for w in contract.waivers if w.falsifier == job["falsifier"] and w.cell == job["cell"]), None)
        if waiver is None:
            out.append(f"{job['falsifier']} on {job['cell']}: WAIVED but the contract has no waiver")
        elif str(waiver.expires) < day:
            out.append(
                f"{job['falsifier']} on {job['cell']}: WAIVED by a waiver that expired "
                f"{waiver.expires}, before the report's date {day}"
            )
    return out


def mislabelled_cells(contract, predicate: dict) -> list[str]:
    """'cell: why' for each cell whose recorded adapter identity its contract cell would not
    select (vendor, backend type, adapter type, name pattern), a hardware cell that ran on a
    CPU (lavapipe, a software fallback), and any measured job on a cell recorded as absent."""
    out = []
    cells = predicate["cells"]
    for cell in contract.devices:
        info = cells.get(cell.id)
        if not isinstance(info, dict) or not info.get("present") or cell.backend != GPU_BACKEND:
            continue
        identity = info.get("identity") or {}
        try:
            selected = backends.match_selector(GPU_BACKEND, identity, cell.selector)
        except (ValueError, TypeError, AttributeError, re.error) as exc:
            selected, why = False, f"identity or selector unreadable ({exc})"
        else:
            why = f"recorded adapter {_describe(identity)} does not match its selector {cell.selector}"
        if not selected:
            out.append(f"{cell.id}: {why}")
        elif cell.hardware and _is_cpu(identity):
            out.append(f"{cell.id}: a hardware cell, but the recorded adapter {_describe(identity)} is a CPU")
    for job in predicate["jobs"]:
        info = cells.get(job["cell"])
        if job["verdict"] != judge.NOT_RUN and not (isinstance(info, dict) and info.get("present")):
            out.append(
                f"{job['cell']}: {job['falsifier']} is {job['verdict']}, but the cell is recorded as not present"
            )
    return out


def _is_cpu(identity: dict) -> bool:
    return bool(identity.get("is_cpu")) or str(identity.get("adapter_type", "")).lower() == "cpu"


def _describe(identity: dict) -> str:
    vendor = identity.get("vendor_id")
    vendor = f"0x{vendor:x}" if isinstance(vendor, int) else repr(vendor)
    return (
        f"{identity.get('name') or identity.get('adapter')!r} (vendor {vendor}, "
        f"{identity.get('backend_type')}, {identity.get('adapter_type')})"
    )


def parse_time(text: str) -> datetime:
    """An ISO 8601 time as recorded in reports ('Z' accepted); ValueError when it is not one."""
    made = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if made.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return made


def evidence_created(predicate: dict) -> str:
    """When the evidence of a report was made: its own `created`, or for a merged report the
    oldest input's (recorded as `evidence_created`); freshness is judged on this."""
    return predicate.get("evidence_created") or predicate["created"]


def evidence_time_problems(predicate: dict) -> list[str]:
    """Why the recorded evidence time cannot be trusted: unparseable, later than `created`, or
    (merged) not the oldest of the inputs' times."""
    try:
        made, created = parse_time(evidence_created(predicate)), parse_time(predicate["created"])
        inputs = [
            parse_time(i["evidence_created"])
            for i in predicate.get("inputs") or ()
            if isinstance(i, dict) and "evidence_created" in i
        ]
    except (ValueError, TypeError, KeyError) as exc:
        return [f"unreadable time: {exc}"]
    out = []
    if made > created:
        out.append(f"evidence_created {made.isoformat()} is after created {created.isoformat()}")
    if predicate.get("inputs") and not inputs:
        out.append("a merged report must record each input's evidence_created")
    if inputs and made != min(inputs):
        out.append(f"evidence_created {made.isoformat()} is not the oldest input's ({min(inputs).isoformat()})")
    return out
