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


@njit(cache=True)
def route_rows(logits, k, renormalise, ids, weights, probs):
    """backends.cpu.ops.route (softmax first) row by row: probs = softmax(logits[t]); ids[t] the
    k largest probs, descending, a tie to the lower index (the stable sort's order); weights[t]
    their probs, renormalised to sum 1 when asked. logits finite (the caller checks)."""
    E = logits.shape[1]
    taken = np.empty(E, np.bool_)
    for t in range(logits.shape[0]):
        row, p = logits[t], probs[t]
        top = row[0]
        for e in range(1, E):
            top = max(top, row[e])
        total = np.float32(0)
        for e in range(E):
            p[e] = np.exp(row[e] - top)
            total += p[e]
        for e in range(E):
            p[e] = p[e] / total
        taken[:] = False
        for j in range(k):
            best = -1
            for e in range(E):
                if not taken[e] and (best < 0 or p[e] > p[best]):
                    best = e
            taken[best] = True
            ids[t, j], weights[t, j] = best, p[best]
        if renormalise:
            s = np.float32(0)
            for j in range(k):
                s += weights[t, j]
            for j in range(k):
                weights[t, j] = weights[t, j] / s


@njit(cache=True)
def group_pairs(flat_ids, n_expert):
    """The (token, slot) pairs of flat_ids (T·k,) grouped by expert, a counting sort: order (the
    pairs, ascending expert, pair order kept within an expert: np.argsort(kind="stable")),
    experts (the distinct ids, ascending) and starts (len(experts) + 1 offsets into order)."""
    counts = np.zeros(n_expert, np.int64)
    for i in range(flat_ids.shape[0]):
        if not 0 <= flat_ids[i] < n_expert:  # no bounds checks below: stop here
            raise ValueError("group_pairs: an expert id is out of range")
        counts[flat_ids[i]] += 1
    used = 0
    for e in range(n_expert):
        used += counts[e] > 0
    experts = np.empty(used, np.int64)
    starts = np.empty(used + 1, np.int64)
    first = np.empty(n_expert, np.int64)  # next free place of each expert in order
    g, at = 0, 0
    for e in range(n_expert):
        if counts[e]:
            experts[g], starts[g], first[e] = e, at, at
            g += 1
            at += counts[e]
    starts[used] = at
    order = np.empty(flat_ids.shape[0], np.int64)
    for i in range(flat_ids.shape[0]):
        e = flat_ids[i]
        order[first[e]] = i
        first[e] += 1
    return order, experts, starts


@njit(cache=True)
def rope_rows(x, cos, sin, out):
    """backends.cpu.ops.rope_apply: x (T, heads, hd), cos/sin (T, 1, hd/2) -> out, the same
    float32 operations (no fastmath: no FMA contraction), so the same bits."""
    half = x.shape[2] // 2
    for t in range(x.shape[0]):
        c, s = cos[t, 0], sin[t, 0]
        for h in range(x.shape[1]):
            src, dst = x[t, h], out[t, h]
            for i in range(half):
                lo, hi = src[i], src[half + i]
                dst[i] = lo * c[i] - hi * s[i]
                dst[half + i] = hi * c[i] + lo * s[i]


@njit(cache=True)
def groups_fit(experts, starts, n_expert, n_inputs):
    """experts (G,) all in 0..n_expert-1 and starts (G + 1,) rising from 0 to n_inputs."""
    if starts.shape[0] != experts.shape[0] + 1 or starts[0] != 0 or starts[-1] != n_inputs:
        return False
    for g in range(experts.shape[0]):
        if experts[g] < 0 or experts[g] >= n_expert or starts[g + 1] < starts[g]:
            return False
    return True


@njit(cache=True)
def weighted_slots(grouped, order, weights, out):
    """out[t] = Σ_j weights[t, j] · grouped[row of pair t·k + j], j ascending from zeros, each
    product rounded before its add (numpy's `out += w * c`, no FMA): the same bits.
    grouped (T·k, H) in the order `order` lists the pairs."""
    k = weights.shape[1]
    row_of = np.full(order.shape[0], -1, np.int64)
    for i in range(order.shape[0]):
        if not 0 <= order[i] < order.shape[0] or row_of[order[i]] >= 0:
            raise ValueError("weighted_slots: order is not a permutation of the pairs")
        row_of[order[i]] = i
    for t in range(out.shape[0]):
        dst = out[t]
        dst[:] = 0
        for j in range(k):
            w, src = weights[t, j], grouped[row_of[t * k + j]]
            for i in range(dst.shape[0]):
                dst[i] = dst[i] + w * src[i]
