"""Weight values for synthetic models: one pure function per tensor, seeded by (seed, name).

Scales follow fan-in so activations stay O(1) through many layers (rmsnorm before every block
re-normalises the residual): projections ~ N(0, 1/fan_in); the router and the output head get a
gain so routing has spread (top-k not near-tied) and logits land in O(1-10). Norm weights are
1 + 0.1·N(0, 1), so a backend that ignores a norm weight is visibly wrong.

Two ways to make quantized bytes:
- "quantized": Gaussian floats through backends.model.quants.quantize (real quantizer output);
- "random_blocks": well-formed random Q4_K / Q6_K blocks built directly (finite f16 d/dmin of
  the right magnitude, random 6-bit scales, random nibbles), ~300 MB/s of output per core even
  on this shared 2-core box, for the 17 GB preset.
"""

from __future__ import annotations

import zlib

import numpy as np

from backends.model import quants
from backends.model.quants.base import f32_to_f16_bytes
from backends.model.quants.kscales import pack_scale_min
from backends.model.synth.presets import Preset

# Gains over 1/sqrt(fan_in), checked with a float forward through 48 layers: the router gain
# gives logits std ~2 (a clear top-k on most tokens, yet not one-hot); the output gain gives
# logits std ~2 (max ~8-10); attention output at 0.5 and expert down at 2 keep the residual
# token-specific, since diffuse random attention mixes tokens together layer after layer
# (with both at 1, deep layers routed every token to the same expert).
ROUTER_GAIN = 2.0
OUTPUT_GAIN = 2.0
ATTN_OUT_GAIN = 0.5
DOWN_GAIN = 2.0
NORM_SPREAD = 0.1


def tensor_rng(seed: int, name: str) -> np.random.Generator:
    """Independent stream per tensor (so tensors can be made in any order, or in parallel).
    SFC64 is ~4x faster than PCG64 for raw bytes. Its bit stream is fixed, but numpy may change
    Generator methods between versions, so the cache key includes numpy's version."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence([seed, zlib.crc32(name.encode())])))


def weight_std(name: str, p: Preset) -> float:
    """Standard deviation of the float weights of tensor `name` (by role)."""
    role = name.split(".")[-2]
    fan_in, gain = {
        "token_embd": (1, 1.0),
        "output": (p.n_embd, OUTPUT_GAIN),
        "attn_q": (p.n_embd, 1.0),
        "attn_k": (p.n_embd, 1.0),
        "attn_v": (p.n_embd, 1.0),
        "attn_output": (p.n_head * p.head_dim, ATTN_OUT_GAIN),
        "ffn_gate_inp": (p.n_embd, ROUTER_GAIN),
        "ffn_gate_exps": (p.n_embd, 1.0),
        "ffn_up_exps": (p.n_embd, 1.0),
        "ffn_down_exps": (p.n_ff_exp, DOWN_GAIN),
    }[role]
    return float(gain / np.sqrt(fan_in))


def tensor_data(name: str, shape: tuple[int, ...], qtype: str, p: Preset, seed: int) -> np.ndarray:
    """The stored array of one tensor: float32 in `shape` for F32, else uint8 (..., row_bytes)."""
    rng = tensor_rng(seed, name)
    if name.endswith("norm.weight"):
        return (1.0 + NORM_SPREAD * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    std = weight_std(name, p)
    if qtype == "F32":
        return (std * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
    if p.weights == "random_blocks":
        n_blocks = int(np.prod(shape, dtype=np.int64)) // quants.block_size(qtype)
        blocks = RANDOM_BLOCKS[qtype](rng, n_blocks, std)
        return blocks.reshape(*shape[:-1], quants.row_bytes(qtype, shape[-1]))
    return _quantized_gaussian(rng, shape, qtype, std)


def _quantized_gaussian(rng: np.random.Generator, shape, qtype: str, std: float) -> np.ndarray:
    # One leading slice at a time bounds the float temporaries (an expert at a time).
    lead = shape[0] if len(shape) == 3 else 1
    out = np.empty((lead, *shape[-2:-1], quants.row_bytes(qtype, shape[-1])), dtype=np.uint8)
    for i in range(lead):
        x = std * rng.standard_normal(shape[-2:], dtype=np.float32)
        out[i] = quants.quantize(qtype, x)
    return out.reshape(*shape[:-1], out.shape[-1])


def random_q4_k(rng: np.random.Generator, n_blocks: int, std: float) -> np.ndarray:
    """Well-formed Q4_K blocks with values ~ zero-mean, standard deviation ~std.

    v = d·sc·q − dmin·m with q uniform in 0..15 (mean 7.5, sd 4.61). Scales sc in 32..63;
    dmin = 8·d (exact in f16) and m = round(15·sc/16) make each sub-block's mean ~0.
    """
    sc = rng.integers(32, 64, size=(n_blocks, 8), dtype=np.uint8)
    mn = np.rint(sc.astype(np.float32) * (15.0 / 16.0)).astype(np.uint8)
    d = std / (47.5 * 4.61) * rng.uniform(0.8, 1.2, size=n_blocks).astype(np.float32)
    out = np.empty((n_blocks, 144), dtype=np.uint8)
    out[:, 0:2] = f32_to_f16_bytes(d).reshape(n_blocks, 2)
    out[:, 2:4] = f32_to_f16_bytes(np.float16(d).astype(np.float32) * 8).reshape(n_blocks, 2)
    out[:, 4:16] = pack_scale_min(sc, mn)
    out[:, 16:] = _random_bytes(rng, n_blocks * 128).reshape(n_blocks, 128)
    return out


def random_q6_k(rng: np.random.Generator, n_blocks: int, std: float) -> np.ndarray:
    """Well-formed Q6_K blocks: v = d·s·(q − 32), q uniform in 0..63 (sd 18.5), int8 scales
    ±(4..15) with random sign (so the −0.5 mean of q − 32 cancels across sub-blocks)."""
    mag = rng.integers(4, 16, size=(n_blocks, 16), dtype=np.int8)
    sign = np.where(rng.integers(0, 2, size=(n_blocks, 16), dtype=np.int8) == 1, 1, -1).astype(np.int8)
    d = std / (9.5 * 18.47) * rng.uniform(0.8, 1.2, size=n_blocks).astype(np.float32)
    out = np.empty((n_blocks, 210), dtype=np.uint8)
    out[:, :192] = _random_bytes(rng, n_blocks * 192).reshape(n_blocks, 192)  # ql[128], qh[64]
    out[:, 192:208] = (mag * sign).view(np.uint8)
    out[:, 208:210] = f32_to_f16_bytes(d).reshape(n_blocks, 2)
    return out


def _random_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    words = rng.bit_generator.random_raw((n + 7) // 8)
    return words.view(np.uint8)[:n]


RANDOM_BLOCKS = {"Q4_K": random_q4_k, "Q6_K": random_q6_k}
