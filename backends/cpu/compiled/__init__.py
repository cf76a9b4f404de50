"""Compiled (numba) kernels of the CPU reference: the fast path of backends.cpu.matvec.

The numpy code in backends.cpu.matvec and backends.model.quants stays the readable
specification; tests/test_cpu_compiled.py holds these kernels to it. Kernels are compiled on
first use and cached on disk (numba cache=True: __pycache__ beside this file, or numba's
user-wide cache directory when that is read-only, or NUMBA_CACHE_DIR).
"""

from __future__ import annotations

import weakref

import numba
import numpy as np

from backends.cpu.compiled import kernels, ops as _ops
from backends.model import quants

QCODES = {
    "F32": kernels.F32,
    "F16": kernels.F16,
    "BF16": kernels.BF16,
    "Q8_0": kernels.Q8_0,
    "Q4_K": kernels.Q4_K,
    "Q5_K": kernels.Q5_K,
    "Q6_K": kernels.Q6_K,
}

# Below this many multiply-adds a call runs on the calling thread: a thread-pool round trip
# costs more than it saves, and far more on a loaded machine, where a parallel region waits for
# every worker to be scheduled. Results are the same bits either way. Measured on `small`, 2
# threads, idle 2-core VM (tools/bench_cpu_vs_llama.py --parallel-min-macs N, decode tok/s):
# 2M 164, 1M 256, 256K 274, 0 282; at load ~2.5 (other processes), 1M fell to 14-34.
PARALLEL_MIN_MACS = 1 << 18

# model -> {(tensor name, decode_as): (raw uint8 ndarray, qcode, nblocks, width)}
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan(model, name: str, decode_as: str | None) -> tuple:
    try:
        per_model = _PLANS.setdefault(model, {})
    except TypeError:  # a stand-in model without weak references: no memo
        per_model = {}
    plan = per_model.get((name, decode_as))
    if plan is None:
        kind = decode_as or model.tensors[name].qtype
        raw = np.ascontiguousarray(model.raw(name))  # a plain view of the mapped bytes
        nblocks = raw.shape[-1] // quants.type_size(kind)
        plan = per_model[(name, decode_as)] = (raw, QCODES[kind], nblocks, nblocks * quants.block_size(kind))
    return plan


def model_matmul(
    model, name: str, xs: np.ndarray, expert: int | None = None, decode_as: str | None = None
) -> np.ndarray:
    """out (T, rows) = xs (T, n) times the rows of tensor `name` (expert `expert` of a 3-D one).

    decode_as (planted fault q6k_as_q4k only): read each row's bytes as whole blocks of another
    type and use the first n values (backends.cpu.matvec.decode_rows says why).
    """
    raw, qcode, nblocks, width = _plan(model, name, decode_as)
    if expert is not None:
        if raw.ndim != 3 or not 0 <= expert < raw.shape[0]:
            raise ValueError(f"{name}: expert {expert} out of range for raw shape {raw.shape}")
        raw = raw[expert]
    return raw_matmul(raw, qcode, nblocks, width, xs)


def model_matmuls(model, names: list[str], xss: list[np.ndarray]) -> list[np.ndarray]:
    """model_matmul for several 2-D tensors at once, xss[i] (T, n_i) through tensor names[i]:
    one parallel region instead of one per tensor (or none for the small ones); the same bits."""
    plans = [_plan(model, name, None) for name in names]
    for name, (raw, *_rest) in zip(names, plans):
        if raw.ndim != 2:
            raise ValueError(f"{name}: model_matmuls takes 2-D tensors, not raw shape {raw.shape}")
    xss = [np.ascontiguousarray(xs, dtype=np.float32) for xs in xss]
    for name, xs in zip(names, xss):  # the kernel reads xs.shape[1] decoded values a row
        if xs.ndim != 2 or xs.shape[1] != model.tensors[name].n_cols:
            raise ValueError(f"{name}: inputs {xs.shape} do not fit rows of {model.tensors[name].n_cols}")
    outs = [np.empty((xs.shape[0], p[0].shape[0]), np.float32) for xs, p in zip(xss, plans)]
    macs = sum(p[0].shape[0] * p[3] * xs.shape[0] for p, xs in zip(plans, xss))
    if macs < PARALLEL_MIN_MACS:
        for p, xs, out in zip(plans, xss, outs):
            kernels.matmul_serial(*p, xs, kernels.F16_TABLE, out)
        return outs
    kernels.matmuls_parallel(
        tuple(p[0] for p in plans),
        np.array([p[1] for p in plans], np.int64),
        np.array([p[2] for p in plans], np.int64),
        max(p[3] for p in plans),
        tuple(xss),
        kernels.F16_TABLE,
        tuple(outs),
    )
    return outs


