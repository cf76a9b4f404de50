"""Engine on the null backend: plan and filters, device matrix, runner verdicts, fallback,
errors, waivers. Fast: nothing here computes a real forward pass."""

import numpy as np
import pytest

from backends.api import BackendUnavailable
from backends.null_backend import NullBackend
from harness.devices import resolve_cells
from harness.falsifiers import UnknownKind, get_kind
from harness.plan import Filters, PlanError, build_plan
from harness.runner import Runner
from tests.engine_support import LAVAPIPE, determinism, document, falsifier, null_options, parity, write_contract

PAR, DET = "FALSIFY-T-PARITY-001", "FALSIFY-T-DET-001"


@pytest.fixture
def contract(tmp_path):
    return write_contract(
        tmp_path,
        document(
            [
                parity(PAR, ["lavapipe", "nvidia-vulkan"]),
                determinism(DET, ["cpu-reference", "lavapipe"]),
                falsifier(
                    "FALSIFY-T-HEAVY-001",
                    "memory",
                    {},
                    [("device_bytes", "<=", 1e12)],
                    ["cpu-reference"],
                    tags=["heavy"],
                ),
            ]
        ),
    )


def by_key(result):
    return {(j["falsifier"], j["cell"]): j for j in result.jobs}


def run(contract, tmp_path, filters=Filters(), **kw):
    return Runner(contract, filters, **null_options(contract, tmp_path, **kw)).run()


def test_plan_covers_every_falsifier_cell_pair_in_contract_order(contract):
    jobs = build_plan(contract, Filters())
    assert [j.key for j in jobs] == [
        (PAR, "lavapipe"),
        (PAR, "nvidia-vulkan"),
        (DET, "cpu-reference"),
        (DET, "lavapipe"),
        ("FALSIFY-T-HEAVY-001", "cpu-reference"),
    ]
    assert [j.counted for j in jobs] == [True, True, True, True, False]
    assert "heavy" in jobs[-1].excluded


def test_plan_filters_exclude_but_keep_jobs(contract):
    jobs = build_plan(contract, Filters(devices=("lavapipe",), falsifiers=(DET,), heavy=True))
    runs = [j.key for j in jobs if j.counted]
    assert runs == [(DET, "lavapipe")]
    reasons = {j.key: j.excluded for j in jobs}
    assert reasons[(PAR, "lavapipe")] == "excluded by --falsifier"
    assert reasons[(DET, "cpu-reference")] == "excluded by --device"


@pytest.mark.parametrize(
    "filters,word",
    [(Filters(devices=("tpu",)), "--device tpu"), (Filters(falsifiers=("FALSIFY-NOPE",)), "--falsifier FALSIFY-NOPE")],
)
def test_plan_unknown_filter_is_a_usage_error(contract, filters, word):
    with pytest.raises(PlanError, match=word):
        build_plan(contract, filters)


def test_plan_model_override_replaces_every_model_and_excludes_oracles(tmp_path):
    c = write_contract(
        tmp_path,
        document(
            [
                determinism(DET, ["cpu-reference"]),
                falsifier(
                    "FALSIFY-T-ORACLE-001",
                    "oracle",
                    {"fixture": "f.npz", "sha256": None, "model": "tiny", "prompts": ["a"]},
                    [("cosine_min", ">=", 0.9)],
                    ["cpu-reference"],
                ),
            ]
        ),
    )
    jobs = build_plan(c, Filters(model_override="/m/real.gguf"))
    assert {j.model for j in jobs} == {"/m/real.gguf"}
    assert jobs[0].counted and not jobs[1].counted
    assert "fixture is for model tiny" in jobs[1].excluded


def test_devices_cpu_always_present_and_absent_cells_say_why(contract):
    cells = resolve_cells(contract.devices, [LAVAPIPE])
    assert cells["cpu-reference"].present and cells["lavapipe"].present
    assert cells["lavapipe"].identity["name"].startswith("llvmpipe")
    nv = cells["nvidia-vulkan"]
    assert not nv.present and "vendor_id=0x10de" in nv.reason and "llvmpipe" in nv.reason
    assert not resolve_cells(contract.devices, [])["lavapipe"].present


def test_runner_verdicts_on_null_backend(contract, tmp_path):
    jobs = by_key(run(contract, tmp_path))
    par = jobs[(PAR, "lavapipe")]
    assert par["verdict"] == "PASS" and par["measurements"]["cosine_min"] == pytest.approx(1.0)
    assert par["thresholds"][0]["ok"] and par["counted"]
    absent = jobs[(PAR, "nvidia-vulkan")]
    assert absent["verdict"] == "NOT_RUN" and absent["counted"] and "no wgpu adapter" in absent["reason"]
    assert jobs[(DET, "cpu-reference")]["measurements"]["max_abs_diff"] == 0.0
    heavy = jobs[("FALSIFY-T-HEAVY-001", "cpu-reference")]
    assert heavy["verdict"] == "NOT_RUN" and not heavy["counted"]


def test_runner_reuses_one_backend_per_cell_and_model(contract, tmp_path):
    opened = []

    def opener(name, model, device=None):
        opened.append(device)
        return NullBackend(model, device=device)

    run(contract, tmp_path, open_backend=opener)
    # lavapipe (parity + determinism) once, cpu-reference (reference + determinism) once
    assert len(opened) == 2


class _Fallback(NullBackend):
    def identity(self):
        return {**super().identity(), "fallback": True}


