"""End to end through the real engine: verify per cell (null backend, signed) -> merge -> audit
-> promote. Reports here come from `harness verify` itself, not from the trust test factory."""

from __future__ import annotations

import argparse
import difflib

import pytest

from harness.cli import main
from harness.commands import verify
from harness.contract import load_contract
from harness.trust import keys
from tests.engine_support import determinism, document, null_options, parity, write_contract

LEVELS = {
    "ACTIVE_ALGORITHM_LEVEL": {
        "description": "reference and software GPU",
        "all_of": [
            {"pass": {"falsifiers": ["FALSIFY-T-DET-001"], "cells": ["cpu-reference"]}},
            {"pass": {"falsifiers": ["FALSIFY-T-PAR-001", "FALSIFY-T-DET-002"], "cells": ["lavapipe"]}},
        ],
    }
}


@pytest.fixture()
def pipeline(tmp_path):
    signer = keys.generate()
    key, pub = tmp_path / "k.pem", tmp_path / "p.pem"
    key.write_bytes(keys.private_pem(signer))
    key.chmod(0o600)  # a group/world-readable private key is refused
    pub.write_bytes(signer.verifier.public_pem())
    doc = document(
        [
            parity("FALSIFY-T-PAR-001", ["lavapipe", "nvidia-vulkan"]),
            determinism("FALSIFY-T-DET-001", ["cpu-reference"]),
            determinism("FALSIFY-T-DET-002", ["lavapipe"]),
        ],
        levels=LEVELS,
    )
    contract = write_contract(tmp_path, doc)
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    for cell in ("cpu-reference", "lavapipe"):
        args = parser.parse_args(
            [str(contract.path), "--device", cell, "--key", str(key), "--report", str(tmp_path / f"report-{cell}.json")]
        )
        verify.run(args, runner_options=null_options(contract, tmp_path))
    return tmp_path, contract.path, key, pub


def test_pipeline_partial_reports_audit_merge_and_promote(pipeline):
    tmp, contract, key, pub = pipeline
    parts = [str(tmp / f"report-{c}.json") for c in ("cpu-reference", "lavapipe")]
    for part in parts:
        assert main(["audit", part, "--pubkey", str(pub), "--contract", str(contract)]) == 0
    merged = str(tmp / "merged.json")
    assert main(["merge", *parts, "--out", merged, "--pubkey", str(pub), "--key", str(key)]) == 0
    assert (
        main(
            [
                "audit",
                merged,
                "--pubkey",
                str(pub),
                "--contract",
                str(contract),
                "--require-cell",
                "cpu-reference",
                "--require-cell",
                "lavapipe",
            ]
        )
        == 0
    )
    assert main(["audit", merged, "--pubkey", str(pub), "--require-cell", "nvidia-vulkan"]) == 5
    before = contract.read_text()
    assert (
        main(
            [
                "promote",
                str(contract),
                "--report",
                merged,
                "--pubkey",
                str(pub),
                "--date",
                "2026-11-27",
                "--allow-dirty",
            ]
        )
        == 0
    )
    after = load_contract(contract)
    assert (after.status, after.version) == ("ACTIVE_ALGORITHM_LEVEL", "1.1.0")
    changed = [
        d for d in difflib.ndiff(before.splitlines(), contract.read_text().splitlines()) if d[:2] in ("- ", "+ ")
    ]
    # JSON layout: the last amendment's closing brace gains the new entry on its line.
    assert [d for d in changed if d.startswith("- ")] == ['-  "version": "1.0.0",', '-  "status": "DRAFT",', "-    }"]
    added = [d for d in changed if d.startswith("+ ")]
    assert added[:2] == ['+  "version": "1.1.0",', '+  "status": "ACTIVE_ALGORITHM_LEVEL",']
    assert added[2].startswith('+    }, {"version": "1.1.0", "date": "2026-11-27"') and len(added) == 3


def test_pipeline_single_cell_report_does_not_promote(pipeline):
    tmp, contract, _, pub = pipeline
    before = contract.read_bytes()
    assert (
        main(
            [
                "promote",
                str(contract),
                "--report",
                str(tmp / "report-lavapipe.json"),
                "--pubkey",
                str(pub),
                "--allow-dirty",
            ]
        )
        == 0
    )
    assert contract.read_bytes() == before
