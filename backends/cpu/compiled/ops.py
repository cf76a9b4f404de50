"""Compiled fast paths of the small ops in backends.cpu.ops (attention, RMSNorm), which stay
the numpy specification; tests/test_cpu_compiled_ops.py holds these to it.

Each works row by row (attention: query by query over exactly the keys it sees), so a token
gives the same bits in a prefill batch and alone in a decode step. Kept apart from kernels.py:
nothing here calls a decoder, so numba's per-file cache key cannot go stale (kernels.py says
why that matters).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(fastmath={"reassoc", "contract"}, cache=True)
def _dot(a, b):
    acc = np.float32(0)
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


@njit(cache=True)
def attend(q, keys, values, kv_map, offset, scale, out):
    """q (T, H, hd), keys (S, n_kv, hd), values (S, n_kv, hd_v) float32 -> out (T, H, hd_v).
    Query t sees keys 0..offset+t; scores scaled by `scale`, softmax in float32."""
    T, H = q.shape[0], q.shape[1]
    scores = np.empty(keys.shape[0], np.float32)
    for t in range(T):
        seen = offset + t + 1
        for h in range(H):
            g = kv_map[h]
            top = np.float32(-np.inf)
            for s in range(seen):
                scores[s] = _dot(q[t, h], keys[s, g]) * scale
                top = max(top, scores[s])
            total = np.float32(0)
            for s in range(seen):
                scores[s] = np.exp(scores[s] - top)
                total += scores[s]
            dst = out[t, h]
            dst[:] = 0
            for s in range(seen):
                p, v = scores[s] / total, values[s, g]
                for i in range(dst.shape[0]):
                    dst[i] += p * v[i]


@njit(fastmath={"reassoc", "contract"}, cache=True)
def _mean_square(x):
    acc = np.float32(0)
    for i in range(x.shape[0]):
        acc += x[i] * x[i]
    return acc / np.float32(x.shape[0])


@njit(cache=True)
def rms_norm_rows(x, w, eps, out):
    """out[r] = x[r] / sqrt(mean(x[r]²) + eps) * w for each row r of x (rows, n) float32."""
    for r in range(x.shape[0]):
        rms = np.sqrt(_mean_square(x[r]) + eps)
        src, dst = x[r], out[r]
        for i in range(src.shape[0]):
            dst[i] = (src[i] / rms) * w[i]
