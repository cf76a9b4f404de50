"""The lazy fused matvec against gguf-py's dequantizer, on hand-built tensors (no GGUF file)."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass

import gguf
import numpy as np
import pytest

from backends.model import quants
from backends.cpu import matvec as mv
from tests.reference_f64 import act_round

QTYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_K", "Q5_K", "Q6_K")
# Byte ranges of each block's f16 scale(s), set to small sane values so random bytes decode to
# finite numbers of moderate size (ggml-common.h block layouts).
_SCALE_BYTES = {"Q8_0": [(0, 2)], "Q4_K": [(0, 4)], "Q5_K": [(0, 4)], "Q6_K": [(208, 210)]}


@dataclass
class _Info:
    qtype: str
    shape: tuple
    n_cols: int


class FakeModel:
    """Duck-typed GGUFModel: .tensors and .raw(name), nothing else the matvec may use."""

    def __init__(self):
        self.tensors, self._raw = {}, {}

    def add(self, name, qtype, shape, rng):
        n = shape[-1]
        raw = random_rows(qtype, int(np.prod(shape[:-1])), n, rng)
        self._raw[name] = raw.reshape(*shape[:-1], raw.shape[-1])
        self.tensors[name] = _Info(qtype, tuple(shape), n)
        return self

    def raw(self, name):
        return self._raw[name]


def random_rows(qtype, rows, n, rng):
    if qtype in ("F32", "F16", "BF16"):
        return quants.quantize(qtype, rng.standard_normal((rows, n)).astype(np.float32))
    bs, ts = quants.block_size(qtype), quants.type_size(qtype)
    blocks = rng.integers(0, 256, (rows * n // bs, ts), dtype=np.uint8)
    for a, b in _SCALE_BYTES[qtype]:
        blocks[:, a:b] = np.full((b - a) // 2, 0.01, np.float16).view(np.uint8)
    return blocks.reshape(rows, -1)


def reference(model, name, x, expert=None):
    """float64 W·x from gguf-py's dequantizer (independent of backends.model.quants)."""
    raw = model.raw(name) if expert is None else model.raw(name)[expert]
    w = gguf.quants.dequantize(np.asarray(raw), gguf.GGMLQuantizationType[model.tensors[name].qtype])
    return np.asarray(x, np.float64) @ w.astype(np.float64).T


@pytest.mark.parametrize("qtype", QTYPES)
def test_matvec_matches_gguf_dequantize_across_chunks(qtype, monkeypatch):
    rng = np.random.default_rng(0)
    model = FakeModel().add("w", qtype, (10, 512), rng)
    monkeypatch.setattr(mv, "CHUNK_BYTES", 3 * 4 * 512)  # 3 rows per chunk, last one partial
    x = rng.standard_normal(512).astype(np.float32)
    y = mv.matvec(model, "w", x)
    ref = reference(model, "w", x)
    assert y.shape == (10,) and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_matvec_batch_equals_one_vector_at_a_time():
    rng = np.random.default_rng(1)
    model = FakeModel().add("w", "Q4_K", (7, 256), rng)
    xs = rng.standard_normal((4, 256)).astype(np.float32)
    batch = mv.matvec(model, "w", xs)
    assert batch.shape == (4, 7)
    for t in range(4):
        np.testing.assert_allclose(batch[t], mv.matvec(model, "w", xs[t]), rtol=1e-6, atol=1e-6)


def test_matvec_expert_reads_only_that_expert():
    rng = np.random.default_rng(2)
    model = FakeModel().add("exps", "Q6_K", (3, 5, 256), rng)
    x = rng.standard_normal(256).astype(np.float32)
    for e in range(3):
        ref = reference(model, "exps", x, expert=e)
        np.testing.assert_allclose(mv.matvec(model, "exps", x, e), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expert 3"):
        mv.matvec(model, "exps", x, 3)


def test_matvec_rejects_wrong_input_length():
    model = FakeModel().add("w", "F32", (2, 8), np.random.default_rng(3))
    with pytest.raises(ValueError, match="w: input length 7 != row length 8"):
        mv.matvec(model, "w", np.zeros(7))


def test_matvec_peak_memory_is_a_chunk_not_the_tensor():
    rng = np.random.default_rng(4)
    rows, n = 2048, 1024  # 8 MiB as float32, 1.1 MiB as Q4_K
    model = FakeModel().add("w", "Q4_K", (rows, n), rng)
    x = rng.standard_normal(n).astype(np.float32)
    mv.matvec(model, "w", x)  # warm: loading a compiled kernel is not the matvec's memory
    tracemalloc.start()
    mv.matvec(model, "w", x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < rows * n * 4 / 4, f"peak {peak} B vs whole tensor {rows * n * 4} B in float32"


def test_decode_rows_q6k_as_q4k_keeps_row_length_and_changes_values():
    rng = np.random.default_rng(5)
    raw = random_rows("Q6_K", 2, 512, rng)
    right = mv.decode_rows(raw, "Q6_K", 512)
    wrong = mv.decode_rows(raw, "Q6_K", 512, decode_as="Q4_K")
    assert wrong.shape == right.shape == (2, 512)
    assert not np.allclose(wrong, right, equal_nan=True)


def test_activation_roundtrip_fp32_path_is_identity():
    x = np.random.default_rng(6).standard_normal((2, 256)).astype(np.float32)
    for qtype in QTYPES:
        assert mv.activation_roundtrip(x, qtype, "fp32") is x
    assert mv.activation_roundtrip(x, "F32", "q8k") is x


def test_activation_roundtrip_q8k_uses_llama_cpp_vec_dot_types():
    x = np.random.default_rng(7).standard_normal((2, 256)).astype(np.float32)
    f16 = x.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(mv.activation_roundtrip(x, "F16", "q8k"), f16)
    q8 = gguf.quants.dequantize(gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0)
    np.testing.assert_array_equal(mv.activation_roundtrip(x, "Q8_0", "q8k"), q8)


@pytest.mark.parametrize("qtype", QTYPES)
def test_activation_roundtrip_matches_independent_emulation(qtype):
    # tests/reference_f64.act_round re-implements ggml-quants.c apart from backends.model.quants
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((3, 512)) * rng.uniform(0.01, 100, (3, 1))).astype(np.float32)
    x[2, :256] = 0.0  # an all-zero Q8_K block
    x[1, 7] = -np.abs(x[1]).max()  # a tie for the block maximum
    ours = mv.activation_roundtrip(x, qtype, "q8k")
    np.testing.assert_array_equal(ours, act_round(x.astype(np.float64), qtype, "q8k"))


def test_activation_roundtrip_rejects_unknown_path():
    with pytest.raises(ValueError, match="q4"):
        mv.activation_roundtrip(np.zeros(4), "F32", "q4")


@pytest.mark.parametrize("impl", mv.IMPLS)
@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_K", "Q6_K"])
def test_embed_rows_decodes_the_requested_rows_and_rejects_bad_ids(impl, qtype):
    rng = np.random.default_rng(8)
    model = FakeModel().add("tok", qtype, (6, 256), rng)
    full = gguf.quants.dequantize(model.raw("tok"), gguf.GGMLQuantizationType[qtype])
    got = mv.embed_rows(model, "tok", [4, 1, 4], impl)
    assert got.dtype == np.float32 and got.shape == (3, 256)
    np.testing.assert_array_equal(got.view(np.uint32), full[[4, 1, 4]].astype(np.float32).view(np.uint32))
    for bad in ([6], [-1]):
        with pytest.raises(ValueError, match=f"token id {bad[0]}"):
            mv.embed_rows(model, "tok", bad, impl)
