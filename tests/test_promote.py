"""`harness promote`: raises only on earned evidence, demotes on refuting evidence, edits 3 things."""

from __future__ import annotations

import difflib
import hashlib
import json

import pytest

from harness.cli import main
from harness.contract import load_contract
from harness.judge import FAIL
from harness.workflow import yaml_edit
from tests import trust_factory as tf
from tests.trust_factory import signer  # noqa: F401  (fixture)

ALL_CELLS = ("cpu-reference", "lavapipe", "nvidia-vulkan", "apple-metal", "amd-vulkan", "intel-arc")


@pytest.fixture()
def env(tmp_path, signer):
    contract, pub = tf.contract_and_key(tmp_path, signer)
    return tmp_path, contract, pub


def promote(contract, report, pub, *extra):
    return main(
        ["promote", str(contract), "--report", str(report), "--pubkey", str(pub), "--date", "2026-11-27", *extra]
    )


def _set_status(contract, status):
    contract.write_text(contract.read_text().replace("status: DRAFT", f"status: {status}"))


def _changes(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return ([d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")])


def test_promote_without_sufficient_evidence_changes_nothing(env, signer, capsys):
    tmp, contract, pub = env
    before = contract.read_bytes()
    report = tf.write(tmp / "r.json", tf.make_predicate(contract, present=("cpu-reference",)), signer)
    assert promote(contract, report, pub) == 0
    assert contract.read_bytes() == before
    assert "no change" in capsys.readouterr().out


def test_promote_with_evidence_changes_only_status_version_amendment(env, signer):
    tmp, contract, pub = env
    before = contract.read_text()
    report = tf.write(tmp / "r.json", tf.make_predicate(contract), signer)
    assert promote(contract, report, pub) == 0
    removed, added = _changes(before, contract.read_text())
    assert removed == ['version: "1.1.0"', "status: DRAFT"]
    assert added[:2] == ['version: "1.2.0"', "status: ACTIVE_ALGORITHM_LEVEL"]
    digest = hashlib.sha256(report.read_bytes()).hexdigest()
    assert added[2:4] == ['    - version: "1.2.0"', '      date: "2026-11-27"']
    assert added[4] == '      author: "harness promote"' and added[5].startswith("      change: ")
    assert added[6:] == [f'      report_digest: "{digest}"']
    promoted = load_contract(contract)  # still a valid contract
    last = promoted.data["metadata"]["amendment_history"][-1]
    assert (promoted.status, promoted.version) == ("ACTIVE_ALGORITHM_LEVEL", "1.2.0")
    assert "FALSIFY-QW3-MOE-GPU-OP-SWIGLU-001 on lavapipe" in last["change"]
    assert "DRAFT -> ACTIVE_ALGORITHM_LEVEL" in last["change"]


def test_promote_keeps_comments(env, signer):
    tmp, contract, pub = env
    comments = [line for line in contract.read_text().splitlines() if "#" in line]
    report = tf.write(tmp / "r.json", tf.make_predicate(contract), signer)
    assert promote(contract, report, pub) == 0
    assert [line for line in contract.read_text().splitlines() if "#" in line] == comments


def test_promote_refuses_tampered_report(env, signer, capsys):
    tmp, contract, pub = env
    before = contract.read_bytes()
    report = tf.write(tmp / "r.json", tf.make_predicate(contract), signer)
    envelope = json.loads(report.read_text())
    envelope["payload"] = envelope["payload"][:-8] + ("A" * 8 if envelope["payload"][-8] != "A" else "B" * 8)
    report.write_text(json.dumps(envelope))
    assert promote(contract, report, pub) == 5
    assert contract.read_bytes() == before
    assert "not valid evidence" in capsys.readouterr().err


def test_promote_refuses_report_about_older_contract_bytes(env, signer):
    tmp, contract, pub = env
    report = tf.write(tmp / "r.json", tf.make_predicate(contract), signer)
    assert promote(contract, report, pub) == 0
    after = contract.read_bytes()
    assert promote(contract, report, pub) == 5  # the contract changed since the report
    assert contract.read_bytes() == after


def test_promote_demotes_on_refuting_failure(env, signer):
    tmp, contract, pub = env
    _set_status(contract, "ACTIVE_ALGORITHM_LEVEL")
    before = contract.read_text()
    bad = {("FALSIFY-QW3-MOE-GPU-PARITY-001", "lavapipe"): FAIL}
    report = tf.write(tmp / "r.json", tf.make_predicate(contract, overrides=bad), signer)
    assert promote(contract, report, pub) == 0
    removed, added = _changes(before, contract.read_text())
    assert removed == ['version: "1.1.0"', "status: ACTIVE_ALGORITHM_LEVEL"]
    assert added[:2] == ['version: "1.2.0"', "status: DRAFT"]
    change = load_contract(contract).data["metadata"]["amendment_history"][-1]["change"]
    assert "FAIL: FALSIFY-QW3-MOE-GPU-PARITY-001 on lavapipe" in change


def test_promote_missing_evidence_is_not_a_regression(env, signer, capsys):
    tmp, contract, pub = env
    _set_status(contract, "ACTIVE_ALGORITHM_LEVEL")
    before = contract.read_bytes()
    report = tf.write(tmp / "r.json", tf.make_predicate(contract, present=("cpu-reference",)), signer)
    assert promote(contract, report, pub) == 0
    assert contract.read_bytes() == before
    assert "no regression" in capsys.readouterr().out


def test_promote_refuses_dirty_revision(env, signer):
    tmp, contract, pub = env
    before = contract.read_bytes()
    report = tf.write(tmp / "r.json", tf.make_predicate(contract, dirty=True), signer)
    assert promote(contract, report, pub) == 5
    assert contract.read_bytes() == before


def test_promote_refuses_stale_evidence_for_fresh_level(env, signer, capsys):
    tmp, contract, pub = env
    report = tf.write(tmp / "r.json", tf.make_predicate(contract, present=ALL_CELLS), signer)
    before = contract.read_bytes()
    assert main(["promote", str(contract), "--report", str(report), "--pubkey", str(pub), "--date", "2027-06-01"]) == 5
    assert contract.read_bytes() == before and "freshness" in capsys.readouterr().err
    assert promote(contract, report, pub) == 0
    assert load_contract(contract).status == "ACTIVE_RUNTIME"


@pytest.mark.parametrize("old, new", [("1.0.0", "1.1.0"), ("1.4.2", "1.5.0"), ("2.9.0-rc.1", "2.10.0")])
def test_bump_minor_resets_patch(old, new):
    assert yaml_edit.bump_minor(old) == new


def test_bump_minor_refuses_non_semver():
    with pytest.raises(yaml_edit.ContractEditError, match="1.0"):
        yaml_edit.bump_minor("1.0")


def test_amend_appends_to_flow_style_history():
    text = (
        '{"version": "1.0.0", "status": "DRAFT", "metadata": {"amendment_history": '
        '[{"version": "1.0.0", "change": "a, {b}"}]}}\n'
    )
    entry = {"version": "1.1.0", "change": 'it\'s "quoted"'}
    out = yaml_edit.amend(text, "ACTIVE_RUNTIME", entry)
    assert out == (
        '{"version": "1.1.0", "status": "ACTIVE_RUNTIME", "metadata": {"amendment_history": '
        '[{"version": "1.0.0", "change": "a, {b}"}, '
        '{"version": "1.1.0", "change": "it\'s \\"quoted\\""}]}}\n'
    )


def test_amend_refuses_status_after_history():
    text = 'metadata:\n  amendment_history:\n    - version: "1.0.0"\nversion: "1.0.0"\nstatus: DRAFT\n'
    with pytest.raises(yaml_edit.ContractEditError, match="must come before"):
        yaml_edit.amend(text, "DRAFT", {"version": "1.1.0"})


def test_promote_refuses_date_before_last_amendment(env, signer, capsys):
    tmp, contract, pub = env
    before = contract.read_bytes()
    report = tf.write(tmp / "r.json", tf.make_predicate(contract), signer)
    assert main(["promote", str(contract), "--report", str(report), "--pubkey", str(pub), "--date", "2026-01-01"]) == 5
    assert contract.read_bytes() == before and "date order" in capsys.readouterr().err
