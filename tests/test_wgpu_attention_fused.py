"""Fused decode attention (attention_decode.wgsl with FUSED: q/k RMSNorm, RoPE and the KV-cache
write of qk_norm_rope_kv.wgsl done inside attn_decode) against backends/cpu/ops.py: rms_norm,
rope_neox and attention as the CPU forward chains them, plus the cache rows the kernel writes.

Tolerances: F32_NMSE as tests/test_wgpu_attention_decode.py (f32 summation order only); with
kv_f16 a k element whose f32 noise straddles an f16 rounding boundary differs by one f16 ulp
(2^-11 relative), so those cases use FAULT_NMSE (tests/test_wgpu_forward.py). The caches start
as NaN from row pos0 on: a read of the pos0 row (which the kernel must build itself, not read)
or of a later row shows up as NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import ops as cpu
from backends.wgpu import attention as attn
from backends.wgpu.op import STEP_BYTES, step_bytes
from tests.conftest import require_adapter
from tests.wgpu_support import F32_NMSE, k, nmse  # noqa: F401 (k: fixture)

FAULT_NMSE = 1e-8  # kv_f16: one f16 ulp where f32 noise straddles a rounding boundary
EPS, THETA = 1e-6, 1e6


def _raw(rng, shape, n_steps):
    """n_steps tokens' raw projection outputs q (nh, hd), k (nkv, hd), v (nkv, vd), norm weights."""
    nh, nkv, hd, vd = shape
    steps = [
        tuple(rng.standard_normal((1, n, d)).astype(np.float32) * 3 for n, d in ((nh, hd), (nkv, hd), (nkv, vd)))
        for _ in range(n_steps)
    ]
    qn, kn = (rng.uniform(0.5, 1.5, hd).astype(np.float32) for _ in range(2))
    return steps, qn, kn


class Fused:
    """The fused decode ops on one set of buffers: caches (ctx rows), sources, partials."""

    def __init__(
        self,
        k,
        shape,
        ctx,
        qn,
        kn,
        *,
        split,
        faults,
        theta=THETA,
        splits_max=None,
        heads_per_wg=None,
        one_buffer=True,
        cache=None,
    ):
        nh, nkv, hd, vd = shape
        self.k, self.shape, self.one = k, shape, one_buffer
        kc, vc = cache
        w = (nh * hd, nkv * hd, nkv * vd)
        if one_buffer:  # one (1, q|k|v) buffer as the fused qkv matvec writes it
            src = k.buffer(4 * sum(w))
            self.src = dict.fromkeys(("q_src", "k_src", "v_src"), src)
            layout = {"offsets": (0, w[0], w[0] + w[1]), "strides": (sum(w),) * 3}
        else:
            self.src = {n: k.buffer(4 * x) for n, x in zip(("q_src", "k_src", "v_src"), w)}
            layout = None
        part = np.full(attn.decode_attention_scratch_floats(nh, ctx, vd, split), np.nan, np.float32)
        self.bufs = {
            **self.src,
            "qk_norm": k.upload(np.concatenate([qn, kn])),
            "rope": k.upload(attn.rope_table(ctx, hd, theta)),
            "k_cache": k.upload(kc),
            "v_cache": k.upload(vc),
            "part": k.upload(part),
            "out": k.buffer(4 * nh * vd),
            "step": k.buffer(STEP_BYTES, uniform=True),
        }
        dims = {"n_head": nh, "n_kv": nkv, "hd": hd, "vd": vd, "ctx": ctx, "tmax": 1, "eps": EPS, "layout": layout}
        if splits_max is not None:
            dims["splits_max"] = splits_max
        if heads_per_wg is not None:
            dims["heads_per_wg"] = heads_per_wg
        self.ops = attn.attention_ops(k, self.bufs, dims, faults, split=split)

    def step(self, pos0, q, kk, v):
        """One decode step: (attention output (1, nh, vd), k cache, v cache) read back."""
        if self.one:
            self.k.write(self.src["q_src"], np.concatenate([a.ravel() for a in (q, kk, v)]))
        else:
            for n, a in zip(("q_src", "k_src", "v_src"), (q, kk, v)):
                self.k.write(self.src[n], a.ravel())
        self.k.write(self.bufs["step"], step_bytes(pos0, 1))
        b = self.k.batch()
        for op in self.ops:
            op.encode(b, 1, pos0)
        raw = b.submit(readback=[self.bufs[n] for n in ("out", "k_cache", "v_cache")])
        nh, nkv, hd, vd = self.shape
        return [
            np.frombuffer(r.tobytes(), np.float32).reshape(s)
            for r, s in zip(raw, ((1, nh, vd), (-1, nkv, hd), (-1, nkv, vd)))
        ]


