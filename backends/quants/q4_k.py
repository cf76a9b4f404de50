"""Q4_K: super-blocks of 256 values (8 sub-blocks of 32), 144 bytes (block_q4_K).

    byte   0..1    d       f16 super-scale for the sub-block scales
    byte   2..3    dmin    f16 super-scale for the sub-block mins
    byte   4..15   scales  6-bit S_j, M_j packed (see kscales.py)
    byte  16..143  qs      4 groups g of 32 bytes: low nibble = sub-block 2g, high = 2g+1

    value = (d * S_j) * q - dmin * M_j,   q in 0..15
"""

from __future__ import annotations

import numpy as np

from backends.quants.base import QK_K, QuantType, f16_bits_to_f32
from backends.quants.kscales import unpack_scale_min


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


class Q4_K(QuantType, qtype="Q4_K"):
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        scale, offset = sub_block_affine(blocks)
        q = unpack_nibbles(blocks[:, 16:]).astype(np.float32)
        return (scale * q - offset).reshape(-1, QK_K)
