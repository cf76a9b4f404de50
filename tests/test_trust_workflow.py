"""The CI workflow: every contract cell has a job, and the gate never turns NOT_RUN into success.

The workflow's own shell and Python steps are run here with a stub `harness` that exits with
chosen codes, so the gating logic is tested as written, not re-described.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.contract import load_contract
from tests import trust_factory as tf

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "verify.yml"
STUB = """#!/usr/bin/env bash
echo "$@" >> "$STUB_LOG"
case "$1" in verify) exit "$VERIFY_RC" ;; merge) exit "$MERGE_RC" ;; audit) exit "$AUDIT_RC" ;; esac
exit 99
"""


@pytest.fixture(scope="module")
def workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def _step(workflow, job: str, name_part: str) -> dict:
    return next(s for s in workflow["jobs"][job]["steps"] if name_part in s.get("name", ""))


def _run_step(step: dict, tmp_path: Path, **env) -> subprocess.CompletedProcess:
    stub = tmp_path / ".venv" / "bin" / "harness"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text(STUB)
    stub.chmod(0o755)
    (tmp_path / "summary.md").touch()
    full = {
        **os.environ,
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_SHA": tf.COMMIT,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "STUB_LOG": str(tmp_path / "log"),
        "CONTRACT": "c.yaml",
        "VERIFY_RC": "0",
        "MERGE_RC": "0",
        "AUDIT_RC": "0",
        **env,
    }
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=60
    )


def test_workflow_has_a_runner_for_every_contract_cell(workflow):
    runners = json.loads(workflow["env"]["CELL_RUNNERS"])
    contract = load_contract(tf.CONTRACT_SRC)
    assert sorted(runners) == sorted(c.id for c in contract.devices)
    assert runners["lavapipe"]["runs_on"] == ["ubuntu-latest"] and runners["lavapipe"]["hosted"]
    for cell, spec in runners.items():
        contract_cell = contract.cell(cell)
        assert spec["hosted"] is not contract_cell.hardware
        assert (spec["runs_on"][0] == "self-hosted") is contract_cell.hardware


def test_workflow_plan_runs_hosted_cells_and_listed_hardware(workflow, tmp_path):
    step = workflow["jobs"]["plan"]["steps"][0]
    env = {"CELL_RUNNERS": workflow["env"]["CELL_RUNNERS"], "HARDWARE_CELLS": '["nvidia-vulkan"]'}
    done = _run_step(step, tmp_path, **env)
    assert done.returncode == 0, done.stderr
    out = dict(line.split("=", 1) for line in (tmp_path / "out").read_text().splitlines())
    assert out["required"].split() == ["cpu-reference", "lavapipe", "nvidia-vulkan"]
    nvidia = next(m for m in json.loads(out["matrix"])["include"] if m["cell"] == "nvidia-vulkan")
    assert nvidia["runs_on"][0] == "self-hosted" and nvidia["heavy"] == "--heavy"


def test_workflow_plan_refuses_unknown_hardware_cell(workflow, tmp_path):
    step = workflow["jobs"]["plan"]["steps"][0]
    done = _run_step(step, tmp_path, CELL_RUNNERS=workflow["env"]["CELL_RUNNERS"], HARDWARE_CELLS='["nvidia-cuda"]')
    assert done.returncode != 0 and "nvidia-cuda" in done.stderr


@pytest.mark.parametrize(
    "merge_rc, audit_rc, expected",
    [("0", "0", 0), ("3", "0", 3), ("1", "0", 1), ("4", "0", 4), ("0", "5", 5), ("3", "5", 5)],
)
def test_workflow_gate_passes_only_on_zero(workflow, tmp_path, merge_rc, audit_rc, expected):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "report-lavapipe.json").write_text("{}")
    step = _step(workflow, "gate", "gate")
    done = _run_step(
        step, tmp_path, MERGE_RC=merge_rc, AUDIT_RC=audit_rc, REQUIRED="cpu-reference lavapipe", PUBLIC_KEY="pem"
    )
    assert done.returncode == expected, done.stdout + done.stderr
    audit_call = next(l for l in (tmp_path / "log").read_text().splitlines() if l.startswith("audit"))
    assert "--require-cell cpu-reference --require-cell lavapipe" in audit_call
    assert "--annotations" in audit_call and "--summary-md" in audit_call
    assert "--gate" in audit_call


def test_workflow_gate_fails_without_reports(workflow, tmp_path):
    done = _run_step(_step(workflow, "gate", "gate"), tmp_path, REQUIRED="lavapipe", PUBLIC_KEY="pem")
    assert done.returncode == 5


@pytest.mark.parametrize(
    "verify_rc, audit_rc, expected",
    [("0", "0", 0), ("3", "0", 0), ("1", "0", 1), ("2", "0", 2), ("4", "0", 4), ("3", "5", 5)],
)
def test_workflow_cell_job_fails_on_falsified_error_or_absent_cell(workflow, tmp_path, verify_rc, audit_rc, expected):
    step = _step(workflow, "verify", "harness verify")
    done = _run_step(step, tmp_path, VERIFY_RC=verify_rc, AUDIT_RC=audit_rc, CELL="lavapipe", HEAVY="")
    assert done.returncode == expected, done.stdout + done.stderr
    calls = (tmp_path / "log").read_text()
    assert "--device lavapipe" in calls and "--require-cell lavapipe" in calls
    assert f"--report {tmp_path}/out/report-lavapipe.json" in calls
    assert f"--sarif {tmp_path}/out/harness-lavapipe.sarif" in calls
