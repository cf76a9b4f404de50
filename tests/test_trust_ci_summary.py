"""CI output: the Markdown step summary and at most 10 GitHub error annotations."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.contract import load_contract
from harness.judge import FAIL, NOT_RUN
from harness.trust import keys
from harness.workflow import ci_summary
from harness.trust.audit import audit
from tests import trust_factory as tf


@pytest.fixture(scope="module")
def signer():
    return keys.generate()


def _audited(tmp_path, signer, **kw):
    contract = tf.contract_copy(tmp_path)
    report = tf.write(tmp_path / "r.json", tf.make_predicate(contract, **kw), signer)
    return audit(report, [signer.verifier]), contract


def test_annotations_capped_at_ten_with_notice(tmp_path, signer):
    contract = tf.contract_copy(tmp_path)
    loaded = load_contract(contract)
    pairs = [(f.id, c) for f in loaded.falsifiers for c in f.devices]
    assert len(pairs) > ci_summary.MAX_ERRORS
    result, _ = _audited(tmp_path, signer, present=[c.id for c in loaded.devices], overrides={p: FAIL for p in pairs})
    lines = ci_summary.annotations(result)
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == ci_summary.MAX_ERRORS
    assert lines[-1] == (
        f"::notice::{len(pairs) - ci_summary.MAX_ERRORS} more failure(s) not annotated; see the step summary"
    )


def test_annotations_escape_workflow_command_characters(tmp_path, signer):
    result, _ = _audited(tmp_path, signer)
    job = result.report.predicate["jobs"][0]
    job["verdict"], job["reason"], job["falsifier"] = FAIL, "50% off\nnext", "F:1,2"
    line = ci_summary.annotations(result, contract_file="c/x.yaml")[0]
    assert line == "::error file=c/x.yaml,title=F%3A1%2C2 on " + job["cell"] + "::FAIL: 50%25 off next"


def test_annotations_report_failed_audit_check(tmp_path, signer):
    contract = tf.contract_copy(tmp_path)
    report = tf.write(tmp_path / "r.json", tf.make_predicate(contract), keys.generate())
    lines = ci_summary.annotations(audit(report, [signer.verifier]))
    assert len(lines) == 1 and lines[0].startswith("::error title=audit signature::")


def test_summary_shows_not_run_never_as_pass(tmp_path, signer):
    result, _ = _audited(tmp_path, signer, present=("cpu-reference",))
    text = ci_summary.summary_markdown(result)
    row = next(line for line in text.splitlines() if "FALSIFY-QW3-MOE-GPU-PARITY-001" in line)
    assert NOT_RUN in row and "PASS" not in row
    assert "Cells not run here" in text and "`lavapipe`" in text


def test_summary_names_failures_with_reason(tmp_path, signer):
    bad = ("FALSIFY-QW3-MOE-GPU-PARITY-001", "lavapipe")
    result, _ = _audited(tmp_path, signer, overrides={bad: FAIL})
    text = ci_summary.summary_markdown(result)
    assert "### Failures" in text and f"`{bad[0]}` on `{bad[1]}`: FAIL" in text


def test_audit_summary_md_appends(tmp_path, signer):
    contract = tf.contract_copy(tmp_path)
    report = tf.write(tmp_path / "r.json", tf.make_predicate(contract), signer)
    pub = tmp_path / "p.pem"
    pub.write_bytes(signer.verifier.public_pem())
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    assert main(["audit", str(report), "--pubkey", str(pub), "--summary-md", str(summary)]) == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## harness audit: passed" in text


def test_summary_lists_merged_inputs(tmp_path, signer):
    contract = tf.contract_copy(tmp_path)
    paths = [
        tf.write(tmp_path / f"{c}.json", tf.make_predicate(contract, present=(c,), scope=(c,)), signer)
        for c in tf.ALGORITHM_CELLS
    ]
    key, pub = tmp_path / "k.pem", tmp_path / "p.pem"
    key.write_bytes(keys.private_pem(signer))
    key.chmod(0o600)  # a group/world-readable private key is refused
    pub.write_bytes(signer.verifier.public_pem())
    main(["merge", *map(str, paths), "--out", str(tmp_path / "m.json"), "--pubkey", str(pub), "--key", str(key)])
    text = ci_summary.summary_markdown(audit(tmp_path / "m.json", [signer.verifier]))
    assert "### Merged from" in text
    assert "| cpu-reference.json |" in text and "| lavapipe.json |" in text
