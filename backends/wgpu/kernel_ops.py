"""The non-matvec kernels of the wgpu forward, built once at load and encoded per step.

Each builder compiles (through the pipeline cache) one kernel of shaders/ and binds it to fixed
buffers, returning an `Op` (backends.wgpu.op): encoding an Op into a Batch creates nothing, so
the per-token cost is one dispatch and the pipeline / bind-group counters do not move after load
(docs/reference.md §5 item 4). Grids are grid(n_tok), or grid(n_tok, pos0) declared by_position.
Per-step scalars (first position pos0, number of tokens n_tok, generate slot) live in the one
16-byte `step` uniform that the forward rewrites with queue.write_buffer.

The MoE stage (router, experts) is built in backends.wgpu.moe; the one-shot helpers live in
backends.wgpu.helpers.
"""

from __future__ import annotations

import numpy as np

from backends.wgpu import tuning
from backends.wgpu.op import Op, op
from backends.wgpu.tuning import (ATTN_DECODE_HEADS_PER_WG, ATTN_DECODE_KT, ATTN_DECODE_SPLITS_MAX,
                                  ATTN_SPLIT, ATTN_SPLIT_DECODE)

STEP_BYTES = 16   # struct Step { pos0, n_tok, token_slot, pad } (all u32)
# Launch shapes and splits (ATTN_*): backends.wgpu.tuning. Kernel limits below.
MAX_HEAD_DIM = 512  # workgroup array in qk_norm_rope_kv.wgsl
ATTN_GROUP_MAX, ATTN_Q_FLOATS = 16, 1024   # GMAX, QMAX in attention.wgsl
MAX_EXPERTS = 512   # workgroup arrays in router_topk.wgsl


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def step_bytes(pos0: int, n_tok: int, token_slot: int = 0) -> np.ndarray:
    """The Step uniform's contents."""
    return np.array([pos0, n_tok, token_slot, 0], dtype=np.uint32)


def _op(k, name, shader, layout, buffers, grid, constants, entry="main",
        by_position: bool = False) -> Op:
    """An Op of shaders/<shader>.wgsl composed after common.wgsl (struct Step, helpers)."""
    pipe = k.pipeline(("common", shader), entry=entry, constants=constants, layout=layout)
    return op(name, pipe, k.bind_group(pipe, buffers), grid, by_position)


def rms_norm_op(k, x, w, y, step, n: int, eps: float, name="rms_norm") -> Op:
    """y[t] = rms_norm(x[t]) * w for t < n_tok (shaders/rms_norm.wgsl)."""
    return _op(k, name, "rms_norm", ("read", "read", "rw", "uniform"), (x, w, y, step),
               lambda t: (t, 1, 1), {"N": n, "EPS": eps, "WG": tuning.wide_wg(k.info)})


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
        raise ValueError(f"head_dim {dims['hd']} / value_dim {dims['vd']}: the kernels take an "
                         f"even head_dim <= {MAX_HEAD_DIM}")
    consts = {"NH": dims["n_head"], "NKV": dims["n_kv"], "HD": dims["hd"], "VD": dims["vd"],
              "EPS": dims["eps"], "SKIP_NORM": "skip_qk_norm" in faults,
              "KV_F16": "kv_f16" in faults}
    lay = dims.get("layout") or {"offsets": (0, 0, 0), "strides": (
        dims["n_head"] * dims["hd"], dims["n_kv"] * dims["hd"], dims["n_kv"] * dims["vd"])}
    for n, off, stride in zip("QKV", lay["offsets"], lay["strides"]):
        consts[f"{n}_OFF"], consts[f"{n}_STRIDE"] = off, stride
    order = ("q_src", "k_src", "v_src", "q_out", "qk_norm", "rope", "k_cache", "v_cache", "step")
    layout = ("read", "read", "read", "rw", "read", "read", "rw", "rw", "uniform")
    nh = dims["n_head"] + dims["n_kv"]
    return _op(k, name, "qk_norm_rope_kv", layout, [bufs[o] for o in order],
               lambda t: (nh, t, 1), consts)


