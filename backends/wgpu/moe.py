"""Builders of the forward's token matvecs and MoE stage: router and experts.

The forward (backends.wgpu.forward) and the one-shot helpers (backends.wgpu.helpers) both build
these ops here, so the helpers run exactly the kernels and modes the forward runs:

    token_matvec(k, t, x, y, *, x_stride, faults, tmax) -> op
        y = W·x for the step's token rows; with its prefill variant (WIDE_VECTORS tokens per
        workgroup) for steps of that many tokens when a step can hold them (tmax).
    router_ops(k, t, bufs, dims, *, faults, tmax) -> [logits matvec, router_topk]
        logits = Wr·h by the matvec (spread over many workgroups: docs/perf.md step 1), then
        softmax over all experts + stable top-k + renormalise (router_topk.wgsl).
        bufs: h, rlog (T x E logits), ids, eids, weights, probs, step. dims: E, K.
    expert_ops(k, model, layer, bufs, K, *, x_stride, slots, faults, get) -> ops
        gate/up/SwiGLU and down for the K slots of each token, e = eids[slot] (read on the GPU).

gate and up of the same type are uploaded as one row-interleaved tensor and run as ONE fused
silu(gate)⊙up matvec; otherwise two matvecs and moe_expert_swiglu.wgsl.
"""

from __future__ import annotations

from backends.wgpu import moe_kernels as moek
from backends.wgpu.matvec import build_matvec
from backends.wgpu.op import ByTokens
from backends.wgpu.tuning import WIDE_VECTORS
from backends.wgpu.weights import upload_gate_up, upload_tensor


def token_matvec(k, t, x, y, *, x_stride: int, faults=frozenset(), tmax: int = 1):
    """A matvec over the step's token rows (see module docstring)."""
    build = lambda nv: build_matvec(k, t, x, y, x_stride=x_stride, faults=faults,
                                    vectors_per_wg=nv)
    if tmax < WIDE_VECTORS:
        return build(1)
    return ByTokens(((1, build(1)), (WIDE_VECTORS, build(WIDE_VECTORS))))


def router_ops(k, t, bufs: dict, dims: dict, *, faults=frozenset(), tmax: int = 1) -> list:
    """The router of one layer on h: the logits matvec of tensor t (ffn_gate_inp), then
    router_topk on the logits (see module docstring)."""
    logits = token_matvec(k, t, bufs["h"], bufs["rlog"], x_stride=t.cols, faults=faults,
                          tmax=tmax)
    rt = {"logits": bufs["rlog"], **{n: bufs[n] for n in
                                     ("ids", "eids", "weights", "probs", "step")}}
    return [logits, moek.router_op(k, rt, dims, faults)]


def expert_names(layer: int) -> tuple[str, str, str]:
    p = f"blk.{layer}."
    return p + "ffn_gate_exps.weight", p + "ffn_up_exps.weight", p + "ffn_down_exps.weight"


def _fusable(model, gate: str, up: str) -> bool:
    g, u = model.tensors[gate], model.tensors[up]
    return (g.qtype, g.shape) == (u.qtype, u.shape)


def expert_ops(k, model, layer: int, bufs: dict, K: int, *, x_stride: int, slots: int,
               faults=frozenset(), get=None) -> list:
    """The expert stage of one layer: a = silu(gate_e·h) ⊙ (up_e·h), d = down_e·a for the K
    slots of each token, e = eids[slot]. bufs: h, a, d, eids, step. x_stride: floats between
    tokens' h rows. slots: the most slots a step runs (sizes g/u scratch). get(key, make): an
    upload cache (the helpers'); None uploads."""
    gate, up, down = expert_names(layer)
    c = model.config
    get = get or (lambda key, make: make())
    common = {"ids": bufs["eids"], "x_stride": x_stride, "x_group": K, "faults": faults,
              "slots_per_token": K}
    if _fusable(model, gate, up):
        gu = get(gate + "+up", lambda: upload_gate_up(k, model, gate, up))
        ops = [build_matvec(k, gu, bufs["h"], bufs["a"], swiglu=True, **common)]
    else:
        g, u = (k.buffer(4 * slots * c.n_ff_exp, label=n) for n in ("g", "u"))
        ops = [build_matvec(k, get(n, lambda n=n: upload_tensor(k, model, n)), bufs["h"], y,
                            **common) for n, y in ((gate, g), (up, u))]
        ops.append(moek.swiglu_op(k, g, u, bufs["a"], bufs["step"], K * c.n_ff_exp))
    dn = get(down, lambda: upload_tensor(k, model, down))
    ops.append(build_matvec(k, dn, bufs["a"], bufs["d"], ids=bufs["eids"], x_stride=c.n_ff_exp,
                            faults=faults, slots_per_token=K))
    return ops
