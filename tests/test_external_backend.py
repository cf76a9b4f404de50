"""The external backend against the reference engine and against engines that misbehave
(tests/hostile_engine.py): every misbehaviour is an error naming the engine's stderr, never a
hang and never a believed answer."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from backends import open_backend
from backends.api import BackendUnavailable, CapabilityMissing, NonFiniteOutput
from backends.external import wire
from backends.external.process import EngineError

REFERENCE = ["{python}", "-m", "backends.external.reference_engine"]
HOSTILE = str(Path(__file__).with_name("hostile_engine.py"))
TOKENS = [1, 17, 42, 5, 300, 7]


def engine(command, **kw):
    return {"command": command, **kw}


def hostile(mode, **kw):
    return engine([sys.executable, HOSTILE, mode], **kw)


@pytest.fixture(scope="module")
def cpu(tiny_model):
    return open_backend("cpu", tiny_model)


@pytest.fixture(scope="module")
def ref(tiny_model):
    b = open_backend("external", tiny_model, engine=engine(REFERENCE))
    yield b
    b.close()


def test_reference_engine_answers_as_the_cpu_backend_bit_for_bit(ref, cpu):
    a, b = ref.trace(TOKENS, 3), cpu.trace(TOKENS, 3)
    for key in ("logits", "hidden_attn", "hidden", "router_ids", "router_weights", "router_probs"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    assert a.router_ids.dtype == np.int32 and a.has_layers
    ref.reset()
    cpu.reset()
    assert np.array_equal(ref.prefill(TOKENS[:4]), cpu.prefill(TOKENS[:4]))
    assert np.array_equal(ref.decode(TOKENS[4]), cpu.decode(TOKENS[4]))
    timings: dict = {}
    assert ref.generate(TOKENS, 4, timings) == cpu.generate(TOKENS, 4)
    assert set(timings) == {"prefill_s", "decode_s"}
    assert ref.memory_bytes() == cpu.memory_bytes()


def test_identity_names_the_engine_in_the_wgpu_identity_shape(ref):
    ident = ref.identity()
    assert ident["backend"] == "external" and ident["engine"] == "harness-reference-engine"
    for key in ("adapter", "vendor_id", "device_id", "backend_type", "adapter_type", "driver", "is_cpu", "fallback"):
        assert key in ident, key
    assert ident["backend_type"] == "numpy" and ident["is_cpu"] is True
    assert ident["fallback"] is False and ident["protocol"] == wire.PROTOCOL


def test_selector_is_matched_against_the_identity_the_engine_reports(tiny_model):
    with pytest.raises(BackendUnavailable, match="does not match the cell's selector"):
        open_backend("external", tiny_model, device={"backend_type": "CUDA"}, engine=engine(REFERENCE))
    with pytest.raises(BackendUnavailable, match="Fake GPU"):
        open_backend("external", tiny_model, device={"backend_type": "numpy"}, engine=hostile("cuda"))
    b = open_backend(
        "external", tiny_model, device={"backend_type": "CUDA", "name_pattern": "Fake"}, engine=hostile("cuda")
    )
    assert b.identity()["adapter"] == "Fake GPU"
    b.close()


@pytest.mark.parametrize(
    "mode, match",
    [
        ("crash", r"(?s)exited with code 3.*segfault imminent"),
        ("junk", "not a JSON line.*loading kernels"),
        ("shape", r"tensors \[logits:f32\[6, \d+\]\] where \[logits:f32\[6, \d+\]\] were expected"),
        ("flood", "header line longer than"),
    ],
)
def test_a_broken_answer_is_an_engine_error_naming_it(tiny_model, mode, match):
    b = open_backend("external", tiny_model, engine=hostile(mode))
    with pytest.raises(EngineError, match=match):
        b.prefill(TOKENS)
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match="has exited"):  # killed: later calls fail at once
        b.decode(1)
    assert time.perf_counter() - t0 < 5
    b.close()


def test_a_hung_engine_is_killed_at_the_timeout(tiny_model):
    b = open_backend("external", tiny_model, engine=hostile("hang", timeout_s=1.5))
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match=r"no answer within 1.5 s \(the engine was killed\)"):
        b.prefill(TOKENS)
    assert time.perf_counter() - t0 < 10
    assert b.proc.proc.poll() is not None
    b.close()


@pytest.mark.parametrize(
    "mode, match",
    [
        ("hello-hang", "hello: no answer within 1.5 s"),
        ("protocol2", "speaks protocol 2, the harness speaks 1"),
    ],
)
def test_start_up_failures_are_bounded_and_named(tiny_model, mode, match):
    t0 = time.perf_counter()
    with pytest.raises(EngineError, match=match):
        open_backend("external", tiny_model, engine=hostile(mode, load_timeout_s=1.5))
    assert time.perf_counter() - t0 < 10


def test_nan_in_an_answer_is_a_wrong_answer(tiny_model):
    b = open_backend("external", tiny_model, engine=hostile("nan"))
    with pytest.raises(NonFiniteOutput, match="tensor logits has 1 non-finite value"):
        b.prefill(TOKENS)
    with pytest.raises(NonFiniteOutput):
        b.trace(TOKENS)
    b.close()


def test_generated_ids_outside_the_vocabulary_are_refused(tiny_model):
    b = open_backend("external", tiny_model, engine=hostile("bad-ids"))
    with pytest.raises(EngineError, match="generate: expected 3 ids"):
        b.generate(TOKENS, 3)
    b.close()


def test_an_engine_without_optional_ops_gives_logits_only(tiny_model, cpu):
    b = open_backend("external", tiny_model, engine=hostile("logits-only"))
    tr = b.trace(TOKENS, 2)
    assert not tr.has_layers and "does not offer the trace op" in tr.meta["layers"]
    assert np.array_equal(tr.logits, cpu.trace(TOKENS, 2).logits)
    assert b.generate(TOKENS, 3) == cpu.generate(TOKENS, 3)  # the harness's host loop
    with pytest.raises(CapabilityMissing, match="reports no memory figure"):
        b.memory_bytes()
    b.close()


def test_stray_prints_of_a_python_engine_stay_off_the_protocol(tiny_model, cpu):
    b = open_backend("external", tiny_model, engine=hostile("stray-print"))
    cpu.reset()
    assert np.array_equal(b.prefill(TOKENS), cpu.prefill(TOKENS))
    b.close()


def test_planted_faults_travel_in_the_load_request(tiny_model, cpu):
    b = open_backend("external", tiny_model, faults=frozenset({"rope_theta_10k"}), engine=engine(REFERENCE))
    assert b.identity()["faults"] == ["rope_theta_10k"]
    assert not np.allclose(b.trace(TOKENS).logits, cpu.trace(TOKENS).logits)
    b.close()
    with pytest.raises(NotImplementedError, match="unsupported_fault"):
        open_backend("external", tiny_model, faults=frozenset({"wgpu_cpu_fallback"}), engine=engine(REFERENCE))


def test_a_missing_command_is_refused_before_anything_starts(tiny_model):
    from backends import engine_missing

    assert "not found" in engine_missing("external", {"command": ["no-such-engine-xyz"]})
    assert engine_missing("external", {"command": REFERENCE}) == ""
    with pytest.raises(EngineError, match="cannot start engine"):
        open_backend("external", tiny_model, engine=engine(["/nonexistent/engine"]))


def test_wire_round_trip_and_bounds():
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([[1, 2]])}
    stream = io.BytesIO(wire.encode({"ok": True}, arrays))
    header = wire.read_header(stream)
    got = wire.read_tensors(stream, header, {"a": ("f32", (2, 3)), "b": ("i32", (1, 2))})
    assert np.array_equal(got["a"], arrays["a"]) and got["b"].dtype == np.int32
    # a header that announces other shapes is refused before a byte of data is read
    stream = io.BytesIO(wire.encode({"ok": True}, arrays))
    with pytest.raises(wire.WireError, match="were expected"):
        wire.read_tensors(stream, wire.read_header(stream), {"a": ("f32", (2, 4))})
    cut = wire.encode({"ok": True}, arrays)[:-3]
    stream = io.BytesIO(cut)
    with pytest.raises(wire.WireError, match="stream ended after"):
        wire.read_tensors(stream, wire.read_header(stream), {"a": ("f32", (2, 3)), "b": ("i32", (1, 2))})
    with pytest.raises(wire.WireError, match="a header must be a JSON object"):
        wire.read_header(io.BytesIO(b"[1, 2]\n"))
    with pytest.raises(wire.WireError, match="end of stream"):
        wire.read_header(io.BytesIO(b""))
