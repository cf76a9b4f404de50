"""The planted-bug mutation suite on the real backends: `tiny`, the CPU reference and lavapipe
(any adapter matching the lavapipe cell). Select with `-m mutants`; about a minute on 2 cores.

Acceptance (issue 7): every mutant caught by at least one falsifier, the unmutated run passes;
a copy of the contract without a falsifier reports the mutants that falsifier alone caught as
NOT CAUGHT.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from backends.faults import FAULTS
from harness.contract.loader import load_contract
from harness.devices import resolve_cells
from harness.mutants import CAUGHT, run_suite
from harness.plan import Filters
from harness.settings import in_ci
from tests.contract_text import GPU_CONTRACT, gpu_text, write

pytestmark = [pytest.mark.mutants, pytest.mark.gpu, pytest.mark.slow]
CELLS = ("cpu-reference", "lavapipe")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def result():
    contract = load_contract(GPU_CONTRACT)
    absent = [s.reason for s in resolve_cells(contract.devices).values() if s.id in CELLS and not s.present]
    if absent:  # e.g. a GPU machine without Mesa: the wgpu faults would have no cell here
        (pytest.fail if in_ci() else pytest.skip)(f"mutation suite needs {CELLS}: {absent[0]}")
    return run_suite(contract, Filters(devices=CELLS))


def test_mutants_suite_catches_every_mutant_on_tiny(result):
    assert result.baseline_ok, result.baseline_problems
    assert [m.fault for m in result.mutants] == list(FAULTS)
    escaped = [(m.fault, [c.to_dict() for c in m.cells]) for m in result.mutants if not m.caught]
    assert not escaped
    assert result.cells == list(CELLS) and result.exit_code == 0


def test_mutants_suite_each_fault_planted_and_caught_in_some_cell(result):
    for m in result.mutants:
        caught = [c for c in m.cells if c.status == CAUGHT]
        assert caught and all(c.caught_by for c in caught), m.fault


def alone_caught(result) -> dict[str, list[str]]:
    """{falsifier: the mutants no other falsifier caught on any cell}."""
    out: dict[str, list[str]] = {}
    for m in result.mutants:
        by = {f for c in m.cells for f in c.caught_by}
        if len(by) == 1:
            out.setdefault(by.pop(), []).append(m.fault)
    return out


def prune(node, fid: str) -> bool:
    """Remove `fid` from every list below `node`, and every entry left meaningless; True when
    `node` itself is: an empty list, or a mapping one of whose parts became meaningless (a
    `pass` whose falsifiers all went, a quorum with no clause left)."""
    if isinstance(node, list):
        node[:] = [x for x in node if x != fid and not (isinstance(x, (dict, list)) and prune(x, fid))]
        return not node
    return any(prune(v, fid) for v in list(node.values()) if isinstance(v, (dict, list)))


def without(text: str, fid: str) -> str:
    """The contract text with falsifier `fid` removed from falsifiers, levels and obligations
    (an obligation or level clause that named only `fid` goes too)."""
    yaml = YAML()
    yaml.preserve_quotes, yaml.width = True, 4096
    doc = yaml.load(text)
    doc["falsifiers"] = [f for f in doc["falsifiers"] if f["id"] != fid]
    prune(doc["proof_obligations"], fid)
    for level in [name for name, body in doc["levels"].items() if prune(body, fid)]:
        del doc["levels"][level]
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def test_mutants_removing_a_falsifier_reports_what_it_alone_caught(result, tmp_path):
    alone = alone_caught(result)
    assert alone, "no falsifier is the only one to catch some mutant"
    fid, lost = sorted(alone.items())[0]
    path = write(tmp_path, without(gpu_text(), fid))
    assert fid not in path.read_text()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "verify",
            str(path),
            "--mutants",
            "--format",
            "json",
            *[a for c in CELLS for a in ("--device", c)],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_RUNTIME_DIR": "/tmp"},
        timeout=300,
    )
    assert run.returncode == 1, run.stderr[-2000:]
    doc = json.loads(run.stdout)
    status = {m["fault"]: m["status"] for m in doc["mutants"]}
    assert doc["baseline"]["passed"] is True
    assert {f for f, s in status.items() if s == "NOT CAUGHT"} == set(lost), (fid, status)
