"""Three-way bisection (harness/blame.py): on made-up traces (the majority rule, thresholds taken
from the contract) and end to end through the Runner with a fault planted in the CPU or the
wgpu cell, where it must name that backend and the layer and stage the fault lives in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backends.api import Trace
from harness.blame import bisect_traces
from harness.contract.loader import load_contract
from harness.plan import Filters
from harness.report.table import diagnostic_lines
from harness.runner import Runner
from tests.conftest import require_adapter
from tests.engine_support import document, falsifier, null_options, write_contract

ROOT = Path(__file__).resolve().parents[1]
CPU_CONTRACT = ROOT / "contracts" / "qwen3-moe-forward-v1.yaml"
GPU_CONTRACT = ROOT / "contracts" / "qwen3-moe-forward-gpu-v1.yaml"
CPU_PARITY = "FALSIFY-QW3-MOE-CPU-PARITY-001"
GPU_LAYERS = "FALSIFY-QW3-MOE-GPU-LAYER-PARITY-001"
SIDES = {"cell": "wgpu", "cpu": "cpu", "f64": "f64"}


def thresholds(path: Path, fid: str):
    return next(f for f in load_contract(path).falsifiers if f.id == fid).thresholds


def made_up_trace(seed: int = 0, L: int = 3, T: int = 4, H: int = 16, E: int = 6) -> Trace:
    rng = np.random.default_rng(seed)
    probs = rng.random((L, T, E)) + 0.1
    probs /= probs.sum(axis=-1, keepdims=True)
    ids = np.argsort(-probs, axis=-1, kind="stable")[..., :2].astype(np.int32)
    w = np.take_along_axis(probs, ids, axis=-1)
    return Trace(
        logits=rng.standard_normal((T, 32)),
        hidden_attn=rng.standard_normal((L, T, H)),
        hidden=rng.standard_normal((L, T, H)),
        router_ids=ids,
        router_weights=w / w.sum(axis=-1, keepdims=True),
        router_probs=probs,
    )


def broken_from(trace: Trace, layer: int, seed: int) -> Trace:
    """A copy whose residual stream is replaced by noise from `layer`'s MoE block on."""
    rng = np.random.default_rng(seed)
    hidden = trace.hidden.copy()
    hidden[layer:] = rng.standard_normal(hidden[layer:].shape)
    return Trace(
        logits=rng.standard_normal(trace.logits.shape),
        hidden_attn=trace.hidden_attn.copy(),
        hidden=hidden,
        router_ids=trace.router_ids,
        router_weights=trace.router_weights,
        router_probs=trace.router_probs,
    )


def near(trace: Trace, scale: float, seed: int) -> Trace:
    """A copy with every float array perturbed by `scale` relative (rounding-like noise)."""
    rng = np.random.default_rng(seed)

    def jitter(x):
        return x * (1 + scale * rng.standard_normal(x.shape))

    return Trace(
        logits=jitter(trace.logits),
        hidden_attn=jitter(trace.hidden_attn),
        hidden=jitter(trace.hidden),
        router_ids=trace.router_ids,
        router_weights=trace.router_weights,
        router_probs=trace.router_probs,
    )


def test_bisect_names_the_side_that_disagrees_with_the_other_two():
    base = made_up_trace()
    traces = {"cell": broken_from(base, 1, seed=1), "cpu": near(base, 1e-9, 2), "f64": base}
    got = bisect_traces(traces, SIDES, thresholds(GPU_CONTRACT, GPU_LAYERS))
    assert (got["suspect"], got["side"], got["layer"], got["stage"]) == ("wgpu", "cell", 1, "moe")
    assert got["pairs"]["cpu~f64"] is None
    assert got["pairs"]["cell~cpu"]["layer"] == got["pairs"]["cell~f64"]["layer"] == 1


def test_bisect_names_the_reference_when_it_is_the_odd_one_out():
    base = made_up_trace()
    traces = {"cell": near(base, 1e-9, 1), "cpu": broken_from(base, 0, seed=3), "f64": base}
    got = bisect_traces(traces, SIDES, thresholds(GPU_CONTRACT, GPU_LAYERS))
    assert (got["suspect"], got["layer"], got["stage"]) == ("cpu", 0, "moe")


def test_bisect_names_no_suspect_without_a_majority():
    base = made_up_trace()
    three_ways = {"cell": broken_from(base, 1, 1), "cpu": broken_from(base, 1, 2), "f64": base}
    got = bisect_traces(three_ways, SIDES, thresholds(GPU_CONTRACT, GPU_LAYERS))
    assert got["suspect"] is None and "no majority" in got["rule"]
    # bit-identical traces are one implementation: two left, no majority however they differ
    same = {"cell": base, "cpu": base, "f64": broken_from(base, 0, 4)}
    got = bisect_traces(same, SIDES, thresholds(GPU_CONTRACT, GPU_LAYERS))
    assert got["suspect"] is None and got["identical"] == [["cell", "cpu"]]
    assert got["pairs"]["cell~cpu"] is None and got["pairs"]["cpu~f64"]["layer"] == 0


