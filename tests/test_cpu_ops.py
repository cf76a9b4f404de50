"""The pure CPU ops against hand-computed literal cases (docs/reference.md §1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends.cpu import ops


def test_rms_norm_matches_hand_computation():
    # mean(3², 4²) = 12.5 -> x / sqrt(12.5 + 0.5) * w
    out = ops.rms_norm(np.array([3.0, 4.0]), np.array([1.0, 2.0]), 0.5)
    r = math.sqrt(13.0)
    np.testing.assert_allclose(out, [3.0 / r, 8.0 / r], rtol=1e-6)
    assert out.dtype == np.float32


def test_rms_norm_normalises_each_row_independently():
    x = np.array([[1.0, 1.0], [10.0, 10.0]])
    np.testing.assert_allclose(ops.rms_norm(x, np.ones(2), 0.0), np.ones((2, 2)), rtol=1e-6)


def test_rope_neox_position_zero_is_identity():
    x = np.random.default_rng(0).standard_normal((1, 3, 8)).astype(np.float32)
    np.testing.assert_array_equal(ops.rope_neox(x, [0], 1e6), x)


def test_rope_neox_pairs_i_with_i_plus_half():
    # hd 4, θ 100: inv_freq = [1, 100^(-1/2) = 0.1]; at pos 2 angles are [2, 0.2].
    x = np.zeros((1, 1, 4), dtype=np.float32)
    x[0, 0, 0] = 1.0  # pairs with element 2
    x[0, 0, 3] = 1.0  # pairs with element 1
    out = ops.rope_neox(x, [2], 100.0)[0, 0]
    np.testing.assert_allclose(out, [math.cos(2), -math.sin(0.2), math.sin(2), math.cos(0.2)], rtol=1e-6, atol=1e-7)


def test_rope_neox_scores_depend_only_on_relative_position():
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal((2, 1, 1, 16)).astype(np.float32)

    def score(m, n):
        return float(np.sum(ops.rope_neox(q, [m], 1e4) * ops.rope_neox(k, [n], 1e4)))

    assert score(7, 3) == pytest.approx(score(104, 100), rel=1e-4)
    assert score(7, 3) != pytest.approx(score(7, 4), rel=1e-4)


def test_rope_neox_rejects_odd_head_dim():
    with pytest.raises(ValueError, match="odd"):
        ops.rope_neox(np.zeros((1, 1, 5)), [0], 1e4)


def test_attention_single_token_returns_its_value():
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((3, 1, 2, 4)).astype(np.float32)
    out = ops.attention(q, k, v, n_kv=2)
    np.testing.assert_allclose(out, v, rtol=1e-6)


def test_attention_is_causal():
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((3, 3, 1, 4)).astype(np.float32)
    out = ops.attention(q, k, v, n_kv=1)
    np.testing.assert_allclose(out[0], v[0], rtol=1e-6)  # position 0 sees only key 0
    changed = v.copy()
    changed[2] += 5.0
    np.testing.assert_array_equal(ops.attention(q, k, changed, n_kv=1)[:2], out[:2])


def test_attention_gqa_maps_query_head_to_group():
    # 4 query heads, 2 kv heads: heads 0,1 -> kv 0 and heads 2,3 -> kv 1 (one token: out = v).
    q = np.ones((1, 4, 2), dtype=np.float32)
    k = np.ones((1, 2, 2), dtype=np.float32)
    v = np.array([[[1.0, 1.0], [2.0, 2.0]]], dtype=np.float32)
    out = ops.attention(q, k, v, n_kv=2)
    np.testing.assert_array_equal(out[0, :, 0], [1.0, 1.0, 2.0, 2.0])


def test_attention_with_offset_equals_full_sequence_rows():
    rng = np.random.default_rng(4)
    q = rng.standard_normal((5, 4, 8)).astype(np.float32)
    k, v = rng.standard_normal((2, 5, 2, 8)).astype(np.float32)
    full = ops.attention(q, k, v, n_kv=2)
    tail = ops.attention(q[3:], k, v, n_kv=2, offset=3)
    np.testing.assert_allclose(tail, full[3:], rtol=1e-5, atol=1e-6)


def test_attention_rejects_mismatched_cache_length():
    with pytest.raises(ValueError, match="offset"):
        ops.attention(np.zeros((2, 2, 4)), np.zeros((2, 1, 4)), np.zeros((2, 1, 4)), 1, offset=1)


def test_route_ties_go_to_the_lower_index():
    ids, weights, probs = ops.route(np.array([1.0, 3.0, 3.0, 3.0, 0.0]), 2)
    assert ids.tolist() == [1, 2]
    np.testing.assert_allclose(weights, [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-6)


def test_route_softmax_over_all_experts_then_renormalise():
    logits = np.array([0.0, math.log(2.0), math.log(4.0), math.log(8.0)])
    ids, weights, probs = ops.route(logits, 2)
    assert ids.tolist() == [3, 2]
    np.testing.assert_allclose(probs, [1 / 15, 2 / 15, 4 / 15, 8 / 15], rtol=1e-6)
    np.testing.assert_allclose(weights, [8 / 12, 4 / 12], rtol=1e-6)


def test_route_batched_rows_match_single_rows():
    logits = np.random.default_rng(5).standard_normal((6, 10)).astype(np.float32)
    ids, weights, probs = ops.route(logits, 3)
    for t in range(6):
        i1, w1, p1 = ops.route(logits[t], 3)
        assert ids[t].tolist() == i1.tolist()
        np.testing.assert_array_equal(weights[t], w1)


def test_route_without_renormalise_returns_raw_probabilities():
    logits = np.array([0.0, math.log(2.0), math.log(4.0), math.log(8.0)])
    _, weights, _ = ops.route(logits, 2, renormalise=False)
    np.testing.assert_allclose(weights, [8 / 15, 4 / 15], rtol=1e-6)


def test_route_softmax_after_topk_has_no_full_distribution():
    logits = np.array([0.0, math.log(2.0), math.log(4.0), math.log(8.0)])
    ids, weights, probs = ops.route(logits, 2, softmax_first=False)
    assert ids.tolist() == [3, 2]
    np.testing.assert_allclose(probs, [0.0, 0.0, 4 / 12, 8 / 12], rtol=1e-6)


@pytest.mark.parametrize("k", [0, 5])
def test_route_rejects_k_out_of_range(k):
    with pytest.raises(ValueError, match="k="):
        ops.route(np.zeros(4), k)


def test_silu_literal_values_and_extremes():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = ops.silu(np.array([0.0, 1.0, -1000.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 1.0 / (1.0 + math.exp(-1.0)), 0.0, 1000.0], rtol=1e-6)