def expert_matmul(
    model, name: str, experts: np.ndarray, starts: np.ndarray, xs: np.ndarray, parallel: bool | None = None
) -> np.ndarray:
    """out (N, rows): xs[starts[g]:starts[g+1]] times expert experts[g] of 3-D tensor `name`,
    every expert in one kernel call (one parallel region per layer, not one per expert)."""
    raw, qcode, nblocks, width = _plan(model, name, None)
    xs = np.ascontiguousarray(xs, dtype=np.float32)
    experts, starts = _checked_groups(name, raw, experts, starts, len(xs))
    out = np.empty((xs.shape[0], raw.shape[1]), dtype=np.float32)
    if parallel is None:
        parallel = raw.shape[1] * width * xs.shape[0] >= PARALLEL_MIN_MACS
    kernel = kernels.experts_parallel if parallel else kernels.experts_serial
    kernel(raw, experts, starts, qcode, nblocks, width, xs, kernels.F16_TABLE, out)
    return out


def expert_swiglu(
    model,
    gate: str,
    up: str,
    experts: np.ndarray,
    starts: np.ndarray,
    xg: np.ndarray,
    xu: np.ndarray,
    parallel: bool | None = None,
) -> np.ndarray:
    """silu(expert_matmul(gate, xg)) * expert_matmul(up, xu) in one kernel call: each row of
    gate and up decoded once, the SwiGLU taken in the kernel (xg, xu: the activation as each
    tensor's dot product sees it; the same array under the fp32 path)."""
    raw_g, qg, nbg, width_g = _plan(model, gate, None)
    raw_u, qu, nbu, width_u = _plan(model, up, None)
    if raw_u.ndim != 3 or raw_g.shape[:2] != raw_u.shape[:2]:
        raise ValueError(f"{gate} {raw_g.shape} and {up} {raw_u.shape}: not one expert layout")
    xg = np.ascontiguousarray(xg, dtype=np.float32)
    xu = np.ascontiguousarray(xu, dtype=np.float32)
    if xu.shape != xg.shape:
        raise ValueError(f"{gate} / {up}: inputs {xg.shape} and {xu.shape} differ")
    experts, starts = _checked_groups(gate, raw_g, experts, starts, len(xg))
    out = np.empty((xg.shape[0], raw_g.shape[1]), dtype=np.float32)
    width = max(width_g, width_u)
    if parallel is None:
        # per matrix, as for one expert_matmul: fusing gate and up changes no threading choice
        parallel = raw_g.shape[1] * width * xg.shape[0] >= PARALLEL_MIN_MACS
    kernel = kernels.swiglu_experts_parallel if parallel else kernels.swiglu_experts_serial
    kernel(
        raw_g,
        raw_u,
        experts,
        starts,
        qg,
        qu,
        nbg,
        nbu,
        width,
        xg,
        xu,
        kernels.F16_TABLE,
        out,
    )
    return out


