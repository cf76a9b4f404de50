"""Hand-made reports in the agreed format (docs/architecture.md "Reports") for the trust tests.

Verdicts are chosen by the test; levels and the decision come from harness.levels, exactly as
the engine computes them, so audits of untampered reports must agree.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from harness import levels
from harness.contract import load_contract
from harness.judge import NOT_RUN, PASS
from harness.trust import statement as st
from harness.trust.report_file import write_report

CONTRACT_SRC = Path(__file__).resolve().parents[1] / "contracts" / "qwen3-moe-forward-gpu-v1.yaml"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ALGORITHM_CELLS = ("cpu-reference", "lavapipe")


def contract_copy(tmp_path: Path, name: str = "contract.yaml") -> Path:
    target = tmp_path / name
    shutil.copyfile(CONTRACT_SRC, target)
    return target


def _job(falsifier, cell: str, verdict: str, counted: bool) -> dict:
    measured = verdict != NOT_RUN
    return {"falsifier": falsifier.id, "cell": cell, "kind": falsifier.kind, "model": "tiny",
            "verdict": verdict, "reason": "" if measured else f"cell {cell} absent here",
            "measurements": {t.metric: t.value for t in falsifier.thresholds} if measured else {},
            "thresholds": [{"metric": t.metric, "comparator": t.comparator, "value": t.value}
                           for t in falsifier.thresholds],
            "diagnostics": {}, "waiver": None, "timing_s": 0.5 if measured else 0.0,
            "counted": counted}


def make_predicate(contract_path: Path, present=ALGORITHM_CELLS, overrides=None,
                   commit: str = COMMIT, dirty: bool = False, signed: bool = True,
                   scope=None) -> dict:
    """A predicate where every job on a `present` cell PASSes unless `overrides` says otherwise.

    `scope`: the cells asked for (like `verify --device`); jobs on other cells are excluded
    (NOT_RUN, not counted). None: every cell was asked for.
    """
    contract = load_contract(contract_path)
    overrides = overrides or {}
    jobs = [_job(f, c, overrides.get((f.id, c), PASS if c in present else NOT_RUN),
                 scope is None or c in scope)
            for f in contract.falsifiers for c in f.devices]
    code, summary, earned = levels.decide(jobs, contract.levels, contract.status)
    holds = levels.level_holds(contract.levels, {(j["falsifier"], j["cell"]): j["verdict"]
                                                 for j in jobs})
    return {
        "harness_version": "0.1.0", "created": "2026-11-26T10:00:00Z", "host": {"hostname": "test-host"},
        "signed": signed,
        "contract": {"name": contract.name, "version": contract.version, "status": contract.status,
                     "path": "contracts/" + contract_path.name,
                     "sha256": hashlib.sha256(contract.raw).hexdigest(), "document": contract.data},
        "revision": {"commit": commit, "dirty": dirty},
        "filters": {"devices": list(scope or ())},
        "cells": {c.id: {"present": c.id in present, "reason": "" if c.id in present else "absent",
                         "identity": {"name": c.id} if c.id in present else None}
                  for c in contract.devices},
        "models": {"tiny": {"sha256": "ab" * 32}},
        "prompts": dict(contract.data["prompts"]),
        "jobs": jobs,
        "levels": {"declared": contract.status, "earned": earned, "holds": holds},
        "decision": {"exit_code": code, "summary": summary},
        "inputs": [],
    }


def write(path: Path, predicate: dict, signer) -> Path:
    write_report(path, st.build_statement(predicate), signer)
    return path
