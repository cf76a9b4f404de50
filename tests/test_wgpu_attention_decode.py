"""Decode attention (shaders/attention_decode.wgsl through attention.attention_ops, tmax = 1)
against backends/cpu/ops.py: attention for one query token, on whatever adapter wgpu sees.

Tolerance: NMSE = Σ(gpu − cpu)² / Σcpu² < 1e-10, as tests/test_wgpu_ops.py: f32 arithmetic
that differs from numpy only in summation order and exp ulps (relative error per element
~1e-6 at the longest context here, NMSE ~1e-12), while one wrong position or head gives ~1e-3.
The partials buffer starts as NaN in every case, so a read of a split the step did not write
shows up as NaN in the output.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import ops as cpu
from backends.wgpu import attention as attn
from backends.wgpu import tuning
from backends.wgpu.op import STEP_BYTES, step_bytes
from tests.wgpu_support import F32_NMSE, k, nmse  # noqa: F401 (k: fixture)


def _inputs(shape, pos0: int, q_gain: float = 1.0):
    nh, nkv, hd, vd = shape
    rng = np.random.default_rng(1000 * pos0 + nh + hd)
    ctx = pos0 + 7  # cache rows past pos0 exist and must not be read
    q = (rng.standard_normal((1, nh, hd)) * q_gain).astype(np.float32)
    kc = rng.standard_normal((ctx, nkv, hd)).astype(np.float32)
    vc = rng.standard_normal((ctx, nkv, vd)).astype(np.float32)
    return q, kc, vc


def _decode(
    k,
    shape,
    pos0,
    q,
    kc,
    vc,
    *,
    split=tuning.ATTN_SPLIT_DECODE,
    splits_max=None,
    heads_per_wg=None,
    faults=frozenset(),
    steps=None,
):
    """Run the decode ops at each of `steps` (default [pos0]) on the same buffers; the output of
    the last step."""
    nh, nkv, hd, vd = shape
    ctx = kc.shape[0]
    part = np.full(attn.attention_scratch_floats(nh, 1, ctx, vd, split), np.nan, np.float32)
    bufs = {
        "q": k.upload(q),
        "k_cache": k.upload(kc),
        "v_cache": k.upload(vc),
        "part": k.upload(part),
        "out": k.buffer(nh * vd * 4),
        "step": k.buffer(STEP_BYTES, uniform=True),
    }
    dims = {"n_head": nh, "n_kv": nkv, "hd": hd, "vd": vd, "ctx": ctx, "tmax": 1}
    if splits_max is not None:
        dims["splits_max"] = splits_max
    if heads_per_wg is not None:
        dims["heads_per_wg"] = heads_per_wg
    ops = attn.attention_ops(k, bufs, dims, faults, split=split)
    for p in steps or [pos0]:
        k.write(bufs["step"], step_bytes(p, 1))
        b = k.batch()
        for op in ops:
            op.encode(b, 1, p)
        (raw,) = b.submit(readback=[bufs["out"]])
    return np.frombuffer(raw.tobytes(), np.float32).reshape(1, nh, vd)


def _want(q, kc, vc, nkv, pos0, kv_map=None):
    return cpu.attention(q, kc[: pos0 + 1], vc[: pos0 + 1], nkv, offset=pos0, kv_map=kv_map)


# (n_head, n_kv, head_dim, value_dim), pos0, split, splits_max: one position; a context that is
# not a multiple of the split; several splits; G = 1 and G = 8 (the Qwen3-30B-A3B shape);
# head_dim 64 / 128; value_dim != head_dim and > 128 (64- and 128-thread workgroups); split 64;
# capped splits (several blocks per split: online softmax across blocks, last split short);
# query heads per workgroup hpw: the default (None: the whole group where it fits), 1 and 2.
CASES = [
    ((8, 2, 64, 64), 0, 32, None, None),
    ((8, 2, 64, 64), 44, 32, None, 1),
    ((4, 4, 128, 128), 300, 32, None, None),
    ((32, 4, 128, 128), 200, 32, None, 1),
    ((32, 4, 128, 128), 639, 64, None, None),
    ((4, 2, 64, 256), 50, 32, None, None),
    ((2, 2, 32, 512), 70, 16, None, None),
    ((8, 2, 128, 64), 639, 32, 4, 1),
    ((32, 4, 128, 128), 500, 32, 3, None),
    ((8, 2, 64, 64), 100, 32, None, 2),
]


@pytest.mark.parametrize("shape,pos0,split,splits_max,hpw", CASES)
def test_attention_decode_matches_cpu(k, shape, pos0, split, splits_max, hpw):
    q, kc, vc = _inputs(shape, pos0)
    got = _decode(k, shape, pos0, q, kc, vc, split=split, splits_max=splits_max, heads_per_wg=hpw)
    assert nmse(got, _want(q, kc, vc, shape[1], pos0)) < F32_NMSE


def test_attention_decode_large_scores_stay_finite(k):
    # scores in the hundreds: exp overflows unless every block and split subtracts its max
    shape, pos0 = (8, 2, 64, 64), 200
    q, kc, vc = _inputs(shape, pos0, q_gain=40.0)
    got = _decode(k, shape, pos0, q, kc, vc, splits_max=2)
    want = _want(q, kc, vc, 2, pos0)
    assert np.all(np.isfinite(got)) and nmse(got, want) < F32_NMSE


def test_attention_decode_shorter_step_after_longer(k):
    # a step with fewer splits after one with more: the merge must not read the stale splits
    shape, pos0 = (8, 2, 64, 64), 40
    q, kc, vc = _inputs(shape, 300)
    got = _decode(k, shape, pos0, q, kc, vc, steps=[300, pos0])
    assert nmse(got, _want(q, kc, vc, 2, pos0)) < F32_NMSE


@pytest.mark.parametrize("hpw", [1, 8])
def test_attention_decode_gqa_fault_reads_next_kv_head(k, hpw):
    shape, pos0 = (32, 4, 128, 128), 100
    q, kc, vc = _inputs(shape, pos0)
    got = _decode(k, shape, pos0, q, kc, vc, heads_per_wg=hpw, faults=frozenset({"gqa_off_by_one"}))
    shifted = (cpu.gqa_map(32, 4) + 1) % 4
    assert nmse(got, _want(q, kc, vc, 4, pos0, kv_map=shifted)) < F32_NMSE
    assert nmse(got, _want(q, kc, vc, 4, pos0)) > 1e-3


@pytest.mark.parametrize("split", [1, 16, 32, 64])
def test_decode_splits_cover_context_within_cap(split):
    cap = 5
    for pos0 in range(0, 40 * split):
        n = attn.decode_splits(pos0, split, cap)
        span = -(-(-(-(pos0 + 1) // split)) // cap) * split  # noqa: B002  (ceil divisions) blocks per split x split
        assert 1 <= n <= cap and (n - 1) * span < pos0 + 1 <= n * span, (pos0, n, span)


@pytest.mark.parametrize("nh,nkv,vd,hpw", [(32, 4, 128, 8), (4, 2, 512, 2), (4, 4, 64, 1)])
def test_attention_decode_default_heads_per_workgroup(k, nh, nkv, vd, hpw):
    # the whole group per workgroup while it fits 256 threads (value_dim 512: 128 per head)
    bufs = {n: k.buffer(1 << 16) for n in ("q", "k_cache", "v_cache", "out", "part")}
    bufs["step"] = k.buffer(STEP_BYTES, uniform=True)
    dims = {"n_head": nh, "n_kv": nkv, "hd": 64, "vd": vd, "ctx": 64, "tmax": 1}
    att = attn.attention_ops(k, bufs, dims, split=32)[0]
    assert att.grid(1, 40) == (nh // hpw, 1, 2)


def test_attention_decode_rejects_bad_launch(k):
    nh, vd = 4, 64
    bufs = {n: k.buffer(4096) for n in ("q", "k_cache", "v_cache", "out")}
    bufs |= {"part": k.buffer(64), "step": k.buffer(STEP_BYTES, uniform=True)}
    dims = {"n_head": nh, "n_kv": 2, "hd": 64, "vd": vd, "ctx": 100, "tmax": 1}
    with pytest.raises(ValueError, match="partials buffer 64 B"):
        attn.attention_ops(k, bufs, dims, split=32)
    bufs["part"] = k.buffer(1 << 16)
    with pytest.raises(ValueError, match="3 heads per workgroup must divide the group 2"):
        attn.attention_ops(k, bufs, {**dims, "heads_per_wg": 3}, split=32)


def test_attention_decode_full_context_bounded_splits(k):
    # the Qwen3-30B-A3B context length (40960): 1280 blocks of 32 in at most 128 splits
    shape, pos0 = (8, 1, 64, 64), 40959
    q, kc, vc = _inputs(shape, pos0)
    got = _decode(k, shape, pos0, q, kc, vc)
    assert attn.decode_splits(pos0, tuning.ATTN_SPLIT_DECODE, tuning.ATTN_DECODE_SPLITS_MAX) == 128
    assert nmse(got, _want(q, kc, vc, 1, pos0)) < F32_NMSE
