"""The code revision a report vouches for: the git commit of the repository that holds the
contract (the user's, which for this project's own contracts is harness's checkout) and whether
its working tree differs from that commit (any modified or untracked file makes it dirty).

A pip-installed harness has no checkout of its own, so its revision could never match
`audit --rev`; the contract's repository is what the report is about.
"""

from __future__ import annotations

import os
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


def repo_root(path: str | os.PathLike) -> Path | None:
    """The top of the git work tree holding `path` (a file), or None outside any."""
    top = _git(["rev-parse", "--show-toplevel"], Path(path).resolve().parent)
    return Path(top.strip()).resolve() if top and top.strip() else None


def contract_revision(contract_path: str | os.PathLike) -> dict:
    """The revision of the repository that holds the contract file."""
    return git_revision(Path(contract_path).resolve().parent)


def contract_name(contract_path: str | os.PathLike) -> str:
    """How a report names the contract: its path inside its repository (POSIX separators), so
    reports made in different checkouts agree; outside a repository, relative to the current
    directory when inside it, else absolute."""
    resolved = Path(contract_path).resolve()
    root = repo_root(resolved)
    if root is not None:
        return resolved.relative_to(root).as_posix()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()
