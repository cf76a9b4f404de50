"""The CI line budget (.ci/line_budget.py) fails on a source file over the limit, passes at it."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "line_budget.py"


def _budget():
    spec = importlib.util.spec_from_file_location("line_budget", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def repo(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def test_a_file_over_the_budget_fails(repo, capsys):
    (repo / "big.py").write_text("x = 1\n" * 401)
    (repo / "notes.txt").write_text("y\n" * 1000)  # not source: never counted
    assert _budget().main(["--root", str(repo), "--max", "400"]) == 1
    assert "big.py has 401 lines" in capsys.readouterr().out


def test_a_file_at_the_budget_passes(repo):
    (repo / "ok.wgsl").write_text("// x\n" * 400)
    (repo / "notes.txt").write_text("y\n" * 1000)
    assert _budget().main(["--root", str(repo), "--max", "400"]) == 0


def test_ignored_files_are_not_counted(repo):
    (repo / ".gitignore").write_text("venv/\n")
    (repo / "venv").mkdir()
    (repo / "venv" / "big.py").write_text("x = 1\n" * 500)
    assert _budget().main(["--root", str(repo), "--max", "400"]) == 0


def test_this_repository_is_within_budget():
    assert _budget().main([]) == 0
