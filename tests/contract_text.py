"""Helpers for contract tests: edit a shipped contract's text and locate lines independently.

Line numbers are found by searching the edited text, never by asking the code under test.
"""

from __future__ import annotations

from pathlib import Path

from contracts import CONTRACT_DIR

GPU_CONTRACT = CONTRACT_DIR / "qwen3-moe-forward-gpu-v1.yaml"
CPU_CONTRACT = CONTRACT_DIR / "qwen3-moe-forward-v1.yaml"
SHIPPED = sorted(CONTRACT_DIR.glob("*.yaml"))


def edit(text: str, old: str, new: str, count: int = 1) -> str:
    """Replace `old` (which must occur exactly `count` times) with `new`."""
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times, expected {count}"
    return text.replace(old, new)


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the nth occurrence of `needle` in `text`."""
    pos = -1
    for _ in range(nth + 1):
        pos = text.index(needle, pos + 1)
    return text.count("\n", 0, pos) + 1


def write(tmp_path: Path, text: str, name: str = "contract.yaml", fixtures: bool = True) -> Path:
    """Write `text` beside a link to the shipped fixtures (as a shipped contract sees them)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    link = tmp_path / "fixtures"
    if fixtures and not link.exists():
        link.symlink_to(CONTRACT_DIR / "fixtures", target_is_directory=True)
    return path


def gpu_text() -> str:
    return GPU_CONTRACT.read_text(encoding="utf-8")
