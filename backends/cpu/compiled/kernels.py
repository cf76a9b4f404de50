"""The compiled kernels of the CPU reference, in one module on purpose: numba's on-disk cache
(cache=True) keys each function on its own source file only, so a kernel calling a decoder in
another file would keep running a stale decoder after an edit.

Row decoders, one per GGML type: raw bytes of one row -> float32, bit for bit equal to
backends.model.quants.dequantize (the readable specification; tests/test_cpu_compiled.py). Each
writes `nblocks` blocks of `row` into `out` with the codec's float32 operations in the codec's
order (no fastmath: no FMA contraction, no reassociation), indexing with non-negative offsets
(no wrap checks) so LLVM vectorises the loops (the comment above the decoders says why no
slices and no integer bit fields). f16 scales are read through a 65,536-entry
table built by numpy's exact f16 -> f32 cast (F16_TABLE). Block layouts: the docstrings of
backends/model/quants/q4_k.py, q5_k.py, q6_k.py, q8_0.py.

The lazy matmul, out[t, r] = row r of W · x[t]: each task decodes GROUP rows at a time into a
buffer of float32 (a few KB, in L1) and takes their dot products with every input vector of the
batch (`dot4`: each vector is read once per GROUP rows, which is what makes prefill fast), so a
prefill decodes each row once per batch and no dequantized matrix exists. Every (row, token)
dot product is computed by one thread with one compiled loop, row r always in slot r % GROUP,
whatever the batch size, the thread count, or whether the serial or the parallel driver ran: the
same token gives the same bits alone in a decode step, in a prefill batch, and on 1 or N threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# every f16 bit pattern -> its float32 value (numpy's cast is exact, as ggml's FP16_TO_FP32)
F16_TABLE = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)

# the `qcode` argument of decode_row; backends.cpu.compiled.QCODES maps type names to these
F32, F16, BF16, Q8_0, Q4_K, Q5_K, Q6_K = range(7)


@njit(cache=True)
def _f16(row, i, table):
    return table[np.int64(row[i]) | (np.int64(row[i + 1]) << 8)]


@njit(cache=True)
def _scale_min(row, o, j):
    """get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 bytes at row[o:]."""
    if j < 4:
        return np.int64(row[o + j]) & 63, np.int64(row[o + j + 4]) & 63
    sc = (np.int64(row[o + j + 4]) & 15) | ((np.int64(row[o + j - 4]) >> 6) << 4)
    mn = (np.int64(row[o + j + 4]) >> 4) | ((np.int64(row[o + j]) >> 6) << 4)
    return sc, mn


# The decoders index the row and the output directly: a numba slice is an array object built at
# run time, and three of them per 32 values cost more than the values' arithmetic (measured on
# a 512x512 Q4_K matrix, this 2-core VM: 37 us with slices, 23 us without; Q6_K 2048x512 268 ->
# 164 us). Bit fields are split on the float side, floor(f / 16) and f - 16 * floor(f / 16) of
# an exact small integer f: numba widens integer arithmetic on bytes to int64, whose conversion
# to float vectorises 8 lanes wide instead of 16. Every split is exact, so the bits are the codec's.
_SIXTEENTH, _SIXTEEN = np.float32(0.0625), np.float32(16)


@njit(cache=True)
def _q4_k(row, nblocks, table, out):
    # byte i of group g holds value i of sub-block 2g (low nibble) and of 2g+1 (high nibble).
    for b in range(nblocks):
        o, v = b * 144, b * 256
        d, dmin = _f16(row, o, table), _f16(row, o + 2, table)
        for g in range(4):
            sc0, mn0 = _scale_min(row, o + 4, 2 * g)
            sc1, mn1 = _scale_min(row, o + 4, 2 * g + 1)
            s0, m0 = d * np.float32(sc0), dmin * np.float32(mn0)
            s1, m1 = d * np.float32(sc1), dmin * np.float32(mn1)
            qs, dst = o + 16 + 32 * g, v + 64 * g
            for i in range(32):
                f = np.float32(row[qs + i])
                hi = np.floor(f * _SIXTEENTH)
                out[dst + i] = s0 * (f - _SIXTEEN * hi) - m0
                out[dst + 32 + i] = s1 * hi - m1


@njit(cache=True)
def _q5_k(row, nblocks, table, out):
    # as Q4_K, plus bit j of qh[i] as the fifth bit of value i of sub-block j
    half = np.float32(0.5)
    for b in range(nblocks):
        o, v = b * 176, b * 256
        d, dmin = _f16(row, o, table), _f16(row, o + 2, table)
        for g in range(4):
            sc0, mn0 = _scale_min(row, o + 4, 2 * g)
            sc1, mn1 = _scale_min(row, o + 4, 2 * g + 1)
            s0, m0 = d * np.float32(sc0), dmin * np.float32(mn0)
            s1, m1 = d * np.float32(sc1), dmin * np.float32(mn1)
            qs, dst = o + 48 + 32 * g, v + 64 * g
            below = np.float32(1 << (2 * g))  # qh[i] / below: bits 2g and up
            for i in range(32):
                f = np.float32(row[qs + i])
                hi = np.floor(f * _SIXTEENTH)
                bits = np.floor(np.float32(row[o + 16 + i]) / below)
                up = np.floor(bits * half)
                b0, b1 = bits - up - up, up - np.float32(2) * np.floor(up * half)
                out[dst + i] = s0 * (f - _SIXTEEN * hi + _SIXTEEN * b0) - m0
                out[dst + 32 + i] = s1 * (hi + _SIXTEEN * b1) - m1


@njit(cache=True)
def _q6_k(row, nblocks, table, out):
    # Value 32k + l of half h: low nibble of ql[64h + l + 32(k&1)] (high nibble for k >= 2),
    # bits 2k..2k+1 of qh[32h + l]; its int8 scale is scales[8h + 2k + l // 16].
    quarter, four, m32 = np.float32(0.25), np.float32(4), np.float32(32)
    for b in range(nblocks):
        o, v = b * 210, b * 256
        d = _f16(row, o + 208, table)
        for h in range(2):
            ql, qh, sc, dst = o + 64 * h, o + 128 + 32 * h, o + 192 + 8 * h, v + 128 * h
            for half in range(2):
                s0 = d * np.float32(np.int8(row[sc + half]))
                s1 = d * np.float32(np.int8(row[sc + 2 + half]))
                s2 = d * np.float32(np.int8(row[sc + 4 + half]))
                s3 = d * np.float32(np.int8(row[sc + 6 + half]))
                for l in range(16 * half, 16 * half + 16):
                    fa, fc = np.float32(row[ql + l]), np.float32(row[ql + l + 32])
                    ah, ch = np.floor(fa * _SIXTEENTH), np.floor(fc * _SIXTEENTH)
                    fh = np.float32(row[qh + l])  # four 2-bit fields, low to high
                    r1 = np.floor(fh * quarter)
                    r2 = np.floor(r1 * quarter)
                    r3 = np.floor(r2 * quarter)
                    out[dst + l] = s0 * ((fa - _SIXTEEN * ah) + _SIXTEEN * (fh - four * r1) - m32)
                    out[dst + 32 + l] = s1 * ((fc - _SIXTEEN * ch) + _SIXTEEN * (r1 - four * r2) - m32)
                    out[dst + 64 + l] = s2 * (ah + _SIXTEEN * (r2 - four * r3) - m32)
                    out[dst + 96 + l] = s3 * (ch + _SIXTEEN * r3 - m32)


@njit(cache=True)
def _q8_0(row, nblocks, table, out):
    for b in range(nblocks):
        o, v = b * 34, b * 32
        d = _f16(row, o, table)
        for i in range(32):
            out[v + i] = np.float32(np.int8(row[o + 2 + i])) * d


@njit(cache=True)
def _words(row, n, width, shift, out_bits):
    """Little-endian words of `width` bytes, shifted left by `shift`, as float32 bit patterns."""
    for i in range(n):
        w = np.uint32(0)
        for k in range(width):
            w |= np.uint32(row[width * i + k]) << np.uint32(8 * k)
        out_bits[i] = w << np.uint32(shift)


@njit(cache=True)
def decode_row(qcode, row, nblocks, table, out):
    """Decode the first `nblocks` blocks of one row's bytes into out[:nblocks * block size]."""
    if qcode == Q4_K:
        _q4_k(row, nblocks, table, out)
    elif qcode == Q6_K:
        _q6_k(row, nblocks, table, out)
    elif qcode == Q5_K:
        _q5_k(row, nblocks, table, out)
    elif qcode == Q8_0:
        _q8_0(row, nblocks, table, out)
    elif qcode == F32:
        _words(row, nblocks, 4, 0, out.view(np.uint32))
    elif qcode == BF16:
        _words(row, nblocks, 2, 16, out.view(np.uint32))
    else:  # F16
        for i in range(nblocks):
            out[i] = _f16(row, 2 * i, table)