def attention_scratch_floats(n_head: int, tmax: int, ctx: int, vd: int,
                             split: int = ATTN_SPLIT) -> int:
    """Size of the split-partials buffer attention_ops needs."""
    return n_head * tmax * _ceil(ctx, split) * (vd + 2)


def attention_ops(k, bufs: dict, dims: dict, faults=frozenset(), split: int = ATTN_SPLIT
                  ) -> list[Op]:
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
        raise ValueError(f"attention: head_dim {dims['hd']} and value_dim {dims['vd']} must be "
                         f"multiples of 4 (vec4 rows), with "
                         f"{group} heads x value_dim <= {ATTN_Q_FLOATS} (workgroup array)")
    if group > ATTN_GROUP_MAX or group * dims["hd"] > ATTN_Q_FLOATS:
        raise ValueError(f"attention: {group} query heads per kv head x head_dim {dims['hd']} "
                         f"exceed the kernel's workgroup arrays ({ATTN_GROUP_MAX} heads, "
                         f"{ATTN_Q_FLOATS} floats)")
    consts = {"NH": nh, "NKV": dims["n_kv"], "HD": dims["hd"], "VD": dims["vd"],
              "NS": _ceil(ctx, split), "TMAX": dims["tmax"], "SPLIT": split,
              "SCALE": float(np.float32(1.0 / np.sqrt(dims["hd"]))),
              "GQA_SHIFT": "gqa_off_by_one" in faults}
    if dims["tmax"] == 1:
        return _decode_attention_ops(k, bufs, dims, faults, {
            **consts, "SPLITS_MAX": dims.get("splits_max", ATTN_DECODE_SPLITS_MAX),
            "HPW": dims.get("heads_per_wg")})
    binds = [bufs[o] for o in ("q", "k_cache", "v_cache", "part", "step")]
    layout = ("read", "read", "read", "rw", "uniform")
    part = _op(k, "attn_partial", "attention", layout, binds,
               lambda t, p: (nkv, t, _ceil(p + t, split)), consts, entry="attn_partial",
               by_position=True)
    red_consts = {c: consts[c] for c in ("NH", "VD", "NS", "TMAX", "SPLIT")}
    red = _op(k, "attn_reduce", "attention_reduce", ("read", "rw", "uniform"),
              [bufs[o] for o in ("part", "out", "step")], lambda t: (nh, t, 1), red_consts)
    return [part, red]


def decode_attention_scratch_floats(n_head: int, ctx: int, vd: int,
                                    split: int = ATTN_SPLIT_DECODE) -> int:
    """Size of the partials buffer the decode attention needs (splits capped per head)."""
    return n_head * min(_ceil(ctx, split), ATTN_DECODE_SPLITS_MAX) * (vd + 2)


def decode_splits(pos0: int, split: int, splits_max: int) -> int:
    """Workgroups per head of a decode step at pos0 (attention_decode.wgsl: n_splits)."""
    span = _ceil(_ceil(pos0 + 1, split), splits_max) * split
    return _ceil(pos0 + 1, span)


def _decode_heads_per_wg(k, group: int, team: int, wg_bytes, want: int | None) -> int:
    """Query heads per attn_decode workgroup: `want`, else the largest divisor of the group up to
    ATTN_DECODE_HEADS_PER_WG whose threads (<= 256) and workgroup arrays (wg_bytes(n)) fit."""
    limit = int(k.info.limits.get("max-compute-workgroup-storage-size", 16384))
    fits = lambda n: group % n == 0 and n * team <= 256 and wg_bytes(n) <= limit
    hpw = want or max(n for n in range(1, ATTN_DECODE_HEADS_PER_WG + 1) if fits(n) or n == 1)
    if not fits(hpw):
        raise ValueError(f"decode attention: {hpw} heads per workgroup must divide the group "
                         f"{group}, with {hpw} x {team} threads <= 256 and {wg_bytes(hpw)} B "
                         f"of workgroup memory <= {limit}")
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
        raise ValueError(f"decode attention: head_dim {dims['hd']} must be even (NEOX RoPE) and "
                         f"<= {MAX_HEAD_DIM}")
    consts = {"FUSED": True, "EPS": dims["eps"], "SKIP_NORM": "skip_qk_norm" in faults,
              "KV_F16": "kv_f16" in faults}
    consts |= {f"{n}_OFF": off for n, off in zip("QKV", lay["offsets"])}
    return [bufs[o] for o in ("q_src", "k_src", "v_src", "qk_norm", "rope")], consts


