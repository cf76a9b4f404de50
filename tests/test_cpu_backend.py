"""CpuBackend against the independent float64 forward (tests/reference_f64.py), and its API."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from backends import open_backend
from backends.api import Trace
from backends.cpu import matvec as mv
from backends.cpu import ops as cpu_ops
from backends.cpu.backend import CpuBackend
from tests import reference_f64
from tests.reference_f64 import RefModel, forward_f64

PROMPT = [3, 1, 4, 1, 5, 9, 2, 6]
# float32 weights-exact forward vs float64: measured ~7e-7 on tiny and small. 1e-5 leaves room
# for summation-order changes while a wrong op (an eps, a missing norm) moves logits by >1e-3.
REL_TOL = 1e-5
# Q8_K steps from x.5 within which float32 and float64 may legitimately round apart: their
# activations differ by ~1e-7 relative, i.e. <= 127 * 1e-7 ~ 1e-5 steps; 1e-3 leaves 100x room.
MU = 1e-3


def rel_err(a, ref) -> float:
    """max |a - ref| / max |ref|."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref)) / np.max(np.abs(ref)))


@pytest.fixture(scope="module", params=["tiny", "small"])
def model_and_ref(request):
    model = request.getfixturevalue(f"{request.param}_model")
    return model, RefModel(model.path)


def test_cpu_backend_matches_float64_reference_fp32(model_and_ref):
    model, ref_model = model_and_ref
    trace = CpuBackend(model, act="fp32").trace(PROMPT, prefill_len=5)
    assert_matches(trace, forward_f64(ref_model, PROMPT, "fp32"))


def test_cpu_backend_matches_float64_reference_q8k(model_and_ref, monkeypatch):
    # Q8_K rounding is discontinuous: float32 and float64 activations ~1e-5 steps apart round
    # differently when they straddle x.5, and synthetic gains amplify one step to ~1e-2 in the
    # logits. The reference keeps such ambiguous elements (within MU steps of x.5, one step
    # apart) in step with the backend's recorded choice; any other difference stays visible.
    model, ref_model = model_and_ref
    inputs, outputs = [], []
    original = mv.activation_roundtrip

    def recording(x, qtype, act):
        out = original(x, qtype, act)
        if act == "q8k" and mv.VEC_DOT_TYPE.get(qtype) == "Q8_K":
            inputs.append(np.array(x, np.float32))
            outputs.append(np.array(out, np.float32))
        return out

    monkeypatch.setattr(mv, "activation_roundtrip", recording)
    trace = CpuBackend(model, act="q8k").trace(PROMPT, prefill_len=5)
    lock = reference_f64.Lockstep(inputs, outputs, mu=MU)
    assert_matches(trace, forward_f64(ref_model, PROMPT, "q8k", lock=lock), repr(lock))
    assert lock.refused == 0 and lock.unmatched == 0, repr(lock)


def assert_matches(trace: Trace, ref: dict, note: str = "") -> None:
    assert rel_err(trace.logits, ref["logits"]) <= REL_TOL, note
    assert rel_err(trace.hidden, ref["hidden"]) <= REL_TOL, note
    assert rel_err(trace.hidden_attn, ref["hidden_attn"]) <= REL_TOL, note
    np.testing.assert_array_equal(trace.router_ids, ref["router_ids"])
    np.testing.assert_allclose(trace.router_weights, ref["router_weights"], rtol=REL_TOL)
    np.testing.assert_allclose(trace.router_probs, ref["router_probs"], rtol=REL_TOL, atol=1e-7)


def test_cpu_backend_q8k_path_is_a_different_operation(tiny_model):
    # llama.cpp's activation quantisation moves logits by ~1e-2 relative (docs/reference.md §4); if
    # the q8k path changed nothing, the test above would not be testing the emulation at all.
    fp32 = CpuBackend(tiny_model, act="fp32").prefill(PROMPT)
    q8k = CpuBackend(tiny_model, act="q8k").prefill(PROMPT)
    assert rel_err(q8k, fp32.astype(np.float64)) > 100 * REL_TOL


@pytest.mark.parametrize("act", ["fp32", "q8k"])
def test_cpu_backend_cached_decode_equals_full_prefill_at_every_position(tiny_model, act):
    # Bit for bit: every op runs token by token with the same arithmetic in both paths (under
    # q8k, a 1-ulp difference could move an activation a whole quantisation step).
    backend = CpuBackend(tiny_model, act=act)
    full = backend.trace(PROMPT)  # one prefill of all 8 tokens
    for prefill_len in (1, 5):  # then cached decodes for the rest
        part = backend.trace(PROMPT, prefill_len=prefill_len)
        np.testing.assert_array_equal(part.logits, full.logits)
        np.testing.assert_array_equal(part.hidden, full.hidden)
    backend.reset()
    by_hand = [backend.prefill(PROMPT[:3])] + [backend.decode(t)[None] for t in PROMPT[3:]]
    np.testing.assert_array_equal(np.concatenate(by_hand), full.logits)


