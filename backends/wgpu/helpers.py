"""One-shot GPU helpers for op parity and tests, built from the forward's own builders
(backends.wgpu.moe) in the modes the forward runs for a decode step (one token):

    expert_swiglu_wgpu(model, layer, h, ids) -> (k, I)      ≡ backends.cpu.ops.expert_swiglu
    moe_ffn_forward_layer_wgpu(model, layer, h, ids=None, weights=None) -> (H,)
                                                            ≡ backends.cpu.ops.moe_ffn
        With ids=None the router runs on the GPU too (logits matvec + router_topk on h): the
        whole MoE block of one layer as the forward runs it, minus the residual.
    router_wgpu(model, layer, h) -> (ids (K,), weights (K,), probs (E,))
                                                            ≡ backends.cpu.ops.route

Each helper runs its kernels in one submission; uploaded weights are cached per (model file,
tensor, device), so repeated calls (op parity over many cases) upload once.
"""

from __future__ import annotations

import numpy as np

from backends.wgpu import norms
from backends.wgpu.runtime import kernels_for
from backends.wgpu.moe import expert_ops, router_ops
from backends.wgpu.op import STEP_BYTES, step_bytes
from backends.wgpu.weights import upload_tensor

_UPLOADED: dict = {}


def _cache(k, model):
    """get(key, make): the upload cache of this model on this device."""

    def get(key: str, make):
        full = (str(model.path), key, id(k))
        if full not in _UPLOADED:
            _UPLOADED[full] = make()
        return _UPLOADED[full]

    return get


def _buffers(k, c, h: np.ndarray, K: int, ids) -> dict:
    n = {
        "a": K * c.n_ff_exp,
        "d": K * c.n_embd,
        "weights": K,
        "probs": c.n_expert,
        "ids": K,
        "rlog": c.n_expert,
        "hn": c.n_embd,
    }
    bufs = {name: k.buffer(4 * size, label=name) for name, size in n.items()}
    bufs["h"] = k.upload(np.asarray(h, np.float32).reshape(-1), label="h")
    bufs["eids"] = k.upload(np.asarray(ids if ids is not None else np.zeros(K), np.uint32))
    bufs["x"] = k.upload(np.zeros(c.n_embd, np.float32), label="x")
    bufs["ones"] = k.upload(np.ones(c.n_embd, np.float32), label="ones")  # norm output unused
    bufs["step"] = k.buffer(STEP_BYTES, uniform=True)
    k.write(bufs["step"], step_bytes(0, 1))
    return bufs


def _router(k, model, layer: int, bufs: dict, K: int) -> list:
    """The forward's router ops of one layer (one token)."""
    c, name = model.config, f"blk.{layer}.ffn_gate_inp.weight"
    t = _cache(k, model)(name, lambda: upload_tensor(k, model, name))
    return router_ops(k, t, bufs, {"H": c.n_embd, "E": c.n_expert, "K": K})


def _experts(k, model, layer: int, bufs: dict, K: int) -> list:
    """The forward's expert ops of one layer for one token (h rows n_embd apart)."""
    return expert_ops(k, model, layer, bufs, K, x_stride=model.config.n_embd, slots=K, get=_cache(k, model))


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
    ops = _experts(k, model, layer, bufs, K)[:-1]  # no down
    (a,) = _run(k, ops, [(bufs["a"], 4 * K * c.n_ff_exp)])
    return a.view(np.float32).reshape(K, c.n_ff_exp).copy()


def moe_ffn_forward_layer_wgpu(model, layer: int, h: np.ndarray, ids=None, weights=None) -> np.ndarray:
    """Σ_j weights[j] · down_e(swiglu_e(h)) on the GPU: h (H,) -> (H,). ids/weights default to
    the GPU router's choice (softmax over all experts, stable top-k, renormalised)."""
    k, c = kernels_for(), model.config
    K = c.n_expert_used if ids is None else len(np.asarray(ids).reshape(-1))
    bufs = _buffers(k, c, h, K, None if ids is None else np.asarray(ids).reshape(-1))
    if ids is None:
        ops = _router(k, model, layer, bufs, K)
    else:
        ops = []
        k.write(bufs["weights"], np.asarray(weights, np.float32).reshape(-1))
    ops += _experts(k, model, layer, bufs, K)
    ops.append(
        norms.residual_norm_op(
            k,
            bufs["d"],
            bufs["x"],
            bufs["ones"],
            bufs["hn"],
            bufs["step"],
            c.n_embd,
            c.rms_eps,
            w=bufs["weights"],
            nsrc=K,
        )
    )
    (x,) = _run(k, ops, [(bufs["x"], 4 * c.n_embd)])
    return x.view(np.float32).copy()


def router_wgpu(model, layer: int, h: np.ndarray):
    """The GPU router of one layer on h (H,): (ids (K,), weights (K,), probs (E,)) — softmax
    over all experts, stable top-k, renormalised; ≡ backends.cpu.ops.route."""
    k, c = kernels_for(), model.config
    K = c.n_expert_used
    bufs = _buffers(k, c, h, K, None)
    ids, w, p = _run(
        k,
        _router(k, model, layer, bufs, K),
        [(bufs["ids"], 4 * K), (bufs["weights"], 4 * K), (bufs["probs"], 4 * c.n_expert)],
    )
    return (ids.view(np.uint32).astype(np.int64), w.view(np.float32).copy(), p.view(np.float32).copy())
