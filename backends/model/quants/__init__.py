"""Quant codecs and quantizers for the GGML types this project reads and writes.

Decoding is bit-identical to `gguf.quants.dequantize`; the K-quant encoders follow llama.cpp's
reference quantizers (`quantize_row_q4_K_ref` etc.). Types are named by their upstream name
strings ("Q4_K"); gguf.GGMLQuantizationType members are accepted too.
"""

from __future__ import annotations

import numpy as np

from backends.model.quants import floats, q4_k, q5_k, q6_k, q8_0  # noqa: F401  (registers the types)
from backends.model.quants.activations import q8_0_roundtrip, q8_K_roundtrip  # noqa: F401
from backends.model.quants.base import BLOCK_TABLE, QK_K, QK8_0, codec  # noqa: F401

SUPPORTED: tuple[str, ...] = ("F32", "F16", "BF16", "Q8_0", "Q4_K", "Q5_K", "Q6_K")

# Blocks handled per numpy pass: bounds the temporaries of a whole-tensor call and keeps them
# near cache size; results do not depend on it (every block is independent).
_CHUNK_VALUES = 1 << 16


def block_size(qtype) -> int:
    """Values per block (1 for float types)."""
    return codec(qtype).block_size


def type_size(qtype) -> int:
    """Bytes per block."""
    return codec(qtype).type_size


def row_bytes(qtype, n: int) -> int:
    """Bytes for a row of `n` values; ValueError if n is not a multiple of the block size."""
    cls = codec(qtype)
    if n % cls.block_size:
        raise ValueError(f"row length {n} is not a multiple of the {cls.qtype} block size {cls.block_size}")
    return n // cls.block_size * cls.type_size


def _map_blocks(func, src: np.ndarray, in_width: int, out_width: int, out_dtype) -> np.ndarray:
    """Apply func to (nb, in_width) block slices of src, chunked; returns (nb_total, out_width)."""
    blocks = np.ascontiguousarray(src).reshape(-1, in_width)
    out = np.empty((blocks.shape[0], out_width), dtype=out_dtype)
    step = max(1, _CHUNK_VALUES // max(in_width, out_width))
    for b0 in range(0, blocks.shape[0], step):
        out[b0 : b0 + step] = func(blocks[b0 : b0 + step])
    return out


def dequantize(qtype, raw: np.ndarray) -> np.ndarray:
    """Decode raw rows: uint8 (..., row_bytes) -> float32 (..., n).

    Any slice of whole rows may be passed (each row starts on a block boundary), so callers can
    decode rows r0..r1 of a tensor without touching the rest.
    """
    cls = codec(qtype)
    raw = np.asarray(raw)
    if raw.dtype != np.uint8 or raw.ndim == 0:
        raise TypeError(
            f"{cls.qtype}: dequantize expects uint8 rows (..., bytes), got {raw.dtype} with shape {raw.shape}"
        )
    nbytes = raw.shape[-1]
    if nbytes % cls.type_size:
        raise ValueError(f"row of {nbytes} bytes is not a multiple of the {cls.qtype} block of {cls.type_size} bytes")
    n = nbytes // cls.type_size * cls.block_size
    out = _map_blocks(cls.dequantize_blocks, raw, cls.type_size, cls.block_size, np.float32)
    return out.reshape(*raw.shape[:-1], n)


def quantize(qtype, x: np.ndarray) -> np.ndarray:
    """Encode float rows: (..., n) -> uint8 (..., row_bytes); n must be a multiple of the block."""
    cls = codec(qtype)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 0:
        raise TypeError(f"{cls.qtype}: quantize expects rows (..., n), got a scalar")
    nbytes = row_bytes(cls.qtype, x.shape[-1])
    out = _map_blocks(cls.quantize_blocks, x, cls.block_size, cls.type_size, np.uint8)
    return out.reshape(*x.shape[:-1], nbytes)
