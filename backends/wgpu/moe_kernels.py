"""Builders of the MoE stage's non-matvec kernels: router top-k (router_topk.wgsl) and the
SwiGLU of unfused gate/up outputs (moe_expert_swiglu.wgsl). The stage: backends.wgpu.moe."""

from __future__ import annotations

from backends.wgpu import tuning
from backends.wgpu.op import Op, build_op, ceil_div

MAX_EXPERTS = 512  # workgroup arrays in router_topk.wgsl


def router_op(k, bufs: dict, dims: dict, faults=frozenset(), name="router_topk") -> Op:
    """Softmax over all experts, stable top-k, renormalise (router_topk.wgsl) on the (T, E)
    router logits that a matvec computed (backends.wgpu.moe.router_ops).

    bufs: logits, ids, eids, weights, probs, step. dims: E, K.
    """
    if dims["E"] > MAX_EXPERTS or not 0 < dims["K"] <= min(dims["E"], 64):
        raise ValueError(
            f"router: {dims['E']} experts / top-{dims['K']} exceed the kernel's limits ({MAX_EXPERTS} experts, k <= 64)"
        )
    consts = {
        "E": dims["E"],
        "K": dims["K"],
        "RENORM": "no_renormalise" not in faults,
        "SOFTMAX_FIRST": "softmax_after_topk" not in faults,
        "EXPERT_OFFSET": 1 if "expert_offset" in faults else 0,
        "WG": tuning.router_topk_threads(dims["E"]),
    }
    order = ("logits", "ids", "eids", "weights", "probs", "step")
    layout = ("read", "rw", "rw", "rw", "rw", "uniform")
    return build_op(k, name, "router_topk", layout, [bufs[o] for o in order], lambda t: (t, 1, 1), consts)


def swiglu_op(k, g, u, a, step, n_per_token: int, name="moe_expert_swiglu") -> Op:
    """a = silu(g) ⊙ u over the k expert slots of each token (moe_expert_swiglu.wgsl)."""
    return build_op(
        k,
        name,
        "moe_expert_swiglu",
        ("read", "read", "rw", "uniform"),
        (g, u, a, step),
        lambda t: (ceil_div(n_per_token, tuning.SWIGLU_WG), t, 1),
        {"KI": n_per_token, "WG": tuning.SWIGLU_WG},
    )
