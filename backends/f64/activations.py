"""llama.cpp's activation quantisation (act="q8k"), re-derived from ggml-quants.c.

Before a dot product against a quantized weight, llama.cpp rounds the activation to the weight's
vec_dot_type: Q8_K blocks of 256 for K-quants (`quantize_row_q8_K_ref`), Q8_0 blocks of 32 for
Q8_0, F16 / BF16 for those weights; F32 weights see the activation unchanged. The rounding is
done in float32 exactly where llama.cpp does it; the result is returned as float64.
"""

from __future__ import annotations

from typing import Callable

import gguf
import numpy as np

ACTS = ("fp32", "q8k")
QK_K = 256


def q8_K_roundtrip(x32: np.ndarray, margins: list | None = None) -> np.ndarray:
    """quantize_row_q8_K_ref + dequantize, float32: per 256 block, max = the signed value of the
    largest |x| (first on ties), iscale = -127/max, q = min(127, nearest_int(iscale·x)),
    value = (1/iscale)·q. `margins` collects each call's smallest distance to a rounding
    boundary, in quantisation steps (a float32 engine may round the other way below ~1e-5)."""
    b = x32.reshape(-1, QK_K)
    mx = b[np.arange(b.shape[0]), np.argmax(np.abs(b), axis=1)]
    out = np.zeros_like(b)
    nz = mx != 0
    iscale = (np.float32(-127.0) / mx[nz])[:, None]
    scaled = iscale * b[nz]
    if margins is not None:
        margins.append(float(np.min(np.abs(np.abs(scaled - np.floor(scaled)) - 0.5), initial=0.5)))
    q = np.minimum(np.rint(scaled), np.float32(127.0))  # rint: half to even, like the
    out[nz] = (np.float32(1.0) / iscale) * q  # 12582912 magic-number trick
    return out.reshape(x32.shape)


def bf16_roundtrip(x32: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 (round to nearest even) -> float32."""
    bits = x32.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def act_round(
    x: np.ndarray,
    wtype: str,
    act: str,
    margins: list | None = None,
    q8k: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The activation a llama.cpp dot product against a `wtype` weight sees; float64.
    q8k replaces q8_K_roundtrip (float32 in, float32 out): tests pass one that keeps roundings
    within ~1e-5 steps of x.5 in step with a float32 engine's choice."""
    if act not in ACTS:
        raise ValueError(f"unknown activation path {act!r}; known: {', '.join(ACTS)}")
    if act == "fp32" or wtype == "F32":
        return x
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    if wtype == "F16":
        return x32.astype(np.float16).astype(np.float64)
    if wtype == "BF16":
        return bf16_roundtrip(x32).astype(np.float64)
    if wtype == "Q8_0":
        q8 = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.dequantize(gguf.quants.quantize(x32, q8), q8).astype(np.float64)
    if wtype.endswith("_K"):  # K-quants take Q8_K activations
        rounded = q8_K_roundtrip(x32, margins) if q8k is None else q8k(x32)
        return rounded.astype(np.float64)
    raise ValueError(f"no llama.cpp activation rounding known for weight type {wtype}")
