"""The batched prefill path (tiled GEMM projections, experts grouped by token batch) end to
end against the CPU reference, on prompts longer than one 64-token tile: the parity bar of
test_wgpu_forward (logits cosine >= 0.99999 at every position, identical argmax and expert
ids at every layer and position, hidden NMSE ~f32 order)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu.backend import CpuBackend
from backends.wgpu import moe as wops
from backends.wgpu.backend import WgpuBackend
from backends.wgpu.op import StepPlan
from tests.test_wgpu_forward import assert_parity

pytestmark = pytest.mark.gpu

LONG = [int(t) for t in np.random.default_rng(14).integers(0, 512, 150)]  # 3 token tiles
PREFILL = 147  # then 3 teacher-forced decode steps


@pytest.fixture(scope="module")
def cpu_long(tiny_model):
    return CpuBackend(tiny_model).trace(LONG, PREFILL)


def test_long_prefill_matches_cpu(tiny_model, cpu_long):
    gpu = WgpuBackend(tiny_model)
    assert gpu.graph.tmax >= PREFILL  # one submission: the whole prompt through the GEMMs
    assert_parity(gpu.trace(LONG, PREFILL), cpu_long)
    gpu.close()


def test_long_prefill_unfused_gate_up_matches_cpu(tiny_model, cpu_long, monkeypatch):
    # gate and up of different types in a file: two grouped GEMMs and moe_expert_swiglu
    monkeypatch.setattr(wops, "_fusable", lambda *a: False)
    gpu = WgpuBackend(tiny_model)
    assert_parity(gpu.trace(LONG, PREFILL), cpu_long)
    gpu.close()


def test_prefill_in_chunks_crossing_tiles_matches_cpu(tiny_model, cpu_long):
    gpu = WgpuBackend(tiny_model, prefill_chunk=70)  # chunks of 70, 70, 7: ragged tiles
    assert_parity(gpu.trace(LONG, PREFILL), cpu_long)
    gpu.close()


def _kernel_files(plan: StepPlan) -> list[tuple]:
    return [e[0].key[0] for e in plan.entries if e[0] is not None]


def test_prefill_steps_use_gemm_and_decode_steps_matvec(tiny_model):
    gpu = WgpuBackend(tiny_model)
    g, L = gpu.graph, tiny_model.config.n_layer
    many, one = _kernel_files(StepPlan(g.ops(), 8)), _kernel_files(StepPlan(g.ops(), 1))
    matvec = lambda f: any("reduce" in part and part.startswith("mul_mat_vec") for part in f)
    assert not any(matvec(f) for f in many), "a prefill step ran a matvec"
    assert any(matvec(f) for f in one)
    # per layer q|k|v (one or two runs), o, router, gate/up, down; plus the head
    assert sum("mul_mat_q" in f for f in many) >= 5 * L + 1
    assert sum("moe_group" in f for f in many) == L
    assert g.flash and sum("attention_prefill" in f for f in many) == L  # flash attention
    assert not any("attention" in f or "attention_reduce" in f for f in many)
    assert not any("mul_mat_q" in f or "moe_group" in f for f in one)
    gpu.close()


def test_generate_after_long_prefill_matches_cpu(tiny_model):
    # generate's prefill computes the last position's logits alone (the head's last_only GEMM)
    gpu = WgpuBackend(tiny_model)
    plans = gpu.graph._plans
    got = gpu.generate(LONG, 4)
    assert (len(LONG), "last") in plans
    assert got == CpuBackend(tiny_model).generate(LONG, 4)
    gpu.close()


@pytest.mark.slow
def test_long_prefill_matches_cpu_on_small(small_model):
    # small: head_dim 128 (the 30B's), 24 experts top-4: 100 tokens = two token tiles, and
    # gate/up tiles of 64 rows over 512-wide experts
    tokens = [int(t) for t in np.random.default_rng(15).integers(0, 2048, 100)]
    gpu = WgpuBackend(small_model)
    assert gpu.graph.flash
    assert_parity(gpu.trace(tokens, 98), CpuBackend(small_model).trace(tokens, 98))
    gpu.close()
