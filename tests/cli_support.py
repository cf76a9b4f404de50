"""Running the harness CLI in a subprocess, as a user would (tests of streams, exit codes, limits)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def harness_process(*argv, cwd=ROOT, **options) -> subprocess.CompletedProcess:
    """`python -m harness ARGV...` with text output captured; options go to subprocess.run
    (env, timeout, preexec_fn, ...)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, argv)], cwd=cwd, capture_output=True, text=True, **options
    )