def _decode_attention_ops(k, bufs: dict, dims: dict, faults, consts: dict) -> list[Op]:
    """Decode attention: attn_decode per (query heads, split), then attn_merge per head
    (shaders/attention_decode.wgsl), named attn_partial / attn_reduce like the prefill pair."""
    nh, hd, vd, split = consts["NH"], consts["HD"], consts["VD"], consts["SPLIT"]
    ns = min(consts["NS"], consts["SPLITS_MAX"])
    cols = vd // 4   # vec4 columns: one per thread of a head's team, MR rows in attn_merge
    team = _ceil(cols, 32) * 32
    wg_bytes = lambda n: 4 * _decode_wg_floats(n, team, split, hd, vd)
    hpw = _decode_heads_per_wg(k, nh // consts["NKV"], team, wg_bytes, consts["HPW"])
    rows = max(1, 256 // cols)   # attn_merge: MR rows of splits, <= 256 threads
    dc = {**{c: consts[c] for c in ("NH", "NKV", "HD", "VD", "SPLIT", "SCALE", "GQA_SHIFT")},
          "NS": ns, "KT": ATTN_DECODE_KT, "WGH": team, "HPW": hpw, "WG": hpw * team,
          "MR": rows, "MWG": rows * cols,
          "SPN": max(hpw * split * (ATTN_DECODE_KT + 1), 2 * hpw * team)}
    need = 4 * nh * ns * (vd + 2)
    if bufs["part"].size < need:
        raise ValueError(f"decode attention: partials buffer {bufs['part'].size} B < {need} B "
                         f"({nh} heads x {ns} splits x (value_dim {vd} + 2) floats)")
    srcs, src_consts = _decode_sources(bufs, dims, faults)
    binds = srcs + [bufs[o] for o in ("k_cache", "v_cache", "part", "step")]
    layout = ("read",) * 5 + ("rw", "rw", "rw", "uniform")
    att = _op(k, "attn_partial", "attention_decode", layout, binds,
              lambda t, p: (nh // hpw, 1, decode_splits(p, split, ns)), {**dc, **src_consts},
              entry="attn_decode", by_position=True)
    merge = _op(k, "attn_reduce", "attention_decode", ("read", "rw", "uniform"),
                [bufs[o] for o in ("part", "out", "step")], lambda t: (nh, 1, 1), dc,
                entry="attn_merge")
    return [att, merge]


def router_op(k, bufs: dict, dims: dict, faults=frozenset(), name="router_topk") -> Op:
    """Softmax over all experts, stable top-k, renormalise (router_topk.wgsl) on the (T, E)
    router logits that a matvec computed (backends.wgpu.moe.router_ops).

    bufs: logits, ids, eids, weights, probs, step. dims: E, K.
    """
    if dims["E"] > MAX_EXPERTS or not 0 < dims["K"] <= min(dims["E"], 64):
        raise ValueError(f"router: {dims['E']} experts / top-{dims['K']} exceed the kernel's "
                         f"limits ({MAX_EXPERTS} experts, k <= 64)")
    consts = {"E": dims["E"], "K": dims["K"],
              "RENORM": "no_renormalise" not in faults,
              "SOFTMAX_FIRST": "softmax_after_topk" not in faults,
              "EXPERT_OFFSET": 1 if "expert_offset" in faults else 0,
              "WG": tuning.router_topk_threads(dims["E"])}
    order = ("logits", "ids", "eids", "weights", "probs", "step")
    layout = ("read", "rw", "rw", "rw", "rw", "uniform")
    return _op(k, name, "router_topk", layout, [bufs[o] for o in order],
               lambda t: (t, 1, 1), consts)


def swiglu_op(k, g, u, a, step, n_per_token: int, name="moe_expert_swiglu") -> Op:
    """a = silu(g) ⊙ u over the k expert slots of each token (moe_expert_swiglu.wgsl)."""
    return _op(k, name, "moe_expert_swiglu", ("read", "read", "rw", "uniform"), (g, u, a, step),
               lambda t: (_ceil(n_per_token, tuning.SWIGLU_WG), t, 1),
               {"KI": n_per_token, "WG": tuning.SWIGLU_WG})


def residual_norm_op(k, src, x, nw, y, step, n: int, eps: float, *, w=None, nsrc: int = 1,
                     name="residual_rms_norm") -> Op:
    """x[t] += Σ_j w[t,j]·src[t,j] (w = 1 when None), then y = rms_norm(x)·nw
    (shaders/residual_rms_norm.wgsl)."""
    if n % 4:
        raise ValueError(f"residual_rms_norm: width {n} is not a multiple of 4 (vec4 rows)")
    consts = {"N": n, "NSRC": nsrc, "USE_W": w is not None, "EPS": eps,
              "WG": tuning.wide_wg(k.info, tuning.residual_norm_threads(n))}
    layout = ("read", "read", "rw", "read", "rw", "uniform")
    return _op(k, name, "residual_rms_norm", layout, (src, src if w is None else w, x, nw, y, step),
               lambda t: (t, 1, 1), consts)


def argmax_ops(k, logits, tok, hist, step, V: int, name="argmax", shape=None) -> list[Op]:
    """tok[0] = hist[token_slot] = argmax of the step's last logits row (argmax.wgsl): block
    maxima over many workgroups, then one workgroup picks among them (two dispatches).
    shape: (threads, logits per thread) of the block pass; default tuning.argmax_shape."""
    wg, per = shape or tuning.argmax_shape(k.info)
    blocks = _ceil(V, wg * per)
    part = k.buffer(8 * blocks, label="argmax-part")
    layout = ("read", "rw", "rw", "uniform", "rw")
    consts = {"V": V, "WG": wg, "PER": per}
    binds = (logits, tok, hist, step, part)
    return [_op(k, name, "argmax", layout, binds, lambda t: (blocks, 1, 1), consts,
                entry="partial"),
            _op(k, name, "argmax", layout, binds, lambda t: (1, 1, 1), consts, entry="pick")]


def embedding_ops(k, t, tok, x, family) -> list[Op]:
    """x[t] = row tok[t] of the uploaded tensor t (any matvec qtype): one Op, one launch per
    weight piece.

    family: (matvec family shader, matvec binding layout) from backends.wgpu.matvec. The params
    uniform follows mul_mat_vec.wgsl's MatvecParams: rows, cols, row_words, ..., y_offset = row0.
    """
    shader, layout = family
    pipe = k.pipeline(("common", "mul_mat_vec_params", "mul_mat_vec", shader, "embedding"),
                      entry="embed", constants={"EMBED_WG": tuning.EMBEDDING_WG}, layout=layout)
    launches, unused_x = [], k.buffer(16, label="embedding-unused-x")  # X may not alias Y (rw)
    groups = _ceil(_ceil(t.cols, 16), tuning.EMBEDDING_WG)
    for piece in t.pieces:
        params = np.zeros(12, np.uint32)
        params[[0, 1, 2, 6, 8]] = piece.rows, t.cols, t.row_words, piece.row0, 1
        bg = k.bind_group(pipe, [piece.buffer, unused_x, x, tok, k.upload(params, uniform=True)])
        launches.append((bg, lambda n: (groups, n, 1)))
    return [Op("embedding", pipe, tuple(launches))]
