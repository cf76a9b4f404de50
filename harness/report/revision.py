"""The code revision a report vouches for: the git commit of the harness checkout and whether
the working tree differs from it (any modified or untracked file makes it dirty)."""

from __future__ import annotations

import subprocess
from pathlib import Path

UNKNOWN = "unknown"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_revision(cwd: Path = REPO_ROOT) -> dict:
    """{"commit": sha or "unknown", "dirty": bool}; outside a git checkout: unknown and dirty
    (nothing shows the code equals any commit)."""
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return {"commit": UNKNOWN, "dirty": True}
    status = _git(["status", "--porcelain"], cwd)
    return {"commit": commit.strip(), "dirty": status is None or bool(status.strip())}
