"""The compiled small ops of the CPU forward (attention; the fused expert gate/up/SwiGLU)
against the numpy specification in backends.cpu.ops, and prefill == decode bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import compiled, ops
from tests.test_cpu_compiled import SPEC_TOL, rel_l2, same_bits


def qkv(rng, T: int, S: int, hd_v: int = 96):
    return (
        rng.standard_normal((T, 8, 128)).astype(np.float32),
        rng.standard_normal((S, 2, 128)).astype(np.float32),
        rng.standard_normal((S, 2, hd_v)).astype(np.float32),
    )


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
    later[3] += 1.0  # a future key for queries 0..2
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
        step = ops.attention(q[t : t + 1], k[: t + 1], v[: t + 1], 2, offset=t, impl="compiled")
        assert same_bits(step[0], full[t])


def test_compiled_attention_refuses_a_kv_map_out_of_range():
    q, k, v = qkv(np.random.default_rng(5), 1, 1)
    with pytest.raises(ValueError, match="kv_map"):
        ops.attention(q, k, v, 2, kv_map=np.full(8, 2), impl="compiled")


@pytest.mark.parametrize("gate_type, up_type", [("Q4_K", "Q4_K"), ("Q6_K", "Q4_K")])
def test_fused_swiglu_equals_silu_of_the_separate_expert_matmuls(gate_type, up_type):
    # gate and up each give the bits of their own matmul; only silu's exp may differ by ulps
    from backends.cpu import compiled
    from tests.test_cpu_matvec import FakeModel

    rng = np.random.default_rng(17)
    model = FakeModel().add("g", gate_type, (5, 19, 256), rng).add("u", up_type, (5, 19, 256), rng)
    xs = rng.standard_normal((6, 256)).astype(np.float32)
    xu = xs + np.float32(0.5)  # a distinct up input: swapping xg/xu must show
    experts, starts = np.array([4, 0, 2]), np.array([0, 1, 4, 6])
    gate = compiled.expert_matmul(model, "g", experts, starts, xs)
    want = ops.silu(gate) * compiled.expert_matmul(model, "u", experts, starts, xu)
    for parallel in (False, True):
        got = compiled.expert_swiglu(model, "g", "u", experts, starts, xs, xu, parallel=parallel)
        assert rel_l2(got, want) <= 1e-6, parallel
    swapped = compiled.expert_swiglu(model, "u", "g", experts, starts, xu, xs)
    assert rel_l2(swapped, want) > 1e-2  # the check sees gate and up exchanged
    with pytest.raises(ValueError, match=r"g: experts \[5\] out of range"):
        compiled.expert_swiglu(model, "g", "u", np.array([5]), np.array([0, 6]), xs, xu)
    # the kernels do not check bounds: starts past the inputs (or falling) must stop in Python
    for bad in ([0, 1, 4, 9], [0, 4, 1, 6], [1, 2, 4, 6], [0, 6]):
        with pytest.raises(ValueError, match="do not split 6 inputs"):
            compiled.expert_swiglu(model, "g", "u", experts, np.array(bad), xs, xu)
        with pytest.raises(ValueError, match="do not split 6 inputs"):
            compiled.expert_matmul(model, "g", experts, np.array(bad), xs)


@pytest.mark.parametrize("act", ["fp32", "q8k"])
def test_compiled_moe_block_matches_the_numpy_specification(small_model, act):
    rng = np.random.default_rng(18)
    h = rng.standard_normal((5, small_model.config.n_embd)).astype(np.float32)
    k, E = small_model.config.n_expert_used, small_model.config.n_expert
    ids = np.stack([rng.permutation(E)[:k] for _ in range(5)]).astype(np.int32)
    w = rng.dirichlet(np.ones(k), 5).astype(np.float32)
    fast = ops.moe_tokens(small_model, 1, h, ids, w, act=act)
    spec = ops.moe_tokens(small_model, 1, h, ids, w, act=act, impl="numpy")
    assert rel_l2(fast[0], spec[0]) <= 1e-6
    # under q8k the down projection's Q8_K rounding can move ulp differences a whole step
    assert rel_l2(fast[1], spec[1]) <= (1e-6 if act == "fp32" else 1e-2)


def test_compiled_rms_norm_matches_the_numpy_specification_row_by_row():
    rng = np.random.default_rng(19)
    x = (rng.standard_normal((3, 4, 128)) * 7).astype(np.float32)
    w = rng.standard_normal(128).astype(np.float32)
    got = ops.rms_norm(x, w, 1e-6, impl="compiled")
    assert got.shape == x.shape and rel_l2(got, ops.rms_norm(x, w, 1e-6)) <= SPEC_TOL
    assert same_bits(ops.rms_norm(x[1:2, 2:3], w, 1e-6, impl="compiled"), got[1:2, 2:3])
    # eps and w must reach the kernel: a norm ignoring either would pass only by luck
    assert rel_l2(ops.rms_norm(x, w, 1e2, impl="compiled"), got) > 1e-2
    assert rel_l2(ops.rms_norm(x, w[::-1], 1e-6, impl="compiled"), got) > 1e-2
    with pytest.raises(ValueError, match="rms_norm: weight"):
        ops.rms_norm(x, w[:64], 1e-6, impl="compiled")


@pytest.mark.parametrize("renormalise", [True, False])
def test_compiled_route_matches_the_numpy_specification(renormalise):
    rng = np.random.default_rng(20)
    logits = (rng.standard_normal((7, 24)) * 3).astype(np.float32)
    logits[3, [2, 9, 17]] = logits[3].max() + 1  # an exact three-way tie at the top: lower index first
    logits[5, :] = 0.5  # every expert tied
    want = ops.route(logits, 4, renormalise=renormalise)
    got = ops.route(logits, 4, renormalise=renormalise, impl="compiled")
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0].dtype == np.int32 and list(got[0][3, :3]) == [2, 9, 17] and list(got[0][5]) == [0, 1, 2, 3]
    for g, w in zip(got[1:], want[1:]):
        assert g.shape == w.shape and g.dtype == np.float32 and rel_l2(g, w) <= SPEC_TOL
    one = ops.route(logits[0], 4, renormalise=renormalise, impl="compiled")  # a single (E,) row
    assert one[0].shape == (4,) and same_bits(one[1], got[1][0]) and same_bits(one[2], got[2][0])
    with pytest.raises(ValueError, match="k=25"):
        compiled.route(logits, 25, renormalise)
    # renormalise must reach the kernel
    other = ops.route(logits, 4, renormalise=not renormalise, impl="compiled")
    assert rel_l2(other[1], got[1]) > 1e-2


def test_compiled_route_leaves_non_finite_logits_and_the_fault_to_the_specification():
    logits = np.random.default_rng(21).standard_normal((2, 8)).astype(np.float32)
    logits[1, 3] = np.nan
    for kwargs in ({}, {"softmax_first": False}):
        want = ops.route(logits, 2, **kwargs)
        got = ops.route(logits, 2, impl="compiled", **kwargs)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_compiled_grouping_equals_the_stable_sort_grouping():
    rng = np.random.default_rng(22)
    for T, k, E in [(1, 4, 24), (9, 4, 6), (5, 2, 40), (3, 3, 3)]:
        ids = np.stack([rng.permutation(E)[:k] for _ in range(T)]).astype(np.int32)
        if T > 3:
            ids[2] = ids[1]  # repeated experts across tokens
        order, experts, starts = compiled.group_pairs(ids, E)
        want_order = np.argsort(ids.reshape(-1), kind="stable")
        want_experts, counts = np.unique(ids.reshape(-1)[want_order], return_counts=True)
        np.testing.assert_array_equal(order, want_order)
        np.testing.assert_array_equal(experts, want_experts)
        np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(counts)]))
    for bad in (-1, 24):  # the kernels index without bounds checks: refused, not written past
        with pytest.raises(ValueError, match="out of range"):
            compiled.group_pairs(np.array([[0, bad]]), 24)


def test_compiled_rope_gives_the_specification_bits():
    rng = np.random.default_rng(23)
    x = rng.standard_normal((5, 8, 128)).astype(np.float32)
    cos, sin = ops.rope_tables(np.arange(40, 45), 128, 1e6)
    got = ops.rope_apply(x, cos, sin, impl="compiled")
    assert same_bits(got, ops.rope_apply(x, cos, sin))
    assert not same_bits(ops.rope_apply(x, sin, cos, impl="compiled"), got)  # the tables reach the kernel
    with pytest.raises(ValueError, match="rope: tables"):
        ops.rope_apply(x, cos[:2], sin[:2], impl="compiled")


def test_compiled_weighted_slot_sum_gives_the_specification_bits():
    rng = np.random.default_rng(24)
    T, k, H = 5, 4, 96
    ids = np.stack([rng.permutation(9)[:k] for _ in range(T)])
    order, _, _ = compiled.group_pairs(ids, 9)
    w = rng.dirichlet(np.ones(k), T).astype(np.float32)
    grouped = rng.standard_normal((T * k, H)).astype(np.float32)
    contrib = np.empty((T, k, H), np.float32)
    contrib[order // k, order % k] = grouped
    want = np.zeros((T, H), np.float32)
    for j in range(k):
        want += w[:, j, None] * contrib[:, j]
    got = compiled.weighted_slots(grouped, order, w)
    assert same_bits(got, want)
    assert not same_bits(compiled.weighted_slots(grouped, order[::-1].copy(), w), want)  # order is used
    for bad in (np.zeros(T * k, np.int64), np.arange(T * k) + 1, np.arange(T * k) - 1):  # the kernel indexes by it
        with pytest.raises(ValueError, match="weighted_slots"):
            compiled.weighted_slots(grouped, bad, w)
