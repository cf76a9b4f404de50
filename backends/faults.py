"""Planted bugs, switchable per backend instance. Only the mutation runner passes any.

Each name is a bug seen upstream (docs/reference.md §6). A backend that
receives a fault it does not implement must raise NotImplementedError naming it, never ignore it.
"""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "rope_theta_10k": "RoPE theta taken as 10000 instead of the file's rope.freq_base",
    "skip_qk_norm": "per-head q/k RMSNorm skipped",
    "head_dim_from_hidden": "head_dim taken as hidden/heads instead of attention.key_length",
    "q6k_as_q4k": "the Q6_K blocks of one tensor (the output head) decoded as Q4_K",
    "no_renormalise": "top-k routing weights not renormalised",
    "softmax_after_topk": "softmax applied to the top-k logits instead of over all experts first",
    "gqa_off_by_one": "query head j uses kv head (j // group + 1) % n_kv",
    "kv_f16": "KV cache rounded to f16",
    "expert_offset": "expert e's bytes sliced at expert e+1's offset (wraps)",
    "wgpu_cpu_fallback": "the wgpu backend silently computes on the CPU reference",
    "reduction_drops_last": "a matvec reduction drops its last partial sum",
}


def check_faults(faults) -> None:
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(FAULTS)}")
