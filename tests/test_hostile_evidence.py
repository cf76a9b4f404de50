"""Issue 16 items 3, 4 and 9 (merge): merging never makes evidence fresher; a cell's recorded
adapter must be one its selector and hardware flag admit; unknown verdicts and duplicate
inputs are refused; merge audits its inputs instead of re-signing them."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.trust import keys
from harness.trust.report_file import open_report
from tests import trust_factory as tf

ALL_CELLS = ("cpu-reference", "lavapipe", "nvidia-vulkan", "apple-metal", "amd-vulkan", "intel-arc")
HARDWARE = ALL_CELLS[2:]
LLVMPIPE = {
    "name": "llvmpipe (LLVM 15.0.6, 256 bits)",
    "vendor_id": 0x10005,
    "device_id": 0,
    "backend_type": "Vulkan",
    "adapter_type": "CPU",
    "is_cpu": True,
}


@pytest.fixture(scope="module")
def signer():
    return keys.generate()


@pytest.fixture()
def env(tmp_path, signer):
    contract = tf.contract_copy(tmp_path)
    pub, key = tmp_path / "p.pem", tmp_path / "k.pem"
    pub.write_bytes(signer.verifier.public_pem())
    key.write_bytes(keys.private_pem(signer))
    key.chmod(0o600)
    return tmp_path, contract, pub, key


def _said(capsys) -> str:
    """Everything a command printed (results on stdout, refusals on stderr)."""
    captured = capsys.readouterr()
    return captured.out + captured.err


def _merge(tmp, pub, key, *reports):
    out = tmp / "merged.json"
    rc = main(["merge", *map(str, reports), "--out", str(out), "--pubkey", str(pub), "--key", str(key)])
    return rc, out


def _promote(contract, report, pub, day):
    return main(["promote", str(contract), "--report", str(report), "--pubkey", str(pub), "--date", day])


def test_merge_keeps_the_oldest_evidence_time_and_promote_judges_on_it(env, signer, capsys):
    tmp, contract, pub, key = env
    old = tf.make_predicate(contract, present=("cpu-reference", "lavapipe"))  # 2026-11-26
    new = tf.make_predicate(contract, present=HARDWARE)
    new["created"] = "2027-01-20T10:00:00+00:00"
    a, b = tf.write(tmp / "old.json", old, signer), tf.write(tmp / "new.json", new, signer)
    rc, out = _merge(tmp, pub, key, a, b)
    merged = open_report(out, [signer.verifier]).predicate
    assert merged["evidence_created"] == "2026-11-26T10:00:00+00:00"  # not the merge's time
    assert [i["evidence_created"] for i in merged["inputs"]] == [old["created"], new["created"]]
    assert main(["audit", str(out), "--pubkey", str(pub)]) == 0
    before = contract.read_bytes()
    # 2027-01-21: the newest input is a day old, the oldest 56 days: past the 30-day freshness
    assert _promote(contract, out, pub, "2027-01-21") == 5
    assert "freshness" in _said(capsys) and contract.read_bytes() == before
    assert _promote(contract, out, pub, "2026-12-01") == 0  # within 30 days of the oldest


def test_a_merge_that_hides_its_oldest_input_fails_audit(env, signer, capsys):
    tmp, contract, pub, key = env
    a = tf.write(tmp / "a.json", tf.make_predicate(contract, present=("cpu-reference",)), signer)
    b = tf.write(tmp / "b.json", tf.make_predicate(contract, present=("lavapipe",)), signer)
    _, out = _merge(tmp, pub, key, a, b)
    statement = open_report(out, [signer.verifier]).statement
    statement["predicate"]["evidence_created"] = statement["predicate"]["created"]  # re-signed
    tf.write(tmp / "fresh.json", statement["predicate"], signer)
    assert main(["audit", str(tmp / "fresh.json"), "--pubkey", str(pub)]) == 5
    assert "evidence-time" in _said(capsys)


def _mislabelled(contract, cell="nvidia-vulkan", identity=LLVMPIPE):
    predicate = tf.make_predicate(contract, present=ALL_CELLS)
    predicate["cells"][cell]["identity"] = dict(identity)
    return predicate


@pytest.mark.parametrize(
    "cell, identity",
    [
        ("nvidia-vulkan", LLVMPIPE),  # the case
        ("nvidia-vulkan", {**LLVMPIPE, "vendor_id": 0x10DE}),  # right vendor, but a CPU
        (
            "lavapipe",
            {**LLVMPIPE, "vendor_id": 0x10DE, "adapter_type": "DiscreteGPU", "is_cpu": False},
        ),  # software cell on a GPU
        (
            "intel-arc",
            {
                **LLVMPIPE,
                "vendor_id": 0x8086,
                "name": "Intel UHD 770",
                "adapter_type": "IntegratedGPU",
                "is_cpu": False,
            },
        ),  # name pattern (?i)arc
    ],
)
def test_audit_and_merge_refuse_a_cell_that_ran_on_another_adapter(env, signer, capsys, cell, identity):
    tmp, contract, pub, key = env
    report = tf.write(tmp / "r.json", _mislabelled(contract, cell, identity), signer)
    assert main(["audit", str(report), "--pubkey", str(pub), "--require-cell", cell]) == 5
    assert f"cell-identity: 1 mislabelled cell(s): {cell}:" in _said(capsys)
    rc, out = _merge(tmp, pub, key, report)
    assert rc == 5 and not out.exists()
    assert "cell-identity" in _said(capsys)


def test_correct_identities_pass_the_identity_check(env, signer):
    tmp, contract, pub, key = env
    report = tf.write(tmp / "r.json", tf.make_predicate(contract, present=ALL_CELLS), signer)
    assert main(["audit", str(report), "--pubkey", str(pub), "--require-cell", "nvidia-vulkan"]) == 0


def test_a_measured_job_on_an_absent_cell_is_refused(env, signer, capsys):
    tmp, contract, pub, key = env
    predicate = tf.make_predicate(contract, present=ALL_CELLS)
    predicate["cells"]["amd-vulkan"]["present"] = False
    report = tf.write(tmp / "r.json", predicate, signer)
    assert main(["audit", str(report), "--pubkey", str(pub)]) == 5
    assert "recorded as not present" in _said(capsys)


def test_unknown_verdict_names_are_refused_by_audit_and_merge(env, signer, capsys):
    tmp, contract, pub, key = env
    predicate = tf.make_predicate(contract, present=("cpu-reference", "lavapipe"))
    predicate["jobs"][0]["verdict"] = "MAYBE"
    report = tf.write(tmp / "r.json", predicate, signer)
    assert main(["audit", str(report), "--pubkey", str(pub)]) == 5
    assert "'MAYBE' is not a verdict" in _said(capsys)
    rc, _ = _merge(tmp, pub, key, report)
    assert rc == 5 and "'MAYBE' is not a verdict" in _said(capsys)


def test_merge_rejudges_inputs_instead_of_resigning_them(env, signer, capsys):
    """A signed input claiming PASS on numbers that fail the contract is not merged."""
    tmp, contract, pub, key = env
    predicate = tf.make_predicate(contract, present=("cpu-reference", "lavapipe"))
    job = next(j for j in predicate["jobs"] if j["verdict"] == "PASS" and j["measurements"])
    metric = next(iter(job["measurements"]))
    job["measurements"][metric] = float("-1e30") if job["thresholds"][0]["comparator"][0] == ">" else float("1e30")
    report = tf.write(tmp / "r.json", predicate, signer)
    rc, out = _merge(tmp, pub, key, report)
    assert rc == 5 and not out.exists()
    assert "verdicts" in _said(capsys)


def test_merge_refuses_the_same_report_twice(env, signer, capsys):
    tmp, contract, pub, key = env
    a = tf.write(tmp / "a.json", tf.make_predicate(contract, present=("cpu-reference",)), signer)
    copy = tmp / "copy.json"
    copy.write_bytes(a.read_bytes())
    rc, out = _merge(tmp, pub, key, a, copy)
    assert rc == 5 and not out.exists()
    assert "same report" in _said(capsys)
