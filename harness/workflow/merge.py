"""Merge partial reports (one per machine / device cell) into one matrix.

Inputs must already be audited (harness.trust.audit: signature, re-judged verdicts, waivers, cell
identities, levels, decision); the same report twice is refused. They must be about the same
contract bytes and the same revision. A (falsifier, cell) pair measured in two inputs must
agree; NOT_RUN in one input yields to a measurement in another. Levels and the decision are
recomputed by harness.levels on the merged verdicts. The merge records each input's evidence
time, and its own `evidence_created` is the oldest of them: merging never makes evidence fresher.
"""

from __future__ import annotations

from harness import __version__, levels
from harness.contract import contract_from_dict
from harness.judge import NOT_RUN
from harness.report.predicate import host_info, utc_now
from harness.trust.errors import MergeError
from harness.trust.evidence import evidence_created, parse_time
from harness.trust.report_file import Report
from harness.trust.statement import build_statement, model_digests


def _same(reports: list[Report], what: str, get) -> None:
    first = get(reports[0])
    for r in reports[1:]:
        if get(r) != first:
            raise MergeError(
                f"{r.path}: {what} {get(r)} differs from {reports[0].path}: {first}; "
                f"reports about different {what}s cannot be merged"
            )


def merge_cells(reports: list[Report]) -> dict:
    """Union of cells; a cell present in any input is present in the merge."""
    cells: dict = {}
    for r in reports:
        for cid, cell in r.predicate["cells"].items():
            if cid not in cells or (cell.get("present") and not cells[cid].get("present")):
                cells[cid] = cell
    return cells


def _better(job: dict, kept: dict) -> bool:
    """Whether `job` should replace `kept` for the same pair: a measurement beats NOT_RUN, and
    an in-scope NOT_RUN (counted: the cell was asked for but absent) beats an excluded one, so
    the merged scope is the union of the inputs' scopes."""
    if kept["verdict"] != NOT_RUN:
        return False
    return job["verdict"] != NOT_RUN or (job.get("counted", True) and not kept.get("counted", True))


def merge_jobs(reports: list[Report]) -> list[dict]:
    """Union of jobs by (falsifier, cell); contradicting measured verdicts are refused."""
    merged: dict[tuple[str, str], tuple[dict, Report]] = {}
    for r in reports:
        for job in r.predicate["jobs"]:
            key = (job["falsifier"], job["cell"])
            if key not in merged or _better(job, merged[key][0]):
                merged[key] = (job, r)
            elif job["verdict"] != NOT_RUN and job["verdict"] != merged[key][0]["verdict"]:
                kept, source = merged[key]
                raise MergeError(
                    f"{key[0]} on {key[1]}: {source.path} says {kept['verdict']}, "
                    f"{r.path} says {job['verdict']}; contradicting evidence is not merged"
                )
    return [job for job, _ in merged.values()]


def merge_models(reports: list[Report]) -> dict:
    models: dict = {}
    for r in reports:
        for mid, model in (r.predicate.get("models") or {}).items():
            if mid in models and model_digests({"models": {mid: model}}) != model_digests(
                {"models": {mid: models[mid]}}
            ):
                raise MergeError(f"{r.path}: model {mid} has another sha256 than in an earlier input")
            models.setdefault(mid, model)
    return models


def _input_entry(r: Report) -> dict:
    present = sorted(cid for cid, c in r.predicate["cells"].items() if c.get("present"))
    return {
        "sha256": r.sha256,
        "name": r.path.name,
        "keyid": r.keyid,
        "host": r.predicate.get("host"),
        "cells": present,
        "created": r.predicate["created"],
        "evidence_created": evidence_created(r.predicate),
    }


def _no_duplicates(reports: list[Report]) -> None:
    seen: dict[str, Report] = {}
    for r in reports:
        if r.sha256 in seen:
            raise MergeError(
                f"{r.path} and {seen[r.sha256].path} are the same report (sha256 "
                f"{r.sha256[:16]}); each input may be given once"
            )
        seen[r.sha256] = r


def merge(reports: list[Report], signed: bool) -> dict:
    """The merged in-toto statement (unsigned dict); raises MergeError when inputs disagree."""
    if not reports:
        raise MergeError("nothing to merge: no input reports")
    _no_duplicates(reports)
    _same(reports, "contract sha256", lambda r: r.predicate["contract"]["sha256"])
    _same(reports, "revision", lambda r: (r.predicate["revision"]["commit"], r.predicate["revision"]["dirty"]))
    first = reports[0].predicate
    contract = contract_from_dict(first["contract"]["document"], first["contract"]["path"], b"")
    jobs = merge_jobs(reports)
    assessment = levels.assess(jobs, contract.levels, contract.status)
    predicate = {
        "harness_version": __version__,
        "created": utc_now(),
        "host": host_info(),
        "signed": signed,
        "evidence_created": min((evidence_created(r.predicate) for r in reports), key=parse_time),
        "contract": first["contract"],
        "revision": first["revision"],
        "filters": {"merged": [r.predicate.get("filters") for r in reports]},
        "cells": merge_cells(reports),
        "models": merge_models(reports),
        "prompts": first.get("prompts", {}),
        "jobs": jobs,
        "levels": assessment.levels(),
        "decision": assessment.decision(),
        "inputs": [_input_entry(r) for r in reports],
    }
    return build_statement(predicate)
