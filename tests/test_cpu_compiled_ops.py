"""The compiled small ops of the CPU forward (attention; the fused expert gate/up/SwiGLU)
against the numpy specification in backends.cpu.ops, and prefill == decode bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import ops
from tests.test_cpu_compiled import SPEC_TOL, rel_l2, same_bits


def qkv(rng, T: int, S: int, hd_v: int = 96):
    return (rng.standard_normal((T, 8, 128)).astype(np.float32),
            rng.standard_normal((S, 2, 128)).astype(np.float32),
            rng.standard_normal((S, 2, hd_v)).astype(np.float32))


@pytest.mark.parametrize("T, offset", [(1, 0), (1, 9), (6, 0), (3, 5)])
def test_compiled_attention_matches_the_numpy_specification(T, offset):
    q, k, v = qkv(np.random.default_rng(T * 31 + offset), T, T + offset)
    want = ops.attention(q, k, v, 2, offset=offset)
    got = ops.attention(q, k, v, 2, offset=offset, impl="compiled")
    assert got.shape == want.shape and rel_l2(got, want) <= SPEC_TOL


def test_compiled_attention_is_causal_and_honours_kv_map_and_scale():
    # each switch must move the result: a kernel ignoring it would pass the spec test only by luck
    rng = np.random.default_rng(3)
    q, k, v = qkv(rng, 4, 4)
    base = ops.attention(q, k, v, 2, impl="compiled")
    later = v.copy()
    later[3] += 1.0                                   # a future key for queries 0..2
    assert same_bits(ops.attention(q, k, later, 2, impl="compiled")[:3], base[:3])
    assert not same_bits(ops.attention(q, k, later, 2, impl="compiled")[3], base[3])
    swapped = ops.attention(q, k, v, 2, kv_map=np.arange(8) % 2, impl="compiled")
    assert rel_l2(swapped, ops.attention(q, k, v, 2, kv_map=np.arange(8) % 2)) <= SPEC_TOL
    assert rel_l2(swapped, base) > 1e-2
    scaled = ops.attention(q, k, v, 2, scale_dim=64, impl="compiled")
    assert rel_l2(scaled, ops.attention(q, k, v, 2, scale_dim=64)) <= SPEC_TOL
    assert rel_l2(scaled, base) > 1e-2


def test_compiled_attention_prefill_equals_decode_bit_for_bit():
    q, k, v = qkv(np.random.default_rng(4), 6, 6)
    full = ops.attention(q, k, v, 2, impl="compiled")
    for t in range(6):
        step = ops.attention(q[t:t + 1], k[:t + 1], v[:t + 1], 2, offset=t, impl="compiled")
        assert same_bits(step[0], full[t])


def test_compiled_attention_refuses_a_kv_map_out_of_range():
    q, k, v = qkv(np.random.default_rng(5), 1, 1)
    with pytest.raises(ValueError, match="kv_map"):
        ops.attention(q, k, v, 2, kv_map=np.full(8, 2), impl="compiled")
