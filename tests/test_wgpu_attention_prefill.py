"""Flash-style prefill attention (shaders/attention_prefill.wgsl) against the CPU's
backends.cpu.ops.attention: random q and a random KV cache, T new queries at positions
pos0.., GQA groups that do and do not divide the kernel's 16 query rows, ragged T and cache
blocks. Only f32 summation order (and the online softmax's rescaling) differs: NMSE ~1e-14."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import ops as cpu
from backends.wgpu.op import step_bytes
from backends.wgpu import prefill
from tests.wgpu_support import F32_NMSE, k, mutated_kernels, nmse  # noqa: F401 (k: fixture)

CASES = [  # (n_head, n_kv, hd, vd, T, pos0)
    (8, 2, 64, 64, 37, 0),  # G = 4, from an empty cache, ragged T
    (8, 2, 128, 128, 21, 50),  # after 50 cached rows, blocks not aligned with pos0
    (6, 2, 32, 48, 40, 5),  # G = 3: 16 rows hold 5 tokens (one row unused), vd != hd
    (4, 4, 16, 16, 3, 100),  # no grouping, a few queries late in the cache
]


def run_case(kk, n_head, n_kv, hd, vd, T, pos0, seed=0, faults=frozenset()):
    rng = np.random.default_rng(seed)
    S = pos0 + T
    q = rng.standard_normal((T, n_head, hd)).astype(np.float32)
    kc = rng.standard_normal((S + 7, n_kv, hd)).astype(np.float32)  # rows past S: unseen
    vc = rng.standard_normal((S + 7, n_kv, vd)).astype(np.float32)
    out = kk.upload(np.full(T * n_head * vd, np.float32(-7.25e11)))
    bufs = {
        "q": kk.upload(q),
        "k_cache": kk.upload(kc),
        "v_cache": kk.upload(vc),
        "out": out,
        "step": kk.upload(step_bytes(pos0, T), uniform=True),
    }
    op = prefill.flash_attention_op(kk, bufs, {"n_head": n_head, "n_kv": n_kv, "hd": hd, "vd": vd}, faults)
    batch = kk.batch()
    op.encode(batch, T, pos0)
    (got,) = batch.submit(readback=[out])
    kv_map = None
    if "gqa_off_by_one" in faults:
        kv_map = (np.arange(n_head) // (n_head // n_kv) + 1) % n_kv
    want = cpu.attention(q, kc[:S], vc[:S], n_kv, offset=pos0, kv_map=kv_map)
    return got.view(np.float32).reshape(want.shape), want


@pytest.mark.parametrize("case", CASES)
def test_flash_prefill_attention_matches_cpu(k, case):
    if not prefill.flash_attention_fits(k, *case[:4]):  # this device's workgroup memory is smaller:
        with pytest.raises(ValueError):  # the builder refuses (the forward then
            run_case(k, *case)  # takes the split-partials kernel)
        return
    got, want = run_case(k, *case)
    assert nmse(got, want) < F32_NMSE


def test_flash_gqa_fault_matches_cpu_fault(k):
    got, want = run_case(k, *CASES[0], faults={"gqa_off_by_one"})
    assert nmse(got, want) < F32_NMSE
    clean, _ = run_case(k, *CASES[0])
    assert nmse(clean, want) > 1e-3  # the fault changes the result


MASK_BUGS = {
    "mask drops the diagonal": ("kb0 + sj <= step.pos0 + st", "kb0 + sj < step.pos0 + st"),
    "last block skipped": ("kb0 < n_keys; kb0 += BK", "kb0 + BK < n_keys; kb0 += BK"),
    "tile's last token dropped": ("min(tile * BQ + BQ, step.n_tok)", "min(tile * BQ + BQ, step.n_tok) - 1u"),
}


@pytest.mark.parametrize("bug", list(MASK_BUGS))
def test_planted_attention_edge_bug_is_caught(k, monkeypatch, bug):
    got, want = run_case(mutated_kernels(k, monkeypatch, "attention_prefill", *MASK_BUGS[bug]), *CASES[1])
    assert not nmse(got, want) < F32_NMSE, f"planted bug '{bug}' went unnoticed"
