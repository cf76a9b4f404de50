"""Every environment variable the harness reads, read here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where generated default models and other derived artefacts are cached."""
    root = os.environ.get("HARNESS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "harness"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def in_ci() -> bool:
    """CI=true: a missing wgpu adapter is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def signing_key_pem() -> bytes | None:
    """An Ed25519 private key (PEM) handed over by CI through the environment."""
    value = os.environ.get("HARNESS_SIGNING_KEY")
    return value.encode() if value else None


def signing_key_path() -> str | None:
    return os.environ.get("HARNESS_SIGNING_KEY_FILE") or None