def _cache(rng, shape, ctx, pos0, faults):
    """Cache rows before pos0 (random, stored as the cache would hold them), NaN from pos0 on."""
    nh, nkv, hd, vd = shape
    kc = np.full((ctx, nkv, hd), np.nan, np.float32)
    vc = np.full((ctx, nkv, vd), np.nan, np.float32)
    kc[:pos0], vc[:pos0] = (_stored(rng.standard_normal((pos0, nkv, d)).astype(np.float32), faults) for d in (hd, vd))
    return kc, vc


def _stored(x, faults):
    """What the CPU KV cache holds for x (backends/cpu/kvcache.py: f16 only under kv_f16)."""
    return x.astype(np.float16).astype(np.float32) if "kv_f16" in faults else x


def _want(shape, pos0, q, kk, v, qn, kn, kc, vc, faults, theta=THETA):
    """CPU forward order (backends/cpu/forward.py): norm, rope, store, attention."""
    nh, nkv = shape[:2]
    if "skip_qk_norm" not in faults:
        q, kk = cpu.rms_norm(q, qn, EPS), cpu.rms_norm(kk, kn, EPS)
    q, kk = (cpu.rope_neox(a, [pos0], theta) for a in (q, kk))
    kc, vc = kc.copy(), vc.copy()
    kc[pos0], vc[pos0] = _stored(kk[0], faults), _stored(v[0], faults)
    kv_map = cpu.gqa_map(nh, nkv)
    if "gqa_off_by_one" in faults:
        kv_map = (kv_map + 1) % nkv
    out = cpu.attention(q, kc[: pos0 + 1], vc[: pos0 + 1], nkv, offset=pos0, kv_map=kv_map)
    return out, kc, vc


def _check(got, want, pos0, faults):
    (out, gk, gv), (wout, wk, wv) = got, want
    tol = FAULT_NMSE if "kv_f16" in faults else F32_NMSE
    assert nmse(gk[pos0], wk[pos0]) < tol, "k row written at pos0"
    np.testing.assert_array_equal(gv[pos0], wv[pos0])  # v is copied (rounded), never normed
    np.testing.assert_array_equal(gk[:pos0], wk[:pos0])  # earlier rows untouched
    assert np.all(np.isnan(gk[pos0 + 1 :])) and np.all(np.isnan(gv[pos0 + 1 :])), "write past pos0"
    assert nmse(out, wout) < tol


def _case(k, shape, pos0, split, faults=frozenset(), **kw):
    rng = np.random.default_rng(1000 * pos0 + 10 * shape[0] + shape[2])
    ctx = pos0 + 5
    (step,), qn, kn = _raw(rng, shape, 1)
    kc, vc = _cache(rng, shape, ctx, pos0, faults)
    theta = 10000.0 if "rope_theta_10k" in faults else THETA  # the host builds the table
    op = Fused(k, shape, ctx, qn, kn, split=split, faults=faults, theta=theta, cache=(kc, vc), **kw)
    got = op.step(pos0, *step)
    _check(got, _want(shape, pos0, *step, qn, kn, kc, vc, faults, theta), pos0, faults)
    return got


# (n_head, n_kv, head_dim, value_dim), pos0, split: G = 1 and G = 8, head_dim 64 / 128; pos0 = 0,
# on a split boundary (pos0 starts a split: the fresh workgroup holds pos0 alone), the last
# position of a split, mid-split; value_dim 256 (64-thread teams).
CASES = [
    ((4, 4, 64, 64), 0, 16),
    ((4, 4, 128, 128), 32, 16),
    ((4, 4, 64, 64), 47, 16),
    ((32, 4, 128, 128), 0, 8),
    ((32, 4, 128, 128), 40, 8),
    ((32, 4, 128, 128), 37, 8),
    ((16, 2, 64, 64), 100, 16),
    ((4, 2, 64, 256), 21, 8),
]


@pytest.mark.parametrize("shape,pos0,split", CASES)
def test_attention_fused_matches_cpu(k, shape, pos0, split):
    _case(k, shape, pos0, split)


@pytest.mark.parametrize("one_buffer", [True, False])
@pytest.mark.parametrize("fault", ["skip_qk_norm", "kv_f16", "gqa_off_by_one", "rope_theta_10k"])
def test_attention_fused_fault_matches_cpu_fault(k, fault, one_buffer):
    for shape, pos0 in (((32, 4, 128, 128), 37), ((4, 4, 64, 64), 16)):
        _case(k, shape, pos0, 8, frozenset({fault}), one_buffer=one_buffer)


