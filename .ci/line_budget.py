"""Fail when a source file is over the line budget (small files with one job each).

    python .ci/line_budget.py [--max 400]

Checks every file git tracks (or would track: untracked, not ignored) ending in .py, .wgsl or
.sh; prints each one over the budget and exits 1, else prints the largest and exits 0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

SUFFIXES = (".py", ".wgsl", ".sh")


def source_files(root: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [root / p for p in out.split("\0") if p.endswith(SUFFIXES) and (root / p).is_file()]


def over_budget(files: list[Path], limit: int) -> list[tuple[int, Path]]:
    counts = [(len(f.read_bytes().splitlines()), f) for f in files]
    return sorted(((n, f) for n, f in counts if n > limit), reverse=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=400, help="most lines a source file may have")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args(argv)
    files = source_files(args.root)
    bad = over_budget(files, args.max)
    for n, f in bad:
        print(f"line budget: {f.relative_to(args.root)} has {n} lines (budget {args.max}): split it")
    if not bad:
        print(f"line budget: {len(files)} source files, none over {args.max} lines")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