@njit(cache=True)
def decode_rows_at(qcode, raw, ids, nblocks, table, out):
    """Rows ids of raw (rows, row_bytes) decoded into out (len(ids), width): the embedding lookup."""
    for i in range(ids.shape[0]):
        decode_row(qcode, raw[ids[i]], nblocks, table, out[i])


ROWS_PER_TASK = 8  # rows decoded per parallel task: amortises the buffer allocation
GROUP = 4  # rows dotted together: each input vector is read once per GROUP rows


@njit(fastmath={"reassoc", "contract"}, cache=True)
def dot4(w, x, n):
    """Σ w[k, i]·x[i], i < n, for the GROUP rows of w at once (x read once, not GROUP times).
    reassoc lets LLVM vectorise; the order depends only on n, k and this compiled function."""
    a0 = a1 = a2 = a3 = np.float32(0)
    w0, w1, w2, w3 = w[0], w[1], w[2], w[3]
    for i in range(n):
        xi = x[i]
        a0 += w0[i] * xi
        a1 += w1[i] * xi
        a2 += w2[i] * xi
        a3 += w3[i] * xi
    return a0, a1, a2, a3


@njit(cache=True)
def rows_task(raw, qcode, nblocks, xs, t0, t1, table, out, r0, r1, buf):
    """Rows r0..r1-1 (r0 a multiple of GROUP): decode GROUP rows into buf (GROUP, width), then
    one dot4 per input vector xs[t0:t1]. Row r always sits in slot r % GROUP, so its dot is the
    same whatever the batch, the task split or the thread count."""
    n = xs.shape[1]
    for g0 in range(r0, r1, GROUP):
        m = min(GROUP, r1 - g0)
        for k in range(m):
            decode_row(qcode, raw[g0 + k], nblocks, table, buf[k])
        if m < GROUP:  # a short last group: the unused slots (uninitialised) are dotted, then discarded
            buf[m:] = 0
        for t in range(t0, t1):
            d = dot4(buf, xs[t], n)
            for k in range(m):
                out[t, g0 + k] = d[k]


