"""The expert stage shared by the forward and the public one-shot MoE helpers.

    expert_ops(k, model, layer, bufs, K, ...) -> ops     gate/up/SwiGLU and down, built at load
    expert_swiglu_wgpu(model, layer, h, ids) -> (k, I)      ≡ backends.cpu.ops.expert_swiglu
    moe_ffn_forward_layer_wgpu(model, layer, h, ids=None, weights=None) -> (H,)
                                                            ≡ backends.cpu.ops.moe_ffn
        With ids=None the router runs on the GPU too (router_topk.wgsl on h): the whole MoE
        block of one layer as the forward runs it, minus the residual.

The experts are indexed by ids read from a GPU buffer (grid.y = slot). gate and up of the same
type are uploaded as one row-interleaved tensor and run as ONE fused silu(gate)⊙up matvec;
otherwise two matvecs and moe_expert_swiglu.wgsl. The helpers run the forward's own kernels in
one submission; uploaded weights are cached per (model file, tensor).
"""

from __future__ import annotations

import numpy as np

from backends.wgpu import kernel_ops as ko
from backends.wgpu.kernels import kernels_for
from backends.wgpu.matvec import build_matvec
from backends.wgpu.weights import upload_gate_up, upload_tensor

_UPLOADED: dict = {}


def _cached(k, model, key: str, make):
    full = (str(model.path), key, id(k))
    if full not in _UPLOADED:
        _UPLOADED[full] = make()
    return _UPLOADED[full]


def _names(layer: int) -> tuple[str, str, str]:
    p = f"blk.{layer}."
    return p + "ffn_gate_exps.weight", p + "ffn_up_exps.weight", p + "ffn_down_exps.weight"


def _fusable(model, gate: str, up: str) -> bool:
    g, u = model.tensors[gate], model.tensors[up]
    return (g.qtype, g.shape) == (u.qtype, u.shape)


def expert_ops(k, model, layer: int, bufs: dict, K: int, *, x_stride: int, slots: int,
               faults=frozenset(), cache: bool = False) -> list:
    """The expert stage of one layer: a = silu(gate_e·h) ⊙ (up_e·h), d = down_e·a for the K
    slots of each token, e = eids[slot]. bufs: h, a, d, eids, step. x_stride: floats between
    tokens' h rows (0: one shared h). slots: the most slots a step runs (sizes g/u scratch)."""
    gate, up, down = _names(layer)
    c = model.config
    get = (lambda key, make: _cached(k, model, key, make)) if cache else (lambda key, make: make())
    common = {"ids": bufs["eids"], "x_stride": x_stride, "x_group": K, "faults": faults,
              "slots_per_token": K}
    if _fusable(model, gate, up):
        gu = get(gate + "+up", lambda: upload_gate_up(k, model, gate, up))
        ops = [build_matvec(k, gu, bufs["h"], bufs["a"], swiglu=True, **common)]
    else:
        g, u = (k.buffer(4 * slots * c.n_ff_exp, label=n) for n in ("g", "u"))
        ops = [build_matvec(k, get(n, lambda n=n: upload_tensor(k, model, n)), bufs["h"], y,
                            **common) for n, y in ((gate, g), (up, u))]
        ops.append(ko.swiglu_op(k, g, u, bufs["a"], bufs["step"], K * c.n_ff_exp))
    dn = get(down, lambda: upload_tensor(k, model, down))
    ops.append(build_matvec(k, dn, bufs["a"], bufs["d"], ids=bufs["eids"], x_stride=c.n_ff_exp,
                            faults=faults, slots_per_token=K))
    return ops


def _buffers(k, c, h: np.ndarray, K: int, ids) -> dict:
    n = {"a": K * c.n_ff_exp, "d": K * c.n_embd, "weights": K, "probs": c.n_expert, "ids": K,
         "hn": c.n_embd}
    bufs = {name: k.buffer(4 * size, label=name) for name, size in n.items()}
    bufs["h"] = k.upload(np.asarray(h, np.float32).reshape(-1), label="h")
    bufs["eids"] = k.upload(np.asarray(ids if ids is not None else np.zeros(K), np.uint32))
    bufs["x"] = k.upload(np.zeros(c.n_embd, np.float32), label="x")
    bufs["ones"] = k.upload(np.ones(c.n_embd, np.float32), label="ones")   # norm output unused
    bufs["step"] = k.buffer(ko.STEP_BYTES, uniform=True)
    k.write(bufs["step"], ko.step_bytes(0, 1))
    return bufs


