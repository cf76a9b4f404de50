"""Falsifier kinds on the null backend: what each measures, and parity's failure diagnostics."""

import hashlib

import numpy as np
import pytest

from backends.null_backend import NullBackend
from harness.contract.loader import build_contract
from harness.falsifiers.throughput import timed_run
from harness.plan import Filters
from harness.runner import Runner
from tests.engine_support import document, falsifier, null_options, parity, write_contract

FID = "FALSIFY-T-001"


class _Skewed(NullBackend):
    """On a wgpu cell (device selector given): layer 1's MoE output and router drift at position 2."""

    def trace(self, tokens, prefill_len=None):
        tr = super().trace(tokens, prefill_len)
        if self.device and len(tokens) > 2:
            tr.hidden[1, 2] = -tr.hidden[1, 2]
            tr.router_ids[1, 2] = (tr.router_ids[1, 2] + 1) % self.cfg.n_expert
            tr.logits[2] = -tr.logits[2]
        return tr


class _BadRouter(NullBackend):
    def trace(self, tokens, prefill_len=None):
        tr = super().trace(tokens, prefill_len)
        tr.router_weights[0, 0] *= 1.5
        tr.router_ids[1, 0, 1] = tr.router_ids[1, 0, 0]
        return tr


def run_one(tmp_path, f, cls=NullBackend, cell="lavapipe", name="c.yaml"):
    c = write_contract(tmp_path, document([f]), name)
    opts = null_options(c, tmp_path, open_backend=lambda n, m, device=None: cls(m, device=device))
    return Runner(c, Filters(), **opts).run().jobs[0]


def test_parity_failure_names_first_layer_stage_and_router_mismatch(tmp_path):
    f = parity(FID, ["lavapipe"], compare="layers")
    f["thresholds"] = [
        {"metric": "layer_cosine_min", "comparator": ">=", "value": 0.99},
        {"metric": "router_id_agreement", "comparator": ">=", "value": 1.0},
    ]
    job = run_one(tmp_path, f, _Skewed)
    assert job["verdict"] == "FAIL"
    assert job["measurements"]["router_id_agreement"] < 1.0
    assert job["measurements"]["cosine_min"] == pytest.approx(-1.0)
    d = job["diagnostics"]
    assert d["first_divergence"]["layer"] == 1 and d["first_divergence"]["stage"] == "moe"
    assert d["router_mismatch_count"] == 1
    m = d["router_mismatches"][0]
    assert (m["prompt"], m["layer"], m["position"]) == ("a", 1, 2)
    assert m["ids"] != m["ids_reference"] and m["margin_reference"] > 0
    assert d["per_prompt"][0]["worst_position"] == 2


def test_parity_identical_backends_pass_with_no_divergence(tmp_path):
    job = run_one(tmp_path, parity(FID, ["lavapipe"], compare="layers"))
    assert job["verdict"] == "PASS"
    assert job["measurements"]["layer_cosine_min"] == pytest.approx(1.0)
    assert job["diagnostics"]["first_divergence"] is None


def test_parity_self_prefill_compares_decode_with_full_prefill(tmp_path):
    job = run_one(tmp_path, parity(FID, ["cpu-reference"], reference="self-prefill"))
    assert job["verdict"] == "PASS" and job["measurements"]["max_abs"] == 0.0


def test_invariant_catches_unnormalised_weights_and_repeated_ids(tmp_path):
    f = falsifier(
        FID,
        "invariant",
        {"prompts": ["a"]},
        [
            ("router_weight_sum_max_dev", "<=", 1e-6),
            ("expert_ids_distinct", "==", 1),
            ("expert_ids_in_range", "==", 1),
            ("all_finite", "==", 1),
            ("shape_ok", "==", 1),
        ],
        ["cpu-reference"],
    )
    good = run_one(tmp_path, f)
    assert good["verdict"] == "PASS"
    bad = run_one(tmp_path, f, _BadRouter, name="d.yaml")
    assert bad["verdict"] == "FAIL"
    assert bad["measurements"]["router_weight_sum_max_dev"] > 0.1
    assert bad["measurements"]["expert_ids_distinct"] == 0.0
    assert bad["measurements"]["expert_ids_in_range"] == 1.0


def oracle(fixture, sha):
    return falsifier(
        FID,
        "oracle",
        {"fixture": fixture, "sha256": sha, "model": "tiny", "prompts": ["a", "b"]},
        [("cosine_min", ">=", 0.999), ("argmax_agreement", ">=", 1.0)],
        ["cpu-reference"],
    )


def write_fixture(tmp_path, flip=False, model_sha=None):
    from tests.engine_support import FakeModel

    p = tmp_path / "m"
    p.write_bytes(b"tiny1")
    b = NullBackend(FakeModel(p))
    arrays = {}
    for name, toks in (("a", [1, 2, 3, 4]), ("b", [5])):
        logits = b.trace(toks).logits
        arrays[f"{name}/tokens"] = np.asarray(toks)
        arrays[f"{name}/logits"] = -logits if flip else logits
    if model_sha is not None:
        arrays["meta/model_sha256"] = np.asarray([model_sha])  # as scripts/make_hf_fixture.py stores it
    path = tmp_path / "fixtures" / "fx.npz"
    path.parent.mkdir(exist_ok=True)
    np.savez(path, **arrays)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_oracle_passes_on_a_pinned_matching_fixture(tmp_path):
    sha = write_fixture(tmp_path)
    job = run_one(tmp_path, oracle("fixtures/fx.npz", sha))
    assert job["verdict"] == "PASS", job["reason"]


