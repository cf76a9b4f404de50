"""The task matvec driver (shaders/mul_mat_vec_tasks*.wgsl): single-vector Q4_K / Q5_K / Q6_K.

test_wgpu_matvec.py covers every mode through build_matvec (which picks this driver for single
vectors of these types); here: that it IS picked, every launch shape (R rows per 32-lane group
x G groups, which the H200 tuning may choose) against the float64 CPU decode with canaries
around y and rows that do not fill the last group, and that the planted reduction bug is caught.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.model import quants
from backends.wgpu import matvec as mv
from backends.wgpu import weights
from tests.wgpu_support import k, nmse  # noqa: F401 (k: fixture)

TASK_QTYPES = ("Q4_K", "Q5_K", "Q6_K")
NMSE_MAX = 1e-9  # as test_wgpu_matvec: d·sc·Σqx − dmin·m·Σx cancels (two decades over F32)
CANARY = np.float32(-7.25e11)
PAD = 64


def _case(qtype, rows, cols, seed, n_exp=0):
    rng = np.random.default_rng(seed)
    shape = (n_exp, rows, cols) if n_exp else (rows, cols)
    raw = quants.quantize(qtype, rng.standard_normal(shape).astype(np.float32))
    return raw, quants.dequantize(qtype, raw).astype(np.float64), rng


def _matvec_with_canaries(k, t, x, rows_out, *, ids=None, x_stride=0, n_slots=1, shape=None, drop_last=False):
    yb = k.upload(np.full(2 * PAD + n_slots * rows_out, CANARY, np.float32), label="y+canary")
    xb = k.upload(x)
    ib = k.upload(ids) if ids is not None else None
    faults = {"reduction_drops_last"} if drop_last else frozenset()
    # the binding runs past y into the trailing canaries, so a stray write lands on them
    op = mv.build_matvec(
        k,
        t,
        xb,
        (yb, 4 * PAD, yb.size - 4 * PAD),
        ids=ib,
        x_stride=x_stride,
        y_stride=rows_out,
        faults=faults,
        task_shape=shape,
    )
    batch = k.batch()
    op.encode(batch, n_slots, 0)
    (out,) = batch.submit(readback=[yb])
    out = out.view(np.float32)
    canaries = np.concatenate([out[:PAD], out[PAD + n_slots * rows_out :]])
    return out[PAD : PAD + n_slots * rows_out].reshape(n_slots, rows_out), canaries


@pytest.mark.parametrize("qtype", TASK_QTYPES)
def test_single_vectors_use_the_task_driver(k, qtype):
    raw, _, rng = _case(qtype, 3, 256, 1)
    t = weights.upload_raw(k, "w", qtype, raw, 256)
    x, y = k.upload(rng.standard_normal(256).astype(np.float32)), k.buffer(64)
    files = mv.build_matvec(k, t, x, y).pipeline.key[0]
    assert mv.TASK_FAMILY[qtype] in files and "mul_mat_vec_tasks" in files
    batch_files = mv.build_matvec(k, t, x, y, x_stride=256, vectors_per_wg=2).pipeline.key[0]
    assert "mul_mat_vec_tasks" not in batch_files  # batches keep the chunk driver


@pytest.mark.parametrize("qtype", TASK_QTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (2, 4), (3, 2), (4, 1), (4, 2), (8, 1), (8, 2)])
def test_every_launch_shape_matches_the_cpu(k, qtype, shape):
    rows, cols = 37, 768  # 37: no R x G divides it, so the last group is ragged
    raw, w, rng = _case(qtype, rows, cols, 7 + shape[0] * 10 + shape[1])
    t = weights.upload_raw(k, "w", qtype, raw, cols)
    x = rng.standard_normal(cols).astype(np.float32)
    got, canaries = _matvec_with_canaries(k, t, x, rows, shape=shape)
    assert np.all(canaries == CANARY), "a write landed outside y"
    assert nmse(got[0], w @ x) <= NMSE_MAX


@pytest.mark.parametrize("qtype", TASK_QTYPES)
def test_experts_per_slot_inputs(k, qtype):
    # down-projection form: expert ids on the GPU, one input row per slot, rows not a multiple
    # of the group, an expert used twice and slots out of order
    raw, w, rng = _case(qtype, 5, 512, 3, n_exp=6)
    t = weights.upload_raw(k, "w", qtype, raw, 512)
    ids = np.array([5, 0, 3, 5], np.uint32)
    x = rng.standard_normal((4, 512)).astype(np.float32)
    got, canaries = _matvec_with_canaries(k, t, x, 5, ids=ids, x_stride=512, n_slots=4)
    assert np.all(canaries == CANARY)
    ref = np.stack([w[e] @ x[s] for s, e in enumerate(ids)])
    assert nmse(got, ref) <= NMSE_MAX


@pytest.mark.parametrize("qtype", TASK_QTYPES)
def test_planted_reduction_bug_is_caught(k, qtype):
    rows, cols = 9, 1024
    raw, w, rng = _case(qtype, rows, cols, 11)
    t = weights.upload_raw(k, "w", qtype, raw, cols)
    x = rng.standard_normal(cols).astype(np.float32)
    good, _ = _matvec_with_canaries(k, t, x, rows, shape=(4, 2))
    bad, _ = _matvec_with_canaries(k, t, x, rows, shape=(4, 2), drop_last=True)
    assert nmse(good[0], w @ x) <= NMSE_MAX
    assert nmse(bad[0], w @ x) > 1e-4


def test_task_shape_outside_the_driver_is_refused(k):
    raw, _, rng = _case("Q8_0", 2, 64, 5)
    t = weights.upload_raw(k, "w", "Q8_0", raw, 64)
    x, y = k.upload(rng.standard_normal(64).astype(np.float32)), k.buffer(64)
    with pytest.raises(ValueError, match="task driver"):
        mv.build_matvec(k, t, x, y, task_shape=(4, 2))
    q4, _, _ = _case("Q4_K", 2, 256, 5)
    t4 = weights.upload_raw(k, "w4", "Q4_K", q4, 256)
    with pytest.raises(ValueError, match="outside"):
        mv.build_matvec(k, t4, x, y, task_shape=(9, 1))
