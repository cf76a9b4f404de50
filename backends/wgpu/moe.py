"""Builders of the forward's token matvecs and MoE stage: router and experts.

The forward (backends.wgpu.forward) and the one-shot helpers (backends.wgpu.helpers) both build
these ops here, so the helpers run exactly the kernels and modes the forward runs:

    token_matvec(k, t, x, y, *, x_stride, faults, tmax, step=None) -> op
        y = W·x for the step's token rows: the matvec for decode steps and, when a step can
        hold several tokens (tmax > 1, step: the Step uniform), the tiled GEMM
        (backends.wgpu.gemm) for steps of several tokens.
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
from backends.wgpu.gemm import build_gemm
from backends.wgpu.op import one_or_many
from backends.wgpu.weights import upload_gate_up, upload_tensor


def token_matvec(k, t, x, y, *, x_stride: int, faults=frozenset(), tmax: int = 1, step=None):
    """A matvec over the step's token rows (see module docstring)."""
    one = build_matvec(k, t, x, y, x_stride=x_stride, faults=faults)
    if tmax < 2 or step is None:
        return one
    return one_or_many(one, build_gemm(k, t, x, y, step, x_stride=x_stride, faults=faults))


def router_ops(k, t, bufs: dict, dims: dict, *, faults=frozenset(), tmax: int = 1) -> list:
    """The router of one layer on h: the logits matvec of tensor t (ffn_gate_inp), then
    router_topk on the logits (see module docstring)."""
    logits = token_matvec(k, t, bufs["h"], bufs["rlog"], x_stride=t.cols, faults=faults, tmax=tmax, step=bufs["step"])
    rt = {"logits": bufs["rlog"], **{n: bufs[n] for n in ("ids", "eids", "weights", "probs", "step")}}
    return [logits, moek.router_op(k, rt, dims, faults)]


def expert_names(layer: int) -> tuple[str, str, str]:
    p = f"blk.{layer}."
    return p + "ffn_gate_exps.weight", p + "ffn_up_exps.weight", p + "ffn_down_exps.weight"


def _fusable(model, gate: str, up: str) -> bool:
    g, u = model.tensors[gate], model.tensors[up]
    return (g.qtype, g.shape) == (u.qtype, u.shape)


def expert_ops(
    k,
    model,
    layer: int,
    bufs: dict,
    K: int,
    *,
    x_stride: int,
    slots: int,
    faults=frozenset(),
    get=None,
    uploaded: dict | None = None,
) -> list:
    """The expert stage of one layer: a = silu(gate_e·h) ⊙ (up_e·h), d = down_e·a for the K
    slots of each token, e = eids[slot]. bufs: h, a, d, eids, step. x_stride: floats between
    tokens' h rows. slots: the most slots a step runs (sizes g/u scratch). get(key, make): an
    upload cache (the helpers'); None uploads. uploaded: filled with the GpuTensors
    ("gate_up", or "gate" and "up" with their output buffers "g" and "u"; "down") so that the
    prefill's grouped GEMMs (backends.wgpu.prefill) read the same weight buffers."""
    uploaded = {} if uploaded is None else uploaded
    gate, up, down = expert_names(layer)
    c = model.config
    get = get or (lambda key, make: make())
    common = {"ids": bufs["eids"], "x_stride": x_stride, "x_group": K, "faults": faults, "slots_per_token": K}
    if _fusable(model, gate, up):
        gu = uploaded["gate_up"] = get(gate + "+up", lambda: upload_gate_up(k, model, gate, up))
        ops = [build_matvec(k, gu, bufs["h"], bufs["a"], swiglu=True, **common)]
    else:
        g, u = (k.buffer(4 * slots * c.n_ff_exp, label=n) for n in ("g", "u"))
        uploaded["g"], uploaded["u"] = g, u  # the two matvecs' outputs, reused by prefill
        for key, n in (("gate", gate), ("up", up)):
            uploaded[key] = get(n, lambda n=n: upload_tensor(k, model, n))
        ops = [build_matvec(k, uploaded[key], bufs["h"], y, **common) for key, y in (("gate", g), ("up", u))]
        ops.append(moek.swiglu_op(k, g, u, bufs["a"], bufs["step"], K * c.n_ff_exp))
    dn = uploaded["down"] = get(down, lambda: upload_tensor(k, model, down))
    ops.append(
        build_matvec(
            k, dn, bufs["a"], bufs["d"], ids=bufs["eids"], x_stride=c.n_ff_exp, faults=faults, slots_per_token=K
        )
    )
    return ops
