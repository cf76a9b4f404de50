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

from backends.model.quants.base import QK_K, QuantType, f16_bits_to_f32, f32_to_f16_bytes
from backends.model.quants.search import GROUP_MAX_EPS, make_qx_quants, nearest_int

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

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        # quantize_row_q6_K_ref: make_qx_quants(16, 32, x, L, rmse_type 1) per sub-block, then
        # int8 scales relative to the signed largest-magnitude one, stored as -128.
        nb = blocks.shape[0]
        scales, L = make_qx_quants(blocks.reshape(nb * 16, 16), 32)
        scales, L = scales.reshape(nb, 16), L.reshape(nb, 16, 16)
        max_scale = scales[np.arange(nb), np.argmax(np.abs(scales), axis=1)]
        zero = np.abs(max_scale) < GROUP_MAX_EPS
        iscale = np.float32(-128) / np.where(zero, np.float32(1), max_scale)
        d16 = f32_to_f16_bytes((np.float32(1) / iscale)[:, None])
        sc = np.minimum(nearest_int(iscale[:, None] * scales), 127).astype(np.int8)
        d = (f16_bits_to_f32(d16) * sc.astype(np.float32))[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            requant = np.clip(nearest_int(blocks.reshape(nb, 16, 16) / d), -32, 31) + 32
        L = np.where(d != 0, requant, L).astype(np.uint8).reshape(nb, 2, 4, 32)
        out = np.concatenate([_pack_ql(L), _pack_qh(L), sc.view(np.uint8), d16], axis=1)
        out[zero] = 0  # an all-zero super-block is stored as zero bytes, d = 0
        return out


def _pack_ql(L: np.ndarray) -> np.ndarray:
    """Levels (nb, 2 halves, 4 quarters k, 32) -> ql (nb, 128): low nibbles of k=0,1; high of 2,3."""
    low = L & 0x0F
    return (low[:, :, 0:2] | (low[:, :, 2:4] << 4)).reshape(-1, 128)


def _pack_qh(L: np.ndarray) -> np.ndarray:
    """Levels (nb, 2, 4, 32) -> qh (nb, 64): bits 2k..2k+1 hold quarter k's top two bits."""
    return ((L >> 4) << _HIGH_SHIFT).sum(axis=2, dtype=np.uint8).reshape(-1, 64)
