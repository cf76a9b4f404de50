"""llama.cpp's activation quantisation, emulated: quantise then dequantise, as float32.

Before a quantized matmul, llama.cpp's CPU backend converts the f32 activation row to the
weight type's "vec_dot" partner: Q8_K blocks of 256 for K-quants, Q8_0 blocks of 32 for Q8_0.
Returning the dequantized values lets a float reference reproduce that rounding exactly.
"""

from __future__ import annotations

import numpy as np

from backends.model.quants.base import QK_K, QK8_0
from backends.model.quants.q8_0 import Q8_0
from backends.model.quants.search import nearest_int


def _blocks(x: np.ndarray, size: int, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 0 or x.shape[-1] % size:
        raise ValueError(
            f"{what}: row length {x.shape[-1] if x.ndim else 0} is not a multiple of the block size {size}"
        )
    return np.ascontiguousarray(x).reshape(-1, size)


def q8_K_roundtrip(x: np.ndarray) -> np.ndarray:
    """quantize_row_q8_K_ref then dequantize_row_q8_K on rows (..., n), n % 256 == 0.

    Per block: max = the signed value of largest magnitude (first one on ties),
    iscale = -127/max, q = min(127, nearest_int(iscale*x)) (half to even), d = 1/iscale as f32
    (not f16), value = d*q. An all-zero block stays zero.
    """
    b = _blocks(x, QK_K, "q8_K")
    rows = np.arange(b.shape[0])
    signed_max = b[rows, np.argmax(np.abs(b), axis=1)]
    zero = signed_max == 0
    iscale = (np.float32(-127) / np.where(zero, np.float32(1), signed_max))[:, None]
    q = np.minimum(nearest_int(iscale * b), np.float32(127))
    d = np.float32(1) / iscale
    out = np.where(zero[:, None], np.float32(0), d * q).astype(np.float32)
    return out.reshape(np.shape(x))


def q8_0_roundtrip(x: np.ndarray) -> np.ndarray:
    """quantize_row_q8_0_ref then dequantize_row_q8_0 on rows (..., n), n % 32 == 0.

    d = amax/127 stored as f16, q = roundf(x/d) (halves away from zero), value = f16(d)*q.
    """
    b = _blocks(x, QK8_0, "q8_0")
    return Q8_0.dequantize_blocks(Q8_0.quantize_blocks(b)).reshape(np.shape(x))
