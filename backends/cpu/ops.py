"""Numpy ops of the Qwen3-MoE forward (docs/reference.md §1): the reference for op parity.

Every function takes and returns float32 arrays (ints for ids) and keeps no state; the MoE ops
read expert weights from an opened model through the lazy matvec (backends.cpu.matvec).
Planted-bug switches (keyword arguments with correct defaults) let the CPU backend implement
faults without a second copy of the maths.
"""

from __future__ import annotations

import numpy as np

from backends.cpu import compiled
from backends.cpu import matvec as mv
from backends.cpu.matvec import expert_matvecs, matvec  # noqa: F401  (matvec: a public op)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float, impl: str = "numpy") -> np.ndarray:
    """x / sqrt(mean(x², last axis) + eps) * w, in float32. x: (..., n), w: (n,).
    impl "compiled": the same arithmetic in backends.cpu.compiled (summation order differs)."""
    if impl == "compiled":
        return compiled.rms_norm(x, w, eps)
    x = np.asarray(x, dtype=np.float32)
    ms = np.mean(x * x, axis=-1, keepdims=True, dtype=np.float32)
    return (x / np.sqrt(ms + np.float32(eps))) * np.asarray(w, dtype=np.float32)


def rope_inv_freq(hd: int, theta: float, freq_dim: int | None = None) -> np.ndarray:
    """inv_freq[i] = θ^(-2i/freq_dim) for i < hd/2, float64 (freq_dim defaults to hd)."""
    freq_dim = hd if freq_dim is None else freq_dim
    return float(theta) ** (-2.0 * np.arange(hd // 2, dtype=np.float64) / freq_dim)


def rope_neox(x: np.ndarray, positions, theta: float, *, freq_dim: int | None = None) -> np.ndarray:
    """NEOX (rotate-half) RoPE over the full head: element i pairs with i + hd/2.

    x: (T, heads, hd); positions: (T,) absolute positions. Angles are formed in float64 (pos ·
    inv_freq loses ~1e-4 rad at position 4k in float32), cos/sin are rounded to float32.
    freq_dim: the hd used in the frequency exponent (only the head_dim_from_hidden fault changes it).
    """
    x = np.asarray(x, dtype=np.float32)
    hd = x.shape[-1]
    if hd % 2:
        raise ValueError(f"rope_neox: head_dim {hd} is odd; NEOX RoPE pairs i with i + hd/2")
    return rope_apply(x, *rope_tables(positions, hd, theta, freq_dim))


def rope_tables(positions, hd: int, theta: float, freq_dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """cos, sin (T, 1, hd/2) float32 of rope_neox: computed once per forward call, shared by
    q and k of every layer."""
    ang = np.asarray(positions, dtype=np.float64)[:, None] * rope_inv_freq(hd, theta, freq_dim)
    return (np.cos(ang).astype(np.float32)[:, None, :], np.sin(ang).astype(np.float32)[:, None, :])


def rope_apply(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, impl: str = "numpy") -> np.ndarray:
    """rope_neox with its tables given: x (T, heads, hd) float32. impl "compiled": the same
    operations, so the same bits, without numpy's temporaries."""
    if impl == "compiled":
        return compiled.rope_apply(x, cos, sin)
    hd = x.shape[-1]
    lo, hi = x[..., : hd // 2], x[..., hd // 2 :]
    return np.concatenate([lo * cos - hi * sin, hi * cos + lo * sin], axis=-1)


def gqa_map(n_head: int, n_kv: int) -> np.ndarray:
    """Query head j -> kv head j // (n_head / n_kv)."""
    if n_kv <= 0 or n_head % n_kv:
        raise ValueError(f"n_head {n_head} is not a multiple of n_head_kv {n_kv}")
    return np.arange(n_head) // (n_head // n_kv)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float32."""
    x = np.asarray(x, dtype=np.float32)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    n_kv: int,
    *,
    offset: int = 0,
    kv_map: np.ndarray | None = None,
    scale_dim: int | None = None,
    impl: str = "numpy",
) -> np.ndarray:
    """Causal grouped-query attention of T new queries against S = offset + T cached keys.

    q: (T, n_head, hd); k: (S, n_kv, hd); v: (S, n_kv, hd_v). Query t sits at absolute position
    offset + t and sees keys 0..offset+t. Scores are scaled by 1/sqrt(hd) (scale_dim overrides hd,
    only for a fault), softmax in float32. Returns (T, n_head, hd_v).
    kv_map: query head -> kv head (default gqa_map(n_head, n_kv)).
    impl: "numpy" (this code, the specification) or "compiled" (backends.cpu.compiled).
    """
    q, k, v = (np.asarray(a, dtype=np.float32) for a in (q, k, v))
    T, n_head, hd = q.shape
    S = k.shape[0]
    if S != offset + T or k.shape[1] != n_kv or v.shape[:2] != k.shape[:2]:
        raise ValueError(
            f"attention: q {q.shape}, k {k.shape}, v {v.shape}, offset {offset}, n_kv {n_kv} do not fit together"
        )
    kv_map = gqa_map(n_head, n_kv) if kv_map is None else np.asarray(kv_map)
    scale = np.float32(1.0 / np.sqrt(scale_dim if scale_dim is not None else hd))
    if impl == "compiled":
        return compiled.attention(q, k, v, kv_map, offset, scale)
    kh, vh = k[:, kv_map, :], v[:, kv_map, :]  # (S, n_head, hd)
    out = np.empty((T, n_head, v.shape[-1]), dtype=np.float32)
    # Query by query over exactly the keys it sees (no mask): the same arithmetic whether the
    # query came in a prefill batch or a decode step, so the two agree bit for bit.
    for t in range(T):
        seen = offset + t + 1
        scores = np.einsum("hd,shd->hs", q[t], kh[:seen]) * scale
        out[t] = np.einsum("hs,shd->hd", softmax(scores, axis=-1), vh[:seen])
    return out


def route(
    logits: np.ndarray, k: int, *, renormalise: bool = True, softmax_first: bool = True, impl: str = "numpy"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Qwen3-MoE router: softmax over ALL experts, stable top-k, renormalise the k weights.

    logits: (E,) or (T, E). Returns ids (…, k) int32 in descending probability order (a tie goes to
    the lower expert index), weights (…, k) float32, probs (…, E) float32.
    renormalise=False and softmax_first=False exist only for the planted faults. With
    softmax_first=False the softmax runs over the k selected logits only; probs then holds those
    k values scattered into zeros (no full distribution was ever computed).
    impl "compiled": the same selection in backends.cpu.compiled (softmax's exp and sum may
    differ by ulps); non-finite logits and the softmax_first=False fault take this code.
    """
    logits = np.asarray(logits, dtype=np.float32)
    if not 0 < k <= logits.shape[-1]:
        raise ValueError(f"route: k={k} is not in 1..{logits.shape[-1]}")
    if impl == "compiled" and softmax_first and logits.ndim in (1, 2) and np.isfinite(logits).all():
        ids, weights, probs = compiled.route(logits.reshape(-1, logits.shape[-1]), k, renormalise)
        return ids.reshape(*logits.shape[:-1], k), weights.reshape(*logits.shape[:-1], k), probs.reshape(logits.shape)
    # Stable sort of the negated key: descending, equal keys keep ascending index order.
    key = softmax(logits) if softmax_first else logits
    ids = np.argsort(-key, axis=-1, kind="stable")[..., :k].astype(np.int32)
    if softmax_first:
        probs = key
        weights = np.take_along_axis(probs, ids, axis=-1)
        if renormalise:
            weights = weights / np.sum(weights, axis=-1, keepdims=True)
    else:
        weights = softmax(np.take_along_axis(logits, ids, axis=-1))
        probs = np.zeros_like(logits)
        np.put_along_axis(probs, ids, weights, axis=-1)
    return ids, weights.astype(np.float32), probs.astype(np.float32)


def silu(x: np.ndarray) -> np.ndarray:
    """x / (1 + e^-x) in float32 (exp overflow for very negative x correctly gives -0)."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):
        return x / (np.float32(1.0) + np.exp(-x))


def _expert_names(layer: int) -> tuple[str, str, str]:
    p = f"blk.{layer}."
    return p + "ffn_gate_exps.weight", p + "ffn_up_exps.weight", p + "ffn_down_exps.weight"


def moe_tokens(
    model,
    layer: int,
    h: np.ndarray,
    ids: np.ndarray,
    weights: np.ndarray | None,
    *,
    act: str = "fp32",
    expert_shift: int = 0,
    impl: str = "compiled",
) -> tuple[np.ndarray, np.ndarray | None]:
    """The MoE block for T tokens at once: returns (swiglu (T, k, I), out (T, H)); with
    weights=None only the swiglu part runs and out is None.

    h: (T, H) normalised hidden states; ids, weights: (T, k) from route(). Tokens are grouped by
    expert so each selected expert's rows are decoded once per call; out[t] sums the k weighted
    expert outputs in slot order (descending weight), the same order for one token or many.
    expert_shift (planted fault expert_offset only): expert e reads expert (e + shift) % E's bytes.
    impl: the matvec implementation (backends.cpu.matvec).
    """
    gate, up, down = _expert_names(layer)
    h = np.asarray(h, dtype=np.float32)
    ids = np.asarray(ids)
    n_expert = model.tensors[gate].shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= n_expert):
        raise ValueError(f"blk.{layer}: expert ids {ids.tolist()} out of range 0..{n_expert - 1}")
    T, k = ids.shape
    swiglu = np.empty((T, k, model.tensors[gate].shape[1]), dtype=np.float32)
    # the (token, slot) pairs grouped by expert, in (token, slot) order within each group
    if impl == "compiled":
        order, experts, starts = compiled.group_pairs(ids, n_expert)
    else:
        order = np.argsort(ids.reshape(-1), kind="stable")
        experts, counts = np.unique(ids.reshape(-1)[order], return_counts=True)
        starts = np.concatenate([[0], np.cumsum(counts)])
    src = (experts.astype(np.int64) + expert_shift) % n_expert
    t_idx, j_idx = order // k, order % k
    x = h[t_idx]
    if impl == "compiled":  # gate and up in one kernel call, SwiGLU inside
        a = compiled.expert_swiglu(
            model,
            gate,
            up,
            src,
            starts,
            mv.activation_roundtrip(x, model.tensors[gate].qtype, act),
            mv.activation_roundtrip(x, model.tensors[up].qtype, act),
        )
    else:
        a = silu(expert_matvecs(model, gate, src, starts, x, act=act, impl=impl)) * expert_matvecs(
            model, up, src, starts, x, act=act, impl=impl
        )
    swiglu[t_idx, j_idx] = a
    if weights is None:
        return swiglu, None
    grouped = expert_matvecs(model, down, src, starts, a, act=act, impl=impl)
    w = np.asarray(weights, dtype=np.float32)
    if impl == "compiled":  # the loop below without its temporaries: the same bits
        return swiglu, compiled.weighted_slots(grouped, order, w)
    contrib = np.empty((T, k, h.shape[-1]), dtype=np.float32)
    contrib[t_idx, j_idx] = grouped
    out = np.zeros((T, h.shape[-1]), dtype=np.float32)
    for j in range(k):  # fixed slot order: decode == prefill bit for bit
        out += w[:, j, None] * contrib[:, j]
    return swiglu, out


def expert_swiglu(model, layer: int, h: np.ndarray, ids, *, act: str = "fp32") -> np.ndarray:
    """silu(gate_e·h) ⊙ (up_e·h) for each selected expert e: h (H,), ids (k,) -> (k, I)."""
    ids = np.asarray(ids).reshape(1, -1)
    return moe_tokens(model, layer, np.asarray(h)[None], ids, None, act=act)[0][0]


def moe_ffn(model, layer: int, h: np.ndarray, ids, weights, *, act: str = "fp32") -> np.ndarray:
    """Σ_j weights[j] · down_e( swiglu_e(h) ) over the selected experts: h (H,) -> (H,)."""
    ids = np.asarray(ids).reshape(1, -1)
    w = np.asarray(weights).reshape(1, -1)
    return moe_tokens(model, layer, np.asarray(h)[None], ids, w, act=act)[1][0]