@pytest.mark.parametrize("splits_max,hpw", [(2, None), (3, 1), (None, 2)])
def test_attention_fused_multi_block_splits_and_heads_per_wg(k, splits_max, hpw):
    # several blocks per split (pos0 in the last block of the last split), fewer heads per wg
    _case(k, (16, 2, 64, 64), 77, 8, splits_max=splits_max, heads_per_wg=hpw)


def test_attention_fused_steps_build_the_cache(k):
    # consecutive decode steps on the same buffers: each reads the rows the previous wrote
    shape, pos0, n, faults = (32, 4, 128, 128), 14, 4, frozenset({"kv_f16"})
    rng = np.random.default_rng(5)
    steps, qn, kn = _raw(rng, shape, n)
    kc, vc = _cache(rng, shape, pos0 + n + 2, pos0, faults)
    op = Fused(k, shape, kc.shape[0], qn, kn, split=8, faults=faults, cache=(kc, vc))
    for j, (q, kk, v) in enumerate(steps):
        want = _want(shape, pos0 + j, q, kk, v, qn, kn, kc, vc, faults)
        got = op.step(pos0 + j, q, kk, v)
        _check(got, want, pos0 + j, faults)
        kc, vc = got[1], got[2]


def test_attention_fused_matches_unfused_path(k):
    # today's decode path (qk_norm_rope_kv, then attention_decode on the q it wrote): same output
    shape, pos0, split = (32, 4, 128, 128), 29, 8
    nh, nkv, hd, vd = shape
    rng = np.random.default_rng(11)
    ((q, kk, v),), qn, kn = _raw(rng, shape, 1)
    kc, vc = _cache(rng, shape, pos0 + 3, pos0, frozenset())
    fused = Fused(
        k, shape, kc.shape[0], qn, kn, split=split, faults=frozenset(), one_buffer=False, cache=(kc, vc)
    ).step(pos0, q, kk, v)
    b = {
        "q_src": k.upload(q),
        "k_src": k.upload(kk),
        "v_src": k.upload(v),
        "q_out": k.buffer(q.nbytes),
        "qk_norm": k.upload(np.concatenate([qn, kn])),
        "rope": k.upload(attn.rope_table(kc.shape[0], hd, THETA)),
        "k_cache": k.upload(kc),
        "v_cache": k.upload(vc),
        "out": k.buffer(4 * nh * vd),
        "part": k.buffer(4 * attn.decode_attention_scratch_floats(nh, kc.shape[0], vd, split)),
        "step": k.buffer(STEP_BYTES, uniform=True),
    }
    dims = {"n_head": nh, "n_kv": nkv, "hd": hd, "vd": vd, "eps": EPS, "ctx": kc.shape[0], "tmax": 1}
    att = {n: b[n] for n in ("k_cache", "v_cache", "part", "out", "step")} | {"q": b["q_out"]}
    ops = [attn.qk_norm_rope_kv_op(k, b, dims)] + attn.attention_ops(k, att, dims, split=split)
    k.write(b["step"], step_bytes(pos0, 1))
    batch = k.batch()
    for op in ops:
        op.encode(batch, 1, pos0)
    raw = batch.submit(readback=[b[n] for n in ("out", "k_cache", "v_cache")])
    today = [np.frombuffer(r.tobytes(), np.float32).reshape(g.shape) for r, g in zip(raw, fused)]
    for got, ref in zip(fused, today):
        seen = ~np.isnan(ref)
        np.testing.assert_allclose(got[seen], ref[seen], rtol=0, atol=2e-6)


def test_attention_fused_forward_decode_has_no_qk_norm_dispatch(tiny_model):
    # the forward's decode plan: no qk_norm_rope_kv dispatch, the fused attn_decode instead;
    # prefill keeps one per layer
    require_adapter()
    from backends.wgpu.forward import Qwen3MoeGraph
    from backends.wgpu.op import StepPlan

    graph = Qwen3MoeGraph(tiny_model, max_context=64, prefill_chunk=8)
    kernels = {n: [e[0].key[:2] for e in StepPlan(graph.ops(), n).entries] for n in (1, 2)}
    layers = graph.cfg.n_layer
    assert kernels[1].count((("common", "qk_norm_rope_kv"), "main")) == 0
    assert kernels[2].count((("common", "qk_norm_rope_kv"), "main")) == layers
    assert kernels[1].count((("common", "attention_decode"), "attn_decode")) == layers
