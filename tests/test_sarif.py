"""SARIF 2.1.0 from `validate` and `verify`: valid against the official OASIS schema (vendored in
tests/schemas/, see its README), and each result on the contract line that made the claim.

Expected lines are found by searching the contract text (tests/contract_text.py), never by
asking the code under test."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.report.sarif import verify_log
from tests import trust_factory as tf
from tests.contract_text import edit, gpu_text, line_of, write
from tests.test_report import DET, contract_path, run_verify  # noqa: F401 (fixture)

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
LAYER = "FALSIFY-QW3-MOE-GPU-LAYER-PARITY-001"
DET_GPU = "FALSIFY-QW3-MOE-GPU-DETERMINISM-001"


def assert_valid(log: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def region_line(result: dict) -> int | None:
    return result["locations"][0]["physicalLocation"].get("region", {}).get("startLine")


def test_the_vendored_schema_rejects_a_broken_log():
    # The validator is not vacuous: a log without its version, or with a made-up level, fails.
    good = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "level": "error"}]}],
    }
    assert_valid(good)
    assert list(VALIDATOR.iter_errors({"runs": good["runs"]}))
    bad_level = json.loads(json.dumps(good))
    bad_level["runs"][0]["results"][0]["level"] = "fatal"
    assert list(VALIDATOR.iter_errors(bad_level))


def test_validate_sarif_of_shipped_contract_is_valid_and_empty(capsys):
    from tests.contract_text import GPU_CONTRACT

    assert main(["validate", "--format", "sarif", str(GPU_CONTRACT)]) == 0
    log = json.loads(capsys.readouterr().out)
    assert_valid(log)
    assert log["runs"][0]["results"] == []


def test_validate_sarif_locates_each_issue_at_its_line(tmp_path, capsys):
    text = edit(gpu_text(), "status: DRAFT", "status: NOPE")
    path = write(tmp_path, text)
    assert main(["validate", "--format", "sarif", str(path)]) == 2
    log = json.loads(capsys.readouterr().out)
    assert_valid(log)
    (result,) = log["runs"][0]["results"]
    assert result["level"] == "error" and result["ruleId"] == "contract-error"
    assert region_line(result) == line_of(text, "status: NOPE")
    assert result["message"]["text"].startswith("$.status: ")
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.endswith("contract.yaml") and "\\" not in uri


def _failing(predicate: dict, fid: str, cell: str, verdict: str, broken: int | None) -> None:
    job = next(j for j in predicate["jobs"] if j["falsifier"] == fid and j["cell"] == cell)
    job["verdict"], job["reason"] = verdict, f"{verdict.lower()} planted by the test"
    for i, t in enumerate(job["thresholds"]):
        t["measured"], t["ok"] = t["value"], i != broken


def test_verify_log_points_at_the_failed_threshold_else_the_falsifier(tmp_path):
    contract = tf.contract_copy(tmp_path)
    text, raw = contract.read_text(), contract.read_bytes()
    predicate = tf.make_predicate(contract)
    _failing(predicate, LAYER, "lavapipe", "FAIL", broken=1)
    _failing(predicate, DET_GPU, "cpu-reference", "ERROR", broken=None)
    log = verify_log(predicate, raw)
    assert_valid(log)
    results = {(r["ruleId"], r["properties"]["cell"]): r for r in log["runs"][0]["results"]}
    assert set(results) == {(LAYER, "lavapipe"), (DET_GPU, "cpu-reference")}  # PASS/NOT_RUN: none
    fail = results[(LAYER, "lavapipe")]
    assert region_line(fail) == line_of(text, "- {metric: router_id_agreement")
    assert fail["level"] == "error" and "router_id_agreement" in fail["message"]["text"]
    assert region_line(results[(DET_GPU, "cpu-reference")]) == line_of(text, f"- id: {DET_GPU}")
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert rules[fail["ruleIndex"]]["id"] == LAYER
    assert {r["id"] for r in rules} == {f["id"] for f in predicate["contract"]["document"]["falsifiers"]}


def test_verify_log_without_contract_bytes_has_no_line_rather_than_a_wrong_one(tmp_path):
    contract = tf.contract_copy(tmp_path)
    predicate = tf.make_predicate(contract)
    _failing(predicate, LAYER, "lavapipe", "FAIL", broken=0)
    for raw in (None, b"not: [valid yaml"):
        (result,) = verify_log(predicate, raw)["runs"][0]["results"]
        assert region_line(result) is None


def test_verify_format_sarif_and_sarif_file_agree(tmp_path, contract_path, capsys):  # noqa: F811
    out = tmp_path / "r.sarif"
    assert run_verify(tmp_path, contract_path, format="sarif", sarif=str(out)) == 1
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert printed == written
    assert_valid(written)
    (result,) = written["runs"][0]["results"]  # the impossible determinism threshold
    assert result["ruleId"] == DET and result["properties"]["verdict"] == "FAIL"
    # the contract is JSON text (a YAML subset): its threshold item opens one line above "metric"
    text = contract_path.read_text()
    det_at = text.index(f'"id": "{DET}"')
    metric_line = text.count("\n", 0, text.index('"metric": "max_abs_diff"', det_at)) + 1
    assert region_line(result) == metric_line - 1


def test_verify_mutants_refuses_sarif_output(tmp_path, contract_path, capsys):  # noqa: F811
    assert run_verify(tmp_path, contract_path, mutants=True, sarif=str(tmp_path / "x")) == 2
    assert "--sarif" in capsys.readouterr().err


@pytest.mark.parametrize("path, uri", [("contracts/x.yaml", "contracts/x.yaml")])
def test_artifact_uri_is_posix_relative(path, uri):
    from harness.report.sarif import artifact_uri

    assert artifact_uri(path) == uri
    assert artifact_uri("/abs/x.yaml").startswith("file:///")