def test_cpu_backend_trace_shapes_and_router_invariants(small_model):
    cfg = small_model.config
    trace = CpuBackend(small_model).trace(PROMPT, prefill_len=3)
    L, T, H, k, E = cfg.n_layer, len(PROMPT), cfg.n_embd, cfg.n_expert_used, cfg.n_expert
    assert isinstance(trace, Trace)
    assert trace.logits.shape == (T, cfg.vocab_size) and trace.logits.dtype == np.float32
    assert trace.hidden.shape == trace.hidden_attn.shape == (L, T, H)
    assert trace.router_ids.shape == trace.router_weights.shape == (L, T, k)
    assert trace.router_ids.dtype == np.int32 and trace.router_probs.shape == (L, T, E)
    np.testing.assert_allclose(trace.router_weights.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(trace.router_probs.sum(-1), 1.0, rtol=1e-5)
    assert trace.router_ids.min() >= 0 and trace.router_ids.max() < E
    assert np.all(np.diff(trace.router_weights, axis=-1) <= 0), "ids not in descending weight"
    assert all(len(set(row)) == k for row in trace.router_ids.reshape(-1, k).tolist())
    assert trace.meta["act"] == "fp32" and trace.meta["prefill_len"] == 3
    assert np.isfinite(trace.logits).all()


def test_cpu_backend_generate_is_deterministic_and_greedy(tiny_model):
    backend = CpuBackend(tiny_model)
    first = backend.generate(PROMPT[:4], 5)
    assert backend.generate(PROMPT[:4], 5) == first
    assert len(first) == 5 and all(0 <= t < tiny_model.config.vocab_size for t in first)
    # teacher-forcing the generated ids reproduces each argmax
    logits = backend.trace(PROMPT[:4] + first[:-1]).logits
    assert [int(i) for i in np.argmax(logits[3:], axis=-1)] == first
    assert backend.generate(PROMPT[:4], 0) == []


def test_cpu_backend_identity_names_act_path_and_counters_are_zero(tiny_model):
    backend = open_backend("cpu", tiny_model, act="q8k")
    ident = backend.identity()
    for key in (
        "backend",
        "adapter",
        "vendor_id",
        "device_id",
        "backend_type",
        "adapter_type",
        "driver",
        "is_cpu",
        "fallback",
    ):
        assert key in ident
    assert ident["backend"] == "cpu" and ident["is_cpu"] and not ident["fallback"]
    assert ident["act"] == "q8k" and backend.act == "q8k"
    assert set(backend.counters().values()) == {0}
    assert {"submits", "dispatches", "pipelines_created", "bind_groups_created"} <= set(backend.counters())


def test_cpu_backend_memory_bytes_counts_weights_and_cache(tiny_model):
    backend = CpuBackend(tiny_model)
    weights = sum(t.nbytes for t in tiny_model.tensors.values())
    before = backend.memory_bytes()
    backend.prefill(PROMPT)
    assert weights < before < backend.memory_bytes()


def test_cpu_backend_rejects_bad_input(tiny_model):
    with pytest.raises(ValueError, match="activation path"):
        CpuBackend(tiny_model, act="int4")
    backend, cfg = CpuBackend(tiny_model), tiny_model.config
    with pytest.raises(ValueError, match=f"token id {cfg.vocab_size}"):
        backend.prefill([1, cfg.vocab_size])
    with pytest.raises(ValueError, match=f"context_length {cfg.context_length}"):
        backend.prefill([1] * (cfg.context_length + 1))
    with pytest.raises(ValueError, match="prefill_len"):
        backend.trace(PROMPT, prefill_len=0)


class _TiedView:
    """The tiny model as a file without output.weight would be: the head falls back to token_embd."""

    def __init__(self, model):
        self.path, self.raw = model.path, model.raw
        self.config = dataclasses.replace(model.config, tied_output=True)
        self.tensors = {k: v for k, v in model.tensors.items() if k != "output.weight"}


def test_cpu_backend_tied_output_reuses_token_embd(tiny_model):
    tied = CpuBackend(_TiedView(tiny_model)).prefill(PROMPT)
    ref_model = RefModel(tiny_model.path)
    del ref_model._tensors["output.weight"]  # the reference's own fallback path
    ref = forward_f64(ref_model, PROMPT)
    assert rel_err(tied, ref["logits"]) <= REL_TOL
    assert rel_err(CpuBackend(tiny_model).prefill(PROMPT), ref["logits"]) > 100 * REL_TOL


def test_cpu_moe_ops_match_float64_experts(tiny_model):
    ref_model = RefModel(tiny_model.path)
    h = np.random.default_rng(11).standard_normal(tiny_model.config.n_embd).astype(np.float32)
    ids, weights = [4, 1], np.array([0.7, 0.3], np.float32)
    p = "blk.1."
    want_swiglu, want_out = [], np.zeros(tiny_model.config.n_embd)
    for e, w in zip(ids, weights):
        g = ref_model.weight(p + "ffn_gate_exps.weight", e) @ h
        a = g / (1 + np.exp(-g)) * (ref_model.weight(p + "ffn_up_exps.weight", e) @ h)
        want_swiglu.append(a)
        want_out += w * (ref_model.weight(p + "ffn_down_exps.weight", e) @ a)
    swiglu = cpu_ops.expert_swiglu(tiny_model, 1, h, ids)
    assert swiglu.shape == (2, tiny_model.config.n_ff_exp)
    assert rel_err(swiglu, np.array(want_swiglu)) <= REL_TOL
    assert rel_err(cpu_ops.moe_ffn(tiny_model, 1, h, ids, weights), want_out) <= REL_TOL
