"""LAZY-FUSED-MATVEC: a forward never holds an expert's rows, let alone a tensor, in float32."""

from __future__ import annotations

import tracemalloc

from backends.cpu.backend import CpuBackend


def test_cpu_memory_forward_peak_below_one_expert_in_float32(small_model):
    cfg = small_model.config
    one_expert = cfg.n_ff_exp * cfg.n_embd * 4  # gate (or up) rows of one expert
    whole_tensor = cfg.n_expert * one_expert  # ffn_gate_exps in float32
    backend = CpuBackend(small_model)
    backend.prefill([1, 2])  # warm: norms, first allocations
    backend.reset()
    tracemalloc.start()
    try:
        backend.prefill([5, 7, 11, 13])
        backend.decode(17)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < one_expert, (
        f"peak {peak} B during a forward >= one expert's float32 rows "
        f"({one_expert} B; whole expert tensor {whole_tensor} B)"
    )
