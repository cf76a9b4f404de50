"""The example contract contracts/examples/external-engine.yaml run through the engine's own
Runner on the reference engine and on hostile engines: PASS only for a right engine, FAIL for a
wrong answer (a bug planted inside the engine, unseen by the harness), ERROR with the stderr
tail for a broken one, NOT_RUN with the reason for what an engine cannot serve; the mutation
suite planted through the protocol catches the same faults it catches in our CPU backend."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from backends.faults import FAULTS
from harness import judge as J
from harness.contract.loader import check_file, load_contract
from harness.mutants import CAUGHT, NOT_APPLICABLE, run_suite
from harness.plan import Filters
from harness.runner import Runner
from tests.contract_text import edit, line_of
from contracts import CONTRACT_DIR

EXAMPLE = CONTRACT_DIR / "examples" / "external-engine.yaml"
COMMAND = 'command: ["{python}", "-m", "backends.external.reference_engine"]'
HOSTILE = Path(__file__).with_name("hostile_engine.py")
CELL = "reference-engine"
GPU_ONLY_FAULTS = ("wgpu_cpu_fallback", "reduction_drops_last")


def contract_with(tmp_path, command: str | None = None, load_timeout: int | None = None):
    """The example contract, beside the shipped fixtures, with the reference engine's command
    (and load timeout) replaced."""
    text = EXAMPLE.read_text(encoding="utf-8")
    if command is not None:
        text = edit(text, COMMAND, f"command: {command}")
    if load_timeout:
        text = edit(text, "load_timeout_s: 120", f"load_timeout_s: {load_timeout}")
    (tmp_path / "examples").mkdir(exist_ok=True)
    path = tmp_path / "examples" / "c.yaml"
    path.write_text(text, encoding="utf-8")
    if not (tmp_path / "fixtures").exists():
        (tmp_path / "fixtures").symlink_to(CONTRACT_DIR / "fixtures", target_is_directory=True)
    return load_contract(path)


def hostile(mode: str) -> str:
    return f'["{sys.executable}", "{HOSTILE}", "{mode}"]'


def run(contract, cells=(CELL,)) -> dict:
    result = Runner(contract, Filters(devices=tuple(cells))).run()
    return {
        (j["falsifier"].removeprefix("FALSIFY-QW3-MOE-EXT-"), j["cell"]): j for j in result.jobs if j["counted"]
    }, result


def test_example_contract_validates_without_issues():
    contract, issues = check_file(EXAMPLE)
    assert contract is not None and issues == []
    cell = contract.cell(CELL)
    assert cell.backend == "external" and cell.engine["timeout_s"] == 120


def test_lint_warns_of_per_layer_falsifiers_on_llama_cpp_cells(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    text = edit(
        text,
        "    devices: [reference-engine]\n    if_fails: The report names",
        "    devices: [reference-engine, llama-cpp-cpu]\n    if_fails: The report names",
    )
    text = edit(
        text,
        "    devices: [cpu-reference, reference-engine]\n    if_fails: Check the router",
        "    devices: [cpu-reference, reference-engine, llama-cpp-cpu]\n    if_fails: Check the router",
    )
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    contract, issues = check_file(path)
    assert contract is not None and all(i.severity == "warning" for i in issues)
    issues = [i for i in issues if "fixture" not in i.path]  # the copy has no ../fixtures
    assert sorted((i.line, i.path) for i in issues) == [
        (line_of(text, "devices: [reference-engine, llama-cpp-cpu]"), "$.falsifiers[3].devices[1]"),
        (line_of(text, "devices: [cpu-reference, reference-engine, llama-cpp-cpu]"), "$.falsifiers[5].devices[2]"),
    ]
    assert all("will be NOT_RUN there" in i.message for i in issues)


def test_reference_engine_passes_the_example_contract_and_its_identity_is_reported():
    jobs, result = run(load_contract(EXAMPLE))
    assert {k: j["verdict"] for k, j in jobs.items()} == {
        (f, CELL): J.PASS
        for f in ("PARITY-001", "LAYER-PARITY-001", "PARITY-002", "INVARIANTS-001", "DETERMINISM-001", "MEMORY-001")
    }
    ident = result.cells[CELL].to_dict()["identity"]
    assert ident["engine"] == "harness-reference-engine" and ident["backend_type"] == "numpy"


def test_a_bug_planted_inside_the_engine_is_caught(tmp_path):
    contract = contract_with(
        tmp_path, '["{python}", "-m", "backends.external.reference_engine", "--fault", "gqa_off_by_one"]'
    )
    jobs, result = run(contract)
    assert jobs[("PARITY-001", CELL)]["verdict"] == J.FAIL
    assert jobs[("LAYER-PARITY-001", CELL)]["verdict"] == J.FAIL
    assert jobs[("PARITY-002", CELL)]["verdict"] == J.FAIL
    assert result.cells[CELL].identity["faults"] == []  # the harness planted nothing


def test_nan_from_the_engine_fails_and_a_crash_errors_with_its_stderr(tmp_path):
    jobs, _ = run(contract_with(tmp_path, hostile("nan")))
    parity = jobs[("PARITY-001", CELL)]
    assert parity["verdict"] == J.FAIL and "non-finite" in parity["reason"]
    jobs, _ = run(contract_with(tmp_path, hostile("crash")))
    mem = jobs[("MEMORY-001", CELL)]  # the memory job prefills first: the engine dies there
    assert mem["verdict"] == J.ERROR and "segfault imminent" in mem["reason"]
    assert all(j["verdict"] != J.PASS for k, j in jobs.items() if k[0] == "MEMORY-001")


def test_a_hung_engine_costs_its_timeout_once_then_every_job_errors(tmp_path):
    contract = contract_with(tmp_path, hostile("hello-hang"), load_timeout=3)
    t0 = time.perf_counter()
    jobs, _ = run(contract)
    # six jobs, one start-up timeout of 3 s (a retry per job would take 18 s)
    assert time.perf_counter() - t0 < 9
    assert {j["verdict"] for j in jobs.values()} == {J.ERROR}
    assert all("no answer within 3 s" in j["reason"] for j in jobs.values())


def test_what_a_logits_only_engine_cannot_serve_is_not_run(tmp_path):
    jobs, _ = run(contract_with(tmp_path, hostile("logits-only")))
    verdicts = {k[0]: (j["verdict"], j["reason"]) for k, j in jobs.items()}
    assert verdicts["PARITY-001"][0] == J.PASS and verdicts["PARITY-002"][0] == J.PASS
    assert verdicts["DETERMINISM-001"][0] == J.PASS
    for fid, why in (
        ("LAYER-PARITY-001", "does not offer the trace op"),
        ("INVARIANTS-001", "does not offer the trace op"),
        ("MEMORY-001", "reports no memory figure"),
    ):
        assert verdicts[fid][0] == J.NOT_RUN and why in verdicts[fid][1], fid


def test_an_engine_on_another_device_than_its_cell_is_not_run(tmp_path):
    jobs, result = run(contract_with(tmp_path, hostile("cuda")))
    assert {j["verdict"] for j in jobs.values()} == {J.NOT_RUN}
    assert not result.cells[CELL].present and "Fake GPU" in result.cells[CELL].reason


def test_an_engine_reporting_a_fallback_fails(tmp_path):
    jobs, _ = run(contract_with(tmp_path, hostile("fallback")))
    assert jobs[("PARITY-001", CELL)]["verdict"] == J.FAIL
    assert "fallback" in jobs[("PARITY-001", CELL)]["reason"]


def test_schema_and_lint_name_bad_engine_cells(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    bad = edit(text, f"      {COMMAND}   # {{python}}: this interpreter\n", "")
    bad = edit(
        bad,
        "options: {n_gpu_layers: 0, n_threads: 2, n_ctx: 512}",
        "options: {n_gpu_layers: 0, n_threads: 2, n_ctx: 512, gpu: yes}",
    )
    path = tmp_path / "bad.yaml"
    path.write_text(bad, encoding="utf-8")
    _, issues = check_file(path)
    where = {(i.line, i.path) for i in issues}
    # the engine mapping without its command: named at the mapping's first line
    assert (line_of(bad, "timeout_s: 120"), "$.devices[1].engine") in where, issues
    assert (line_of(bad, "gpu: yes"), "$.devices[3].engine.options.gpu") in where, issues
    cpu_engine = edit(
        text,
        "    description: numpy LAZY-FUSED-MATVEC reference; always present\n",
        "    description: numpy LAZY-FUSED-MATVEC reference; always present\n    engine: {command: [x]}\n",
    )
    path.write_text(cpu_engine, encoding="utf-8")
    _, issues = check_file(path)
    assert any(i.path == "$.devices[0]" for i in issues), issues


@pytest.mark.mutants
@pytest.mark.slow
def test_mutation_suite_through_the_protocol_catches_every_cpu_fault():
    result = run_suite(load_contract(EXAMPLE), Filters(devices=(CELL,)))
    assert result.baseline_ok, result.baseline_problems
    outcome = {m.fault: m.cells[0] for m in result.mutants}
    assert set(outcome) == set(FAULTS)
    for fault, cell in outcome.items():
        if fault in GPU_ONLY_FAULTS:  # the reference engine wraps the CPU backend
            assert cell.status == NOT_APPLICABLE and "unsupported_fault" in cell.reason
        else:
            assert cell.status == CAUGHT, (fault, cell.reason)
