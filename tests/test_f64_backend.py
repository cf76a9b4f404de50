"""The float64 reference backend ("f64"): agrees with the CPU reference, stays independent of it,
and behaves as a Backend (prefill/decode/trace, refuses faults and bad input)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import backends.model.quants as cpu_quants
from backends import open_backend
from backends.model.errors import ModelFormatError
from backends.f64.activations import q8_K_roundtrip
from backends.f64.backend import F64Backend
from backends.faults import FAULTS
from harness.contract.loader import load_contract

ROOT = Path(__file__).resolve().parents[1]
PROMPT = [3, 1, 4, 1, 5, 9, 2, 6]


@pytest.fixture(scope="module")
def rel_tol() -> float:
    """The CPU contract's own bound for CPU vs f64 logits (FALSIFY-QW3-MOE-CPU-PARITY-001)."""
    contract = load_contract(ROOT / "contracts" / "qwen3-moe-forward-v1.yaml")
    f = next(f for f in contract.falsifiers if f.id == "FALSIFY-QW3-MOE-CPU-PARITY-001")
    return next(float(t.value) for t in f.thresholds if t.metric == "logits_rel_l2_max")


def rel_err(a, ref) -> float:
    """max |a - ref| / max |ref|."""
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def test_f64_backend_matches_cpu_reference_on_tiny(tiny_model, rel_tol):
    f64 = open_backend("f64", tiny_model).trace(PROMPT, prefill_len=5)
    cpu = open_backend("cpu", tiny_model).trace(PROMPT, prefill_len=5)
    for key in ("logits", "hidden_attn", "hidden", "router_weights", "router_probs"):
        assert rel_err(getattr(cpu, key), getattr(f64, key)) <= rel_tol, key
    np.testing.assert_array_equal(cpu.router_ids, f64.router_ids)
    assert f64.logits.dtype == np.float64 and f64.router_ids.dtype == np.int32


def test_f64_backend_is_not_the_cpu_code(tiny_model):
    # Independence is the point: no shared model layer, codecs or maths with the CPU reference.
    shared = ("backends.cpu", "backends.model.quants", "backends.model.gguf_model", "backends.model.config")
    for path in sorted((ROOT / "backends" / "f64").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if n.startswith(shared)], f"{path.name} imports {names}"


def test_f64_backend_q8k_rounding_equals_the_cpu_codec_on_random_rows():
    # Same float32 arithmetic in both (ggml-quants.c's quantize_row_q8_K_ref), written twice.
    x = np.random.default_rng(7).standard_normal((16, 512)).astype(np.float32) * 3
    x[3, :256] = 0.0  # an all-zero block
    np.testing.assert_array_equal(q8_K_roundtrip(x), cpu_quants.q8_K_roundtrip(x))


def test_f64_backend_q8k_path_changes_the_logits(tiny_model, rel_tol):
    # llama.cpp's activation rounding moves logits by ~1e-2 relative: if "q8k" changed nothing,
    # the path would not be emulated at all.
    fp32 = open_backend("f64", tiny_model, act="fp32").prefill(PROMPT)
    q8k = open_backend("f64", tiny_model, act="q8k").prefill(PROMPT)
    assert rel_err(q8k, fp32) > 100 * rel_tol


def test_f64_backend_prefill_decode_and_trace_agree(tiny_model):
    backend = open_backend("f64", tiny_model)
    full = backend.trace(PROMPT, prefill_len=3)
    backend.reset()
    steps = [backend.prefill(PROMPT[:3])] + [backend.decode(t)[None] for t in PROMPT[3:]]
    np.testing.assert_allclose(np.concatenate(steps), full.logits, rtol=1e-12, atol=1e-12)
    assert full.meta["prefill_len"] == 3 and full.meta["act"] == "fp32"
    greedy = backend.generate(PROMPT[:3], 2)
    assert greedy[0] == int(np.argmax(full.logits[2]))


def test_f64_backend_refuses_every_fault(tiny_model):
    for fault in FAULTS:
        with pytest.raises(NotImplementedError, match=fault):
            open_backend("f64", tiny_model, faults=frozenset({fault}))


def test_f64_backend_rejects_bad_input(tiny_model):
    with pytest.raises(ValueError, match="activation path"):
        F64Backend(tiny_model, act="int4")
    backend = F64Backend(tiny_model)
    with pytest.raises(ValueError, match=f"token id {backend.vocab_size}"):
        backend.prefill([1, backend.vocab_size])
    with pytest.raises(ValueError, match="prefill_len"):
        backend.trace(PROMPT, prefill_len=0)
    del backend.weights.meta["qwen3moe.rope.freq_base"]
    with pytest.raises(ModelFormatError, match="qwen3moe.rope.freq_base"):
        backend.prefill([1])


def test_f64_backend_identity_and_counters(tiny_model):
    backend = open_backend("f64", tiny_model)
    ident = backend.identity()
    assert ident["backend"] == "f64" and ident["is_cpu"] and not ident["fallback"]
    assert set(backend.counters().values()) == {0}
    backend.prefill(PROMPT)
    assert backend.memory_bytes() > 0
