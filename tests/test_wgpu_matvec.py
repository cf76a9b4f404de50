"""Quantized matvec kernels (shaders/mul_mat_vec*.wgsl via backends.wgpu.matvec) against the
CPU codec: y_ref = dequantize(W) @ x in float64, on random data quantized by backends.model.quants.

Tolerance: NMSE = Σ(gpu − ref)² / Σref². The GPU decodes every weight exactly (f16 scales and
integer quants are exact in f32) and accumulates in f32, so the only error is f32 rounding of
products and sums: ~2^-24·sqrt(n) relative, NMSE ~1e-14 for n ≤ 1024. K-quants compute
d·sc·Σqx − dmin·m·Σx (and Q6_K d·sc·(Σqx − 32Σx)), which cancels, costing up to ~2 more decades.
Thresholds below sit far above that and far below any real bug (one dropped chunk or misread
block gives NMSE ≳ 1e-3).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from backends.model import quants
from backends.wgpu import matvec as mv
from backends.wgpu import weights
from backends.wgpu.runtime import kernels_for
from tests.conftest import HAS_OPENGL, require_adapter, skip_unless
from tests.wgpu_support import k, nmse  # noqa: F401 (k: fixture)

# Per qtype: worst NMSE allowed, with the reason (module docstring for the arithmetic).
NMSE_MAX = {
    "F32": 1e-11,  # plain f32 dot products: rounding only
    "F16": 1e-11,  # f16 -> f32 exact, then as F32
    "BF16": 1e-11,  # bf16 -> f32 exact, then as F32
    "Q8_0": 1e-11,  # d·Σqx, no cancellation
    "Q4_K": 1e-9,  # d·sc·Σqx − dmin·m·Σx cancels: allow two decades over F32
    "Q5_K": 1e-9,  # same form as Q4_K
    "Q6_K": 1e-9,  # d·sc·(Σqx − 32Σx) cancels
}
BLOCK = {"F32": 16, "F16": 16, "BF16": 16, "Q8_0": 32, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256}
CANARY = np.float32(-7.25e11)  # a value no matvec here can produce
PAD = 64  # canary floats before and after y (256 B, a legal bind offset)

# (rows, cols, experts, pieces): one block; rows not a multiple of rows-per-workgroup (2, 4)
# with ragged float rows; a tensor split across buffers by rows (2-D) or experts (3-D).
SIZES = {
    "one_block": lambda q: (1, BLOCK[q] if BLOCK[q] > 16 else 23, 5, 1),
    "ragged_rows": lambda q: (7, 3 * BLOCK[q] if BLOCK[q] > 16 else 45, 5, 1),
    "split": lambda q: (9, 2 * BLOCK[q] if BLOCK[q] > 16 else 40, 5, 3),
}
MODES = ("single", "batch", "experts_shared", "experts_per_slot")
IDS = np.array([4, 0, 2, 4], np.uint32)  # out of order, one expert twice


def subgroup_options():
    require_adapter()
    return [False, True] if kernels_for().info.has_subgroup else [False]


def make_case(qtype, mode, size, seed):
    """Raw blocks, their float64 decode, x, ids and the float64 reference y."""
    rows, cols, n_exp, pieces = SIZES[size](qtype)
    rng = np.random.default_rng(seed)
    experts = mode.startswith("experts")
    shape = (n_exp, rows, cols) if experts else (rows, cols)
    raw = quants.quantize(qtype, rng.standard_normal(shape).astype(np.float32))
    w = quants.dequantize(qtype, raw).astype(np.float64)
    ids = IDS if experts else None
    if mode == "single":
        x = rng.standard_normal(cols).astype(np.float32)
        ref = w @ x
    elif mode == "batch":
        x = rng.standard_normal((3, cols)).astype(np.float32)
        ref = x.astype(np.float64) @ w.T
    elif mode == "experts_shared":
        x = rng.standard_normal(cols).astype(np.float32)
        ref = np.stack([w[e] @ x for e in ids])
    else:
        x = rng.standard_normal((len(ids), cols)).astype(np.float32)
        ref = np.stack([w[e] @ x[s] for s, e in enumerate(ids)])
    return raw, x, ids, ref, pieces


def upload_case(k, qtype, raw, pieces):
    """Upload; for the split size, a binding limit that forces exactly `pieces` buffers."""
    words = weights.row_words(qtype, _cols(qtype, raw))
    unit = words * 4 * (raw.shape[1] if raw.ndim == 3 else 1)  # one expert or one row
    count = raw.shape[0]
    limit = unit * -(-count // pieces) if pieces > 1 else None
    t = weights.upload_raw(k, "w", qtype, raw, _cols(qtype, raw), max_binding=limit)
    assert len(t.pieces) == pieces
    return t


def _cols(qtype, raw):
    return raw.shape[-1] // quants.type_size(qtype) * quants.block_size(qtype)


def run_gpu(k, t, x, ids, **options):
    """Run through build_matvec with canaries around y; returns y and the canary check."""
    n_slots = len(ids) if ids is not None else (x.shape[0] if x.ndim == 2 else 1)
    n_out = n_slots * t.rows
    yb = k.upload(np.full(2 * PAD + n_out, CANARY, np.float32), label="y+canary")
    xb = k.upload(x)
    ib = k.upload(ids) if ids is not None else None
    # The binding runs past y into the trailing canaries (so stray writes land on them), except
    # with vectors_per_wg > 1, whose tail may legitimately write scratch slots within the binding.
    span = 4 * n_out if options.get("vectors_per_wg", 1) > 1 else yb.size - 4 * PAD
    op = mv.build_matvec(k, t, xb, (yb, 4 * PAD, span), ids=ib, x_stride=t.cols if x.ndim == 2 else 0, **options)
    batch = k.batch()
    op.encode(batch, n_slots, 0)
    (out,) = batch.submit(readback=[yb])
    out = out.view(np.float32)
    canaries = np.concatenate([out[:PAD], out[PAD + n_out :]])
    return out[PAD : PAD + n_out].reshape(n_slots, t.rows), canaries


def check(qtype, got, ref):
    err = nmse(got.astype(np.float64), ref.reshape(got.shape))
    worst = np.unravel_index(np.argmax(np.abs(got - ref.reshape(got.shape))), got.shape)
    assert err <= NMSE_MAX[qtype], (
        f"[{qtype}] NMSE {err:.3g} > {NMSE_MAX[qtype]:.0e}; worst (slot, row) {worst}: "
        f"gpu {got[worst]:.6g} vs ref {ref.reshape(got.shape)[worst]:.6g}"
    )
    return err


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("qtype", list(NMSE_MAX))
def test_matvec_matches_cpu_decode(k, qtype, mode, size):
    raw, x, ids, ref, pieces = make_case(qtype, mode, size, seed=zlib.crc32(f"{qtype}{mode}{size}".encode()))
    t = upload_case(k, qtype, raw, pieces)
    for subgroup in subgroup_options():
        got, canaries = run_gpu(k, t, x, ids, subgroup=subgroup)
        assert np.all(canaries == CANARY), f"[{qtype} {mode} {size}] write outside y"
        check(qtype, got, ref)


@pytest.mark.parametrize(
    "qtype, wg, rows, nv",
    [
        ("Q4_K", 8, 1, 1),
        ("Q4_K", 8, 4, 4),
        ("Q4_K", 16, 3, 1),
        ("Q4_K", 64, 4, 1),
        ("Q4_K", 256, 2, 1),
        ("Q4_K", 32, 4, 2),
        ("Q4_K", 32, 3, 4),
        ("Q6_K", 64, 2, 3),
        ("Q8_0", 32, 4, 4),
        ("Q5_K", 16, 2, 2),
        ("F16", 32, 2, 4),
        ("F32", 32, 4, 2),
    ],
)
def test_matvec_launch_shapes_agree(k, qtype, wg, rows, nv):
    # batch of 3 vectors: with nv = 2 or 4 the last workgroup's slot group is partial.
    raw, x, ids, ref, pieces = make_case(qtype, "batch", "split", seed=wg * 10 + rows + nv)
    t = upload_case(k, qtype, raw, pieces)
    for subgroup in subgroup_options():
        got, canaries = run_gpu(k, t, x, ids, subgroup=subgroup, wg=wg, rows_per_wg=rows, vectors_per_wg=nv)
        assert np.all(canaries == CANARY)
        check(qtype, got, ref)


@pytest.mark.parametrize("qtype", list(NMSE_MAX))
def test_matvec_fault_reduction_drops_last_fails_nmse(k, qtype):
    raw, x, ids, ref, pieces = make_case(qtype, "single", "ragged_rows", seed=7)
    t = upload_case(k, qtype, raw, pieces)
    for subgroup in subgroup_options():
        got, _ = run_gpu(k, t, x, ids, subgroup=subgroup, faults={"reduction_drops_last"})
        with pytest.raises(AssertionError, match="NMSE"):
            check(qtype, got, ref)


def test_matvec_pipelines_created_once(k):
    raw, x, ids, ref, pieces = make_case("Q6_K", "single", "ragged_rows", seed=3)
    t = upload_case(k, "Q6_K", raw, pieces)
    run_gpu(k, t, x, ids)
    before = k.counters.as_dict()
    for _ in range(3):
        run_gpu(k, t, x, ids)
    after = k.counters.as_dict()
    assert after["pipelines_created"] == before["pipelines_created"]
    assert after["submits"] == before["submits"] + 3
    assert after["dispatches"] == before["dispatches"] + 3


def test_matvec_one_shot_helper_shapes(k):
    raw, x, ids, ref, pieces = make_case("Q8_0", "experts_per_slot", "split", seed=11)
    t = upload_case(k, "Q8_0", raw, pieces)
    got = mv.matvec(k, t, x, ids=ids)
    assert got.shape == (len(ids), t.rows)
    check("Q8_0", got, ref)


def test_matvec_expert_tensor_without_ids_raises(k):
    raw, x, ids, ref, pieces = make_case("Q4_K", "experts_shared", "one_block", seed=1)
    t = upload_case(k, "Q4_K", raw, pieces)
    with pytest.raises(ValueError, match="ids"):
        mv.build_matvec(k, t, k.upload(x), k.buffer(64))


def test_matvec_row_groups_past_65535_use_grid_z(k):
    # 70000 rows at 1 row per workgroup: more groups than one grid dimension holds (65535), as
    # the vocab-sized output head gets on GPUs (151936 rows / 2).
    rng = np.random.default_rng(9)
    raw = quants.quantize("Q8_0", rng.standard_normal((70000, 32), dtype=np.float32))
    x = rng.standard_normal(32).astype(np.float32)
    t = weights.upload_raw(k, "tall", "Q8_0", raw, 32)
    got, canaries = run_gpu(k, t, x, None, wg=8, rows_per_wg=1)
    assert np.all(canaries == CANARY)
    check("Q8_0", got, quants.dequantize("Q8_0", raw).astype(np.float64) @ x)


def silu(g):
    return g / (1.0 + np.exp(-g))


@pytest.mark.parametrize("qtype", ["Q4_K", "Q6_K", "Q8_0", "F32"])
@pytest.mark.parametrize("experts", [True, False])
def test_matvec_swiglu_fused_gate_up(k, qtype, experts):
    # rows 7 (odd), split into 3 buffers: by experts (3-D) or by whole gate/up row pairs (2-D).
    rng = np.random.default_rng(13)
    cols = 2 * BLOCK[qtype] if BLOCK[qtype] > 16 else 40
    shape = (5, 7, cols) if experts else (7, cols)
    gate, up = (quants.quantize(qtype, rng.standard_normal(shape, dtype=np.float32)) for _ in range(2))
    unit = weights.row_words(qtype, cols) * 4 * (14 if experts else 2)
    t = weights.upload_gate_up_raw(k, "gu", qtype, gate, up, cols, max_binding=unit * (2 if experts else 3))
    assert len(t.pieces) == 3 and t.rows == 14
    wg_, wu = (quants.dequantize(qtype, r).astype(np.float64) for r in (gate, up))
    x = rng.standard_normal(cols).astype(np.float32)
    ids = IDS if experts else None
    for subgroup in subgroup_options():
        got = mv.matvec(k, t, x, ids=ids, swiglu=True, subgroup=subgroup)
        if experts:
            ref = np.stack([silu(wg_[e] @ x) * (wu[e] @ x) for e in ids])
        else:
            ref = silu(wg_ @ x) * (wu @ x)
        check(qtype, got.reshape(ref.shape), ref)


def test_matvec_x_group_shares_one_input_per_token(k):
    raw, _, _, _, pieces = make_case("Q5_K", "experts_shared", "ragged_rows", seed=17)
    w = quants.dequantize("Q5_K", raw).astype(np.float64)
    t = upload_case(k, "Q5_K", raw, pieces)
    x = np.random.default_rng(17).standard_normal((2, t.cols)).astype(np.float32)
    ids = np.array([3, 1, 1, 4], np.uint32)  # token 0 -> experts 3, 1; token 1 -> 1, 4
    got = mv.matvec(k, t, x, ids=ids, x_group=2)
    check("Q5_K", got, np.stack([w[e] @ x[s // 2] for s, e in enumerate(ids)]))


def test_matvec_swiglu_needs_interleaved_tensor(k):
    raw, x, ids, ref, pieces = make_case("Q4_K", "single", "one_block", seed=2)
    t = upload_case(k, "Q4_K", raw, pieces)
    with pytest.raises(ValueError, match="upload_gate_up"):
        mv.build_matvec(k, t, k.upload(x), k.buffer(64), swiglu=True)


# Run in a child process: one wgpu device per process, and this one is already open.
_GL_SCRIPT = """
import sys
import numpy as np
from backends.model import quants
from backends.wgpu import device, matvec, runtime, weights
k = runtime.kernels_for(device.get_device({"backend_type": "OpenGL", "name_pattern": "llvmpipe"}))
assert not k.info.has_subgroup
rng = np.random.default_rng(21)
out = {}
for q in sys.argv[2].split(","):
    cols = 512 if q[0] == "Q" else 45
    raw = quants.quantize(q, rng.standard_normal((3, 7, cols), dtype=np.float32))
    x = rng.standard_normal((4, cols)).astype(np.float32)
    t = weights.upload_raw(k, q, q, raw, cols, max_binding=raw[0].nbytes * 2 + 64)
    out[q + "_raw"], out[q + "_x"] = raw, x
    out[q + "_y"] = matvec.matvec(k, t, x, ids=np.array([2, 0, 1, 2], np.uint32))
np.savez(sys.argv[1], **out)
"""


@skip_unless(HAS_OPENGL, "no llvmpipe OpenGL adapter here (the Vulkan tests still cover the kernels)")
def test_matvec_on_adapter_without_subgroup_feature(tmp_path):
    # lavapipe's OpenGL adapter has neither subgroup nor shader-f16: the fallback paths as a
    # device without the features compiles them (naga -> GLSL), not just as an option.
    assert any(a["backend_type"] == "OpenGL" and "llvmpipe" in a["name"] for a in require_adapter()), (
        "no llvmpipe OpenGL adapter"
    )
    path, qtypes = tmp_path / "gl.npz", list(NMSE_MAX)
    root = str(Path(__file__).resolve().parents[1])  # keep any PYTHONPATH the caller has
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    subprocess.run([sys.executable, "-c", _GL_SCRIPT, str(path), ",".join(qtypes)], check=True, env=env, timeout=120)
    got = np.load(path)
    for q in qtypes:
        w = quants.dequantize(q, got[q + "_raw"]).astype(np.float64)
        x = got[q + "_x"].astype(np.float64)
        ref = np.stack([w[e] @ x[s] for s, e in enumerate([2, 0, 1, 2])])
        check(q, got[q + "_y"], ref)
