"""Q4_K: super-blocks of 256 values (8 sub-blocks of 32), 144 bytes (block_q4_K).

byte   0..1    d       f16 super-scale for the sub-block scales
byte   2..3    dmin    f16 super-scale for the sub-block mins
byte   4..15   scales  6-bit S_j, M_j packed (see kscales.py)
byte  16..143  qs      4 groups g of 32 bytes: low nibble = sub-block 2g, high = 2g+1

value = (d * S_j) * q - dmin * M_j,   q in 0..15
"""

from __future__ import annotations

import numpy as np

from backends.model.quants.base import QK_K, QuantType, f16_bits_to_f32, f32_to_f16_bytes
from backends.model.quants.kscales import pack_scale_min, unpack_scale_min
from backends.model.quants.search import make_qkx2_quants, nearest_int


def sub_block_affine(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Header of a Q4_K/Q5_K block -> (d*S_j, dmin*M_j), f32 (nb, 8, 1), gguf-py's op order."""
    nb = blocks.shape[0]
    d = f16_bits_to_f32(blocks[:, 0:2])
    dmin = f16_bits_to_f32(blocks[:, 2:4])
    sc, mn = unpack_scale_min(blocks[:, 4:16])
    scale = (d * sc.astype(np.float32)).reshape(nb, 8, 1)
    offset = (dmin * mn.astype(np.float32)).reshape(nb, 8, 1)
    return scale, offset


def unpack_nibbles(qs: np.ndarray) -> np.ndarray:
    """uint8 (nb, 128) -> uint8 (nb, 8, 32): group g's low nibbles then its high nibbles."""
    groups = qs.reshape(qs.shape[0], 4, 1, 32)
    return np.concatenate([groups & 0x0F, groups >> 4], axis=2).reshape(-1, 8, 32)


def pack_nibbles(L: np.ndarray) -> np.ndarray:
    """Inverse of unpack_nibbles: levels (nb, 8, 32) in 0..15 -> uint8 (nb, 128)."""
    pairs = L.reshape(L.shape[0], 4, 2, 32)
    return (pairs[:, :, 0] | (pairs[:, :, 1] << 4)).reshape(-1, 128)


def _six_bit(values: np.ndarray, top: np.ndarray) -> np.ndarray:
    """C's `uint8_t l = nearest_int(63/top * v); l = MIN(63, l)` (uint8 wrap included)."""
    inv = np.where(top > 0, np.float32(63) / np.where(top > 0, top, 1), np.float32(0))
    return np.minimum(nearest_int(inv[:, None] * values).astype(np.int64) & 0xFF, 63)


def quantize_affine(blocks: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int):
    """quantize_row_q4_K_ref / q5_K_ref without the bit packing.

    blocks: float32 (nb, 256). Returns (header uint8 (nb, 16) = d, dmin, packed scales;
    levels uint8 (nb, 8, 32) in 0..nmax).
    """
    nb = blocks.shape[0]
    x = blocks.reshape(nb * 8, 32)
    # summed down the columns of a C-ordered (32, groups) array: in C's order, not pairwise
    sum_x2 = np.square(np.ascontiguousarray(x.T)).sum(axis=0, dtype=np.float32)
    av_x = np.sqrt(sum_x2 / np.float32(32))
    weights = av_x[:, None] + np.abs(x)
    scales, mins, L = make_qkx2_quants(x, weights, nmax, rmin, rdelta, nstep)
    scales, mins = scales.reshape(nb, 8), mins.reshape(nb, 8)
    max_scale = np.maximum(scales.max(axis=1), np.float32(0))
    max_min = np.maximum(mins.max(axis=1), np.float32(0))
    ls, lm = _six_bit(scales, max_scale), _six_bit(mins, max_min)
    d16 = f32_to_f16_bytes((max_scale / np.float32(63))[:, None])
    dmin16 = f32_to_f16_bytes((max_min / np.float32(63))[:, None])
    # re-quantise every value against the rounded (f16 x 6-bit) scale and min actually stored
    d = (f16_bits_to_f32(d16) * ls.astype(np.float32))[:, :, None]
    dm = (f16_bits_to_f32(dmin16) * lm.astype(np.float32))[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        requant = np.clip(nearest_int((blocks.reshape(nb, 8, 32) + dm) / d), 0, nmax)
    L = np.where(d != 0, requant, L.reshape(nb, 8, 32)).astype(np.uint8)
    return np.concatenate([d16, dmin16, pack_scale_min(ls, lm)], axis=1), L


class Q4_K(QuantType, qtype="Q4_K"):
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        scale, offset = sub_block_affine(blocks)
        q = unpack_nibbles(blocks[:, 16:]).astype(np.float32)
        return (scale * q - offset).reshape(-1, QK_K)

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        # quantize_row_q4_K_ref: make_qkx2_quants(32, 15, ..., rmin -1, rdelta 0.1, nstep 20)
        header, L = quantize_affine(blocks, 15, -1.0, 0.1, 20)
        return np.concatenate([header, pack_nibbles(L)], axis=1)
