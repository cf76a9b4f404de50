"""Weight upload (backends.wgpu.weights): aligned repack, splitting by rows / experts, bytes."""

from __future__ import annotations

import numpy as np
import pytest

from backends.model import quants
from backends.model.errors import UnsupportedQuantType
from backends.wgpu import weights
from backends.wgpu.runtime import kernels_for
from tests.conftest import require_adapter


@pytest.mark.parametrize(
    "qtype, cols", [("Q4_K", 512), ("Q5_K", 256), ("Q6_K", 768), ("Q8_0", 96), ("F16", 7), ("F32", 5)]
)
def test_repack_rows_word_aligned_and_sized(qtype, cols):
    raw = quants.quantize(qtype, np.random.default_rng(0).standard_normal((3, cols), dtype=np.float32))
    out = weights.repack(qtype, raw, cols)
    assert out.shape == (3, weights.row_words(qtype, cols) * 4)
    assert out.dtype == np.uint8


def test_repack_q8_0_puts_values_on_word_boundaries():
    raw = quants.quantize("Q8_0", np.random.default_rng(1).standard_normal((2, 64), dtype=np.float32))
    blocks = weights.repack("Q8_0", raw, 64).reshape(2, 2, 36)
    disk = raw.reshape(2, 2, 34)
    assert np.array_equal(blocks[..., :32].view(np.int8), disk[..., 2:].view(np.int8))
    assert np.array_equal(blocks[..., 32:34].view(np.float16), disk[..., :2].view(np.float16))


@pytest.mark.parametrize(
    "n_expert, rows, row_bytes, limit", [(0, 10, 100, 350), (0, 3, 64, 1 << 20), (7, 4, 32, 3 * 128), (5, 2, 16, 32)]
)
def test_split_ranges_cover_whole_units_within_limit(n_expert, rows, row_bytes, limit):
    pieces = weights.split_ranges(n_expert, rows, row_bytes, limit)
    if n_expert:
        assert [p[0] for p in pieces] + [n_expert] == [0] + [p[1] for p in pieces]
        assert all(p[2:] == (0, rows) and (p[1] - p[0]) * rows * row_bytes <= limit for p in pieces)
    else:
        assert [p[2] for p in pieces] + [rows] == [0] + [p[3] for p in pieces]
        assert all((p[3] - p[2]) * row_bytes <= limit for p in pieces)


def test_split_ranges_unit_larger_than_limit_raises():
    with pytest.raises(ValueError, match="one expert is 200 bytes"):
        weights.split_ranges(3, 2, 100, 150)


def test_upload_tensor_reports_bytes_resident(tiny_model):
    require_adapter()
    k = kernels_for()
    name = next(n for n, i in tiny_model.tensors.items() if n.endswith("ffn_down_exps.weight"))
    info = tiny_model.tensors[name]
    before = k.counters.bytes_uploaded
    t = weights.upload_tensor(k, tiny_model, name)
    n_exp, rows = info.shape[0], info.shape[1]
    assert t.n_expert == n_exp and t.rows == rows and t.cols == info.n_cols
    assert t.nbytes == n_exp * rows * weights.row_words(info.qtype, info.n_cols) * 4
    assert k.counters.bytes_uploaded - before >= t.nbytes


def test_upload_unit_over_binding_limit_names_tensor():
    require_adapter()
    raw = quants.quantize("Q8_0", np.zeros((2, 3, 64), np.float32))
    with pytest.raises(ValueError, match=r"blk.1.ffn_up_exps.weight \(Q8_0\): one expert is 216"):
        weights.upload_raw(kernels_for(), "blk.1.ffn_up_exps.weight", "Q8_0", raw, 64, max_binding=200)


def test_upload_rejects_type_without_kernel():
    require_adapter()
    raw = np.zeros((2, 8), np.uint8)
    with pytest.raises(UnsupportedQuantType, match="blk.0.odd.weight: type Q4_0"):
        weights.upload_raw(kernels_for(), "blk.0.odd.weight", "Q4_0", raw, 32)
