"""End to end: WgpuBackend and the MoE helpers against the CPU reference on the `tiny` model.

Teacher-forced comparisons; the bar (cosine >= 0.99999 on logits at every position, identical
argmax, identical expert ids at every layer and position) is the GPU contract's parity bar. Both
sides decode the same weights exactly and use f32 activations, so the only difference is f32
summation order: measured cosines are ~1 - 1e-7, hidden-state NMSE ~1e-13.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends import open_backend
from backends.cpu import ops as cpu
from backends.cpu.backend import CpuBackend
from backends.wgpu.backend import WgpuBackend
from backends.wgpu.forward import GPU_FAULTS, forward_qwen3_moe_wgpu
from backends.wgpu import moe as wmoe
from backends.wgpu.helpers import expert_swiglu_wgpu, moe_ffn_forward_layer_wgpu

pytestmark = pytest.mark.gpu

COS_MIN = 0.99999  # logits parity bar (module docstring)
F32_NMSE = 1e-10  # same exact weights, f32 sums in another order: ~1e-13 measured
# Faulted runs: kv_f16 rounds K/V to f16, so an f32-order difference that straddles an f16
# rounding boundary becomes one f16 ulp (2^-11 relative) on that element: ~1e-10 measured.
FAULT_NMSE = 1e-8
TOKENS = [1, 5, 9, 200, 3, 77, 11, 42, 300, 7]
PREFILL = 6  # then 4 teacher-forced decode steps
# the GPU's planted faults that the CPU backend plants too (a new one is tested here at once);
# reduction_drops_last breaks a GPU reduction the CPU does not have: its own test below
SHARED_FAULTS = sorted(GPU_FAULTS - {"reduction_drops_last"})


def nmse(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.sum((got - want) ** 2) / np.sum(want**2))


def cosines(a, b) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def gpu(tiny_model):
    return WgpuBackend(tiny_model)


@pytest.fixture(scope="module")
def cpu_trace(tiny_model):
    return CpuBackend(tiny_model).trace(TOKENS, PREFILL)


def assert_parity(got, want, hidden_nmse=F32_NMSE):
    """The parity bar of the module docstring, naming the first failing position/layer."""
    cos = cosines(got.logits, want.logits)
    assert cos.min() >= COS_MIN, f"logits cosine {cos.min():.7f} at position {cos.argmin()}"
    np.testing.assert_array_equal(got.logits.argmax(-1), want.logits.argmax(-1))
    bad = np.argwhere(np.any(got.router_ids != want.router_ids, axis=-1))
    assert bad.size == 0, f"expert ids differ at (layer, position) {bad[:3].tolist()}"
    assert nmse(got.hidden, want.hidden) < hidden_nmse
    assert nmse(got.router_weights, want.router_weights) < hidden_nmse


def test_backend_trace_matches_cpu_prefill_and_decode(gpu, cpu_trace):
    assert_parity(gpu.trace(TOKENS, PREFILL), cpu_trace)


@pytest.mark.slow
def test_backend_trace_matches_cpu_on_small(small_model):
    # small: head_dim 128, 24 experts top-4, 4 layers (the shared small_model fixture)
    got = WgpuBackend(small_model)
    assert_parity(got.trace(TOKENS, PREFILL), CpuBackend(small_model).trace(TOKENS, PREFILL))
    got.close()


def test_forward_qwen3_moe_wgpu_matches_cpu_prefill(gpu, tiny_model):
    # the one-shot helper on the fixture's graph (it starts from position 0 and leaves the
    # backend's own position alone; every backend test resets first)
    got = forward_qwen3_moe_wgpu(tiny_model, TOKENS, graph=gpu.graph)
    want = CpuBackend(tiny_model).prefill(TOKENS)
    assert cosines(got, want).min() >= COS_MIN
    np.testing.assert_array_equal(got.argmax(-1), want.argmax(-1))


def test_backend_chunked_prefill_matches_cpu(tiny_model, cpu_trace):
    # prefill of 6 in chunks of 4: the second chunk attends to the first chunk's cache rows
    small_chunks = WgpuBackend(tiny_model, prefill_chunk=4)
    assert_parity(small_chunks.trace(TOKENS, PREFILL), cpu_trace)
    small_chunks.close()


def test_backend_decode_equals_prefill(gpu):
    # 40 positions: decode steps (32-position splits) cross two splits, prefill (128) one
    tokens = (TOKENS * 4)[:40]
    gpu.reset()
    whole = gpu.prefill(tokens)
    gpu.reset()
    steps = [gpu.prefill(tokens[:2])] + [gpu.decode(t)[None] for t in tokens[2:]]
    assert cosines(np.concatenate(steps), whole).min() >= COS_MIN
    np.testing.assert_array_equal(np.concatenate(steps).argmax(-1), whole.argmax(-1))


def test_backend_generate_matches_cpu(gpu, tiny_model):
    assert gpu.generate(TOKENS[:4], 5) == CpuBackend(tiny_model).generate(TOKENS[:4], 5)


def test_backend_generate_timings_split_prefill_and_decode(gpu, tiny_model):
    timings = {}
    ids = gpu.generate(TOKENS[:4], 6, timings)
    assert ids == CpuBackend(tiny_model).generate(TOKENS[:4], 6)
    assert set(timings) == {"prefill_s", "decode_s"}
    assert timings["prefill_s"] > 0 and timings["decode_s"] > 0


def test_backend_decode_builds_nothing_per_token(gpu):
    gpu.reset()
    gpu.prefill(TOKENS[:3])
    seen = []
    for t in TOKENS[3:7]:
        before = gpu.counters()
        gpu.decode(t)
        after = gpu.counters()
        seen.append({n: after[n] - before[n] for n in after})
    for d in seen:
        assert d["pipelines_created"] == 0 and d["bind_groups_created"] == 0
        assert d["buffers_created"] == 0 and d["submits"] == 1  # one submission per token
    assert len({d["dispatches"] for d in seen}) == 1, "dispatches per token must not vary"


def test_backend_generate_reads_back_once(gpu):
    before = gpu.counters()
    gpu.generate(TOKENS[:3], 4)
    after = gpu.counters()
    # one submission per step (prefill + 3 decodes) plus the single readback of the ids
    assert after["submits"] - before["submits"] == 5
    timed = gpu.counters()
    gpu.generate(TOKENS[:3], 4, {})  # timed: one wait for the prefill (a 4-byte fence read)
    assert gpu.counters()["submits"] - timed["submits"] == 6
    assert after["bytes_read"] - before["bytes_read"] == 4 * 4


@pytest.mark.parametrize("fused", [True, False])
def test_expert_swiglu_wgpu_matches_cpu(tiny_model, monkeypatch, fused):
    # fused: gate/up interleaved, one silu(gate)⊙up matvec; not fused (gate and up of different
    # types in a file): two matvecs and moe_expert_swiglu.wgsl
    monkeypatch.setattr(wmoe, "_fusable", lambda *a: fused)
    c = tiny_model.config
    h = np.random.default_rng(1).standard_normal(c.n_embd).astype(np.float32)
    ids = np.array([c.n_expert - 1, 0][: c.n_expert_used])
    got = expert_swiglu_wgpu(tiny_model, 1, h, ids)
    assert nmse(got, cpu.expert_swiglu(tiny_model, 1, h, ids)) < F32_NMSE


def test_moe_ffn_forward_layer_wgpu_matches_cpu(tiny_model):
    c = tiny_model.config
    h = np.random.default_rng(2).standard_normal(c.n_embd).astype(np.float32)
    logits = tiny_model.rows("blk.0.ffn_gate_inp.weight", 0, c.n_expert) @ h
    ids, w, _ = cpu.route(logits, c.n_expert_used)
    want = cpu.moe_ffn(tiny_model, 0, h, ids, w)
    assert nmse(moe_ffn_forward_layer_wgpu(tiny_model, 0, h, ids, w), want) < F32_NMSE
    assert nmse(moe_ffn_forward_layer_wgpu(tiny_model, 0, h), want) < F32_NMSE  # GPU router


@pytest.mark.parametrize("fault", SHARED_FAULTS)
def test_backend_fault_changes_output_like_cpu(tiny_model, cpu_trace, fault):
    got = WgpuBackend(tiny_model, faults=frozenset({fault}))
    bad = got.trace(TOKENS, PREFILL)
    got.close()
    changed = nmse(bad.logits, cpu_trace.logits) > 1e-8 or nmse(bad.router_probs, cpu_trace.router_probs) > 1e-8
    assert changed, f"fault {fault} left the trace unchanged"
    want = CpuBackend(tiny_model, faults=frozenset({fault})).trace(TOKENS, PREFILL)
    assert_parity(bad, want, FAULT_NMSE)


def test_backend_reduction_fault_changes_output(tiny_model, cpu_trace):
    # a GPU-only fault (the CPU has no reduction to break): the clean CPU trace must not match
    bad = WgpuBackend(tiny_model, faults=frozenset({"reduction_drops_last"}))
    assert cosines(bad.trace(TOKENS, PREFILL).logits, cpu_trace.logits).min() < COS_MIN
    bad.close()


def test_backend_cpu_fallback_fault_shows_zero_submits(tiny_model, cpu_trace):
    # planted around the backend (backends.faults.WRAPPERS), opened like any backend
    fb = open_backend("wgpu", tiny_model, faults=frozenset({"wgpu_cpu_fallback"}))
    before = fb.counters()["submits"]
    got = fb.trace(TOKENS, PREFILL)
    assert fb.identity() == WgpuBackend(tiny_model, max_context=64).identity() | {
        "faults": ["wgpu_cpu_fallback"]
    }  # it claims the adapter, not the CPU
    assert fb.counters()["submits"] == before  # the engine's tell: no GPU work happened
    np.testing.assert_array_equal(got.logits, cpu_trace.logits)
    assert fb.memory_bytes() == 0
    with pytest.raises(NotImplementedError, match="wgpu_cpu_fallback"):
        open_backend("cpu", tiny_model, faults=frozenset({"wgpu_cpu_fallback"}))


def test_backend_rejects_other_act_and_unimplemented_faults(tiny_model):
    with pytest.raises(ValueError, match="q8k"):
        WgpuBackend(tiny_model, act="q8k")
    with pytest.raises(NotImplementedError, match="head_dim_from_hidden"):
        WgpuBackend(tiny_model, faults=frozenset({"head_dim_from_hidden"}))