def test_bisect_judges_each_stage_by_the_falsifiers_own_thresholds():
    # Rounding-sized noise of 1e-3 keeps every cosine near 1 - 5e-7: the GPU layer contract's
    # cosine floor passes it, the CPU contract's rel-L2 bound (1e-5) does not.
    base = made_up_trace()
    traces = {"cell": near(base, 1e-3, 1), "cpu": base, "f64": near(base, 1e-12, 2)}
    cpu_rule = bisect_traces(traces, SIDES, thresholds(CPU_CONTRACT, CPU_PARITY))
    assert (cpu_rule["suspect"], cpu_rule["layer"], cpu_rule["stage"]) == ("wgpu", 0, "attn")
    assert cpu_rule["pairs"]["cell~cpu"]["broken"] == ["logits_rel_l2_max <= 1e-05"]
    cos_only = [t for t in thresholds(GPU_CONTRACT, GPU_LAYERS) if t.metric == "layer_cosine_min"]
    assert bisect_traces(traces, SIDES, cos_only)["pairs"] == {"cell~cpu": None, "cell~f64": None, "cpu~f64": None}


def run_planted(path: Path, fid: str, cell: str, fault: str) -> dict:
    runner = Runner(load_contract(path), Filters(devices=(cell,), falsifiers=(fid,)), faults={cell: frozenset({fault})})
    (job,) = [j for j in runner.run().jobs if j["counted"]]
    return job


# Where each fault lives in the forward pass: q/k norm is inside layer 0's attention, the expert
# byte offset inside layer 0's MoE block, the Q6_K head decoding only in the logits.
WHERE = {"skip_qk_norm": (0, "attn"), "expert_offset": (0, "moe"), "q6k_as_q4k": (None, "logits")}


@pytest.mark.parametrize("fault", sorted(WHERE))
def test_bisect_names_a_planted_cpu_fault_and_where_it_starts(fault):
    job = run_planted(CPU_CONTRACT, CPU_PARITY, "cpu-reference", fault)
    assert job["verdict"] == "FAIL"
    b = job["diagnostics"]["bisection"]
    assert (b["suspect"], b["side"], (b["layer"], b["stage"])) == ("cpu", "cpu-reference", WHERE[fault])
    assert b["pairs"]["cpu~f64"] is None  # the clean CPU reference agrees with f64
    lines = "\n".join(diagnostic_lines(job))
    assert "bisection: suspect cpu (cpu-reference)" in lines


def test_bisect_runs_only_on_failure_and_never_changes_a_verdict(tmp_path):
    passing = Runner(load_contract(CPU_CONTRACT), Filters(falsifiers=(CPU_PARITY,))).run().jobs[0]
    assert passing["verdict"] == "PASS" and "bisection" not in passing["diagnostics"]
    # On the null backend the f64 reference cannot open the stand-in model: recorded, still FAIL.
    never = falsifier(
        "FALSIFY-T-P-001",
        "parity",
        {"reference": "cpu-reference", "prompts": ["a"]},
        [("cosine_min", "<", 0.5)],
        ["lavapipe"],
    )  # null vs null: cosine 1
    c = write_contract(tmp_path, document([never]))
    job = Runner(c, Filters(), **null_options(c, tmp_path)).run().jobs[0]
    assert job["verdict"] == "FAIL" and "error" in job["diagnostics"]["bisection"]
    assert diagnostic_lines(job)[-1].startswith("bisection could not run")


def test_bisect_counts_identical_cpu_cell_and_reference_once(tmp_path):
    # A bound no float32 forward can meet makes the clean CPU cell fail against f64: the cell and
    # the CPU reference are the same code (bit-identical traces), so no majority can be claimed.
    text = CPU_CONTRACT.read_text()
    assert text.count("value: 1.0e-5}") >= 1
    path = tmp_path / "c.yaml"
    path.write_text(text.replace("value: 1.0e-5}", "value: 1.0e-12}"))
    job = Runner(load_contract(path), Filters(falsifiers=(CPU_PARITY,))).run().jobs[0]
    assert job["verdict"] == "FAIL"
    b = job["diagnostics"]["bisection"]
    assert b["suspect"] is None and b["identical"] == [["cpu-reference", "cpu"]]
    assert (b["pairs"]["cpu-reference~f64"]["layer"], b["pairs"]["cpu-reference~f64"]["stage"]) == (0, "attn")
    assert "bisection: no suspect" in "\n".join(diagnostic_lines(job))


@pytest.mark.gpu
def test_bisect_names_a_planted_wgpu_fault_on_lavapipe():
    require_adapter()
    job = run_planted(GPU_CONTRACT, GPU_LAYERS, "lavapipe", "skip_qk_norm")
    if job["verdict"] == "NOT_RUN":
        pytest.fail(f"lavapipe cell did not run: {job['reason']}")
    b = job["diagnostics"]["bisection"]
    assert (b["suspect"], b["side"], b["layer"], b["stage"]) == ("wgpu", "lavapipe", 0, "attn")
    assert b["pairs"]["cpu~f64"] is None
