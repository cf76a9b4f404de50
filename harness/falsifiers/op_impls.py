"""The implementations op_parity compares: each op on the CPU (backends.cpu), on wgpu (the
kernels the cell's backend hands out through its op_kernels() method) and as an independent
float64 computation written here from the equations (weights decoded by the codecs, then
everything in float64).

Every function takes a Case and returns a float array in one comparable layout:
    router          dense (E,) routing weights (zero off the selected experts), so id order
                    does not matter, only which experts and how much
    expert_swiglu   (k, I) for the case's expert ids
    moe_ffn         (H,) the weighted sum of the routed experts' outputs (no residual)
    matvec          (rows,) W·x for a synthetic quantized W of the case's qtype
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from backends.model import quants
from backends.cpu import ops as cpu_ops
from backends.cpu.matvec import matvec as cpu_matvec
from harness.falsifiers.registry import JobError


@dataclass
class Case:
    """One input: a model layer and hidden vector, or a synthetic matvec weight and vector."""

    model: object = None
    layer: int = 0
    h: np.ndarray | None = None
    ids: np.ndarray | None = None  # the CPU router's choice for h (shared input for swiglu)
    weight: object = None  # matvec: SimpleNamespace(name, qtype, raw, rows, cols)


def _dense(ids, weights, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float64)
    out[np.asarray(ids).reshape(-1)] = np.asarray(weights, dtype=np.float64).reshape(-1)
    return out


def _names(layer: int) -> tuple[str, str, str, str]:
    p = f"blk.{layer}."
    return (p + "ffn_gate_inp.weight", p + "ffn_gate_exps.weight", p + "ffn_up_exps.weight", p + "ffn_down_exps.weight")


# -- CPU -------------------------------------------------------------------------------------
def cpu_route(model, layer: int, h: np.ndarray):
    logits = cpu_ops.matvec(model, _names(layer)[0], h)
    return cpu_ops.route(logits, model.config.n_expert_used)


def _cpu_router(c: Case):
    ids, w, _ = cpu_route(c.model, c.layer, c.h)
    return _dense(ids, w, c.model.config.n_expert)


def _cpu_moe(c: Case):
    ids, w, _ = cpu_route(c.model, c.layer, c.h)
    return cpu_ops.moe_ffn(c.model, c.layer, c.h, ids, w)


def _weight_model(wt):
    """A stand-in exposing what backends.cpu.matvec reads: tensors[name].qtype/.n_cols, raw()."""
    info = SimpleNamespace(qtype=wt.qtype, n_cols=wt.cols)
    return SimpleNamespace(tensors={wt.name: info}, raw=lambda name: wt.raw)


# -- a backend's own kernels (backend.op_kernels(): {op: function}) ---------------------------
# How each op's kernel is called on a Case; the result in the layout of the module doc.
KERNEL_CALLS = {
    "router": lambda fn, c: _dense(*fn(c.model, c.layer, c.h)[:2], c.model.config.n_expert),
    "expert_swiglu": lambda fn, c: fn(c.model, c.layer, c.h, c.ids),
    "moe_ffn": lambda fn, c: fn(c.model, c.layer, c.h),  # routes itself: its router is tested too
    "matvec": lambda fn, c: fn(c.weight.name, c.weight.qtype, c.weight.raw, c.weight.cols, c.h),
}


def backend_kernel(op: str, backend):
    """`op` computed by the backend's own kernel (backend.op_kernels()[op])."""
    kernels = getattr(backend, "op_kernels", None)
    if not callable(kernels):
        raise JobError(f"op_parity: backend {getattr(backend, 'name', backend)!r} offers no op_kernels()")
    fn = kernels().get(op)
    if fn is None:
        raise JobError(f"op_parity: backend {getattr(backend, 'name', backend)!r} has no kernel for op {op!r}")
    return lambda c: KERNEL_CALLS[op](fn, c)


# -- float64 ---------------------------------------------------------------------------------
def _rows64(model, name: str, rows: int, expert: int | None = None) -> np.ndarray:
    return model.rows(name, 0, rows, expert=expert).astype(np.float64)


def f64_route(model, layer: int, h: np.ndarray):
    """softmax over all experts, top-k (lower index wins ties), renormalised; all in float64."""
    cfg = model.config
    logits = _rows64(model, _names(layer)[0], cfg.n_expert) @ h.astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    ids = np.argsort(-p, kind="stable")[: cfg.n_expert_used]
    return ids, p[ids] / p[ids].sum()


def _f64_swiglu_one(model, layer: int, h: np.ndarray, e: int) -> np.ndarray:
    _, gate, up, _ = _names(layer)
    n_ff = model.config.n_ff_exp
    g = _rows64(model, gate, n_ff, int(e)) @ h.astype(np.float64)
    u = _rows64(model, up, n_ff, int(e)) @ h.astype(np.float64)
    return g / (1.0 + np.exp(-g)) * u


def _f64_moe(c: Case):
    ids, w = f64_route(c.model, c.layer, c.h)
    down = _names(c.layer)[3]
    H = c.model.config.n_embd
    return sum(
        wj * (_rows64(c.model, down, H, int(e)) @ _f64_swiglu_one(c.model, c.layer, c.h, e)) for e, wj in zip(ids, w)
    )


IMPLS = {
    ("router", "cpu"): _cpu_router,
    ("router", "f64"): lambda c: _dense(*f64_route(c.model, c.layer, c.h), c.model.config.n_expert),
    ("expert_swiglu", "cpu"): lambda c: cpu_ops.expert_swiglu(c.model, c.layer, c.h, c.ids),
    ("expert_swiglu", "f64"): lambda c: np.stack([_f64_swiglu_one(c.model, c.layer, c.h, e) for e in c.ids]),
    ("moe_ffn", "cpu"): _cpu_moe,
    ("moe_ffn", "f64"): _f64_moe,
    ("matvec", "cpu"): lambda c: cpu_matvec(_weight_model(c.weight), c.weight.name, c.h),
    ("matvec", "f64"): lambda c: (
        quants.dequantize(c.weight.qtype, c.weight.raw).astype(np.float64) @ c.h.astype(np.float64)
    ),
}
OPS = sorted({op for op, _ in IMPLS})
BACKEND_KERNELS = "wgpu"  # the implementation whose kernels come from the cell's backend


def implementation(op: str, impl: str, backend=None):
    """The function computing `op` with implementation `impl`: "cpu" or "f64" (here), or "wgpu"
    (the kernels of `backend`, the cell's opened backend)."""
    if op not in OPS:
        raise JobError(f"op_parity: no {impl} implementation of op {op!r}; ops: {', '.join(OPS)}")
    if impl == BACKEND_KERNELS:
        if backend is None:
            raise JobError(f"op_parity: the {impl} op {op!r} needs the cell's backend")
        return backend_kernel(op, backend)
    if (op, impl) not in IMPLS:
        raise JobError(f"op_parity: no {impl} implementation of op {op!r}; ops: {', '.join(OPS)}")
    return IMPLS[(op, impl)]
