"""Installed copies find their data: shaders, the contract schema and contracts, both from the
source tree (editable install) and from a normal, non-editable install of a built wheel."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_support import harness_process

ROOT = Path(__file__).resolve().parents[1]
SHADERS = sorted(p.name for p in (ROOT / "shaders").glob("*.wgsl"))

PROBE = """
import json, sys
import contracts, shaders
from pathlib import Path
names = sorted(p.name for p in shaders.SHADER_DIR.glob("*.wgsl"))
print(json.dumps({"shader_dir": str(shaders.SHADER_DIR), "names": names,
                  "schema": contracts.SCHEMA_PATH.is_file(),
                  "common": len(shaders.shader_source("common")) > 0}))
"""


def _probe(env: dict, cwd: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=cwd, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_packaging_source_tree_finds_every_shader(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    got = _probe(env, tmp_path)
    assert Path(got["shader_dir"]) == ROOT / "shaders"
    assert got["names"] == SHADERS and got["schema"] and got["common"]


def _build_requirements_present() -> bool:
    if importlib.util.find_spec("wheel") is None or importlib.util.find_spec("setuptools") is None:
        return False
    import setuptools

    return int(setuptools.__version__.split(".")[0]) >= 68


@pytest.mark.slow
def test_packaging_wheel_install_finds_shaders_schema_and_validates(tmp_path):
    # with the build requirements at hand (the test extra has them) build offline; otherwise pip
    # fetches them into an isolated build environment
    no_iso = ["--no-build-isolation"] if _build_requirements_present() else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *no_iso, "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("harness-*.whl"))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    got = _probe(env, elsewhere)
    assert Path(got["shader_dir"]).is_relative_to(target), got["shader_dir"]
    assert got["names"] == SHADERS and got["schema"] and got["common"]
    contract = target / "contracts" / "qwen3-moe-forward-gpu-v1.yaml"
    done = harness_process("validate", contract, env=env, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    # A report made by the installed wheel records the revision of the repository that holds
    # the contract (the user's), not "unknown": the wheel has no checkout of its own.
    assert shutil.which("git"), "git is needed for the installed-revision check (tests run from a clone)"
    user = tmp_path / "user"
    (user / "contracts").mkdir(parents=True)
    (user / "contracts" / "c.yaml").write_bytes(contract.read_bytes())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "c"]):
        subprocess.run(git + argv, cwd=user, check=True, capture_output=True)
    head = subprocess.run(
        git + ["rev-parse", "HEAD"], cwd=user, check=True, capture_output=True, text=True
    ).stdout.strip()
    probe = (
        "import json, harness.report.revision as r; print(json.dumps([r.contract_revision("
        "'user/contracts/c.yaml'), r.contract_name('user/contracts/c.yaml'), r.__file__]))"
    )
    got = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, check=True, capture_output=True, text=True
    ).stdout
    revision, name, module = json.loads(got)
    assert Path(module).is_relative_to(target)
    assert revision == {"commit": head, "dirty": False} and name == "contracts/c.yaml"
