"""Block table and the registry of quant types (one class per type, gguf-py `gguf/quants.py` style).

A codec class declares its type with a class keyword, `class Q4_K(QuantType, qtype="Q4_K")`; block
and byte sizes come from the one table below, never from the class body.
"""

from __future__ import annotations

import numpy as np

from backends.model.errors import UnsupportedQuantType

QK_K = 256  # values per K-quant super-block (ggml-common.h)
QK8_0 = 32  # values per Q8_0 block

# qtype -> (values per block, bytes per block); same figures as gguf.constants.GGML_QUANT_SIZES.
BLOCK_TABLE: dict[str, tuple[int, int]] = {
    "F32": (1, 4),
    "F16": (1, 2),
    "BF16": (1, 2),
    "Q8_0": (QK8_0, 2 + QK8_0),
    "Q4_K": (QK_K, 2 + 2 + 12 + QK_K // 2),
    "Q5_K": (QK_K, 2 + 2 + 12 + QK_K // 8 + QK_K // 2),
    "Q6_K": (QK_K, QK_K // 2 + QK_K // 4 + QK_K // 16 + 2),
}

_REGISTRY: dict[str, type[QuantType]] = {}


class QuantType:
    """One GGML type: block-wise decode and encode on 2-D arrays of whole blocks.

    Subclasses implement `dequantize_blocks(blocks_u8 (nb, type_size)) -> f32 (nb, block_size)`
    and `quantize_blocks(blocks_f32 (nb, block_size)) -> u8 (nb, type_size)`.
    """

    qtype: str
    block_size: int
    type_size: int

    def __init_subclass__(cls, qtype: str, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if qtype not in BLOCK_TABLE or qtype in _REGISTRY:
            raise TypeError(f"quant type {qtype!r} is not in BLOCK_TABLE or registered twice")
        cls.qtype = qtype
        cls.block_size, cls.type_size = BLOCK_TABLE[qtype]
        _REGISTRY[qtype] = cls

    @classmethod
    def dequantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def quantize_blocks(cls, blocks: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def codec(qtype) -> type[QuantType]:
    """The registered class for `qtype`, or UnsupportedQuantType naming it."""
    name = getattr(qtype, "name", qtype)  # accept gguf.GGMLQuantizationType members too
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UnsupportedQuantType(f"quant type {name!r} is not supported; supported: {', '.join(BLOCK_TABLE)}")
    return _REGISTRY[name]


def f16_bits_to_f32(raw: np.ndarray) -> np.ndarray:
    """Little-endian f16 bytes (..., 2) -> float32 (..., 1); exact, as ggml's FP16_TO_FP32."""
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)


def f32_to_f16_bytes(x: np.ndarray) -> np.ndarray:
    """float32 (..., 1) -> f16 bytes (..., 2), round to nearest even like GGML_FP32_TO_FP16."""
    return np.ascontiguousarray(x, dtype=np.float32).astype(np.float16).view(np.uint8)
