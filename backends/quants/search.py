"""Vectorised scale searches of llama.cpp's reference K-quantizers (ggml-quants.c).

Each function handles N independent groups at once (rows of a 2-D array) and evaluates every
candidate scale of the C loop in one pass over an (S candidates, n, N) array of levels, then
keeps the first best candidate, which is what the C loop's strict "better than the best so far"
test selects. Candidate levels are computed as rint(factor_s * u) with u = x / range per group,
so every numpy pass runs over long contiguous rows; C computes (factor_s / range) * x, which can
differ in the last bit and, rarely, put a value on the other side of a rounding tie. Sums run in
float32 as in C but in another order. The quantisation error reached is the same as llama.cpp's.
"""

from __future__ import annotations

import numpy as np

GROUP_MAX_EPS = np.float32(1e-15)  # ggml-quants.c: a group with max |x| below this is all zero


def nearest_int(x: np.ndarray) -> np.ndarray:
    """ggml's nearest_int (adds 1.5 * 2^23): round half to even, as np.rint on float32."""
    return np.rint(x)


def _rowsum(a: np.ndarray) -> np.ndarray:
    return a.sum(axis=-1, dtype=np.float32)


def candidate_levels(factors: np.ndarray, u: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """clip(nearest_int(factors[s] * u[g, i]), lo, hi) -> float32 (S, n, N).

    Laid out with the group axis innermost, so each pass (and the sums over i below) runs over
    long contiguous rows instead of many 16- or 32-value ones.
    """
    out = np.multiply(factors.reshape(-1, 1, 1), np.ascontiguousarray(u.T)[None],
                      dtype=np.float32)
    np.rint(out, out=out)
    return np.clip(out, lo, hi, out=out)


def weighted_sums(levels: np.ndarray, *weights: np.ndarray) -> list[np.ndarray]:
    """For each weight array v (N, n): sum_i levels[s, i, g] * v[g, i] -> (N, S) float32."""
    out = []
    for v in weights:
        prod = np.multiply(levels, np.ascontiguousarray(v.T)[None], dtype=np.float32)
        out.append(prod.sum(axis=1, dtype=np.float32).T)
    return out


def make_qkx2_quants(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float,
                     nstep: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Affine quantisation x ~ scale * L - the_min, L in 0..nmax, weighted least squares.

    x, w: float32 (N, n). Returns (scale (N,), the_min (N,) >= 0, L uint8 (N, n)).
    Tries iscale = nmax / (max - min), then (nmax + rmin + rdelta * is) / (max - min) for
    is = 0..nstep, each with the least-squares scale and min for its levels (min clamped <= 0).
    """
    mn = np.minimum(x.min(axis=1), np.float32(0))
    span = x.max(axis=1) - mn
    flat = span == 0
    span = np.where(flat, np.float32(1), span)
    xm = x - mn[:, None]
    sum_w, sum_x, sum_x2 = _rowsum(w), _rowsum(w * x), _rowsum(w * x * x)

    # the plain min/max scale, kept unless a candidate has a strictly smaller weighted error
    iscale0 = np.float32(nmax) / span
    L0 = np.clip(nearest_int(iscale0[:, None] * xm), 0, nmax)
    scale0 = np.float32(1) / iscale0
    err0 = _rowsum(w * np.square(scale0[:, None] * L0 + mn[:, None] - x))

    steps = (np.float32(rmin) + np.float32(rdelta) * np.arange(nstep + 1, dtype=np.float32)
             + np.float32(nmax))
    Lk = candidate_levels(steps, xm / span[:, None], 0, nmax)             # (S, n, N)
    sum_l, sum_xl = weighted_sums(Lk, w, w * x)
    sum_l2, = weighted_sums(np.square(Lk, out=Lk), w)  # Lk now holds squares: reuse no further
    D = sum_w[:, None] * sum_l2 - sum_l * sum_l
    ok = D > 0
    D = np.where(ok, D, np.float32(1))
    scale = (sum_w[:, None] * sum_xl - sum_x[:, None] * sum_l) / D
    the_min = (sum_l2 * sum_x[:, None] - sum_l * sum_xl) / D
    clamp = the_min > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(clamp, sum_xl / sum_l2, scale)
    the_min = np.where(clamp, np.float32(0), the_min)
    sums = (sum_w, sum_x, sum_x2, sum_l, sum_l2, sum_xl)
    err = np.where(ok, _weighted_sq_error(scale, the_min, *sums), np.inf)

    pick = np.argmin(np.concatenate([err0[:, None], err], axis=1), axis=1)  # 0 = initial
    rows = np.arange(x.shape[0])
    cand = np.maximum(pick - 1, 0)
    keep0 = (pick == 0) | flat
    best_scale = np.where(keep0, scale0, scale[rows, cand])
    best_min = np.where(keep0, mn, the_min[rows, cand])
    L = np.where(keep0[:, None], L0, _levels_of(steps[cand], xm / span[:, None], 0, nmax))
    best_scale = np.where(flat, np.float32(0), best_scale)
    L = np.where(flat[:, None], 0, L)
    return best_scale.astype(np.float32), (-best_min).astype(np.float32), L.astype(np.uint8)


def _levels_of(factor: np.ndarray, u: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The chosen candidate's levels, recomputed per group exactly as candidate_levels did."""
    return np.clip(np.rint(np.multiply(factor[:, None], u, dtype=np.float32)), lo, hi)


def _weighted_sq_error(scale, the_min, sum_w, sum_x, sum_x2, sum_l, sum_l2, sum_xl):
    """sum_i w_i (scale * l_i + min - x_i)^2 expanded into the weighted sums (in float64, as
    the expansion cancels), so the (S, n, N) levels need no further pass."""
    s, m = scale.astype(np.float64), the_min.astype(np.float64)
    sw, sx, sxx = (v.astype(np.float64)[:, None] for v in (sum_w, sum_x, sum_x2))
    return (s * s * sum_l2 + 2 * s * m * sum_l - 2 * s * sum_xl
            + m * m * sw - 2 * m * sx + sxx)


def make_qx_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric quantisation x ~ scale * (L - nmax), L in 0..2*nmax-1, weights x^2 (rmse_type 1).

    x: float32 (N, n). Returns (scale (N,), L uint8 (N, n)). Tries iscale = -nmax / max and
    -(nmax + 0.1 * is) / max for is = -9..9 (is != 0), where max is the signed value of largest
    magnitude, keeping the levels that maximise sumlx^2 / suml2 (least-squares scale).
    """
    rows = np.arange(x.shape[0])
    signed_max = x[rows, np.argmax(np.abs(x), axis=1)]
    zero = np.abs(signed_max) < GROUP_MAX_EPS
    u = x / -np.where(zero, np.float32(1), signed_max)[:, None]
    tries = np.array([0] + [i for i in range(-9, 10) if i != 0], dtype=np.float32)
    factors = np.float32(nmax) + np.float32(0.1) * tries
    lk = candidate_levels(factors, u, -nmax, nmax - 1)                   # (S, n, N)
    w = x * x
    sumlx, = weighted_sums(lk, w * x)
    suml2, = weighted_sums(np.square(lk, out=lk), w)
    pos = suml2 > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(pos, sumlx / suml2, np.float32(0))
    merit = scale * sumlx
    merit[:, 1:] = np.where(pos[:, 1:], merit[:, 1:], -np.inf)
    pick = np.argmax(merit, axis=1)
    L = (_levels_of(factors[pick], u, -nmax, nmax - 1) + nmax).astype(np.uint8)
    L[zero] = 0
    return np.where(zero, np.float32(0), scale[rows, pick]).astype(np.float32), L
