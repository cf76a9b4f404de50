"""Quant codecs: bit-exact decode against gguf-py, row slicing, sizes and error paths."""

from __future__ import annotations

import gguf
import gguf.quants
import numpy as np
import pytest

from backends.model import quants
from backends.model.errors import UnsupportedQuantType

# Byte offsets of the f16 scale fields in each block: random bytes there would often be
# inf/NaN, so they are overwritten with finite values of varied magnitude.
F16_FIELDS = {"Q8_0": (0,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}


def random_rows(qtype: str, rows: int, blocks_per_row: int, seed: int) -> np.ndarray:
    """Random valid raw rows (rows, blocks_per_row * type_size) for qtype."""
    rng = np.random.default_rng(seed)
    ts = quants.type_size(qtype)
    raw = rng.integers(0, 256, size=(rows, blocks_per_row, ts), dtype=np.uint8)
    for off in F16_FIELDS.get(qtype, ()):
        scale = rng.standard_normal((rows, blocks_per_row)) * 10.0 ** rng.uniform(-4, 1)
        raw[:, :, off : off + 2] = scale.astype(np.float16)[..., None].view(np.uint8)
    return raw.reshape(rows, blocks_per_row * ts)


def worst_block_message(actual, expected, block: int) -> str:
    """Describe where two decodes differ: count of bad blocks and the worst one by max |diff|."""
    a = actual.reshape(-1, block)
    e = expected.reshape(-1, block)
    bad = np.any(a.view(np.uint32) != e.view(np.uint32), axis=1)
    with np.errstate(invalid="ignore"):
        diff = np.nan_to_num(np.abs(a.astype(np.float64) - e), nan=np.inf).max(axis=1)
    worst = int(np.argmax(np.where(bad, diff, -1.0)))
    i = int(np.argmax(a[worst].view(np.uint32) != e[worst].view(np.uint32)))
    return (
        f"{int(bad.sum())} of {len(bad)} blocks differ; worst block {worst}: max |diff| "
        f"{diff[worst]:.3g}; first bad value {i}: ours {a[worst][i]!r}, gguf {e[worst][i]!r}"
    )


def assert_bit_identical(actual, expected, qtype: str):
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    if not np.array_equal(actual.view(np.uint32), expected.view(np.uint32)):
        pytest.fail(f"{qtype}: " + worst_block_message(actual, expected, quants.block_size(qtype)))


def gguf_decode(qtype: str, raw: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[qtype])


def decode(qtype: str, raw: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return quants.dequantize(qtype, raw)


@pytest.mark.parametrize("qtype", quants.SUPPORTED)
def test_dequantize_bit_identical_to_gguf(qtype):
    blocks = 8 if quants.block_size(qtype) > 1 else 4096
    raw = random_rows(qtype, 24, blocks, seed=1)
    assert_bit_identical(decode(qtype, raw), gguf_decode(qtype, raw), qtype)


@pytest.mark.parametrize("qtype", quants.SUPPORTED)
def test_dequantize_row_range_equals_rows_of_full_decode(qtype):
    blocks = 4 if quants.block_size(qtype) > 1 else 1024
    raw = random_rows(qtype, 10, blocks, seed=2)
    full = decode(qtype, raw)
    assert_bit_identical(decode(qtype, raw[3:7]), full[3:7], qtype)


@pytest.mark.parametrize("qtype", quants.SUPPORTED)
def test_dequantize_one_block_row(qtype):
    raw = random_rows(qtype, 1, 1, seed=3)
    out = decode(qtype, raw[0])
    assert out.shape == (quants.block_size(qtype),)
    assert_bit_identical(out, gguf_decode(qtype, raw[0]), qtype)


@pytest.mark.parametrize("qtype", quants.SUPPORTED)
def test_dequantize_keeps_leading_axes(qtype):
    # 3-D expert tensors arrive as (E, rows, row_bytes)
    raw = random_rows(qtype, 6, 2, seed=4).reshape(2, 3, -1)
    out = decode(qtype, raw)
    assert out.shape == (2, 3, 2 * quants.block_size(qtype))
    assert_bit_identical(out, gguf_decode(qtype, raw), qtype)


def test_dequantize_large_tensor_spans_chunks():
    # more blocks than one internal chunk, to cover the chunk loop's boundaries
    raw = random_rows("Q4_K", 3, 700, seed=5)
    assert_bit_identical(decode("Q4_K", raw), gguf_decode("Q4_K", raw), "Q4_K")


@pytest.mark.parametrize("qtype", quants.SUPPORTED)
def test_block_table_matches_gguf_constants(qtype):
    expected = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[qtype]]
    assert (quants.block_size(qtype), quants.type_size(qtype)) == expected


def test_row_bytes_counts_whole_blocks():
    assert quants.row_bytes("Q4_K", 2048) == 8 * 144
    assert quants.row_bytes("Q6_K", 256) == 210
    assert quants.row_bytes("F16", 3) == 6


def test_row_bytes_rejects_partial_block():
    with pytest.raises(ValueError, match=r"2880 is not a multiple of the Q4_K block size 256"):
        quants.row_bytes("Q4_K", 2880)


def test_dequantize_rejects_partial_block_bytes():
    with pytest.raises(ValueError, match=r"100 bytes .* Q8_0 block of 34 bytes"):
        quants.dequantize("Q8_0", np.zeros((2, 100), dtype=np.uint8))


def test_dequantize_rejects_non_uint8():
    with pytest.raises(TypeError, match="uint8"):
        quants.dequantize("F32", np.zeros((2, 4), dtype=np.float32))


def test_quantize_rejects_partial_block():
    with pytest.raises(ValueError, match=r"row length 300 is not a multiple of the Q6_K"):
        quants.quantize("Q6_K", np.zeros((2, 300), dtype=np.float32))


@pytest.mark.parametrize("qtype", ["Q2_K", "IQ4_XS", "Q4_0", "not_a_type"])
def test_unsupported_type_raises_naming_it(qtype):
    for call in (
        lambda: quants.block_size(qtype),
        lambda: quants.row_bytes(qtype, 256),
        lambda: quants.dequantize(qtype, np.zeros((1, 144), np.uint8)),
        lambda: quants.quantize(qtype, np.zeros((1, 256), np.float32)),
    ):
        with pytest.raises(UnsupportedQuantType, match=qtype):
            call()


def test_codec_accepts_gguf_enum_member():
    assert quants.type_size(gguf.GGMLQuantizationType.Q6_K) == 210
