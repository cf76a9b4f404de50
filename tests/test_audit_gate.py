"""`harness audit --gate` exits with a genuine report's decision, and `--annotations` puts each
failed job on its contract line (file=, line=) when the contract bytes the report pins are here."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.judge import FAIL
from harness.report.revision import contract_name
from harness.trust import keys
from tests import trust_factory as tf
from tests.contract_text import line_of

LAYER = "FALSIFY-QW3-MOE-GPU-LAYER-PARITY-001"


@pytest.fixture(scope="module")
def signer():
    return keys.generate()


def _report(tmp_path, signer, **kw):
    contract = tf.contract_copy(tmp_path)
    pub = tmp_path / "p.pem"
    pub.write_bytes(signer.verifier.public_pem())
    predicate = tf.make_predicate(contract, **kw)
    return contract, pub, tf.write(tmp_path / "r.json", predicate, signer), predicate


@pytest.mark.parametrize(
    "kw, decision",
    [
        ({}, 3),  # cells absent: inconclusive
        ({"overrides": {(LAYER, "lavapipe"): FAIL}}, 1),  # falsified
    ],
)
def test_gate_exits_with_the_recorded_decision(tmp_path, signer, capsys, kw, decision):
    contract, pub, report, predicate = _report(tmp_path, signer, **kw)
    assert predicate["decision"]["exit_code"] == decision
    assert main(["audit", str(report), "--pubkey", str(pub)]) == 0  # genuine report
    assert main(["audit", str(report), "--pubkey", str(pub), "--gate"]) == decision
    assert f"--gate: the report's decision is exit {decision}" in capsys.readouterr().out
    main(["audit", str(report), "--pubkey", str(pub), "--gate", "--format", "json"])
    assert json.loads(capsys.readouterr().out)["exit_code"] == decision


def test_gate_still_exits_5_on_a_failed_audit(tmp_path, signer):
    contract, pub, report, _ = _report(tmp_path, signer)
    other = tmp_path / "other.pem"
    other.write_bytes(keys.generate().verifier.public_pem())
    assert main(["audit", str(report), "--pubkey", str(other), "--gate"]) == 5


@pytest.mark.parametrize(
    "broken, marker",
    [
        (1, "- {metric: router_id_agreement"),  # the judged threshold that failed
        (None, f"- id: {LAYER}"),  # no threshold recorded as failed: the falsifier
    ],
)
def test_annotations_point_at_the_failed_threshold_line(tmp_path, signer, capsys, broken, marker):
    contract, pub, _, predicate = _report(tmp_path, signer, overrides={(LAYER, "lavapipe"): FAIL})
    job = next(j for j in predicate["jobs"] if (j["falsifier"], j["cell"]) == (LAYER, "lavapipe"))
    if broken is not None:
        for i, t in enumerate(job["thresholds"]):
            t["measured"], t["ok"] = t["value"], i != broken
    report = tf.write(tmp_path / "judged.json", predicate, signer)
    assert main(["audit", str(report), "--pubkey", str(pub), "--contract", str(contract), "--annotations"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if LAYER in l)
    name = contract_name(contract)
    assert line.startswith(f"::error file={name},line={line_of(contract.read_text(), marker)},")


def test_annotations_give_no_line_for_other_contract_bytes(tmp_path, signer, capsys):
    contract, pub, report, _ = _report(tmp_path, signer, overrides={(LAYER, "lavapipe"): FAIL})
    contract.write_text("\n\n" + contract.read_text())  # lines moved: pins another sha
    main(["audit", str(report), "--pubkey", str(pub), "--contract", str(contract), "--annotations"])
    line = next(l for l in capsys.readouterr().out.splitlines() if LAYER in l)
    assert ",line=" not in line and line.startswith("::error file=")
