"""Builders of the attention family: q/k norm + RoPE + KV-cache write (qk_norm_rope_kv.wgsl),
prefill attention (attention.wgsl + attention_reduce.wgsl) and decode attention
(attention_decode.wgsl, which can also do qk_norm_rope_kv's work for its one token).
Splits and heads per workgroup: backends.wgpu.tuning; kernel limits here.
"""

from __future__ import annotations

import numpy as np

from backends.wgpu.op import Op, build_op, ceil_div
from backends.wgpu.tuning import (
    ATTN_DECODE_HEADS_PER_WG,
    ATTN_DECODE_KT,
    ATTN_DECODE_SPLITS_MAX,
    ATTN_SPLIT,
    ATTN_SPLIT_DECODE,
)

MAX_HEAD_DIM = 512  # workgroup array in qk_norm_rope_kv.wgsl
ATTN_GROUP_MAX, ATTN_Q_FLOATS = 16, 1024  # GMAX, QMAX in attention.wgsl


def rope_table(ctx: int, hd: int, theta: float) -> np.ndarray:
    """(ctx, hd/2, 2) cos/sin table: angles in float64, rounded to f32, as the CPU's rope_neox."""
    inv = float(theta) ** (-2.0 * np.arange(hd // 2, dtype=np.float64) / hd)
    ang = np.arange(ctx, dtype=np.float64)[:, None] * inv
    return np.stack([np.cos(ang), np.sin(ang)], axis=-1).astype(np.float32)


def qk_norm_rope_kv_op(k, bufs: dict, dims: dict, faults=frozenset(), name="qk_norm_rope_kv") -> Op:
    """Per-head q/k RMSNorm, NEOX RoPE, KV-cache write (shaders/qk_norm_rope_kv.wgsl).

    bufs: q_src, k_src, v_src (token t's vectors at t*stride + offset, in floats), q_out,
    qk_norm (attn_q_norm then attn_k_norm, 2*hd), rope, k_cache, v_cache, step.
    dims: n_head, n_kv, hd, vd, eps, and optional layout {"offsets": (q, k, v), "strides": (q, k,
    v)} (default: three packed buffers).
    """
    if dims["hd"] > MAX_HEAD_DIM or dims["vd"] > MAX_HEAD_DIM or dims["hd"] % 2:
        raise ValueError(
            f"head_dim {dims['hd']} / value_dim {dims['vd']}: the kernels take an even head_dim <= {MAX_HEAD_DIM}"
        )
    consts = {
        "NH": dims["n_head"],
        "NKV": dims["n_kv"],
        "HD": dims["hd"],
        "VD": dims["vd"],
        "EPS": dims["eps"],
        "SKIP_NORM": "skip_qk_norm" in faults,
        "KV_F16": "kv_f16" in faults,
    }
    lay = dims.get("layout") or {
        "offsets": (0, 0, 0),
        "strides": (dims["n_head"] * dims["hd"], dims["n_kv"] * dims["hd"], dims["n_kv"] * dims["vd"]),
    }
    for n, off, stride in zip("QKV", lay["offsets"], lay["strides"]):
        consts[f"{n}_OFF"], consts[f"{n}_STRIDE"] = off, stride
    order = ("q_src", "k_src", "v_src", "q_out", "qk_norm", "rope", "k_cache", "v_cache", "step")
    layout = ("read", "read", "read", "rw", "read", "read", "rw", "rw", "uniform")
    nh = dims["n_head"] + dims["n_kv"]
    return build_op(k, name, "qk_norm_rope_kv", layout, [bufs[o] for o in order], lambda t: (nh, t, 1), consts)


def attention_scratch_floats(n_head: int, tmax: int, ctx: int, vd: int, split: int = ATTN_SPLIT) -> int:
    """Size of the split-partials buffer attention_ops needs."""
    return n_head * tmax * ceil_div(ctx, split) * (vd + 2)


def attention_ops(k, bufs: dict, dims: dict, faults=frozenset(), split: int = ATTN_SPLIT) -> list[Op]:
    """Causal GQA attention over the cache: split partials, then the merge (attention.wgsl).

    bufs: q, k_cache, v_cache, part (attention_scratch_floats(..., split)), out, step.
    dims: n_head, n_kv, hd, vd, ctx, tmax. split: positions per workgroup (<= 128).
    tmax == 1 (decode steps): attention_decode.wgsl instead, split = positions per block, and the
    optional dims["splits_max"] (default ATTN_DECODE_SPLITS_MAX) bounds the splits per head,
    dims["heads_per_wg"] the query heads per workgroup (default: the largest divisor of the
    group <= ATTN_DECODE_HEADS_PER_WG that fits the workgroup limits). When bufs holds the raw
    sources instead of "q" (q_src, k_src, v_src, qk_norm, rope: qk_norm_rope_kv_op's bufs, with
    dims eps and layout), the decode kernel also does qk_norm_rope_kv's work for the token,
    writing its k / v rows into the caches: one dispatch less per decode step.
    """
    if not 0 < split <= ATTN_SPLIT:
        raise ValueError(f"attention split {split} is not in 1..{ATTN_SPLIT}")
    nh, ctx, nkv = dims["n_head"], dims["ctx"], dims["n_kv"]
    if nh % nkv:
        raise ValueError(f"n_head {nh} is not a multiple of n_head_kv {nkv}")
    group = nh // nkv
    if dims["vd"] % 4 or dims["hd"] % 4 or group * dims["vd"] > ATTN_Q_FLOATS:
        raise ValueError(
            f"attention: head_dim {dims['hd']} and value_dim {dims['vd']} must be "
            f"multiples of 4 (vec4 rows), with "
            f"{group} heads x value_dim <= {ATTN_Q_FLOATS} (workgroup array)"
        )
    if group > ATTN_GROUP_MAX or group * dims["hd"] > ATTN_Q_FLOATS:
        raise ValueError(
            f"attention: {group} query heads per kv head x head_dim {dims['hd']} "
            f"exceed the kernel's workgroup arrays ({ATTN_GROUP_MAX} heads, "
            f"{ATTN_Q_FLOATS} floats)"
        )
    consts = {
        "NH": nh,
        "NKV": dims["n_kv"],
        "HD": dims["hd"],
        "VD": dims["vd"],
        "NS": ceil_div(ctx, split),
        "TMAX": dims["tmax"],
        "SPLIT": split,
        "SCALE": float(np.float32(1.0 / np.sqrt(dims["hd"]))),
        "GQA_SHIFT": "gqa_off_by_one" in faults,
    }
    if dims["tmax"] == 1:
        return _decode_attention_ops(
            k,
            bufs,
            dims,
            faults,
            {**consts, "SPLITS_MAX": dims.get("splits_max", ATTN_DECODE_SPLITS_MAX), "HPW": dims.get("heads_per_wg")},
        )
    binds = [bufs[o] for o in ("q", "k_cache", "v_cache", "part", "step")]
    layout = ("read", "read", "read", "rw", "uniform")
    part = build_op(
        k,
        "attn_partial",
        "attention",
        layout,
        binds,
        lambda t, p: (nkv, t, ceil_div(p + t, split)),
        consts,
        entry="attn_partial",
        by_position=True,
    )
    red_consts = {c: consts[c] for c in ("NH", "VD", "NS", "TMAX", "SPLIT")}
    red = build_op(
        k,
        "attn_reduce",
        "attention_reduce",
        ("read", "rw", "uniform"),
        [bufs[o] for o in ("part", "out", "step")],
        lambda t: (nh, t, 1),
        red_consts,
    )
    return [part, red]


def decode_attention_scratch_floats(n_head: int, ctx: int, vd: int, split: int = ATTN_SPLIT_DECODE) -> int:
    """Size of the partials buffer the decode attention needs (splits capped per head)."""
    return n_head * min(ceil_div(ctx, split), ATTN_DECODE_SPLITS_MAX) * (vd + 2)


def decode_splits(pos0: int, split: int, splits_max: int) -> int:
    """Workgroups per head of a decode step at pos0 (attention_decode.wgsl: n_splits)."""
    span = ceil_div(ceil_div(pos0 + 1, split), splits_max) * split
    return ceil_div(pos0 + 1, span)


def _decode_heads_per_wg(k, group: int, team: int, wg_bytes, want: int | None) -> int:
    """Query heads per attn_decode workgroup: `want`, else the largest divisor of the group up to
    ATTN_DECODE_HEADS_PER_WG whose threads (<= 256) and workgroup arrays (wg_bytes(n)) fit."""
    limit = int(k.info.limits.get("max-compute-workgroup-storage-size", 16384))
    fits = lambda n: group % n == 0 and n * team <= 256 and wg_bytes(n) <= limit
    hpw = want or max(n for n in range(1, ATTN_DECODE_HEADS_PER_WG + 1) if fits(n) or n == 1)
    if not fits(hpw):
        raise ValueError(
            f"decode attention: {hpw} heads per workgroup must divide the group "
            f"{group}, with {hpw} x {team} threads <= 256 and {wg_bytes(hpw)} B "
            f"of workgroup memory <= {limit}"
        )
    return hpw


def _decode_wg_floats(n: int, team: int, split: int, hd: int, vd: int) -> int:
    """attn_decode's workgroup floats with n heads: sp (partial dots, or the prologue's sums of
    squares), sc (scores), qw (q rows), kw + vw (pos0's new k / v row)."""
    return max(n * split * (ATTN_DECODE_KT + 1), 2 * n * team) + n * split + n * hd + hd + vd


def _decode_sources(bufs: dict, dims: dict, faults) -> tuple[list, dict]:
    """attn_decode's bindings 0-4 and the constants that say how to read them: the raw q / k / v
    (FUSED: norm + RoPE + cache write in the kernel) or, without q_src, the finished q."""
    if "q_src" not in bufs:
        return [bufs["q"]] * 5, {"FUSED": False}
    lay = dims.get("layout") or {"offsets": (0, 0, 0)}
    if dims["hd"] % 2 or dims["hd"] > MAX_HEAD_DIM:
        raise ValueError(f"decode attention: head_dim {dims['hd']} must be even (NEOX RoPE) and <= {MAX_HEAD_DIM}")
    consts = {"FUSED": True, "EPS": dims["eps"], "SKIP_NORM": "skip_qk_norm" in faults, "KV_F16": "kv_f16" in faults}
    consts |= {f"{n}_OFF": off for n, off in zip("QKV", lay["offsets"])}
    return [bufs[o] for o in ("q_src", "k_src", "v_src", "qk_norm", "rope")], consts


def _decode_attention_ops(k, bufs: dict, dims: dict, faults, consts: dict) -> list[Op]:
    """Decode attention: attn_decode per (query heads, split), then attn_merge per head
    (shaders/attention_decode.wgsl), named attn_partial / attn_reduce like the prefill pair."""
    nh, hd, vd, split = consts["NH"], consts["HD"], consts["VD"], consts["SPLIT"]
    ns = min(consts["NS"], consts["SPLITS_MAX"])
    cols = vd // 4  # vec4 columns: one per thread of a head's team, MR rows in attn_merge
    team = ceil_div(cols, 32) * 32
    wg_bytes = lambda n: 4 * _decode_wg_floats(n, team, split, hd, vd)
    hpw = _decode_heads_per_wg(k, nh // consts["NKV"], team, wg_bytes, consts["HPW"])
    rows = max(1, 256 // cols)  # attn_merge: MR rows of splits, <= 256 threads
    dc = {
        **{c: consts[c] for c in ("NH", "NKV", "HD", "VD", "SPLIT", "SCALE", "GQA_SHIFT")},
        "NS": ns,
        "KT": ATTN_DECODE_KT,
        "WGH": team,
        "HPW": hpw,
        "WG": hpw * team,
        "MR": rows,
        "MWG": rows * cols,
        "SPN": max(hpw * split * (ATTN_DECODE_KT + 1), 2 * hpw * team),
    }
    need = 4 * nh * ns * (vd + 2)
    if bufs["part"].size < need:
        raise ValueError(
            f"decode attention: partials buffer {bufs['part'].size} B < {need} B "
            f"({nh} heads x {ns} splits x (value_dim {vd} + 2) floats)"
        )
    srcs, src_consts = _decode_sources(bufs, dims, faults)
    binds = srcs + [bufs[o] for o in ("k_cache", "v_cache", "part", "step")]
    layout = ("read",) * 5 + ("rw", "rw", "rw", "uniform")
    att = build_op(
        k,
        "attn_partial",
        "attention_decode",
        layout,
        binds,
        lambda t, p: (nh // hpw, 1, decode_splits(p, split, ns)),
        {**dc, **src_consts},
        entry="attn_decode",
        by_position=True,
    )
    merge = build_op(
        k,
        "attn_reduce",
        "attention_decode",
        ("read", "rw", "uniform"),
        [bufs[o] for o in ("part", "out", "step")],
        lambda t: (nh, 1, 1),
        dc,
        entry="attn_merge",
    )
    return [att, merge]
