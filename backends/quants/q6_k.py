"""Q6_K: super-blocks of 256 values (16 sub-blocks of 16), 210 bytes (block_q6_K).

    byte    0..127  ql      low 4 bits, two halves of 64 bytes
    byte  128..191  qh      high 2 bits, two halves of 32 bytes
    byte  192..207  scales  int8 sub-block scales
    byte  208..209  d       f16 (last, so blocks are not 4-byte aligned)

    In half h (values 128h..128h+127), value 32k + l (k = 0..3, l = 0..31) is
        low  = ql[64h + l + 32*(k & 1)] >> (4 * (k >> 1)) & 0xF
        high = qh[32h + l] >> (2k) & 3
    value = (d * scale_j) * (low | high << 4  - 32),  j = value index // 16
"""

from __future__ import annotations

import numpy as np

from backends.quants.base import QK_K, QuantType, f16_bits_to_f32

_LOW_SHIFT = np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
_HIGH_SHIFT = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)


class Q6_K(QuantType, qtype="Q6_K"):
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        nb = blocks.shape[0]
        scales = blocks[:, 192:208].view(np.int8).astype(np.float32)
        d = f16_bits_to_f32(blocks[:, 208:210])
        scale = (d * scales).reshape(nb, 16, 1)
        low = ((blocks[:, 0:128].reshape(nb, 2, 1, 64) >> _LOW_SHIFT) & 0x0F).reshape(nb, 8, 32)
        high = ((blocks[:, 128:192].reshape(nb, 2, 1, 32) >> _HIGH_SHIFT) & 3).reshape(nb, 8, 32)
        q = ((low | (high << 4)).astype(np.int8) - np.int8(32)).astype(np.float32)
        return (scale * q.reshape(nb, 16, 16)).reshape(nb, QK_K)
