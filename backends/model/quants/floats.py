"""Plain float storage types: F32, F16, BF16 (one value per "block")."""

from __future__ import annotations

import numpy as np

from backends.model.quants.base import QuantType


class F32(QuantType, qtype="F32"):
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return blocks.view(np.float32)

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return blocks.astype(np.float32).view(np.uint8)


class F16(QuantType, qtype="F16"):
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return blocks.view(np.float16).astype(np.float32)

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        # numpy's cast rounds to nearest even and overflows to inf, as GGML_FP32_TO_FP16
        return blocks.astype(np.float16).view(np.uint8)


class BF16(QuantType, qtype="BF16"):
    # bf16 is the top half of an f32:  f32 bits = bf16 bits << 16
    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        return (blocks.view(np.uint16).astype(np.uint32) << np.uint32(16)).view(np.float32)

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        # ggml_compute_fp32_to_bf16: NaN forced quiet (keep sign and top mantissa, set bit 22),
        # everything else rounded to nearest even by adding 0x7fff + lsb before truncating.
        n = blocks.astype(np.float32).view(np.uint32).astype(np.uint64)
        is_nan = (n & 0x7FFFFFFF) > 0x7F800000
        quiet = (n & 0xFFFF0000) | (64 << 16)
        rounded = n + (0x7FFF + ((n >> 16) & 1))
        return (np.where(is_nan, quiet, rounded) >> 16).astype(np.uint16).view(np.uint8)