def _checked_groups(name: str, raw: np.ndarray, experts, starts, n_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """experts (G,) in range and starts (G + 1,) rising from 0 to n_inputs: the kernels index
    without bounds checks, so a bad group list must stop here, not write past an array."""
    experts = np.ascontiguousarray(experts, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    if raw.ndim != 3 or not _ops.groups_fit(experts, starts, raw.shape[0], n_inputs):
        raise ValueError(
            f"{name}: experts {experts.tolist()} out of range for raw shape {raw.shape}, or group starts"
            f" {starts.tolist()} do not split {n_inputs} inputs among them"
        )
    return experts, starts


def raw_matmul(raw, qcode: int, nblocks: int, width: int, xs: np.ndarray, parallel: bool | None = None) -> np.ndarray:
    """The kernel call; parallel None: by size (PARALLEL_MIN_MACS)."""
    xs = np.ascontiguousarray(xs, dtype=np.float32)
    out = np.empty((xs.shape[0], raw.shape[0]), dtype=np.float32)
    if parallel is None:
        parallel = raw.shape[0] * width * xs.shape[0] >= PARALLEL_MIN_MACS
    kernel = kernels.matmul_parallel if parallel else kernels.matmul_serial
    kernel(raw, qcode, nblocks, width, xs, kernels.F16_TABLE, out)
    return out


def decode_rows(raw: np.ndarray, qtype: str, ids=None) -> np.ndarray:
    """Whole rows (r, row_bytes) -> float32 (r, n) through the compiled decoders; ids: only
    those rows, in that order."""
    raw = np.ascontiguousarray(raw)
    ids = np.arange(raw.shape[0]) if ids is None else np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= raw.shape[0]):  # the kernel does not check
        raise ValueError(f"decode_rows: row ids {ids.tolist()} out of range 0..{raw.shape[0] - 1}")
    nblocks = raw.shape[-1] // quants.type_size(qtype)
    out = np.empty((len(ids), nblocks * quants.block_size(qtype)), dtype=np.float32)
    kernels.decode_rows_at(
        QCODES[qtype], raw, np.ascontiguousarray(ids, dtype=np.int64), nblocks, kernels.F16_TABLE, out
    )
    return out


def embed_rows(model, name: str, ids: np.ndarray) -> np.ndarray:
    """Rows ids (in range: backends.cpu.matvec.embed_rows checks) of a 2-D tensor, decoded."""
    raw, _, _, _ = _plan(model, name, None)
    return decode_rows(raw, model.tensors[name].qtype, ids)[:, : model.tensors[name].n_cols]


def attention(
    q: np.ndarray, keys: np.ndarray, values: np.ndarray, kv_map: np.ndarray, offset: int, scale: np.float32
) -> np.ndarray:
    """backends.cpu.ops.attention's arithmetic compiled (shapes checked there)."""
    if kv_map.size and (kv_map.min() < 0 or kv_map.max() >= keys.shape[1]):
        raise ValueError(f"attention: kv_map {kv_map.tolist()} out of range for {keys.shape[1]} kv heads")
    out = np.empty((q.shape[0], q.shape[1], values.shape[-1]), dtype=np.float32)
    _ops.attend(
        np.ascontiguousarray(q, dtype=np.float32),
        np.ascontiguousarray(keys, dtype=np.float32),
        np.ascontiguousarray(values, dtype=np.float32),
        np.ascontiguousarray(kv_map, dtype=np.int64),
        int(offset),
        np.float32(scale),
        out,
    )
    return out


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """backends.cpu.ops.rms_norm's arithmetic compiled: x (..., n) float32, w (n,)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    w = np.ascontiguousarray(w, dtype=np.float32)
    if w.shape != x.shape[-1:]:
        raise ValueError(f"rms_norm: weight {w.shape} does not fit x {x.shape}")
    out = np.empty_like(x)
    _ops.rms_norm_rows(x.reshape(-1, x.shape[-1]), w, np.float32(eps), out.reshape(-1, x.shape[-1]))
    return out


def route(logits: np.ndarray, k: int, renormalise: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """backends.cpu.ops.route with softmax first, compiled: logits (T, E) finite float32."""
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    T, E = logits.shape
    if not 0 < k <= E:
        raise ValueError(f"route: k={k} is not in 1..{E}")
    ids, weights = np.empty((T, k), np.int32), np.empty((T, k), np.float32)
    probs = np.empty((T, E), np.float32)
    _ops.route_rows(logits, int(k), bool(renormalise), ids, weights, probs)
    return ids, weights, probs


def group_pairs(ids: np.ndarray, n_expert: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (token, slot) pairs of ids (T, k), all in 0..n_expert-1, grouped by expert:
    order, experts, starts as backends.cpu.ops.moe_tokens's numpy grouping gives them."""
    return _ops.group_pairs(np.ascontiguousarray(ids, dtype=np.int64).reshape(-1), int(n_expert))


def weighted_slots(grouped: np.ndarray, order: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The MoE's weighted sum over slots (backends.cpu.ops.moe_tokens): grouped (T·k, H) rows in
    group order, order (T·k,) a permutation of the pairs (group_pairs), weights (T, k)."""
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    order = np.ascontiguousarray(order, dtype=np.int64)
    n = weights.size
    if grouped.shape[0] != n or order.shape != (n,):  # the kernel checks order is a permutation
        raise ValueError(f"weighted_slots: {grouped.shape} rows, order {order.shape}, weights {weights.shape}")
    out = np.empty((weights.shape[0], grouped.shape[1]), np.float32)
    _ops.weighted_slots(np.ascontiguousarray(grouped, dtype=np.float32), order, weights, out)
    return out


def rope_apply(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """backends.cpu.ops.rope_apply compiled (the same bits): x (T, heads, hd) float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if cos.shape != sin.shape or cos.shape != (x.shape[0], 1, x.shape[2] // 2) or x.shape[2] % 2:
        raise ValueError(f"rope: tables {cos.shape} / {sin.shape} do not fit x {x.shape}")
    out = np.empty_like(x)
    _ops.rope_rows(x, np.ascontiguousarray(cos), np.ascontiguousarray(sin), out)
    return out


def threads() -> int:
    """Threads the compiled kernels use (numba's pool; NUMBA_NUM_THREADS caps it)."""
    return numba.get_num_threads()


def set_threads(n: int) -> None:
    numba.set_num_threads(n)


def numba_version() -> str:
    return numba.__version__
