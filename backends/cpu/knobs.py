"""The CPU forward's settings, derived once from the model config and the planted faults.

The forward reads every hyperparameter from here (which reads them from model.config), so a
planted fault (backends/faults.py) is a different value of one knob, never a second code path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.cpu.ops import gqa_map

# Faults the CPU backend can plant. wgpu_cpu_fallback and reduction_drops_last describe GPU
# kernels and have no CPU meaning.
IMPLEMENTED = frozenset(
    {
        "rope_theta_10k",
        "skip_qk_norm",
        "head_dim_from_hidden",
        "q6k_as_q4k",
        "no_renormalise",
        "softmax_after_topk",
        "gqa_off_by_one",
        "kv_f16",
        "expert_offset",
    }
)

# The RoPE base of the upstream pitfall (llama.cpp's and HF's default freq_base).
WRONG_THETA = 10000.0


@dataclass(frozen=True)
class Knobs:
    """Everything the forward needs beyond the weights."""

    rope_theta: float
    qk_norm: bool
    attn_dim: int  # head dim used for the softmax scale and RoPE frequencies
    kv_map: tuple[int, ...]  # query head -> kv head
    kv_dtype: type  # KV cache values are rounded through this dtype
    renormalise: bool
    softmax_first: bool
    expert_shift: int
    output_name: str
    output_decode_as: str | None


def output_tensor(model) -> str:
    """output.weight, or token_embd.weight when the file ties them (docs/reference.md §1 step 3)."""
    return "token_embd.weight" if model.config.tied_output else "output.weight"


def knobs_for(model, faults: frozenset[str] = frozenset()) -> Knobs:
    """Knobs for `model` with `faults` planted; NotImplementedError for a fault the CPU lacks,
    ValueError for one that would not change this model (a silent no-op would pass as caught)."""
    missing = sorted(set(faults) - IMPLEMENTED)
    if missing:
        raise NotImplementedError(f"the cpu backend does not implement fault(s): {', '.join(missing)}")
    cfg = model.config
    kv_map = gqa_map(cfg.n_head, cfg.n_head_kv)
    if "gqa_off_by_one" in faults:
        kv_map = (kv_map + 1) % cfg.n_head_kv
    out_name = output_tensor(model)
    knobs = Knobs(
        rope_theta=WRONG_THETA if "rope_theta_10k" in faults else cfg.rope_theta,
        qk_norm="skip_qk_norm" not in faults,
        attn_dim=cfg.n_embd // cfg.n_head if "head_dim_from_hidden" in faults else cfg.head_dim,
        kv_map=tuple(int(j) for j in kv_map),
        kv_dtype=np.float16 if "kv_f16" in faults else np.float32,
        renormalise="no_renormalise" not in faults,
        softmax_first="softmax_after_topk" not in faults,
        expert_shift=1 if "expert_offset" in faults else 0,
        output_name=out_name,
        output_decode_as="Q4_K" if "q6k_as_q4k" in faults else None,
    )
    _check_effective(model, faults, knobs)
    return knobs


def _check_effective(model, faults, knobs: Knobs) -> None:
    cfg = model.config
    out_type = model.tensors[knobs.output_name].qtype
    void = {  # fault -> (it would change nothing here, why)
        "rope_theta_10k": (cfg.rope_theta == WRONG_THETA, f"rope.freq_base is already {cfg.rope_theta:g}"),
        "head_dim_from_hidden": (knobs.attn_dim == cfg.head_dim, f"head_dim {cfg.head_dim} == n_embd/n_head"),
        "gqa_off_by_one": (cfg.n_head_kv == 1, "there is one kv head"),
        "expert_offset": (cfg.n_expert == 1, "there is one expert"),
        "q6k_as_q4k": (out_type != "Q6_K", f"the output head {knobs.output_name} is {out_type}, not Q6_K"),
    }
    for fault in sorted(faults):
        if void.get(fault, (False, ""))[0]:
            raise ValueError(f"fault {fault} cannot change {model.path.name}: {void[fault][1]}")