def _run(k, ops, reads) -> list:
    batch = k.batch()
    for op in ops:
        op.encode(batch, 1, 0)
    return batch.submit(readback=reads)


def expert_swiglu_wgpu(model, layer: int, h: np.ndarray, ids) -> np.ndarray:
    """silu(gate_e·h) ⊙ (up_e·h) per selected expert e on the GPU: h (H,), ids (k,) -> (k, I)."""
    k, c = kernels_for(), model.config
    ids = np.asarray(ids).reshape(-1)
    K = len(ids)
    bufs = _buffers(k, c, h, K, ids)
    ops = expert_ops(k, model, layer, bufs, K, x_stride=0, slots=K, cache=True)[:-1]  # no down
    (a,) = _run(k, ops, [(bufs["a"], 4 * K * c.n_ff_exp)])
    return a.view(np.float32).reshape(K, c.n_ff_exp).copy()


def moe_ffn_forward_layer_wgpu(model, layer: int, h: np.ndarray, ids=None, weights=None
                               ) -> np.ndarray:
    """Σ_j weights[j] · down_e(swiglu_e(h)) on the GPU: h (H,) -> (H,). ids/weights default to
    the GPU router's choice (softmax over all experts, stable top-k, renormalised)."""
    k, c = kernels_for(), model.config
    K = c.n_expert_used if ids is None else len(np.asarray(ids).reshape(-1))
    bufs = _buffers(k, c, h, K, None if ids is None else np.asarray(ids).reshape(-1))
    ops = []
    if ids is None:
        wr = k.upload(model.rows(f"blk.{layer}.ffn_gate_inp.weight", 0, c.n_expert), label="wr")
        rt = {"h": bufs["h"], "w_router": wr, **{n: bufs[n] for n in
              ("ids", "eids", "weights", "probs", "step")}}
        ops.append(ko.router_op(k, rt, {"H": c.n_embd, "E": c.n_expert, "K": K}))
    else:
        k.write(bufs["weights"], np.asarray(weights, np.float32).reshape(-1))
    ops += expert_ops(k, model, layer, bufs, K, x_stride=0, slots=K, cache=True)
    ops.append(ko.residual_norm_op(k, bufs["d"], bufs["x"], bufs["ones"], bufs["hn"],
                                   bufs["step"], c.n_embd, c.rms_eps, w=bufs["weights"], nsrc=K))
    (x,) = _run(k, ops, [(bufs["x"], 4 * c.n_embd)])
    return x.view(np.float32).copy()


def router_wgpu(model, layer: int, h: np.ndarray):
    """The GPU router of one layer on h (H,): (ids (K,), weights (K,), probs (E,)) — softmax
    over all experts, stable top-k, renormalised (router_topk.wgsl); ≡ backends.cpu.ops.route."""
    k, c = kernels_for(), model.config
    K = c.n_expert_used
    bufs = _buffers(k, c, h, K, None)
    wr = _cached(k, model, f"blk.{layer}.ffn_gate_inp.weight", lambda: k.upload(
        model.rows(f"blk.{layer}.ffn_gate_inp.weight", 0, c.n_expert), label="wr"))
    rt = {"h": bufs["h"], "w_router": wr, **{n: bufs[n] for n in
          ("ids", "eids", "weights", "probs", "step")}}
    op = ko.router_op(k, rt, {"H": c.n_embd, "E": c.n_expert, "K": K})
    ids, w, p = _run(k, [op], [(bufs["ids"], 4 * K), (bufs["weights"], 4 * K),
                               (bufs["probs"], 4 * c.n_expert)])
    return (ids.view(np.uint32).astype(np.int64), w.view(np.float32).copy(),
            p.view(np.float32).copy())
