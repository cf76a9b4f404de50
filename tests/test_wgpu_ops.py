"""Op parity: each non-matvec WGSL kernel of the forward against backends/cpu/ops.py, on fresh
random data (seeded per case), on whatever adapter wgpu sees (lavapipe in CI).

Tolerances are NMSE = Σ(gpu − cpu)² / Σcpu², declared per case with the reason. Every kernel
here is f32 arithmetic whose only difference from numpy is summation order and exp/sqrt ulps:
relative error per element ~ n·2^-24 in the worst case, ~sqrt(n)·2^-24 typically, so NMSE stays
below ~1e-11 for the sizes used; 1e-10 leaves margin yet catches any real bug (a wrong element
gives NMSE ~1e-3 or more).
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.model import quants
from backends.cpu import ops as cpu
from backends.wgpu import attention as attn
from backends.wgpu import head, norms, tuning
from backends.wgpu import moe_kernels as moek
from backends.wgpu.matvec import MATVEC_LAYOUT
from backends.wgpu.weights import FAMILY_FILES
from backends.wgpu.op import STEP_BYTES, step_bytes
from backends.wgpu.weights import upload_raw
from tests.wgpu_support import F32_NMSE, k, nmse  # noqa: F401 (k: fixture)


def run(k, ops, read, pos0, n_tok, step):
    """Write the step uniform, encode ops in one batch, read back (buffer, dtype, shape) triples."""
    k.write(step, step_bytes(pos0, n_tok))
    b = k.batch()
    for op in ops:
        op.encode(b, n_tok, pos0)
    raw = b.submit(readback=[r[0] for r in read])
    return [np.frombuffer(x.tobytes(), r[1]).reshape(r[2]) for x, r in zip(raw, read)]


def up(k, a, dtype=np.float32):
    return k.upload(np.ascontiguousarray(a, dtype=dtype))


@pytest.mark.parametrize("T,N", [(1, 64), (3, 200), (2, 2048)])
def test_rms_norm_matches_cpu(k, T, N):
    rng = np.random.default_rng(N + T)
    x = rng.standard_normal((T, N)).astype(np.float32) * 3
    w = rng.standard_normal(N).astype(np.float32)
    step, y = k.buffer(STEP_BYTES, uniform=True), k.buffer(T * N * 4)
    op = norms.rms_norm_op(k, up(k, x), up(k, w), y, step, N, 1e-6)
    (got,) = run(k, [op], [(y, np.float32, (T, N))], 0, T, step)
    assert nmse(got, cpu.rms_norm(x, w, 1e-6)) < F32_NMSE


def _qk_case(k, T, pos0, nh, nkv, hd, faults=frozenset(), theta=1e6, fused=False):
    rng = np.random.default_rng(hd + pos0)
    ctx = pos0 + T + 3
    q = rng.standard_normal((T, nh, hd)).astype(np.float32)
    kk = rng.standard_normal((T, nkv, hd)).astype(np.float32)
    v = rng.standard_normal((T, nkv, hd)).astype(np.float32)
    qn, kn = (rng.standard_normal(hd).astype(np.float32) for _ in range(2))
    canary = np.full((ctx, nkv, hd), 7.5, np.float32)  # rows outside this step must stay 7.5
    bufs = {
        "q_out": k.buffer(q.nbytes),
        "qk_norm": up(k, np.concatenate([qn, kn])),
        "rope": up(k, attn.rope_table(ctx, hd, theta)),
        "k_cache": up(k, canary),
        "v_cache": up(k, canary),
        "step": k.buffer(STEP_BYTES, uniform=True),
    }
    dims = {"n_head": nh, "n_kv": nkv, "hd": hd, "vd": hd, "eps": 1e-6}
    if fused:  # one (T, q|k|v) buffer, as the fused qkv matvec writes it
        qkv = up(k, np.concatenate([a.reshape(T, -1) for a in (q, kk, v)], axis=1))
        bufs.update(q_src=qkv, k_src=qkv, v_src=qkv)
        w = (nh * hd, nkv * hd, nkv * hd)
        dims["layout"] = {"offsets": (0, w[0], w[0] + w[1]), "strides": (sum(w),) * 3}
    else:
        bufs.update(q_src=up(k, q), k_src=up(k, kk), v_src=up(k, v))
    op = attn.qk_norm_rope_kv_op(k, bufs, dims, faults)
    got = run(
        k,
        [op],
        [
            (bufs["q_out"], np.float32, q.shape),
            (bufs["k_cache"], np.float32, canary.shape),
            (bufs["v_cache"], np.float32, canary.shape),
        ],
        pos0,
        T,
        bufs["step"],
    )
    return (q, kk, v, qn, kn), got


@pytest.mark.parametrize(
    "T,pos0,nh,nkv,hd,fused", [(1, 0, 4, 2, 16, False), (3, 5, 4, 4, 128, False), (2, 17, 8, 2, 64, True)]
)
def test_qk_norm_rope_kv_matches_cpu(k, T, pos0, nh, nkv, hd, fused):
    (q, kk, v, qn, kn), (gq, gk, gv) = _qk_case(k, T, pos0, nh, nkv, hd, fused=fused)
    pos = np.arange(pos0, pos0 + T)
    want_q = cpu.rope_neox(cpu.rms_norm(q, qn, 1e-6), pos, 1e6)
    want_k = cpu.rope_neox(cpu.rms_norm(kk, kn, 1e-6), pos, 1e6)
    assert nmse(gq, want_q) < F32_NMSE
    assert nmse(gk[pos0 : pos0 + T], want_k) < F32_NMSE
    np.testing.assert_array_equal(gv[pos0 : pos0 + T], v)  # v is copied, never normalised
    rest = np.r_[0:pos0, pos0 + T : gk.shape[0]]
    assert np.all(gk[rest] == 7.5) and np.all(gv[rest] == 7.5), "write outside this step's rows"


@pytest.mark.parametrize("fault", ["skip_qk_norm", "kv_f16"])
def test_qk_norm_rope_kv_fault_changes_output(k, fault):
    _, good = _qk_case(k, 2, 3, 4, 2, 32)
    _, bad = _qk_case(k, 2, 3, 4, 2, 32, frozenset({fault}))
    assert any(not np.array_equal(a, b) for a, b in zip(good, bad))


def _attention(k, T, pos0, nh, nkv, hd, vd, faults=frozenset(), split=tuning.ATTN_SPLIT):
    rng = np.random.default_rng(7 * pos0 + T)
    S, ctx = pos0 + T, pos0 + T + 5
    q = rng.standard_normal((T, nh, hd)).astype(np.float32)
    kc = rng.standard_normal((ctx, nkv, hd)).astype(np.float32)
    vc = rng.standard_normal((ctx, nkv, vd)).astype(np.float32)
    out = k.buffer(T * nh * vd * 4)
    bufs = {
        "q": up(k, q),
        "k_cache": up(k, kc),
        "v_cache": up(k, vc),
        "out": out,
        "part": k.buffer(attn.attention_scratch_floats(nh, T, ctx, vd, split) * 4),
        "step": k.buffer(STEP_BYTES, uniform=True),
    }
    dims = {"n_head": nh, "n_kv": nkv, "hd": hd, "vd": vd, "ctx": ctx, "tmax": T}
    ops = attn.attention_ops(k, bufs, dims, faults, split=split)
    (got,) = run(k, ops, [(out, np.float32, (T, nh, vd))], pos0, T, bufs["step"])
    return got, cpu.attention(q, kc[:S], vc[:S], nkv, offset=pos0)


# (T, pos0): prefill from 0, decode at 9, contexts crossing several splits, and the
# Qwen3-30B-A3B group shape (8 query heads per kv head, head_dim 128; last case: its full
# head count). split: 128 (prefill steps) or 32 (decode steps).
@pytest.mark.parametrize(
    "T,pos0,nh,nkv,hd,vd,split",
    [
        (5, 0, 4, 2, 16, 16, 128),
        (1, 9, 8, 2, 64, 32, 32),
        (3, 300, 4, 1, 32, 32, 128),
        (1, 600, 2, 2, 128, 128, 128),
        (2, 200, 16, 2, 128, 128, 128),
        (1, 100, 32, 4, 128, 128, 32),
    ],
)
def test_attention_matches_cpu(k, T, pos0, nh, nkv, hd, vd, split):
    got, want = _attention(k, T, pos0, nh, nkv, hd, vd, split=split)
    assert nmse(got, want) < F32_NMSE


def test_attention_gqa_fault_changes_output(k):
    got, want = _attention(k, 2, 4, 4, 2, 16, 16, frozenset({"gqa_off_by_one"}))
    assert nmse(got, want) > 1e-3


def _route(k, logit_rows, K, faults=frozenset()):
    """router_topk on logits rows (T, E), the form the forward runs (logits from a matvec)."""
    T, E = logit_rows.shape
    bufs = {
        "logits": up(k, logit_rows),
        "ids": k.buffer(T * K * 4),
        "eids": k.buffer(T * K * 4),
        "weights": k.buffer(T * K * 4),
        "probs": k.buffer(T * E * 4),
        "step": k.buffer(STEP_BYTES, uniform=True),
    }
    op = moek.router_op(k, bufs, {"E": E, "K": K}, faults)
    return run(
        k,
        [op],
        [
            (bufs["ids"], np.uint32, (T, K)),
            (bufs["eids"], np.uint32, (T, K)),
            (bufs["weights"], np.float32, (T, K)),
            (bufs["probs"], np.float32, (T, E)),
        ],
        0,
        T,
        bufs["step"],
    )


@pytest.mark.parametrize("E,K", [(16, 4), (60, 8), (128, 8)])
def test_router_topk_matches_cpu(k, E, K):
    rng = np.random.default_rng(E)
    logits = (rng.standard_normal((E, E)) * 2).astype(np.float32)  # T = E rows (H = E)
    ids, eids, w, p = _route(k, logits, K)
    want_ids, want_w, want_p = cpu.route(logits, K)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(eids, want_ids)
    assert nmse(w, want_w) < F32_NMSE and nmse(p, want_p) < F32_NMSE


def test_router_topk_tie_goes_to_lower_index(k):
    row = np.zeros((1, 12), np.float32)
    row[0, [9, 3, 7]] = 2.0  # a three-way tie for first place, listed out of order
    row[0, [11, 5]] = 1.0  # and a tie for fourth
    ids, _, w, _ = _route(k, row, 4)
    np.testing.assert_array_equal(ids[0], [3, 7, 9, 5])
    np.testing.assert_array_equal(ids, cpu.route(row, 4)[0])


@pytest.mark.parametrize(
    "fault,kw", [("no_renormalise", {"renormalise": False}), ("softmax_after_topk", {"softmax_first": False})]
)
def test_router_topk_faults_match_cpu_switch(k, fault, kw):
    logits = np.random.default_rng(3).standard_normal((4, 16)).astype(np.float32)
    ids, _, w, p = _route(k, logits, 4, frozenset({fault}))
    want_ids, want_w, want_p = cpu.route(logits, 4, **kw)
    np.testing.assert_array_equal(ids, want_ids)
    assert nmse(w, want_w) < F32_NMSE and nmse(p, want_p) < F32_NMSE
    assert nmse(p, cpu.route(logits, 4)[2]) > 1e-3 or nmse(w, cpu.route(logits, 4)[1]) > 1e-6


def test_router_topk_expert_offset_shifts_kernel_ids_only(k):
    logits = np.random.default_rng(4).standard_normal((2, 16)).astype(np.float32)
    ids, eids, _, _ = _route(k, logits, 4, frozenset({"expert_offset"}))
    np.testing.assert_array_equal(ids, cpu.route(logits, 4)[0])
    np.testing.assert_array_equal(eids, (ids + 1) % 16)


def test_swiglu_matches_cpu(k):
    rng = np.random.default_rng(11)
    T, K, I = 3, 4, 300  # 1200 values per token: crosses workgroups, not a multiple of 256
    g, u = (rng.standard_normal((T, K, I)).astype(np.float32) * 4 for _ in range(2))
    step, a = k.buffer(STEP_BYTES, uniform=True), k.buffer(g.nbytes)
    op = moek.swiglu_op(k, up(k, g), up(k, u), a, step, K * I)
    (got,) = run(k, [op], [(a, np.float32, g.shape)], 0, T, step)
    assert nmse(got, cpu.silu(g) * u) < F32_NMSE


@pytest.mark.parametrize("nsrc,weighted", [(1, False), (4, True)])
def test_residual_norm_matches_cpu(k, nsrc, weighted):
    rng = np.random.default_rng(nsrc)
    T, H = 3, 300
    d = rng.standard_normal((T, nsrc, H)).astype(np.float32)
    w = rng.random((T, nsrc)).astype(np.float32)
    x = rng.standard_normal((T, H)).astype(np.float32)
    nw = rng.standard_normal(H).astype(np.float32)
    step, xb, y = k.buffer(STEP_BYTES, uniform=True), up(k, x), k.buffer(T * H * 4)
    op = norms.residual_norm_op(
        k, up(k, d), xb, up(k, nw), y, step, H, 1e-6, w=up(k, w) if weighted else None, nsrc=nsrc
    )
    got_x, got_y = run(k, [op], [(xb, np.float32, x.shape), (y, np.float32, (T, H))], 0, T, step)
    ww = w if weighted else np.ones_like(w)
    want_x = x + sum(ww[:, j, None] * d[:, j] for j in range(nsrc))  # slot order, as the CPU
    assert nmse(got_x, want_x) < F32_NMSE
    assert nmse(got_y, cpu.rms_norm(want_x, nw, 1e-6)) < F32_NMSE


@pytest.mark.parametrize("shape", [(64, 16), (256, 8), (32, 1)])
def test_argmax_lowest_tied_index_across_blocks(k, shape):
    V = 5000  # 5, 3 and 157 blocks: ties in different blocks, one in the ragged last block
    logits = np.full((1, V), -1e30, np.float32)
    logits[0, [4999, 3000, 1234, 4000]] = 7.5
    step, tok, hist = k.buffer(STEP_BYTES, uniform=True), k.buffer(4), k.buffer(16)
    k.write(step, step_bytes(0, 1, token_slot=0))
    b = k.batch()
    for op in head.argmax_ops(k, up(k, logits), tok, hist, step, V, shape=shape):
        op.encode(b, 1, 0)
    (t,) = (np.frombuffer(x.tobytes(), np.uint32) for x in b.submit(readback=[tok]))
    assert t[0] == 1234 == int(np.argmax(logits[0]))


def test_argmax_takes_last_row_and_lowest_tied_index(k):
    V = 1000
    logits = np.random.default_rng(5).standard_normal((2, V)).astype(np.float32)
    logits[1, [700, 42, 999]] = 9.0
    step, tok, hist = k.buffer(STEP_BYTES, uniform=True), k.buffer(4), k.buffer(16)
    ops = head.argmax_ops(k, up(k, logits), tok, hist, step, V)
    k.write(step, step_bytes(0, 2, token_slot=2))
    b = k.batch()
    for op in ops:
        op.encode(b, 2, 0)
    t, h = (np.frombuffer(x.tobytes(), np.uint32) for x in b.submit(readback=[tok, hist]))
    assert t[0] == 42 and h[2] == 42


@pytest.mark.parametrize(
    "qtype,split", [("Q4_K", False), ("Q5_K", False), ("Q6_K", True), ("Q8_0", False), ("F16", False), ("F32", True)]
)
def test_embedding_matches_dequantize(k, qtype, split):
    # rows 0..V-1 of a random tensor; tokens pick rows out of order, with a repeat. The lookup
    # decodes through the matvec family's chunk_dot with one-hot vectors, which is exact for a
    # single nonzero: the GPU row must equal the codec's dequantized row bit for bit.
    rng = np.random.default_rng(len(qtype))
    V, H = 6, 512
    raw = quants.quantize(qtype, rng.standard_normal((V, H)).astype(np.float32))
    # split: a binding limit of two rows puts the tensor in three buffers (one op per piece)
    limit = 2 * raw.shape[1] + 8 if split else None  # +8: Q6_K rows grow when repacked
    t = upload_raw(k, f"emb-{qtype}", qtype, raw, H, max_binding=limit)
    assert len(t.pieces) == (3 if split else 1)
    tokens = np.array([4, 0, 5, 4], np.uint32)
    x, tok = k.buffer(len(tokens) * H * 4), up(k, tokens, np.uint32)
    step = k.buffer(STEP_BYTES, uniform=True)
    ops = head.embedding_ops(k, t, tok, x, (FAMILY_FILES[qtype], MATVEC_LAYOUT))
    (got,) = run(k, ops, [(x, np.float32, (len(tokens), H))], 0, len(tokens), step)
    np.testing.assert_array_equal(got, quants.dequantize(qtype, raw)[tokens])


def test_wide_workgroup_norms_and_argmax_match_cpu(k, monkeypatch):
    # the GPU widths (wide_wg: 512 / 1024 threads) exercised on any adapter
    monkeypatch.setattr(tuning, "wide_wg", lambda info, gpu=512: gpu)
    rng = np.random.default_rng(11)
    T, N = 2, 2048
    x = rng.standard_normal((T, N)).astype(np.float32)
    w = rng.standard_normal(N).astype(np.float32)
    step, y = k.buffer(STEP_BYTES, uniform=True), k.buffer(T * N * 4)
    op = norms.rms_norm_op(k, up(k, x), up(k, w), y, step, N, 1e-6)
    (got,) = run(k, [op], [(y, np.float32, (T, N))], 0, T, step)
    assert nmse(got, cpu.rms_norm(x, w, 1e-6)) < F32_NMSE
    logits = rng.standard_normal((1, 5000)).astype(np.float32)
    logits[0, [4000, 1234]] = 9.0
    tok, hist = k.buffer(4), k.buffer(16)
    am = head.argmax_ops(k, up(k, logits), tok, hist, step, 5000)
    k.write(step, step_bytes(0, 1, token_slot=1))
    b = k.batch()
    for op in am:
        op.encode(b, 1, 0)
    t, h = (np.frombuffer(x.tobytes(), np.uint32) for x in b.submit(readback=[tok, hist]))
    assert t[0] == 1234 and h[1] == 1234


def test_router_wgpu_matches_cpu_route(tiny_model):
    from backends.wgpu.helpers import router_wgpu

    c = tiny_model.config
    w = tiny_model.rows("blk.0.ffn_gate_inp.weight", 0, c.n_expert)
    for seed in range(3):
        h = np.random.default_rng(seed).standard_normal(c.n_embd).astype(np.float32)
        ids, weights, probs = router_wgpu(tiny_model, 0, h)
        want_ids, want_w, want_p = cpu.route((w @ h)[None], c.n_expert_used)
        assert ids.tolist() == want_ids[0].tolist()
        np.testing.assert_allclose(weights, want_w[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(probs, want_p[0], rtol=1e-5, atol=1e-7)
