"""Report: JSON-safe predicate, in-toto statement inside a DSSE envelope, JUnit XML, the console
table, atomic writes."""

import argparse
import base64
import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from rich.console import Console

from harness.commands import verify
from harness.report.junit import junit_xml
from harness.report.revision import git_revision
from harness.report.predicate import json_safe
from harness.report.table import print_report
from harness.trust import statement as st
from tests.engine_support import document, falsifier, null_options, parity, write_contract

PAR, DET, HEAVY = "FALSIFY-T-PARITY-001", "FALSIFY-T-DET-001", "FALSIFY-T-HEAVY-001"


def args(contract, **kw):
    base = dict(
        contract=str(contract),
        model=None,
        device=[],
        falsifier=[],
        heavy=False,
        format="table",
        report=None,
        junit=None,
        sarif=None,
        key=None,
    )
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def contract_path(tmp_path):
    doc = document(
        [
            parity(PAR, ["lavapipe", "nvidia-vulkan"]),
            falsifier(
                DET, "determinism", {"prompts": ["a"], "runs": 2}, [("max_abs_diff", "<", 0.0)], ["cpu-reference"]
            ),  # impossible: FAIL
            falsifier(HEAVY, "memory", {}, [("device_bytes", "<=", 1e12)], ["cpu-reference"], tags=["heavy"]),
        ]
    )
    write_contract(tmp_path, doc)
    return tmp_path / "c.yaml"


def run_verify(tmp_path, contract_path, **kw):
    c = write_contract(tmp_path, json.loads(contract_path.read_text()))
    return verify.run(args(contract_path, **kw), runner_options=null_options(c, tmp_path))


def read_statement(path):
    env = json.loads(path.read_text())
    assert env["payloadType"] == "application/vnd.in-toto+json" and env["signatures"] == []
    return json.loads(base64.b64decode(env["payload"]))


def test_report_json_safe_replaces_non_finite_and_numpy_types():
    out = json_safe({"a": np.float32(np.nan), "b": [np.inf, np.int64(3)], "c": (np.bool_(True),), "d": np.arange(2)})
    assert out == {"a": None, "b": [None, 3], "c": [True], "d": [0, 1]}
    json.dumps(out, allow_nan=False)


def test_report_file_is_an_unsigned_dsse_envelope_with_the_agreed_statement(tmp_path, contract_path):
    code = run_verify(tmp_path, contract_path, report=str(tmp_path / "r.json"))
    assert code == 1
    s = read_statement(tmp_path / "r.json")
    st.check_shape(s)
    st.check_subjects_match(s)
    p = s["predicate"]
    assert p["signed"] is False and p["decision"]["exit_code"] == 1
    assert p["contract"]["path"] == str(contract_path)
    assert p["contract"]["document"]["name"] == "engine-test"
    assert set(p["cells"]) == {"cpu-reference", "lavapipe", "nvidia-vulkan"}
    assert p["cells"]["nvidia-vulkan"]["present"] is False
    assert p["models"]["tiny"]["sha256"] and p["models"]["tiny"]["inventory"]
    assert p["filters"] == {"devices": [], "falsifiers": [], "heavy": False, "model_override": None}
    assert p["levels"]["declared"] == "DRAFT" and p["inputs"] == []
    keys = {
        "falsifier",
        "cell",
        "kind",
        "model",
        "verdict",
        "reason",
        "measurements",
        "thresholds",
        "diagnostics",
        "waiver",
        "timing_s",
        "counted",
    }
    assert all(set(j) == keys for j in p["jobs"])
    subjects = {x["name"] for x in s["subject"]}
    assert {f"contract:{contract_path}", "revision", "model:tiny"} == subjects


def test_report_json_format_prints_only_the_statement(tmp_path, contract_path, capsys):
    run_verify(tmp_path, contract_path, format="json")
    out = capsys.readouterr().out
    s = json.loads(out)
    assert s["_type"] == "https://in-toto.io/Statement/v1"
    assert "NaN" not in out and "Infinity" not in out


def test_report_junit_has_one_testcase_per_job(tmp_path, contract_path):
    run_verify(tmp_path, contract_path, junit=str(tmp_path / "j.xml"))
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    assert len(cases) == 4 and suite.get("tests") == "4"
    assert cases[(PAR, "lavapipe")].find("*") is None  # PASS: no child
    assert "no wgpu adapter" in cases[(PAR, "nvidia-vulkan")].find("skipped").get("message")
    failure = cases[(DET, "cpu-reference")].find("failure")
    assert "max_abs_diff: measured 0, required < 0  FAILED" in failure.text
    assert "heavy" in cases[(HEAVY, "cpu-reference")].find("skipped").get("message")
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("1", "2", "0")


