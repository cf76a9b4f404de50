"""WGSL kernels, one family per file; shipped as package data so installed copies find them."""

from __future__ import annotations

from pathlib import Path

SHADER_DIR = Path(__file__).resolve().parent


def shader_source(name: str) -> str:
    """The text of shaders/<name>.wgsl (name without the extension)."""
    path = SHADER_DIR / f"{name}.wgsl"
    if not path.is_file():
        raise FileNotFoundError(f"shader {name!r} not found at {path}")
    return path.read_text(encoding="utf-8")
