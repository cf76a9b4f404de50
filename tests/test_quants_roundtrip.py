"""Quantizers: error against llama.cpp's reference figures, bit-exactness where gguf-py has an
encoder, and llama.cpp's activation quantisation (q8_K / q8_0 round trips)."""

from __future__ import annotations

import gguf
import gguf.quants
import numpy as np
import pytest

from backends.model import quants

# Relative RMSE (rms(x - dequant(quant(x))) / rms(x)) of llama.cpp's reference quantizers
# (quantize_row_*_ref, no importance matrix) on standard Gaussian data; ours must land within
# 10 % of each. F16/BF16 follow from their mantissa widths (2^-11, 2^-8 relative, uniform).
REFERENCE_REL_RMSE = {"Q4_K": 0.07, "Q5_K": 0.036, "Q6_K": 0.018, "Q8_0": 0.0054}
K_QUANTS = ("Q4_K", "Q5_K", "Q6_K")


def gaussian(shape, seed=0, scale=1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def rel_rmse(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y.astype(np.float64) - x) ** 2) / np.mean(x.astype(np.float64) ** 2)))


def roundtrip(qtype: str, x: np.ndarray) -> np.ndarray:
    return quants.dequantize(qtype, quants.quantize(qtype, x))


@pytest.mark.parametrize("qtype", sorted(REFERENCE_REL_RMSE))
def test_quantize_error_matches_llama_cpp_reference(qtype):
    x = gaussian((64, 4096), seed=1)
    err = rel_rmse(x, roundtrip(qtype, x))
    target = REFERENCE_REL_RMSE[qtype]
    assert abs(err - target) <= 0.1 * target, f"{qtype}: relative RMSE {err:.5f}, llama.cpp {target}"


@pytest.mark.parametrize("qtype", K_QUANTS)
@pytest.mark.parametrize("scale", [1e-2, 1e3])
def test_quantize_error_independent_of_magnitude(qtype, scale):
    # the f16 super-scales must not lose precision for weights of a plausible size (std 0.01
    # upwards; much below ~1e-3 the format's f16 d goes subnormal, in llama.cpp too)
    x = gaussian((8, 1024), seed=2, scale=scale)
    err = rel_rmse(x, roundtrip(qtype, x))
    assert err <= 1.1 * REFERENCE_REL_RMSE[qtype], f"{qtype} at scale {scale}: {err:.5f}"


@pytest.mark.parametrize("qtype", K_QUANTS + ("Q8_0",))
def test_quantize_zero_rows_decode_to_zero(qtype):
    out = roundtrip(qtype, np.zeros((2, 512), dtype=np.float32))
    assert not np.any(out)


@pytest.mark.parametrize("qtype", K_QUANTS)
def test_quantize_keeps_constant_and_outlier_blocks_close(qtype):
    x = np.full((3, 256), 0.5, dtype=np.float32)
    x[1] = -2.0
    x[2, :] = gaussian(256, seed=3) * 0.01
    x[2, 17] = 40.0  # one outlier dominates the sub-block scales
    y = roundtrip(qtype, x)
    assert np.abs(y[:2] - x[:2]).max() <= 0.02 * 2.0, y[:2, :4]
    assert abs(y[2, 17] - 40.0) <= 0.05 * 40.0, y[2, 17]


@pytest.mark.parametrize("qtype", quants.SUPPORTED)
def test_quantize_rows_independent_of_batch(qtype):
    # rows are quantized block by block: a slice encodes exactly as inside the whole tensor
    x = gaussian((10, 512), seed=4)
    full = quants.quantize(qtype, x)
    assert np.array_equal(quants.quantize(qtype, x[3:7]), full[3:7])
    assert full.shape == (10, quants.row_bytes(qtype, 512)) and full.dtype == np.uint8


def test_quantize_q8_0_bit_identical_to_gguf():
    x = gaussian((16, 1024), seed=5)
    x[0, :32] = 0.0  # zero block: d = 0
    x[1, :32] = np.arange(32, dtype=np.float32) - 15.5  # exact .5 products: roundf ties
    x[2, 5] = 1e4  # outlier
    expected = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
    assert np.array_equal(quants.quantize("Q8_0", x), expected)


@pytest.mark.parametrize("qtype", ["F16", "BF16"])
def test_quantize_float_types_bit_identical_to_gguf(qtype):
    x = gaussian((4, 256), seed=6, scale=100.0)
    x[0, :6] = [np.nan, np.inf, -np.inf, 1e30, 1.00390625, 65520.0]  # NaN, inf, overflow, ties
    x[0, 6] = np.uint32(0x7F800001).view(np.float32)  # signalling NaN: BF16 must quiet it
    gtype = gguf.GGMLQuantizationType[qtype]
    with np.errstate(over="ignore", invalid="ignore"):
        expected = gguf.quants.quantize(x, gtype).view(np.uint8)
        assert np.array_equal(quants.quantize(qtype, x), expected.reshape(4, -1))


def test_quantize_f32_is_lossless():
    x = gaussian((3, 64), seed=7)
    assert np.array_equal(roundtrip("F32", x), x)


def q8_K_scalar(block: np.ndarray) -> np.ndarray:
    """quantize_row_q8_K_ref + dequantize_row_q8_K for one block, written element by element."""
    amax, vmax = np.float32(0), np.float32(0)
    for v in block:
        if abs(v) > amax:
            amax, vmax = abs(v), v
    if amax == 0:
        return np.zeros_like(block)
    iscale = np.float32(-127) / vmax
    d = np.float32(1) / iscale
    return np.array(
        [d * np.float32(min(127, round(float(iscale * v)))) for v in block], dtype=np.float32
    )  # Python round(): half to even, as nearest_int


def test_q8_K_roundtrip_matches_scalar_reference():
    x = gaussian((3, 512), seed=8)
    x[1, 256:] = 0.0
    x[2, :256] *= 1e-3
    expected = np.stack([np.concatenate([q8_K_scalar(b) for b in row.reshape(-1, 256)]) for row in x])
    assert np.array_equal(quants.q8_K_roundtrip(x), expected)


def test_q8_K_roundtrip_rounds_half_to_even():
    # max = -127 gives iscale = 1 and d = 1, so values land exactly on the .5 ties
    x = np.zeros(256, dtype=np.float32)
    x[:5] = [-127.0, 2.5, 3.5, -2.5, 200.0 / 1.6]
    out = quants.q8_K_roundtrip(x)
    assert out[:5].tolist() == [-127.0, 2.0, 4.0, -2.0, 125.0]


def test_q8_0_roundtrip_rounds_half_away_from_zero():
    x = np.zeros(32, dtype=np.float32)
    x[:4] = [127.0, 2.5, -2.5, 0.49]  # d = 1 exactly in f16
    assert quants.q8_0_roundtrip(x)[:4].tolist() == [127.0, 3.0, -3.0, 0.0]


def test_q8_0_roundtrip_equals_gguf_quantize_dequantize():
    x = gaussian((4, 256), seed=9)
    gt = gguf.GGMLQuantizationType.Q8_0
    expected = gguf.quants.dequantize(gguf.quants.quantize(x, gt), gt)
    assert np.array_equal(quants.q8_0_roundtrip(x), expected)


@pytest.mark.parametrize("fn, size", [(quants.q8_K_roundtrip, 256), (quants.q8_0_roundtrip, 32)])
def test_activation_roundtrip_rejects_partial_block(fn, size):
    with pytest.raises(ValueError, match=f"row length {size + 8} .* block size {size}"):
        fn(np.ones((2, size + 8), dtype=np.float32))