def test_report_junit_error_case():
    pred = {
        "contract": {"name": "c"},
        "levels": {"earned": "DRAFT", "declared": "DRAFT"},
        "decision": {"exit_code": 4},
        "created": "t",
        "jobs": [{"falsifier": "F", "cell": "x", "verdict": "ERROR", "reason": "boom", "timing_s": 0.1}],
    }
    case = ET.fromstring(junit_xml(pred)).find("testsuite/testcase")
    assert case.find("error").get("message") == "boom"


def test_report_table_shows_verdicts_levels_and_decision(tmp_path, contract_path):
    run_verify(tmp_path, contract_path, report=str(tmp_path / "r.json"))
    p = read_statement(tmp_path / "r.json")["predicate"]
    console = Console(record=True, width=200)
    print_report(p, console)
    text = console.export_text()
    assert "FAIL" in text and "NOT_RUN" in text and "PASS" in text
    assert "max_abs_diff 0" in text and "< 0" in text
    assert "earned level: DRAFT" in text and "decision: exit 1" in text
    assert "absent nvidia-vulkan" in text


def test_report_write_failure_leaves_no_file(tmp_path, contract_path, monkeypatch):
    def explode(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("harness.trust.fileio.os.fsync", explode)
    target = tmp_path / "out" / "r.json"
    target.parent.mkdir()
    code = run_verify(tmp_path, contract_path, report=str(target))
    assert code == 4
    assert list(target.parent.iterdir()) == []  # neither the report nor a temp file


def test_report_revision_names_a_commit_in_this_checkout():
    rev = git_revision()
    assert len(rev["commit"]) == 40 and isinstance(rev["dirty"], bool)


def test_report_revision_outside_git_is_unknown(tmp_path):
    assert git_revision(tmp_path) == {"commit": "unknown", "dirty": True}


def test_report_nan_measurement_is_fail_and_null(tmp_path, contract_path, monkeypatch):
    from harness.falsifiers import determinism as det

    real = det.max_abs
    monkeypatch.setattr(det, "max_abs", lambda a, b: math.nan)
    run_verify(tmp_path, contract_path, report=str(tmp_path / "r.json"))
    monkeypatch.setattr(det, "max_abs", real)
    job = next(j for j in read_statement(tmp_path / "r.json")["predicate"]["jobs"] if j["falsifier"] == DET)
    assert job["verdict"] == "FAIL" and job["measurements"]["max_abs_diff"] is None
    assert "not a finite number" in job["reason"]


def test_report_signed_with_key_verifies_and_says_signed(tmp_path, contract_path, monkeypatch):
    from harness.trust import dsse, keys

    monkeypatch.delenv("HARNESS_SIGNING_KEY", raising=False)
    monkeypatch.delenv("HARNESS_SIGNING_KEY_FILE", raising=False)
    signer = keys.generate()
    key = tmp_path / "k.pem"
    key.write_bytes(keys.private_pem(signer))
    key.chmod(0o600)  # a group/world-readable private key is refused
    run_verify(tmp_path, contract_path, report=str(tmp_path / "r.json"), key=str(key))
    env = json.loads((tmp_path / "r.json").read_text())
    verified = dsse.verify(env, signer.verifier)
    s = json.loads(verified.payload)
    assert s["predicate"]["signed"] is True and verified.keyid == signer.keyid


def test_report_table_prints_parity_diagnostics_of_failed_jobs():
    job = {
        "falsifier": "F",
        "cell": "lavapipe",
        "verdict": "FAIL",
        "reason": "cos low",
        "counted": True,
        "thresholds": [{"metric": "cosine_min", "comparator": ">=", "value": 0.99, "measured": 0.5, "ok": False}],
        "diagnostics": {
            "first_divergence": {"layer": 1, "stage": "moe", "cosine": 0.5, "rule": "first below 0.99"},
            "router_mismatch_count": 1,
            "router_mismatches": [
                {
                    "prompt": "a",
                    "layer": 1,
                    "position": 2,
                    "ids": [3, 1],
                    "ids_reference": [3, 4],
                    "margin": 0.01,
                    "margin_reference": 0.002,
                }
            ],
        },
    }
    pred = {
        "contract": {"name": "c", "version": "1"},
        "cells": {},
        "jobs": [job],
        "levels": {"earned": "DRAFT", "declared": "DRAFT"},
        "decision": {"exit_code": 1, "summary": "falsified"},
    }
    console = Console(record=True, width=200)
    print_report(pred, console)
    text = console.export_text()
    assert "first divergence: layer 1 stage moe cosine 0.5" in text
    assert "layer 1 pos 2: ids [3, 1] vs reference [3, 4]; top-k margin 0.01" in text
    assert "cosine_min 0.5" in text
