"""Reports for the trust tests, built by the engine's own predicate builder (harness.report).

Job records are hand-made (verdicts chosen by the test, measurements equal to the thresholds
for measured jobs); levels and the decision come from harness.levels, as in `harness verify`,
so audits of untampered reports must agree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import levels
from harness.contract import load_contract
from harness.devices import CellStatus
from harness.judge import NOT_RUN, PASS
from harness.plan import Filters
from harness.report.predicate import build_predicate
from harness.runner import RunResult, rules_for
from harness.trust import keys
from harness.trust import statement as st
from harness.trust.report_file import write_report

CONTRACT_SRC = Path(__file__).resolve().parents[1] / "contracts" / "qwen3-moe-forward-gpu-v1.yaml"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CREATED = "2026-11-26T10:00:00+00:00"
ALGORITHM_CELLS = ("cpu-reference", "lavapipe")


def contract_copy(tmp_path: Path, name: str = "contract.yaml") -> Path:
    target = tmp_path / name
    shutil.copyfile(CONTRACT_SRC, target)
    return target


@pytest.fixture(scope="module")
def signer():
    """A fresh Ed25519 signer per test module (import this fixture to use it)."""
    return keys.generate()


def contract_and_key(tmp_path: Path, signer) -> tuple[Path, Path]:
    """A copy of the GPU contract and `signer`'s public key (PEM), both written into tmp_path."""
    pub = tmp_path / "p.pem"
    pub.write_bytes(signer.verifier.public_pem())
    return contract_copy(tmp_path), pub


def _job(falsifier, cell: str, verdict: str, counted: bool, rules=()) -> dict:
    """rules: the runner's rules for the cell's backend (a GPU job measured that it ran there)."""
    measured = verdict != NOT_RUN
    checked = list(falsifier.thresholds) + list(rules)
    return {
        "falsifier": falsifier.id,
        "cell": cell,
        "kind": falsifier.kind,
        "model": "tiny",
        "verdict": verdict,
        "reason": "" if measured else f"cell {cell} absent here",
        "measurements": {t.metric: t.value for t in checked} if measured else {},
        "thresholds": [{"metric": t.metric, "comparator": t.comparator, "value": t.value} for t in checked],
        "diagnostics": {},
        "waiver": None,
        "timing_s": 0.5 if measured else 0.0,
        "counted": counted,
    }


def identity_for(cell) -> dict:
    """A recorded adapter identity that the cell's selector selects (as on a real machine)."""
    if cell.backend != "wgpu":
        return {"name": cell.id, "backend": cell.backend}
    sel = cell.selector
    adapter_type = sel.get("adapter_type", "DiscreteGPU")
    return {
        "name": "Intel Arc A770" if "name_pattern" in sel else cell.id,
        "vendor_id": sel.get("vendor_id", 0),
        "backend_type": sel.get("backend_type", "Vulkan"),
        "adapter_type": adapter_type,
        "is_cpu": adapter_type == "CPU",
    }


def make_predicate(
    contract_path: Path,
    present=ALGORITHM_CELLS,
    overrides=None,
    commit: str = COMMIT,
    dirty: bool = False,
    signed: bool = True,
    scope=None,
) -> dict:
    """A predicate where every job on a `present` cell PASSes unless `overrides` says otherwise.

    `scope`: the cells asked for (like `verify --device`); jobs on other cells are excluded
    (NOT_RUN, not counted). None: every cell was asked for.
    """
    contract = load_contract(contract_path)
    overrides = overrides or {}
    backend_of = {c.id: c.backend for c in contract.devices}
    jobs = [
        _job(
            f,
            c,
            overrides.get((f.id, c), PASS if c in present else NOT_RUN),
            scope is None or c in scope,
            rules_for(backend_of[c]),
        )
        for f in contract.falsifiers
        for c in f.devices
    ]
    assessment = levels.assess(jobs, contract.levels, contract.status)
    cells = {
        c.id: CellStatus(
            c.id,
            c.backend,
            c.id in present,
            "" if c.id in present else "no adapter here",
            identity_for(c) if c.id in present else {},
        )
        for c in contract.devices
    }
    run = RunResult(jobs, cells, {"tiny": {"sha256": "ab" * 32}})
    predicate = build_predicate(
        contract,
        Filters(devices=tuple(scope or ())),
        run,
        assessment.levels(),
        assessment.decision(),
        revision={"commit": commit, "dirty": dirty},
        signed=signed,
    )
    predicate["created"] = CREATED  # fixed, so freshness and waiver expiry tests do not age
    return predicate


def write(path: Path, predicate: dict, signer) -> Path:
    write_report(path, st.build_statement(predicate), signer)
    return path
