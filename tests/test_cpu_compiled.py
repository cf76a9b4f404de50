"""The compiled kernels (backends/cpu/compiled) against the numpy specification they replace:
decoders bit for bit, matmuls to float32 summation order, and the same bits for any batch size,
thread count and driver (serial or parallel)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from backends import open_backend
from backends.cpu import compiled
from backends.cpu import matvec as mv
from backends.cpu.backend import CpuBackend
from backends.cpu.compiled import kernels
from backends.model import quants
from tests.test_cpu_matvec import QTYPES, FakeModel, random_rows

PROMPT = [3, 1, 4, 1, 5, 9, 2, 6]
# compiled vs numpy float32 matmuls differ only in summation order: ~1e-7 relative measured.
SPEC_TOL = 1e-6


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal float32 bit patterns, except that any NaN matches any NaN (payloads may differ)."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    nan = np.isnan(a)
    return (
        a.shape == b.shape
        and bool((nan == np.isnan(b)).all())
        and bool((a.view(np.uint32)[~nan] == b.view(np.uint32)[~nan]).all())
    )


def rel_l2(a, ref) -> float:
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


def any_bytes(qtype: str, rows: int, n: int, rng) -> np.ndarray:
    """Rows of uniformly random bytes: every f16 scale pattern, inf and NaN included."""
    return rng.integers(0, 256, (rows, quants.row_bytes(qtype, n)), dtype=np.uint8)


@pytest.mark.parametrize("qtype", QTYPES)
def test_compiled_decoders_equal_the_codecs_bit_for_bit(qtype):
    rng = np.random.default_rng(11)
    for raw in (random_rows(qtype, 6, 512, rng), any_bytes(qtype, 6, 512, rng)):
        with np.errstate(all="ignore"):
            want = quants.dequantize(qtype, raw)
        assert same_bits(compiled.decode_rows(raw, qtype), want)


def test_compiled_row_decoder_refuses_rows_out_of_range():
    raw = random_rows("Q4_K", 3, 256, np.random.default_rng(26))
    assert same_bits(compiled.decode_rows(raw, "Q4_K", [2, 0]), compiled.decode_rows(raw, "Q4_K")[[2, 0]])
    for bad in ([3], [-1]):
        with pytest.raises(ValueError, match="out of range"):
            compiled.decode_rows(raw, "Q4_K", bad)


def test_bit_comparison_catches_a_one_nibble_change():
    # the check above is only as good as its sensitivity: one level of one value must show
    rng = np.random.default_rng(12)
    raw = random_rows("Q4_K", 2, 256, rng)
    bad = raw.copy()
    bad[1, 16 + 5] ^= 0x01  # value 5 of sub-block 0 of row 1, one level
    assert not same_bits(compiled.decode_rows(bad, "Q4_K"), quants.dequantize("Q4_K", raw))


@pytest.mark.parametrize("qtype", QTYPES)
@pytest.mark.parametrize("batch", [1, 5])
def test_compiled_matmul_matches_the_numpy_specification(qtype, batch):
    rng = np.random.default_rng(13)
    model = FakeModel().add("w", qtype, (37, 512), rng).add("e", qtype, (3, 9, 512), rng)
    xs = rng.standard_normal((batch, 512)).astype(np.float32)
    for act in mv.ACTS:
        fast = mv.matvec(model, "w", xs, act=act)
        spec = mv.matvec(model, "w", xs, act=act, impl="numpy")
        assert fast.shape == spec.shape == (batch, 37) and fast.dtype == np.float32
        assert rel_l2(fast, spec) <= SPEC_TOL, (qtype, act)
        for e in range(3):
            assert (
                rel_l2(mv.matvec(model, "e", xs, e, act=act), mv.matvec(model, "e", xs, e, act=act, impl="numpy"))
                <= SPEC_TOL
            )


def test_compiled_matmul_planted_q6k_as_q4k_matches_the_specification():
    rng = np.random.default_rng(14)
    model = FakeModel().add("w", "Q6_K", (9, 768), rng)
    x = rng.standard_normal(768).astype(np.float32)
    with np.errstate(all="ignore"):  # Q6_K bytes as Q4_K scales: NaNs
        fast = mv.matvec(model, "w", x, decode_as="Q4_K")
        spec = mv.matvec(model, "w", x, decode_as="Q4_K", impl="numpy")
    ok = np.isfinite(spec)
    assert (np.isfinite(fast) == ok).all() and ok.sum() >= 3
    assert rel_l2(fast[ok], spec[ok]) <= SPEC_TOL
    assert rel_l2(fast[ok], mv.matvec(model, "w", x)[ok]) > 0.1  # and a different operation


def test_compiled_matmul_same_bits_for_any_batch_driver_and_thread_count():
    rng = np.random.default_rng(15)
    raw = random_rows("Q4_K", 301, 512, rng)  # 301: a partial last task
    xs = rng.standard_normal((9, 512)).astype(np.float32)
    args = (raw, compiled.QCODES["Q4_K"], 2, 512)
    base = compiled.raw_matmul(*args, xs, parallel=False)
    singles = np.concatenate([compiled.raw_matmul(*args, xs[t : t + 1], parallel=False) for t in range(9)])
    assert same_bits(singles, base)
    before = numba.get_num_threads()
    try:
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            assert same_bits(compiled.raw_matmul(*args, xs, parallel=True), base), n
    finally:
        numba.set_num_threads(before)


@pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here (NUMBA_NUM_THREADS=1 or one core)"
)
def test_cpu_backend_logits_same_bits_on_one_and_all_threads(small_model):
    before = numba.get_num_threads()
    try:
        runs = {}
        for n in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(n)
            runs[n] = CpuBackend(small_model, act="q8k", impl="compiled").trace(PROMPT, prefill_len=5)
    finally:
        numba.set_num_threads(before)
    one, many = runs.values()
    assert same_bits(one.logits, many.logits) and same_bits(one.hidden, many.hidden)


@pytest.mark.parametrize("preset", ["tiny", "small"])
def test_cpu_backend_compiled_matches_numpy_spec_and_f64(preset, request):
    model = request.getfixturevalue(f"{preset}_model")
    fast = CpuBackend(model).trace(PROMPT, prefill_len=5)
    spec = CpuBackend(model, impl="numpy").trace(PROMPT, prefill_len=5)
    f64 = open_backend("f64", model).trace(PROMPT, prefill_len=5)
    assert rel_l2(fast.logits, spec.logits) <= SPEC_TOL
    assert rel_l2(fast.logits, f64.logits) <= 1e-5  # issue 15: fp32 vs f64
    np.testing.assert_array_equal(fast.router_ids, spec.router_ids)


def test_cpu_backend_names_its_impl_and_refuses_an_unknown_one(tiny_model):
    ident = CpuBackend(tiny_model).identity()
    assert ident["impl"] == "compiled" and "numba" in ident["driver"]
    assert CpuBackend(tiny_model, impl="numpy").identity()["driver"].startswith("numpy")
    with pytest.raises(ValueError, match="unknown matvec impl 'fortran'"):
        CpuBackend(tiny_model, impl="fortran")
    with pytest.raises(ValueError, match="unknown matvec impl 'fortran'"):
        mv.matvec(FakeModel().add("w", "F32", (2, 8), np.random.default_rng(0)), "w", np.zeros(8), impl="fortran")


def test_compiled_kernels_are_cached_on_disk():
    # a cold compile costs seconds per kernel; cache=True is what keeps a warm verify fast
    from backends.cpu.compiled import ops as compiled_ops

    for kernel in (
        kernels.matmul_parallel,
        kernels.matmul_serial,
        kernels.decode_row,
        kernels.swiglu_experts_parallel,
        kernels.swiglu_experts_serial,
        compiled_ops.attend,
        compiled_ops.rms_norm_rows,
    ):
        assert type(kernel._cache).__name__ == "FunctionCache", kernel


@pytest.mark.parametrize("qtype", ["Q4_K", "Q6_K"])
def test_grouped_experts_equal_one_matvec_per_expert_bit_for_bit(qtype):
    rng = np.random.default_rng(16)
    model = FakeModel().add("e", qtype, (5, 19, 256), rng)
    xs = rng.standard_normal((6, 256)).astype(np.float32)
    experts, starts = np.array([4, 0, 2]), np.array([0, 1, 4, 6])
    want = np.concatenate([mv.matvec(model, "e", xs[a:b], int(e)) for e, a, b in zip(experts, starts[:-1], starts[1:])])
    for parallel in (False, True):
        got = compiled.expert_matmul(model, "e", experts, starts, xs, parallel=parallel)
        assert same_bits(got, want), parallel
    spec = mv.expert_matvecs(model, "e", experts, starts, xs, impl="numpy")
    assert rel_l2(want, spec) <= SPEC_TOL
    with pytest.raises(ValueError, match=r"e: experts \[5\] out of range"):
        compiled.expert_matmul(model, "e", np.array([5]), np.array([0, 6]), xs)


def test_default_impl_is_compiled_for_fp32_and_the_spec_for_q8k(tiny_model):
    # q8k stays on the numpy order: it is the one matched against llama.cpp end to end
    assert CpuBackend(tiny_model).identity()["impl"] == "compiled"
    assert CpuBackend(tiny_model, act="q8k").identity()["impl"] == "numpy"
    assert CpuBackend(tiny_model, act="q8k", impl="compiled").identity()["impl"] == "compiled"


@pytest.mark.parametrize("min_macs", [0, 1 << 40])  # the parallel region, and the serial calls
def test_matvecs_in_one_region_give_each_matvecs_bits(min_macs, monkeypatch):
    rng = np.random.default_rng(25)
    model = (
        FakeModel().add("q", "Q4_K", (37, 512), rng).add("k", "Q6_K", (9, 512), rng).add("v", "Q8_0", (13, 512), rng)
    )
    monkeypatch.setattr(compiled, "PARALLEL_MIN_MACS", min_macs)
    for xs in (rng.standard_normal(512).astype(np.float32), rng.standard_normal((3, 512)).astype(np.float32)):
        for act in mv.ACTS:
            got = mv.matvecs(model, ["q", "k", "v"], xs, act=act)
            want = [mv.matvec(model, name, xs, act=act) for name in ("q", "k", "v")]
            assert all(same_bits(g, w) for g, w in zip(got, want)), act
            spec = mv.matvecs(model, ["q", "k", "v"], xs, act=act, impl="numpy")
            assert all(rel_l2(g, s) <= SPEC_TOL for g, s in zip(got, spec)), act
    with pytest.raises(ValueError, match="input length 256"):
        mv.matvecs(model, ["q", "k"], np.zeros(256, np.float32))
    with pytest.raises(ValueError, match="do not fit rows of 512"):  # the kernel does not check
        compiled.model_matmuls(model, ["q", "k"], [np.zeros((1, 512), np.float32), np.zeros((1, 768), np.float32)])
