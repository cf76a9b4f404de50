"""The audit's re-judging (harness.trust.evidence) uses the runner's rules: a recorded GPU PASS
that did not run on the GPU is unsupported, whatever else it measured."""

from harness.contract import load_contract
from harness.trust.evidence import unsupported_passes
from tests.trust_factory import CONTRACT_SRC, _job
from harness.runner import rules_for


def _gpu_job(contract):
    cell = next(c for c in contract.devices if c.backend == "wgpu")
    f = next(f for f in contract.falsifiers if cell.id in f.devices)
    return _job(f, cell.id, "PASS", True, rules_for(cell.backend))


def test_recorded_gpu_pass_with_its_evidence_is_supported():
    contract = load_contract(CONTRACT_SRC)
    assert unsupported_passes(contract, [_gpu_job(contract)]) == []


def test_recorded_gpu_pass_without_a_gpu_submission_is_unsupported():
    contract = load_contract(CONTRACT_SRC)
    job = _gpu_job(contract)
    job["measurements"]["gpu_submissions"] = 0
    (problem,) = unsupported_passes(contract, [job])
    assert "recorded PASS, but ran on a CPU fallback" in problem
