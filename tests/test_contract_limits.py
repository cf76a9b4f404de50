"""Issue 16 item 2: the contract loader is bounded. Each hostile file is refused by
`harness validate` with file:line and exit 2 inside a memory limit (RLIMIT_AS) and a hang guard;
without the bounds, the alias bomb needs > 4 GB and the nesting dies with RecursionError."""

from __future__ import annotations

import re
import resource
from pathlib import Path

import pytest

from harness.contract import yaml_limits
from harness.contract.loader import check_file
from tests.cli_support import harness_process

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contracts" / "qwen3-moe-forward-v1.yaml"
MEMORY_LIMIT = 1 << 30  # far above what the bounded loader needs
HANG_GUARD_S = 120  # a guard against a hang on a loaded machine, not a speed claim

LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")
)

HOSTILE = {
    "alias-bomb": (LAUGHS, "aliases expand"),
    "flow-nesting": ("x: " + "[" * 3000 + "]" * 3000 + "\n", "nested deeper"),
    "quote-then-nesting": ("x: don't " + "[" * 3000 + "\n", "nested deeper"),
    "map-nesting": ("x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested deeper"),
    "block-nesting": ("x:\n" + "".join(" " * i + "-\n" for i in range(1, 400)), "nested deeper"),
    "recursive-alias": ("a: &a [1, *a]\n", "recursive YAML alias"),
    "too-many-aliases": ("a: &a 1\nb: [" + ", ".join(["*a"] * (yaml_limits.MAX_ALIASES + 1)) + "]\n", "aliases"),
}


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_yaml_is_refused_with_file_line_and_exit_2(tmp_path, case):
    text, expected = HOSTILE[case]
    assert len(text.encode()) < 100_000  # small files: the threat is amplification
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    proc = harness_process("validate", path, timeout=HANG_GUARD_S, preexec_fn=_limit_memory)
    said = proc.stdout + proc.stderr  # the issues are validate's output (stdout)
    assert proc.returncode == 2, said[-2000:]
    assert expected in said
    assert re.search(rf"{re.escape(str(path))}:\d+: ", said), said
    assert "Traceback" not in said


def test_oversized_document_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.write(b"a: " + b"x" * (yaml_limits.MAX_BYTES + 10) + b"\n")
    contract, issues = check_file(path)
    assert contract is None and "over the limit" in issues[0].message


def test_large_but_honest_contract_is_accepted(tmp_path):
    """A 20,000-token prompt (about 75 KB, 20,000 nodes) is far below every bound."""
    ids = ", ".join(str(i % 300) for i in range(20_000))
    text = CONTRACT.read_text().replace("\nprompts:\n", f"\nprompts:\n  long: [{ids}]\n", 1)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    contract, issues = check_file(path)
    assert contract is not None, [str(i) for i in issues]
    assert len(contract.prompts["long"]) == 20_000


def test_honest_aliases_still_work(tmp_path):
    line = "\n  greeting: [1, 17, 42, 5, 300, 7, 99, 211]\n"
    assert line in CONTRACT.read_text()
    text = CONTRACT.read_text().replace(line, line.replace(": [", ": &g [") + "  again: *g\n", 1)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    contract, issues = check_file(path)
    assert contract is not None, [str(i) for i in issues]
    assert contract.prompts["again"] == contract.prompts["greeting"]
