"""The HF transformers oracle fixture: pinned, tied to the model it was computed on, reproducible."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.contract.loader import load_contract

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contracts" / "qwen3-moe-forward-gpu-v1.yaml"
ORACLE = "FALSIFY-QW3-MOE-GPU-PARITY-002"


def _oracle_params():
    return load_contract(CONTRACT).falsifier(ORACLE).params


def test_fixture_digest_matches_contract():
    params = _oracle_params()
    path = CONTRACT.parent / params["fixture"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == params["sha256"]


def test_fixture_was_computed_on_the_default_tiny_model(tiny_model):
    fixture = np.load(CONTRACT.parent / _oracle_params()["fixture"])
    assert str(fixture["meta/model_sha256"].item()) == tiny_model.sha256(), (
        "the synthetic tiny model's bytes changed (generator or quantizer change?): "
        "regenerate the fixture with scripts/make_hf_fixture.py --write-digest"
    )


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="needs the optional [hf] extra (torch, transformers)",
)
def test_fixture_script_reproduces_committed_digest(tmp_path):
    contract = tmp_path / CONTRACT.name
    shutil.copy(CONTRACT, contract)
    (tmp_path / "fixtures").mkdir()
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_hf_fixture.py"), str(contract)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _oracle_params()["sha256"] in out
