"""Q5_K: super-blocks of 256 values (8 sub-blocks of 32), 176 bytes (block_q5_K).

byte   0..1    d       f16
byte   2..3    dmin    f16
byte   4..15   scales  6-bit S_j, M_j packed (see kscales.py)
byte  16..47   qh      bit j of qh[i] = fifth bit of value i of sub-block j
byte  48..175  qs      low 4 bits, nibble layout as Q4_K

value = (d * S_j) * q - dmin * M_j,   q = low | fifth << 4 in 0..31
"""

from __future__ import annotations

import numpy as np

from backends.model.quants.base import QK_K, QuantType
from backends.model.quants.q4_k import pack_nibbles, quantize_affine, sub_block_affine, unpack_nibbles

_BIT = np.arange(8, dtype=np.uint8).reshape(1, 8, 1)


class Q5_K(QuantType, qtype="Q5_K"):
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        scale, offset = sub_block_affine(blocks)
        fifth = (blocks[:, 16:48].reshape(-1, 1, 32) >> _BIT) & 1
        q = (unpack_nibbles(blocks[:, 48:]) | (fifth << 4)).astype(np.float32)
        return (scale * q - offset).reshape(-1, QK_K)

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        # quantize_row_q5_K_ref: make_qkx2_quants(32, 31, ..., rmin -0.5, rdelta 0.1, nstep 15)
        header, L = quantize_affine(blocks, 31, -0.5, 0.1, 15)
        qh = ((L >> 4) << _BIT).sum(axis=1, dtype=np.uint8)  # bits of distinct j never collide
        return np.concatenate([header, qh, pack_nibbles(L & 0x0F)], axis=1)
