"""Tiled dequant-GEMM (shaders/mul_mat_q.wgsl) and expert grouping (shaders/moe_group.wgsl)
against the CPU codec: Y_ref = X @ dequantize(W)^T in float64, on random data quantized by
backends.model.quants. Tolerances are test_wgpu_matvec's per-type NMSE bounds (the same exact
decode and f32 accumulation; only the summation order differs).

Shapes are ragged on purpose: rows and tokens past one 64 x 64 tile and not multiples of it,
float rows whose length is not a multiple of 16 or of the K step, tensors split over several
buffers; canaries around Y catch any write outside it.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.model import quants
from backends.wgpu import gemm as gm
from backends.wgpu.op import step_bytes
from backends.wgpu import weights
from tests.test_wgpu_matvec import BLOCK, CANARY, NMSE_MAX, PAD, check
from tests.wgpu_support import k, mutated_kernels, nmse  # noqa: F401 (k: fixture)

T_TOK = 70  # tokens: one full 64-token tile and a ragged one


def _cols(qtype: str) -> int:
    return 5 * BLOCK[qtype] if BLOCK[qtype] > 16 else 45  # 45: ragged chunk and K step


def _quant(qtype, shape, rng):
    raw = quants.quantize(qtype, rng.standard_normal(shape).astype(np.float32))
    return raw, quants.dequantize(qtype, raw).astype(np.float64)


def _limit(qtype, cols, unit_rows, count, pieces):
    """A binding limit that splits `count` units (rows or experts) into `pieces` buffers."""
    return weights.row_words(qtype, cols) * 4 * unit_rows * -(-count // pieces)


def run_dense(k, t, x, *, kernels=None, **options):
    """build_gemm with canaries around y (the binding runs into the trailing ones)."""
    kk = kernels or k
    n, out_rows = x.shape[0], t.rows
    yb = kk.upload(np.full(2 * PAD + n * out_rows, CANARY, np.float32), label="y+canary")
    step = kk.upload(step_bytes(0, n), uniform=True)
    op = gm.build_gemm(kk, t, kk.upload(x), (yb, 4 * PAD, yb.size - 4 * PAD), step, x_stride=t.cols, **options)
    batch = kk.batch()
    op.encode(batch, n, 0)
    (out,) = batch.submit(readback=[yb])
    out = out.view(np.float32)
    return out[PAD : PAD + n * out_rows].reshape(n, out_rows), np.concatenate([out[:PAD], out[PAD + n * out_rows :]])


def dense_case(k, qtype, rows, pieces, seed):
    rng = np.random.default_rng(seed)
    cols = _cols(qtype)
    raw, w = _quant(qtype, (rows, cols), rng)
    x = rng.standard_normal((T_TOK, cols)).astype(np.float32)
    t = weights.upload_raw(
        k, "w", qtype, raw, cols, max_binding=_limit(qtype, cols, 1, rows, pieces) if pieces > 1 else None
    )
    assert len(t.pieces) == pieces
    return t, x, x.astype(np.float64) @ w.T


@pytest.mark.parametrize("rows, pieces", [(1, 1), (70, 1), (131, 3)])
@pytest.mark.parametrize("qtype", list(NMSE_MAX))
def test_gemm_matches_cpu_decode(k, qtype, rows, pieces):
    t, x, ref = dense_case(k, qtype, rows, pieces, seed=rows * 7 + pieces)
    got, canaries = run_dense(k, t, x)
    assert np.all(canaries == CANARY), f"[{qtype}] write outside y"
    check(qtype, got, ref)


@pytest.mark.parametrize(
    "shape",
    [
        {"TX": 8, "TY": 32, "TM": 4, "TN": 8, "KC": 1},  # 128 rows x 64 slots
        {"TX": 16, "TY": 4, "TM": 4, "TN": 4, "KC": 3},  # 16 rows x 64 slots, K step of 3 chunks
        {"TX": 2, "TY": 16, "TM": 4, "TN": 8, "KC": 2},
    ],
)  # 64 rows x 16 slots
@pytest.mark.parametrize("qtype", ["Q4_K", "Q8_0", "F32"])
def test_gemm_launch_shapes_agree(k, qtype, shape):
    t, x, ref = dense_case(k, qtype, 131, 3, seed=len(qtype) + shape["KC"])
    got, canaries = run_dense(k, t, x, shape=shape)
    assert np.all(canaries == CANARY)
    check(qtype, got, ref)


def test_gemm_fewer_tokens_than_a_tile(k):
    t, x, ref = dense_case(k, "Q4_K", 70, 1, seed=3)
    got, canaries = run_dense(k, t, x[:3])
    assert np.all(canaries == CANARY)
    check("Q4_K", got, ref[:3])


def test_gemm_one_shot_helper_and_fault(k):
    t, x, ref = dense_case(k, "Q6_K", 70, 1, seed=5)
    check("Q6_K", gm.gemm(k, t, x), ref)
    with pytest.raises(AssertionError, match="NMSE"):  # the planted fault is visible
        check("Q6_K", gm.gemm(k, t, x, faults={"reduction_drops_last"}), ref)


# A wrong tile edge: the mutated kernel must be caught by the checks above.
TILE_EDGE_BUGS = {
    "token edge ignores n_tok": ("min(j0 + bn, S.n_tok)", "j0 + bn"),
    "row edge off by one": ("if (r >= P.rows) { continue; }", "if (r > P.rows) { continue; }"),
    "decode skips the last row": ("row0 + m < P.rows", "row0 + m + 1u < P.rows"),
}


@pytest.mark.parametrize("bug", list(TILE_EDGE_BUGS))
def test_planted_tile_edge_bug_is_caught(k, monkeypatch, bug):
    mutant = mutated_kernels(k, monkeypatch, "mul_mat_q", *TILE_EDGE_BUGS[bug])  # compiled afresh
    t, x, ref = dense_case(mutant, "Q8_0", 131, 3, seed=9)
    got, canaries = run_dense(k, t, x, kernels=mutant)
    caught = not np.all(canaries == CANARY) or nmse(got, ref) > NMSE_MAX["Q8_0"]
    assert caught, f"planted bug '{bug}' went unnoticed"


# -- grouped experts ------------------------------------------------------------------------
E, K = 5, 2


def _routing(n_tok, rng):
    """Slot 0 of every token is expert 0 (an expert with every token), slot 1 random among
    1, 2, 4: expert 3 receives no token."""
    ids = np.stack([np.zeros(n_tok, int), rng.choice([1, 2, 4], n_tok)], axis=1)
    return ids.astype(np.uint32)


def _groups_reference(ids):
    pairs = ids.reshape(-1)
    order = np.concatenate([np.flatnonzero(pairs == e) for e in range(E)])
    return order


def _group(k, ids, tmax):
    step = k.upload(step_bytes(0, ids.shape[0]), uniform=True)
    eids = k.upload(ids.reshape(-1))
    groups = gm.ExpertGroups(k, eids, step, E, K, tmax)
    return groups, step


def test_expert_groups_map(k):
    ids = _routing(T_TOK, np.random.default_rng(1))
    groups, step = _group(k, ids, 80)
    batch = k.batch()
    groups.op.encode(batch, T_TOK, 0)
    (m,) = batch.submit(readback=[groups.buffer])
    m = m.view(np.uint32)
    n_tiles = int(m[0])
    tiles = m[1 : 1 + 3 * n_tiles].reshape(-1, 3)
    gather = m[groups.gather_at : groups.gather_at + T_TOK * K]
    np.testing.assert_array_equal(gather, _groups_reference(ids))
    counts = np.bincount(ids.reshape(-1), minlength=E)
    want = []
    off = 0
    for e in range(E):
        for j0 in range(off, off + counts[e], groups.bn):
            want.append((e, j0, min(j0 + groups.bn, off + counts[e])))
        off += counts[e]
    np.testing.assert_array_equal(tiles, np.array(want))
    assert n_tiles <= groups.max_tiles(T_TOK)


@pytest.mark.parametrize("qtype", ["Q4_K", "Q6_K", "Q8_0", "F16", "BF16", "F32", "Q5_K"])
def test_grouped_swiglu_and_down_match_cpu(k, qtype):
    """gate/up (+SwiGLU) over token rows, then down with the scatter back to pair order:
    against silu(Wg_e h) * (Wu_e h) and Wd_e a per (token, slot), experts split over pieces."""
    rng = np.random.default_rng(len(qtype))
    # H: model width (ragged for float rows), I: expert width (> one 64-row tile in gate/up,
    # a whole number of blocks as down's row length), D: down's rows (ragged)
    H = _cols(qtype)
    inter = {256: 256, 32: 96}.get(BLOCK[qtype], 38)
    d_rows = 70 if BLOCK[qtype] > 16 else 37
    graw, gw = _quant(qtype, (E, inter, H), rng)
    uraw, uw = _quant(qtype, (E, inter, H), rng)
    draw, dw = _quant(qtype, (E, d_rows, inter), rng)
    gu = weights.upload_gate_up_raw(k, "gu", qtype, graw, uraw, H, max_binding=_limit(qtype, H, 2 * inter, E, 2))
    dn = weights.upload_raw(k, "down", qtype, draw, inter, max_binding=_limit(qtype, inter, d_rows, E, 3))
    assert len(gu.pieces) == 2 and len(dn.pieces) == 3
    n_tok = T_TOK
    ids = _routing(n_tok, rng)
    h = rng.standard_normal((n_tok, H)).astype(np.float32)
    groups, step = _group(k, ids, n_tok)
    a_buf = k.buffer(4 * n_tok * K * inter)
    d_buf = k.upload(np.full(2 * PAD + n_tok * K * d_rows, CANARY, np.float32))
    up_op = gm.build_gemm(
        k, gu, k.upload(h), a_buf, step, x_stride=H, swiglu=True, group=gm.GroupInput(groups, K, False)
    )
    dn_op = gm.build_gemm(
        k, dn, a_buf, (d_buf, 4 * PAD, d_buf.size - 4 * PAD), step, x_stride=inter, group=gm.GroupInput(groups, 0, True)
    )
    batch = k.batch()
    for op in (groups.op, up_op, dn_op):
        op.encode(batch, n_tok, 0)
    a_raw, d_raw = batch.submit(readback=[a_buf, d_buf])
    order = _groups_reference(ids)
    e_of = ids.reshape(-1)
    h64 = h.astype(np.float64)
    g = np.stack([gw[e_of[p]] @ h64[p // K] for p in order])
    u = np.stack([uw[e_of[p]] @ h64[p // K] for p in order])
    a_ref = g / (1 + np.exp(-g)) * u
    a_got = a_raw.view(np.float32)[: n_tok * K * inter].reshape(-1, inter)
    check(qtype, a_got, a_ref)
    d = d_raw.view(np.float32)
    assert np.all(d[:PAD] == CANARY) and np.all(d[PAD + n_tok * K * d_rows :] == CANARY)
    d_got = d[PAD : PAD + n_tok * K * d_rows].reshape(n_tok * K, d_rows)
    a32 = a_got.astype(np.float64)
    d_ref = np.empty_like(d_got, dtype=np.float64)
    for j, p in enumerate(order):
        d_ref[p] = dw[e_of[p]] @ a32[j]
    check(qtype, d_got, d_ref)


def test_gemm_last_only_writes_the_last_row_alone(k):
    t, x, ref = dense_case(k, "Q6_K", 131, 3, seed=13)
    got, canaries = run_dense(k, t, x, last_only=True)
    assert np.all(canaries == CANARY)
    assert np.all(got[:-1] == CANARY), "last_only wrote rows other than the last"
    check("Q6_K", got[-1:], ref[-1:])


def test_grouped_gemm_rejects_a_shape_other_than_its_groups(k):
    ids = _routing(4, np.random.default_rng(2))
    groups, step = _group(k, ids, 4)
    raw, _ = _quant("Q8_0", (E, 32, 64), np.random.default_rng(3))
    t = weights.upload_raw(k, "w", "Q8_0", raw, 64)
    with pytest.raises(ValueError, match="slots per tile"):
        gm.build_gemm(
            k,
            t,
            k.buffer(1024),
            k.buffer(1024),
            step,
            x_stride=64,
            group=gm.GroupInput(groups, K, False),
            shape={"TX": 2, "TY": 16, "TM": 4, "TN": 8, "KC": 2},
        )