@njit(parallel=True, cache=True)
def matmul_parallel(raw, qcode, nblocks, width, xs, table, out):
    """raw: uint8 (rows, row_bytes); xs: float32 (T, n); out: float32 (T, rows). The first
    nblocks blocks of each row are decoded (width >= n values) and the first n used."""
    rows = raw.shape[0]
    for task in prange((rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        r0 = task * ROWS_PER_TASK
        rows_task(
            raw,
            qcode,
            nblocks,
            xs,
            0,
            xs.shape[0],
            table,
            out,
            r0,
            min(rows, r0 + ROWS_PER_TASK),
            np.empty((GROUP, width), np.float32),
        )


@njit(cache=True)
def matmul_serial(raw, qcode, nblocks, width, xs, table, out):
    """matmul_parallel on the calling thread (small matrices: no thread-pool round trip)."""
    rows_task(
        raw, qcode, nblocks, xs, 0, xs.shape[0], table, out, 0, raw.shape[0], np.empty((GROUP, width), np.float32)
    )


@njit(parallel=True, cache=True)
def matmuls_parallel(raws, qcodes, nblocks, width, xss, table, outs):
    """matmul_parallel for several matrices in one parallel region (q, k and v of a layer):
    outs[i] = xss[i] times the rows of raws[i] (tuples), each row by rows_task as alone."""
    n_mats = len(raws)
    first = np.zeros(n_mats + 1, np.int64)  # first task of each matrix
    for i in range(n_mats):
        first[i + 1] = first[i] + (raws[i].shape[0] + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for task in prange(first[n_mats]):
        i = 0
        while task >= first[i + 1]:
            i += 1
        raw, xs = raws[i], xss[i]
        r0 = (task - first[i]) * ROWS_PER_TASK
        rows_task(
            raw,
            qcodes[i],
            nblocks[i],
            xs,
            0,
            xs.shape[0],
            table,
            outs[i],
            r0,
            min(raw.shape[0], r0 + ROWS_PER_TASK),
            np.empty((GROUP, width), np.float32),
        )


@njit(parallel=True, cache=True)
def experts_parallel(raw3, experts, starts, qcode, nblocks, width, xs, table, out):
    """Several experts of a 3-D tensor in one parallel region: inputs xs[starts[g]:starts[g+1]]
    go through expert experts[g] (raw3: uint8 (E, rows, row_bytes)); out: (len(xs), rows)."""
    rows = raw3.shape[1]
    chunks = (rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for task in prange(experts.shape[0] * chunks):
        g, r0 = task // chunks, (task % chunks) * ROWS_PER_TASK
        rows_task(
            raw3[experts[g]],
            qcode,
            nblocks,
            xs,
            starts[g],
            starts[g + 1],
            table,
            out,
            r0,
            min(rows, r0 + ROWS_PER_TASK),
            np.empty((GROUP, width), np.float32),
        )


@njit(cache=True)
def experts_serial(raw3, experts, starts, qcode, nblocks, width, xs, table, out):
    """experts_parallel on the calling thread."""
    buf = np.empty((GROUP, width), np.float32)
    for g in range(experts.shape[0]):
        rows_task(raw3[experts[g]], qcode, nblocks, xs, starts[g], starts[g + 1], table, out, 0, raw3.shape[1], buf)


@njit(cache=True)
def swiglu_task(raw_g, raw_u, qg, qu, nbg, nbu, xg, xu, t0, t1, table, out, r0, r1, bufg, bufu):
    """Rows r0..r1-1 of gate and up: out[t, r] = silu(gate_r · xg[t]) · (up_r · xu[t]); each
    dot is rows_task's, so gate and up give the bits of two separate matmuls."""
    n = xg.shape[1]
    one = np.float32(1)
    for g0 in range(r0, r1, GROUP):
        m = min(GROUP, r1 - g0)
        for k in range(m):
            decode_row(qg, raw_g[g0 + k], nbg, table, bufg[k])
            decode_row(qu, raw_u[g0 + k], nbu, table, bufu[k])
        if m < GROUP:  # as rows_task
            bufg[m:] = 0
            bufu[m:] = 0
        for t in range(t0, t1):
            gs, us = dot4(bufg, xg[t], n), dot4(bufu, xu[t], n)
            for k in range(m):
                out[t, g0 + k] = (gs[k] / (one + np.exp(-gs[k]))) * us[k]


@njit(parallel=True, cache=True)
def swiglu_experts_parallel(raw_g3, raw_u3, experts, starts, qg, qu, nbg, nbu, width, xg, xu, table, out):
    """experts_parallel for gate and up at once, SwiGLU applied: one parallel region."""
    rows = raw_g3.shape[1]
    chunks = (rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK
    for task in prange(experts.shape[0] * chunks):
        g, r0 = task // chunks, (task % chunks) * ROWS_PER_TASK
        e = experts[g]
        swiglu_task(
            raw_g3[e],
            raw_u3[e],
            qg,
            qu,
            nbg,
            nbu,
            xg,
            xu,
            starts[g],
            starts[g + 1],
            table,
            out,
            r0,
            min(rows, r0 + ROWS_PER_TASK),
            np.empty((GROUP, width), np.float32),
            np.empty((GROUP, width), np.float32),
        )


@njit(cache=True)
def swiglu_experts_serial(raw_g3, raw_u3, experts, starts, qg, qu, nbg, nbu, width, xg, xu, table, out):
    """swiglu_experts_parallel on the calling thread."""
    bufg, bufu = (np.empty((GROUP, width), np.float32), np.empty((GROUP, width), np.float32))
    for g in range(experts.shape[0]):
        e = experts[g]
        swiglu_task(
            raw_g3[e],
            raw_u3[e],
            qg,
            qu,
            nbg,
            nbu,
            xg,
            xu,
            starts[g],
            starts[g + 1],
            table,
            out,
            0,
            raw_g3.shape[1],
            bufg,
            bufu,
        )
