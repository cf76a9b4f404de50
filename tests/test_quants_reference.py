"""The vectorised K-quantizers against a literal transcription of llama.cpp's reference loops.

The transcription below follows ggml-quants.c (make_qkx2_quants, make_qx_quants,
quantize_row_q{4,5,6}_K_ref) statement by statement: one sub-block and one candidate at a
time, float32 throughout, sums accumulated in C's order (np.cumsum is sequential). It packs
bytes with its own loops, so it checks the bit layout independently of the codec modules too.
The vectorised code keeps C's order of operations, so the bytes must agree exactly. (A
compiled llama.cpp may still differ in rare near-ties where the compiler fuses a multiply-add.)
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.model import quants

F = np.float32


def seqsum(a) -> np.float32:
    return np.cumsum(np.asarray(a, dtype=F), dtype=F)[-1]


def make_qkx2(x, w, nmax, rmin, rdelta, nstep):
    mn, mx = min(F(0), x.min()), x.max()
    sum_w, sum_x = seqsum(w), seqsum(w * x)
    if mx == mn:
        return F(0), -mn, np.zeros(len(x), np.int64)
    iscale = F(nmax) / (mx - mn)
    scale = F(1) / iscale
    L = np.clip(np.rint(iscale * (x - mn)), 0, nmax)
    best = seqsum(w * np.square(scale * L + mn - x))
    for step in range(nstep + 1):
        iscale = (F(rmin) + F(rdelta) * F(step) + F(nmax)) / (mx - mn)
        La = np.clip(np.rint(iscale * (x - mn)), 0, nmax)
        sl, sl2, sxl = seqsum(w * La), seqsum(w * La * La), seqsum(w * La * x)
        D = sum_w * sl2 - sl * sl
        if D > 0:
            this_scale = (sum_w * sxl - sum_x * sl) / D
            this_min = (sl2 * sum_x - sl * sxl) / D
            if this_min > 0:
                this_min, this_scale = F(0), sxl / sl2
            err = seqsum(w * np.square(this_scale * La + this_min - x))
            if err < best:
                L, best, scale, mn = La, err, this_scale, this_min
    return scale, -mn, L.astype(np.int64)


def scalar_q45_K(block, nmax, rmin, nstep):
    scales, mins, L = np.zeros(8, F), np.zeros(8, F), np.zeros(256, np.int64)
    for j in range(8):
        x = block[32 * j : 32 * j + 32]
        av_x = np.sqrt(seqsum(x * x) / F(32))
        scales[j], mins[j], L[32 * j : 32 * j + 32] = make_qkx2(x, av_x + np.abs(x), nmax, rmin, 0.1, nstep)
    max_scale, max_min = max(F(0), scales.max()), max(F(0), mins.max())
    inv_s = F(63) / max_scale if max_scale > 0 else F(0)
    inv_m = F(63) / max_min if max_min > 0 else F(0)
    ls = [min(63, int(np.rint(inv_s * s)) & 0xFF) for s in scales]
    lm = [min(63, int(np.rint(inv_m * m)) & 0xFF) for m in mins]
    sc = np.zeros(12, np.uint8)
    for j in range(8):
        if j < 4:
            sc[j], sc[j + 4] = ls[j], lm[j]
        else:
            sc[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4)
            sc[j - 4] |= (ls[j] >> 4) << 6
            sc[j] |= (lm[j] >> 4) << 6
    d, dmin = F(max_scale / F(63)).astype(np.float16), F(max_min / F(63)).astype(np.float16)
    for j in range(8):
        dj = F(d) * F(ls[j])
        if dj == 0:
            continue
        dm = F(dmin) * F(lm[j])
        L[32 * j : 32 * j + 32] = np.clip(np.rint((block[32 * j : 32 * j + 32] + dm) / dj), 0, nmax)
    head = np.concatenate([np.array([d, dmin]).view(np.uint8), sc])
    qh = np.zeros(32, np.uint8)
    ql = np.zeros(128, np.uint8)
    for n in range(0, 256, 64):
        for i in range(32):
            l1, l2 = L[n + i], L[n + i + 32]
            qh[i] |= ((l1 >> 4) << (n // 32)) | ((l2 >> 4) << (n // 32 + 1))
            ql[n // 2 + i] = (l1 & 0xF) | ((l2 & 0xF) << 4)
    return np.concatenate([head, ql] if nmax == 15 else [head, qh, ql])


def make_qx(x, nmax):
    amax, vmax = F(0), F(0)
    for v in x:
        if abs(v) > amax:
            amax, vmax = abs(v), v
    if amax < F(1e-15):
        return F(0), np.zeros(len(x), np.int64)
    w = x * x

    def try_scale(iscale):
        lv = np.clip(np.rint(iscale * x), -nmax, nmax - 1)
        return lv, seqsum(w * x * lv), seqsum(w * lv * lv)

    lv, slx, sl2 = try_scale(F(-nmax) / vmax)
    scale = slx / sl2 if sl2 else F(0)
    best, L = scale * slx, lv
    for step in [i for i in range(-9, 10) if i != 0]:
        lv, slx, sl2 = try_scale(-(F(nmax) + F(0.1) * F(step)) / vmax)
        if sl2 > 0 and slx * slx > best * sl2:
            L, scale = lv, slx / sl2
            best = scale * slx
    return scale, (L + nmax).astype(np.int64)


def scalar_q6_K(block):
    scales, L = np.zeros(16, F), np.zeros(256, np.int64)
    for j in range(16):
        scales[j], L[16 * j : 16 * j + 16] = make_qx(block[16 * j : 16 * j + 16], 32)
    imax = int(np.argmax(np.abs(scales)))
    if abs(scales[imax]) < F(1e-15):
        return np.zeros(210, np.uint8)
    iscale = F(-128) / scales[imax]
    d = (F(1) / iscale).astype(np.float16)
    sc = np.array([min(127, int(np.rint(iscale * s))) for s in scales], np.int8)
    for j in range(16):
        dj = F(d) * F(sc[j])
        if dj != 0:
            L[16 * j : 16 * j + 16] = np.clip(np.rint(block[16 * j : 16 * j + 16] / dj), -32, 31) + 32
    ql, qh = np.zeros(128, np.uint8), np.zeros(64, np.uint8)
    for h in range(2):
        for i in range(32):
            q = [L[128 * h + i + 32 * k] for k in range(4)]
            ql[64 * h + i] = (q[0] & 0xF) | ((q[2] & 0xF) << 4)
            ql[64 * h + i + 32] = (q[1] & 0xF) | ((q[3] & 0xF) << 4)
            qh[32 * h + i] = sum((q[k] >> 4) << (2 * k) for k in range(4))
    return np.concatenate([ql, qh, sc.view(np.uint8), np.array([d]).view(np.uint8)])


SCALAR = {
    "Q4_K": lambda b: scalar_q45_K(b, 15, -1.0, 20),
    "Q5_K": lambda b: scalar_q45_K(b, 31, -0.5, 15),
    "Q6_K": scalar_q6_K,
}


@pytest.mark.parametrize("qtype", sorted(SCALAR))
def test_quantize_bytes_equal_scalar_transcription(qtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((24, 256)).astype(F) * F(0.02)
    x[1] = np.abs(x[1])  # all positive: the min clamps to 0
    x[2, :40] = 0.0  # all-zero sub-blocks
    x[3, 100] = 1.0  # one outlier dominates the super-block scale
    x[4] = -np.abs(x[4])  # all negative
    x[5, :32] = 0.25  # a constant sub-block
    x[6] *= F(300.0)  # large weights
    ours = quants.quantize(qtype, x)
    ref = np.stack([SCALAR[qtype](b) for b in x])
    diff = np.count_nonzero(ours != ref, axis=1)
    worst = int(np.argmax(diff))
    assert not diff.any(), (
        f"{qtype}: {np.count_nonzero(diff)} of {len(x)} blocks differ from the scalar "
        f"transcription of llama.cpp; worst block {worst}: {diff[worst]} bytes, first at "
        f"byte {int(np.argmax(ours[worst] != ref[worst]))}"
    )