def test_oracle_checks_the_model_the_fixture_was_computed_on(tmp_path):
    model_sha = hashlib.sha256(b"tiny1").hexdigest()  # the fake store's tiny model bytes
    ok = run_one(tmp_path, oracle("fixtures/fx.npz", write_fixture(tmp_path, model_sha=model_sha)))
    assert ok["verdict"] == "PASS", ok["reason"]
    stale = run_one(tmp_path, oracle("fixtures/fx.npz", write_fixture(tmp_path, model_sha="ab" * 32)), name="d.yaml")
    assert stale["verdict"] == "FAIL" and "regenerate the fixture" in stale["reason"]


def test_oracle_fails_on_logits_that_disagree(tmp_path):
    sha = write_fixture(tmp_path, flip=True)
    job = run_one(tmp_path, oracle("fixtures/fx.npz", sha))
    assert job["verdict"] == "FAIL" and job["measurements"]["cosine_min"] == pytest.approx(-1.0)


@pytest.mark.parametrize(
    "fixture,sha,why",
    [
        ("fixtures/fx.npz", None, "not pinned"),
        ("fixtures/fx.npz", "0" * 64, "does not match the pinned"),
        ("fixtures/absent.npz", "0" * 64, "is missing"),
    ],
)
def test_oracle_unpinned_missing_or_mismatched_fixture_fails(tmp_path, fixture, sha, why):
    write_fixture(tmp_path)
    job = run_one(tmp_path, oracle(fixture, sha))
    assert job["verdict"] == "FAIL" and why in job["reason"]


def test_memory_ratio_is_resident_over_file_bytes(tmp_path):
    f = falsifier(FID, "memory", {}, [("weight_expansion_ratio", "<=", 1.05)], ["cpu-reference"])
    job = run_one(tmp_path, f)
    # the null backend reports exactly the file's tensor bytes as resident
    assert job["measurements"]["weight_expansion_ratio"] == 1.0 and job["verdict"] == "PASS"


def test_throughput_reports_prefill_and_decode_separately(tmp_path):
    f = falsifier(
        FID,
        "throughput",
        {"prompt_tokens": 4, "decode_tokens": 3, "runs": 3, "warmup_runs": 1},
        [("decode_tok_s_median", ">=", 1.0)],
        ["cpu-reference"],
    )
    job = run_one(tmp_path, f)
    d = job["diagnostics"]
    assert len(d["decode_tok_s"]) == 3 and len(d["prefill_tok_s"]) == 3
    assert job["measurements"]["decode_tok_s_median"] == sorted(d["decode_tok_s"])[1]


def test_throughput_device_greedy_records_both_decode_loops(tmp_path):
    f = falsifier(
        FID,
        "throughput",
        {"prompt_tokens": 4, "decode_tokens": 3, "runs": 1, "decode_mode": "device_greedy"},
        [("decode_tok_s_median", ">=", 1.0)],
        ["cpu-reference"],
    )
    job = run_one(tmp_path, f)
    d = job["diagnostics"]
    assert d["decode_mode"] == "device_greedy" and len(d["host_loop_decode_tok_s"]) == 1
    assert job["measurements"]["decode_tok_s_median"] == d["decode_tok_s"][0]


class _TimedGenerate:
    """A backend whose generate reports fixed timings (and a host loop that is instant)."""

    def __init__(self, ids_short=False):
        self.ids_short = ids_short

    def reset(self):
        pass

    def prefill(self, tokens):
        return np.zeros((len(tokens), 4), np.float32)

    def decode(self, token):
        return np.zeros(4, np.float32)

    def generate(self, tokens, n, timings=None):
        timings.update(prefill_s=1.0, decode_s=0.25)
        return [0] * (n - 1 if self.ids_short else n)


def test_throughput_device_greedy_takes_decode_seconds_from_generate():
    t = timed_run(_TimedGenerate(), [1, 2], 5, "device_greedy")
    assert t["decode_s"] == 0.25 and t["host_decode_s"] > 0


def test_throughput_device_greedy_refuses_a_short_generate():
    with pytest.raises(RuntimeError, match="returned 5 ids"):
        timed_run(_TimedGenerate(ids_short=True), [1, 2], 5, "device_greedy")


def test_throughput_unknown_decode_mode_is_refused():
    with pytest.raises(ValueError, match="decode_mode 'fast' unknown"):
        timed_run(_TimedGenerate(), [1], 2, "fast")


def test_op_parity_refuses_to_compare_the_cpu_op_with_itself(tmp_path):
    # the lint refuses this contract too; the engine must not rely on that (build without lint)
    f = falsifier(
        FID,
        "op_parity",
        {"op": "expert_swiglu", "layers": "all", "samples": 1},
        [("nmse_max", "<=", 1e-7)],
        ["cpu-reference"],
    )
    doc = document([f])
    c = build_contract(doc, tmp_path / "c.yaml", b"{}")
    opts = null_options(c, tmp_path)
    job = Runner(c, Filters(), **opts).run().jobs[0]
    assert job["verdict"] == "ERROR" and "compared with itself" in job["reason"]
