"""`harness validate`: exit 0 on the shipped contracts, exit 2 naming file:line (on stdout) otherwise."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from tests.contract_text import SHIPPED, edit, gpu_text, line_of, write
from tests.cli_support import harness_process

ROOT = Path(__file__).resolve().parents[1]

# (name, old, new, the text on the line the error must name)
BAD = [
    (
        "duplicate-key",
        "    kind: determinism\n",
        "    kind: determinism\n    kind: parity  # again\n",
        "kind: parity  # again",
    ),
    ("unknown-status", "status: DRAFT", "status: ACTIVE_EVERYTHING", "status: ACTIVE_EVERYTHING"),
    ("unquoted-float-version", 'version: "1.1.0"\nstatus', "version: 1.10\nstatus", "version: 1.10"),
    (
        "level-undefined-falsifier",
        "FALSIFY-QW3-MOE-GPU-MEMORY-001]\n          cells: [nvidia-vulkan]",
        "FALSIFY-QW3-MOE-GPU-MEMORY-002]\n          cells: [nvidia-vulkan]",
        "FALSIFY-QW3-MOE-GPU-MEMORY-002]",
    ),
]


def test_validate_shipped_contracts_exit_0(capsys):
    assert len(SHIPPED) >= 3
    assert main(["validate", *map(str, SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert all(f"ok {p}" in out for p in SHIPPED)


@pytest.mark.parametrize("name, old, new, marker", BAD, ids=[b[0] for b in BAD])
def test_validate_bad_contract_exit_2_names_line(tmp_path, capsys, name, old, new, marker):
    text = edit(gpu_text(), old, new)
    path = write(tmp_path, text, f"{name}.yaml")
    assert main(["validate", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"{path}:{line_of(text, marker)}: $." in out, out
    assert f"INVALID {path}" in out


def test_validate_any_bad_file_fails_the_run(tmp_path, capsys):
    bad = write(tmp_path, edit(gpu_text(), "status: DRAFT", "status: NOPE"))
    assert main(["validate", str(SHIPPED[0]), str(bad)]) == 2
    out = capsys.readouterr().out
    assert f"ok {SHIPPED[0]}" in out and f"INVALID {bad}" in out


def test_validate_json_format_lists_issues(tmp_path, capsys):
    text = edit(gpu_text(), "status: DRAFT", "status: NOPE")
    path = write(tmp_path, text)
    assert main(["validate", "--format", "json", str(path)]) == 2
    out = json.loads(capsys.readouterr().out)
    (issue,) = out["files"][0]["issues"]
    assert out["valid"] is False and issue["path"] == "$.status"
    assert issue["line"] == line_of(text, "status: NOPE")


def test_validate_missing_file_exit_2(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read contract" in capsys.readouterr().out


def test_validate_python_m_harness_subprocess(tmp_path):
    bad = write(tmp_path, edit(gpu_text(), "status: DRAFT", "status: NOPE"))
    env = {**os.environ, "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", "/tmp")}
    good = harness_process("validate", *map(str, SHIPPED), env=env, timeout=120)
    assert good.returncode == 0, good.stderr
    failed = harness_process("validate", bad, env=env, timeout=120)
    assert failed.returncode == 2 and f"{bad}:{line_of(bad.read_text(), 'status: NOPE')}:" in failed.stdout
