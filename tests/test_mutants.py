"""The mutation suite's logic on the null backend (fast, no GPU): how planted runs are judged,
what counts as caught, and the `verify --mutants` command's exit codes and output.

A test backend (PlantingNull) implements a few faults the way a real backend would: one changes
the logits, one is silently ignored (a fault that does nothing), one crashes, and one is refused
with NotImplementedError. The real backends are exercised by tests/test_mutants_suite.py.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from backends.null_backend import NullBackend
from harness.commands import verify
from harness.mutants import CAUGHT, ERRORED, MISSED, NOT_APPLICABLE, run_suite, sensitive_falsifiers
from harness.mutants.suite import CellOutcome, MutantOutcome, SuiteResult
from harness.mutants.table import mutant_lines
from harness.plan import Filters
from harness.runner import Runner
from tests.engine_support import determinism, document, falsifier, null_options, parity, write_contract

SHIFTS = "rope_theta_10k"  # PlantingNull adds a constant to every logit
IGNORED = "skip_qk_norm"  # PlantingNull accepts it and changes nothing
CRASHES = "kv_f16"  # PlantingNull's trace raises
REFUSED = "wgpu_cpu_fallback"  # PlantingNull raises NotImplementedError, like the CPU backend
PAR, DET, OPS, HEAVY = "FALSIFY-T-PAR-001", "FALSIFY-T-DET-001", "FALSIFY-T-OPS-001", "FALSIFY-T-HEAVY-001"


class PlantingNull(NullBackend):
    """The null backend with the test faults above planted."""

    def __init__(self, model, *, faults=frozenset(), **kwargs):
        if REFUSED in faults:
            raise NotImplementedError(f"PlantingNull does not implement {REFUSED}")
        super().__init__(model, **kwargs)
        self.planted = frozenset(faults)

    def trace(self, tokens, prefill_len=None):
        if CRASHES in self.planted:
            raise RuntimeError("planted crash")
        tr = super().trace(tokens, prefill_len)
        if SHIFTS in self.planted:
            tr.logits = tr.logits + np.float32(1.0)
        return tr


def contract_for(tmp_path, extra=()):
    doc = document([parity(PAR, ["lavapipe"]), determinism(DET, ["cpu-reference", "lavapipe"]), *extra])
    return write_contract(tmp_path, doc)


def options(contract, tmp_path, opened=None):
    def open_backend(name, model, **kwargs):
        if opened is not None:
            opened.append(kwargs.get("faults", frozenset()))
        return PlantingNull(model, **kwargs)

    return null_options(contract, tmp_path, open_backend=open_backend)


def suite(tmp_path, faults, extra=(), opened=None):
    contract = contract_for(tmp_path, extra)
    return run_suite(contract, Filters(), faults=faults, runner_options=options(contract, tmp_path, opened))


def cells(mutant: MutantOutcome) -> dict:
    return {c.cell: c for c in mutant.cells}


def test_run_suite_names_the_falsifier_that_caught_a_planted_fault(tmp_path):
    result = suite(tmp_path, [SHIFTS])
    (m,) = result.mutants
    assert result.baseline_ok and m.caught and result.ok and result.exit_code == 0
    by_cell = cells(m)
    # parity runs only on lavapipe; determinism cannot see a deterministic shift anywhere
    assert by_cell["lavapipe"].status == CAUGHT and by_cell["lavapipe"].caught_by == [PAR]
    assert by_cell["cpu-reference"].status == MISSED


def test_run_suite_plants_in_the_cell_under_test_only(tmp_path):
    opened = []
    suite(tmp_path, [SHIFTS], opened=opened)
    assert opened.count(frozenset({SHIFTS})) == 2  # once per planted cell
    assert opened.count(frozenset()) >= 3  # baseline cells + the clean reference


def test_runner_opens_a_planted_cell_clean_when_it_is_a_reference(tmp_path):
    contract, opened = contract_for(tmp_path), []
    planted = {"cpu-reference": frozenset({SHIFTS})}
    runner = Runner(contract, Filters(devices=("lavapipe",)), faults=planted, **options(contract, tmp_path, opened))
    jobs = {j["falsifier"]: j for j in runner.run().jobs if j["cell"] == "lavapipe"}
    # had the reference carried the shift, lavapipe (clean) would disagree with it and FAIL
    assert jobs[PAR]["verdict"] == "PASS", jobs[PAR]["reason"]
    assert opened and all(not f for f in opened)


def test_run_suite_reports_a_fault_that_does_nothing_as_not_caught(tmp_path):
    result = suite(tmp_path, [SHIFTS, IGNORED])
    ignored = result.mutants[1]
    assert not ignored.caught and {c.status for c in ignored.cells} == {MISSED}
    assert result.mutants[0].caught and result.exit_code == 1


def test_run_suite_not_implemented_is_not_applicable_and_not_caught(tmp_path):
    (m,) = suite(tmp_path, [REFUSED]).mutants
    assert {c.status for c in m.cells} == {NOT_APPLICABLE} and not m.caught
    assert all(REFUSED in c.reason for c in m.cells)


def test_run_suite_error_is_not_counted_as_caught(tmp_path):
    (m,) = suite(tmp_path, [CRASHES]).mutants
    assert {c.status for c in m.cells} == {ERRORED} and not m.caught
    assert all("planted crash" in c.reason for c in m.cells)


def test_run_suite_failing_baseline_fails_and_never_catches(tmp_path):
    always_fails = falsifier(
        "FALSIFY-T-BAD-001", "determinism", {"prompts": ["a"], "runs": 2}, [("max_abs_diff", "<", 0.0)], ["lavapipe"]
    )
    result = suite(tmp_path, [SHIFTS], extra=[always_fails])
    assert not result.baseline_ok and result.exit_code == 1
    assert any("FALSIFY-T-BAD-001 on lavapipe: FAIL" in p for p in result.baseline_problems)
    assert all("FALSIFY-T-BAD-001" not in c.caught_by for c in result.mutants[0].cells)


def test_sensitive_falsifiers_leave_out_heavy_and_fault_blind_kinds(tmp_path):
    ops = falsifier(OPS, "op_parity", {"op": "moe_ffn", "samples": 1}, [("nmse_max", "<=", 1e-7)], ["lavapipe"])
    heavy = falsifier(
        HEAVY, "determinism", {"prompts": ["a"], "runs": 2}, [("max_abs_diff", "<=", 0.0)], ["lavapipe"], tags=["heavy"]
    )
    contract = contract_for(tmp_path, [ops, heavy])
    assert sensitive_falsifiers(contract, Filters()) == [PAR, DET]
    assert sensitive_falsifiers(contract, Filters(falsifiers=(DET, OPS))) == [DET]


def test_mutant_lines_one_per_mutant_with_caught_or_not_caught():
    result = SuiteResult(
        "c",
        [PAR, DET],
        ["cpu-reference", "lavapipe"],
        [],
        [
            MutantOutcome("a", "", [CellOutcome("lavapipe", CAUGHT, [PAR])]),
            MutantOutcome(
                "bb",
                "",
                [
                    CellOutcome("cpu-reference", NOT_APPLICABLE, reason="no\nway"),
                    CellOutcome("lavapipe", MISSED, reason="none FAILed"),
                ],
            ),
        ],
    )
    lines = mutant_lines(result)
    assert len(lines) == 2
    assert "caught" in lines[0] and "NOT CAUGHT" not in lines[0]
    assert "lavapipe: PAR-001" in lines[0]  # the ids' common prefix FALSIFY-T- dropped
    assert "NOT CAUGHT" in lines[1] and "cpu-reference: not applicable (no way)" in lines[1]


def run_verify(tmp_path, capsys, *argv):
    contract = contract_for(tmp_path)
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    args = parser.parse_args([str(contract.path), "--mutants", *argv])
    code = verify.run(args, runner_options=options(contract, tmp_path))
    return code, capsys.readouterr()


def test_verify_mutants_prints_a_line_per_fault_and_exits_1_when_one_escapes(tmp_path, capsys):
    from backends.faults import FAULTS

    code, out = run_verify(tmp_path, capsys)
    assert code == 1  # PlantingNull ignores most faults: they escape
    lines = [ln for ln in out.out.splitlines() if ln.startswith("mutant ")]  # the table: stdout
    assert [ln.split()[1] for ln in lines] == list(FAULTS)
    by_fault = {ln.split()[1]: ln for ln in lines}
    assert "NOT CAUGHT" not in by_fault[SHIFTS] and "caught" in by_fault[SHIFTS]
    assert "NOT CAUGHT" in by_fault[IGNORED]
    assert "unmutated run: PASS" in out.out


def test_verify_mutants_json_lists_every_mutant(tmp_path, capsys):
    code, out = run_verify(tmp_path, capsys, "--format", "json")
    doc = json.loads(out.out)
    status = {m["fault"]: m["status"] for m in doc["mutants"]}
    assert code == doc["exit_code"] == 1 and doc["baseline"]["passed"] is True
    assert status[SHIFTS] == "caught" and status[IGNORED] == "NOT CAUGHT"
    assert doc["caught"] == sum(s == "caught" for s in status.values())


def test_verify_mutants_refuses_report_options(tmp_path, capsys):
    code, out = run_verify(tmp_path, capsys, "--report", str(tmp_path / "r.json"))
    assert code == 2 and "--mutants writes no report" in out.err
