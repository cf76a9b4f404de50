"""`harness audit`: tampering of any kind exits 5 naming the check; honest reports exit 0."""

from __future__ import annotations

import base64
import json

import pytest

from harness.cli import main
from harness.trust import dsse, keys
from harness.trust import statement as st
from tests import trust_factory as tf
from tests.trust_factory import signer  # noqa: F401  (fixture)


@pytest.fixture()
def setup(tmp_path, signer):
    contract, pub = tf.contract_and_key(tmp_path, signer)
    report = tf.write(tmp_path / "r.json", tf.make_predicate(contract), signer)
    return contract, pub, report


def audit(*argv):
    return main(["audit", *map(str, argv)])


def _rewrite(report, mutate):
    envelope = json.loads(report.read_text())
    mutate(envelope)
    report.write_text(json.dumps(envelope))


def test_audit_honest_report_exits_0(setup, capsys):
    contract, pub, report = setup
    assert audit(report, "--pubkey", pub, "--contract", contract, "--rev", tf.COMMIT) == 0
    assert "all" in capsys.readouterr().out


def test_audit_flipped_payload_byte_exits_5(setup, capsys):
    contract, pub, report = setup

    def flip(env):
        raw = bytearray(base64.b64decode(env["payload"]))
        raw[len(raw) // 2] ^= 0x01
        env["payload"] = base64.b64encode(bytes(raw)).decode()

    _rewrite(report, flip)
    assert audit(report, "--pubkey", pub) == 5
    assert "signature failed" in capsys.readouterr().out


def test_audit_changed_payload_type_exits_5(setup, capsys):
    _, pub, report = setup
    _rewrite(report, lambda env: env.update(payloadType="application/json"))
    assert audit(report, "--pubkey", pub) == 5
    assert "signature failed" in capsys.readouterr().out


def test_audit_wrong_payload_type_signed_exits_5(tmp_path, setup, signer, capsys):
    contract, pub, _ = setup
    payload = st.canonical(st.build_statement(tf.make_predicate(contract)))
    report = tmp_path / "typed.json"
    report.write_text(json.dumps(dsse.make_envelope(payload, "application/json", signer)))
    assert audit(report, "--pubkey", pub) == 5
    assert "payload-type failed" in capsys.readouterr().out


def test_audit_edited_contract_file_exits_5(setup, capsys):
    contract, pub, report = setup
    contract.write_text(contract.read_text().replace("value: 0.99}", "value: 0.98}", 1))
    assert audit(report, "--pubkey", pub, "--contract", contract) == 5
    assert "contract-file failed" in capsys.readouterr().out


def test_audit_other_revision_exits_5(setup, capsys):
    _, pub, report = setup
    assert audit(report, "--pubkey", pub, "--rev", "f" * 40) == 5
    assert "revision failed" in capsys.readouterr().out


def test_audit_dirty_revision_needs_allow_dirty(tmp_path, setup, signer):
    contract, pub, _ = setup
    report = tf.write(tmp_path / "d.json", tf.make_predicate(contract, dirty=True), signer)
    assert audit(report, "--pubkey", pub, "--rev", tf.COMMIT) == 5
    assert audit(report, "--pubkey", pub, "--rev", tf.COMMIT, "--allow-dirty") == 0


def test_audit_unsigned_report_is_refused(tmp_path, setup, capsys):
    contract, pub, _ = setup
    report = tf.write(tmp_path / "u.json", tf.make_predicate(contract, signed=False), None)
    assert audit(report, "--pubkey", pub) == 5
    assert "unsigned" in capsys.readouterr().out


def test_audit_other_key_is_refused(tmp_path, setup):
    contract, pub, _ = setup
    report = tf.write(tmp_path / "o.json", tf.make_predicate(contract), keys.generate())
    assert audit(report, "--pubkey", pub) == 5


def test_audit_inflated_earned_level_exits_5(tmp_path, setup, signer, capsys):
    contract, pub, _ = setup
    predicate = tf.make_predicate(contract, present=("cpu-reference",))
    predicate["levels"]["earned"] = "ACTIVE_ALGORITHM_LEVEL"  # the verdicts do not earn it
    report = tf.write(tmp_path / "i.json", predicate, signer)
    assert audit(report, "--pubkey", pub) == 5
    assert "earned-level failed" in capsys.readouterr().out


def test_audit_declared_status_above_earned_exits_5(tmp_path, setup, signer, capsys):
    contract, pub, _ = setup
    contract.write_text(contract.read_text().replace("status: DRAFT", "status: ACTIVE_RUNTIME"))
    report = tf.write(tmp_path / "s.json", tf.make_predicate(contract), signer)
    assert audit(report, "--pubkey", pub, "--contract", contract) == 5
    assert "declared-status failed" in capsys.readouterr().out


def test_audit_subject_disagreeing_with_predicate_exits_5(tmp_path, setup, signer, capsys):
    contract, pub, _ = setup
    statement = st.build_statement(tf.make_predicate(contract))
    statement["subject"][0]["digest"]["sha256"] = "00" * 32
    report = tmp_path / "sub.json"
    report.write_text(json.dumps(dsse.make_envelope(st.canonical(statement), dsse.INTOTO_PAYLOAD_TYPE, signer)))
    assert audit(report, "--pubkey", pub) == 5
    assert "subjects failed" in capsys.readouterr().out


def test_audit_json_format_lists_every_check(setup, capsys):
    contract, pub, report = setup
    assert audit(report, "--pubkey", pub, "--contract", contract, "--format", "json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["first_failure"] is None
    names = [c["check"] for c in out["checks"]]
    assert names[0] == "signature" and "contract-file" in names and "earned-level" in names


def test_audit_missing_pubkey_file_is_usage_error(setup, tmp_path):
    _, _, report = setup
    assert audit(report, "--pubkey", tmp_path / "nope.pem") == 2


def test_audit_pass_unsupported_by_measurements_exits_5(tmp_path, setup, signer, capsys):
    contract, pub, _ = setup
    predicate = tf.make_predicate(contract)
    job = next(j for j in predicate["jobs"] if j["verdict"] == "PASS" and "cosine_min" in j["measurements"])
    job["measurements"]["cosine_min"] = 0.5
    report = tf.write(tmp_path / "v.json", predicate, signer)
    assert audit(report, "--pubkey", pub) == 5
    out = capsys.readouterr().out
    assert "verdicts failed" in out and job["falsifier"] in out


def _waive(contract, expires):
    waiver = (
        "waivers:\n  - {falsifier: FALSIFY-QW3-MOE-GPU-PARITY-001, cell: lavapipe, "
        f'owner: qa, reason: known driver bug, expires: "{expires}"}}\n'
    )
    contract.write_text(contract.read_text().replace("waivers: []\n", waiver))


@pytest.mark.parametrize("expires, code", [("2027-01-01", 0), ("2026-01-01", 5), (None, 5)])
def test_audit_waived_job_needs_unexpired_waiver(tmp_path, setup, signer, expires, code, capsys):
    contract, pub, _ = setup
    if expires:
        _waive(contract, expires)
    waived = {("FALSIFY-QW3-MOE-GPU-PARITY-001", "lavapipe"): "WAIVED"}
    report = tf.write(tmp_path / "w.json", tf.make_predicate(contract, overrides=waived), signer)
    assert audit(report, "--pubkey", pub) == code
    if code:
        assert "waivers failed" in capsys.readouterr().out


def test_audit_checks_signature_before_parsing_payload(tmp_path, setup, capsys):
    _, pub, _ = setup
    report = tmp_path / "junk.json"
    junk = dsse.make_envelope(b"{not json", dsse.INTOTO_PAYLOAD_TYPE, keys.generate())
    report.write_text(json.dumps(junk))
    assert audit(report, "--pubkey", pub) == 5
    out = capsys.readouterr().out
    assert "signature failed" in out and "JSON" not in out.split("signature failed")[1]