class _NoSubmits(NullBackend):
    def trace(self, tokens, prefill_len=None):
        tr = super().trace(tokens, prefill_len)
        self._counters["submits"] = 0
        return tr


@pytest.mark.parametrize("cls,why", [(_Fallback, "identity reports fallback"), (_NoSubmits, "no GPU submission")])
def test_runner_cpu_fallback_on_a_wgpu_cell_is_fail(contract, tmp_path, cls, why):
    jobs = by_key(run(contract, tmp_path, open_backend=lambda n, m, device=None: cls(m, device=device)))
    lav = jobs[(DET, "lavapipe")]
    assert lav["verdict"] == "FAIL" and "CPU fallback" in lav["reason"] and why in lav["reason"]
    # recorded as measurements, judged like any other, so an audit can re-judge them
    assert {"gpu_submissions", "gpu_fallback_reported"} <= set(lav["measurements"])
    assert any(t["metric"] == "gpu_submissions" for t in lav["thresholds"])
    # the same backend on the CPU cell is not a fallback: it is the CPU
    assert jobs[(DET, "cpu-reference")]["verdict"] == "PASS"


class _Crash(NullBackend):
    def trace(self, tokens, prefill_len=None):
        raise RuntimeError("shader exploded")


def test_runner_records_gpu_evidence_on_wgpu_cells_only(contract, tmp_path):
    jobs = by_key(run(contract, tmp_path))
    lav, cpu = jobs[(DET, "lavapipe")], jobs[(DET, "cpu-reference")]
    assert lav["verdict"] == "PASS" and lav["measurements"]["gpu_submissions"] >= 1
    assert lav["measurements"]["gpu_fallback_reported"] == 0
    assert "gpu_submissions" not in cpu["measurements"]


def test_runner_backend_crash_is_error_with_the_message(contract, tmp_path):
    jobs = by_key(run(contract, tmp_path, open_backend=lambda n, m, device=None: _Crash(m)))
    assert jobs[(DET, "lavapipe")]["verdict"] == "ERROR"
    assert "RuntimeError: shader exploded" in jobs[(DET, "lavapipe")]["reason"]


def test_runner_backend_unavailable_is_not_run(contract, tmp_path):
    def opener(name, model, device=None):
        if device:
            raise BackendUnavailable("wgpu: this process already holds a device")
        return NullBackend(model)

    jobs = by_key(run(contract, tmp_path, open_backend=opener))
    assert jobs[(DET, "lavapipe")]["verdict"] == "NOT_RUN"
    assert "already holds" in jobs[(DET, "lavapipe")]["reason"]
    assert jobs[(DET, "cpu-reference")]["verdict"] == "PASS"


def test_runner_missing_f64_reference_is_error_never_pass(tmp_path, monkeypatch):
    monkeypatch.setattr("harness.runner.backends.backend_names", lambda: ["cpu", "wgpu"])
    c = write_contract(tmp_path, document([parity(PAR, ["cpu-reference"], reference="f64")]))
    job = run(c, tmp_path).jobs[0]
    assert job["verdict"] == "ERROR" and job["reason"] == "reference backend f64 not available"


def test_runner_waiver_turns_fail_into_waived(tmp_path):
    waiver = {"falsifier": PAR, "cell": "lavapipe", "owner": "gpu-team", "reason": "rounding", "expires": "2099-01-01"}
    c = write_contract(
        tmp_path,
        document(
            [
                falsifier(
                    PAR,
                    "parity",
                    {"reference": "cpu-reference", "prompts": ["a"]},
                    [("cosine_min", "<", 0.5)],
                    ["lavapipe"],
                )
            ],
            waivers=[waiver],
        ),
    )
    job = run(c, tmp_path).jobs[0]
    assert job["verdict"] == "WAIVED" and job["waiver"]["owner"] == "gpu-team"
    assert job["thresholds"][0]["ok"] is False


def test_runner_expired_waiver_fails_a_passing_job(tmp_path):
    waiver = {"falsifier": PAR, "cell": "lavapipe", "owner": "gpu-team", "reason": "rounding", "expires": "2026-01-01"}
    c = write_contract(tmp_path, document([parity(PAR, ["lavapipe"])], waivers=[waiver]))
    job = Runner(c, Filters(), today="2026-11-26", **null_options(c, tmp_path)).run().jobs[0]
    assert job["verdict"] == "FAIL" and "expired on 2026-01-01" in job["reason"]


def test_runner_progress_reports_each_job(contract, tmp_path):
    seen = []
    run(contract, tmp_path, progress=lambda i, n, job: seen.append((i, n, job.cell.id)))
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5] and seen[0][1] == 5


def test_falsifier_registry_is_closed():
    assert type(get_kind("parity")).__name__ == "Parity"
    with pytest.raises(UnknownKind, match="unknown falsifier kind 'vibes'"):
        get_kind("vibes")


def test_null_backend_prefill_decode_and_trace_agree(tmp_path):
    from tests.engine_support import FakeModel

    p = tmp_path / "m"
    p.write_bytes(b"x")
    b = NullBackend(FakeModel(p))
    tr = b.trace([3, 1, 4, 1], 2)
    b.reset()
    logits = list(b.prefill([3, 1])) + [b.decode(4), b.decode(1)]
    np.testing.assert_array_equal(np.stack(logits), tr.logits)
    assert np.allclose(tr.router_weights.sum(-1), 1.0)
