"""Q8_0: blocks of 32 values, 34 bytes (ggml-common.h block_q8_0).

byte  0..1   d      f16 scale
byte  2..33  qs[32] int8,  value i = d * qs[i]
"""

from __future__ import annotations

import numpy as np

from backends.model.quants.base import QuantType, f16_bits_to_f32, f32_to_f16_bytes


def round_away(x: np.ndarray) -> np.ndarray:
    """C roundf (halves away from zero), exact in float32: |x| - floor(|x|) is exact."""
    a = np.abs(x)
    f = np.floor(a)
    return np.copysign(f + (a - f >= 0.5), x).astype(np.float32)


class Q8_0(QuantType, qtype="Q8_0"):
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        d = f16_bits_to_f32(blocks[:, :2])
        return blocks[:, 2:].view(np.int8).astype(np.float32) * d

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        # quantize_row_q8_0_ref: d = amax/127 (f32), id = 1/d, q = roundf(x*id), d stored as f16
        d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)
        with np.errstate(divide="ignore"):
            inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
        qs = round_away(blocks * inv).astype(np.int8).view(np.uint8)
        return np.concatenate([f32_to_f16_bytes(d), qs], axis=1)
