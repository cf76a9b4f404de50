"""Public one-shot GPU helpers for op parity (the upstream plan's names).

    expert_swiglu_wgpu(model, layer, h, ids) -> (k, I)      ≡ backends.cpu.ops.expert_swiglu
    moe_ffn_forward_layer_wgpu(model, layer, h, ids=None, weights=None) -> (H,)
                                                            ≡ backends.cpu.ops.moe_ffn
        With ids=None the router runs on the GPU too (router_topk.wgsl on h): the whole MoE
        block of one layer, exactly as the forward runs it, minus the residual.

Both run the forward's own kernels (stacked-expert matvecs indexing the experts by ids read from
a GPU buffer, swiglu, the weighted-sum epilogue) in one submission. Uploaded weights are cached
per (model file, tensor), so repeated calls only move h, ids and weights.
"""

from __future__ import annotations

import numpy as np

from backends.wgpu import kernel_ops as ko
from backends.wgpu.kernels import kernels_for
from backends.wgpu.matvec import build_matvec
from backends.wgpu.weights import upload_tensor

_UPLOADED: dict = {}


def _tensor(k, model, name: str):
    key = (str(model.path), name, id(k))
    if key not in _UPLOADED:
        _UPLOADED[key] = upload_tensor(k, model, name)
    return _UPLOADED[key]


def _expert_stage(k, model, layer: int, bufs: dict, K: int) -> list:
    """gate/up matvecs on hk (K copies of h), swiglu into a: the ops, in order."""
    p, c = f"blk.{layer}.", model.config
    ops = [build_matvec(k, _tensor(k, model, p + n), bufs["hk"], bufs[o], ids=bufs["eids"],
                        x_stride=c.n_embd) for n, o in (("ffn_gate_exps.weight", "g"),
                                                        ("ffn_up_exps.weight", "u"))]
    return ops + [ko.swiglu_op(k, bufs["g"], bufs["u"], bufs["a"], bufs["step"],
                               K * c.n_ff_exp)]


def _buffers(k, c, h: np.ndarray, K: int, ids) -> dict:
    hk = np.repeat(np.asarray(h, np.float32).reshape(1, -1), K, axis=0)
    n = {"g": K * c.n_ff_exp, "u": K * c.n_ff_exp, "a": K * c.n_ff_exp, "d": K * c.n_embd,
         "weights": K, "probs": c.n_expert, "ids": K}
    bufs = {name: k.buffer(4 * size, label=name) for name, size in n.items()}
    bufs["hk"] = k.upload(hk, label="hk")
    bufs["eids"] = k.upload(np.asarray(ids if ids is not None else np.zeros(K), np.uint32))
    bufs["x"] = k.upload(np.zeros(c.n_embd, np.float32), label="x")
    bufs["ones"] = k.upload(np.ones(c.n_embd, np.float32), label="ones")   # norm output unused
    bufs["hn"] = k.buffer(4 * c.n_embd, label="hn")
    bufs["step"] = k.buffer(ko.STEP_BYTES, uniform=True)
    k.write(bufs["step"], ko.step_bytes(0, 1))
    return bufs


def _run(k, ops, reads):
    batch = k.batch()
    for op in ops:
        if hasattr(op, "record"):
            op.record(batch, reads[0])
        else:
            op.encode(batch, 1, 0)
    return batch.submit(readback=reads[1])


def expert_swiglu_wgpu(model, layer: int, h: np.ndarray, ids) -> np.ndarray:
    """silu(gate_e·h) ⊙ (up_e·h) for each selected expert e on the GPU: h (H,), ids (k,) -> (k, I)."""
    k, c = kernels_for(), model.config
    ids = np.asarray(ids).reshape(-1)
    K = len(ids)
    bufs = _buffers(k, c, h, K, ids)
    (a,) = _run(k, _expert_stage(k, model, layer, bufs, K), (K, [(bufs["a"], 4 * K * c.n_ff_exp)]))
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
        rt = {"h": bufs["hk"], "w_router": wr, **{n: bufs[n] for n in
              ("ids", "eids", "weights", "probs", "step")}}
        ops.append(ko.router_op(k, rt, {"H": c.n_embd, "E": c.n_expert, "K": K}))
    else:
        k.write(bufs["weights"], np.asarray(weights, np.float32).reshape(-1))
    ops += _expert_stage(k, model, layer, bufs, K)
    down = _tensor(k, model, f"blk.{layer}.ffn_down_exps.weight")
    ops += [build_matvec(k, down, bufs["a"], bufs["d"], ids=bufs["eids"], x_stride=c.n_ff_exp),
            ko.residual_norm_op(k, bufs["d"], bufs["x"], bufs["ones"], bufs["hn"], bufs["step"],
                                c.n_embd, c.rms_eps, w=bufs["weights"], nsrc=K)]
    (x,) = _run(k, ops, (K, [(bufs["x"], 4 * c.n_embd)]))
    return x.view(np.float32).copy()
