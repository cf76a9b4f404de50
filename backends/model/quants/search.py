"""Vectorised scale searches of llama.cpp's reference K-quantizers (ggml-quants.c).

Each function quantizes N independent groups at once. Arrays are laid out with the group axis
innermost ((n, N), or (S candidates, n, N)), so every numpy pass runs over long contiguous rows
rather than many 16- or 32-value ones, and a sum over a group adds rows one after another:
C's order. Every operation is C's, in float32 and in C's order, so the bytes equal a literal
transcription of the reference loops (tests/test_quants_reference.py). A compiled llama.cpp
may still differ in rare near-ties where its compiler fuses a multiply-add.
"""

from __future__ import annotations

import numpy as np

GROUP_MAX_EPS = np.float32(1e-15)  # ggml-quants.c: a group with max |x| below this is all zero


def nearest_int(x: np.ndarray) -> np.ndarray:
    """ggml's nearest_int (adds 1.5 * 2^23): round half to even, as np.rint on float32."""
    return np.rint(x)


def make_qkx2_quants(
    x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Affine quantisation x ~ scale * L - the_min, L in 0..nmax, weighted least squares.

    x, w: float32 (N, n). Returns (scale (N,), the_min (N,) >= 0, L uint8 (N, n)).
    Starts from iscale = nmax / (max - min), then tries (nmax + rmin + rdelta * is) / (max - min)
    for is = 0..nstep in order, each with the least-squares scale and min of its levels (min
    clamped <= 0). As in C, an accepted candidate's min is used by the candidates after it, so
    the loop over candidates stays sequential; it is vectorised over the N groups instead.
    """
    xT, wT = np.ascontiguousarray(x.T), np.ascontiguousarray(w.T)  # (n, N): groups innermost
    mn = np.minimum(xT.min(axis=0), np.float32(0))
    mx = xT.max(axis=0)
    flat = mx == mn
    sum_w, sum_x = _colsum(wT), _colsum(wT * xT)

    iscale = np.float32(nmax) / np.where(flat, np.float32(1), mx - mn)
    L = _levels(iscale, xT, mn, nmax, np.empty_like(xT))
    scale = np.float32(1) / iscale
    best = _weighted_error(scale, L, mn, xT, wT, np.empty_like(xT))
    cand, bufs = np.empty_like(xT), (np.empty_like(xT), np.empty_like(xT))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for step in range(nstep + 1):
            factor = np.float32(rmin) + np.float32(rdelta) * np.float32(step) + np.float32(nmax)
            _levels(factor / (mx - mn), xT, mn, nmax, cand)
            ok, this_scale, this_min, err = _fit(cand, xT, wT, sum_w, sum_x, bufs)
            take = ok & (err < best) & ~flat
            np.copyto(L, cand, where=take[None, :])
            best = np.where(take, err, best)
            scale = np.where(take, this_scale, scale)
            mn = np.where(take, this_min, mn)
    scale = np.where(flat, np.float32(0), scale)
    L[:, flat] = 0
    return scale.astype(np.float32), (-mn).astype(np.float32), L.T.astype(np.uint8)


def _fit(cand, xT, wT, sum_w, sum_x, bufs):
    """Weighted least-squares scale and min (clamped <= 0) for given levels, and their error.

    Returns (valid: the normal equations' determinant D > 0, scale, min, error), per group.
    """
    wl, tmp = bufs
    np.multiply(wT, cand, out=wl)
    sum_l = _colsum(wl)
    sum_l2 = _colsum(np.multiply(wl, cand, out=tmp))
    sum_xl = _colsum(np.multiply(wl, xT, out=tmp))
    D = sum_w * sum_l2 - sum_l * sum_l
    this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
    this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
    clamp = this_min > 0
    this_scale = np.where(clamp, sum_xl / sum_l2, this_scale)
    this_min = np.where(clamp, np.float32(0), this_min)
    return D > 0, this_scale, this_min, _weighted_error(this_scale, cand, this_min, xT, wT, tmp)


def _weighted_error(scale, L, mn, xT, wT, out) -> np.ndarray:
    """sum_i w_i * (scale * L_i + min - x_i)^2 per group, in C's order of operations."""
    np.multiply(L, scale, out=out)
    out += mn
    out -= xT
    np.square(out, out=out)
    out *= wT
    return _colsum(out)


def _colsum(a: np.ndarray) -> np.ndarray:
    return a.sum(axis=0, dtype=np.float32)


def _levels(iscale: np.ndarray, xT: np.ndarray, mn: np.ndarray, nmax: int, out: np.ndarray) -> np.ndarray:
    """clip(nearest_int(iscale * (x - min)), 0, nmax) per group into out, (n, N) float32."""
    np.subtract(xT, mn, out=out)
    out *= iscale
    np.rint(out, out=out)
    return np.clip(out, 0, nmax, out=out)


def make_qx_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric quantisation x ~ scale * (L - nmax), L in 0..2*nmax-1, weights x^2 (rmse_type 1).

    x: float32 (N, n). Returns (scale (N,), L uint8 (N, n)). Tries iscale = -nmax / max and
    -(nmax + 0.1 * is) / max for is = -9..9 (is != 0), where max is the signed value of largest
    magnitude, keeping the levels with the largest sumlx^2 / suml2 (least-squares scale). The
    candidates are independent of each other, so all of them are evaluated in one pass.
    """
    rows = np.arange(x.shape[0])
    signed_max = x[rows, np.argmax(np.abs(x), axis=1)]
    zero = np.abs(signed_max) < GROUP_MAX_EPS
    signed_max = np.where(zero, np.float32(1), signed_max)
    tries = np.array([0] + [i for i in range(-9, 10) if i != 0], dtype=np.float32)
    iscale = -(np.float32(nmax) + np.float32(0.1) * tries)[:, None] / signed_max[None, :]
    xT = np.ascontiguousarray(x.T)
    lk = np.multiply(iscale[:, None, :], xT[None], dtype=np.float32)  # (S, n, N)
    np.clip(np.rint(lk, out=lk), -nmax, nmax - 1, out=lk)
    wT = xT * xT
    sumlx = np.multiply(lk, (wT * xT)[None]).sum(axis=1, dtype=np.float32)  # sum (w*x)*l
    wl = np.multiply(lk, wT[None], dtype=np.float32)
    suml2 = np.multiply(wl, lk, out=wl).sum(axis=1, dtype=np.float32)  # sum (w*l)*l
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(suml2[0] > 0, sumlx[0] / suml2[0], np.float32(0))
        best = scale * sumlx[0]
        pick = np.zeros(x.shape[0], dtype=np.intp)
        for k in range(1, len(tries)):  # C's running comparison, ties keep the earlier one
            better = (suml2[k] > 0) & (sumlx[k] * sumlx[k] > best * suml2[k])
            pick = np.where(better, k, pick)
            scale = np.where(better, sumlx[k] / suml2[k], scale)
            best = np.where(better, scale * sumlx[k], best)
    L = (lk[pick, :, rows] + nmax).astype(np.uint8)  # (N, n)
    L[zero] = 0
    return np.where(zero, np.float32(0), scale).astype(np.float32), L
