"""Generate a synthetic model once per (preset, seed, generator version) into the cache dir."""

from __future__ import annotations

from pathlib import Path

from harness.settings import cache_dir
from backends.synth.presets import PRESETS
from backends.synth.writer import write_synthetic

# Bump whenever the bytes written for a given (preset, seed) change: stale cache entries then
# stop matching instead of being reused.
GENERATOR_VERSION = 2


def cached_model_name(preset: str, seed: int) -> str:
    return f"synth-{preset}-seed{seed}-gen{GENERATOR_VERSION}.gguf"


def cached_model(preset: str, seed: int) -> Path:
    """Path of the synthetic model (preset, seed), generating it on first use.
    Concurrent callers are safe: each writes a private temp file and renames it into place."""
    if preset not in PRESETS:
        raise KeyError(f"unknown synthetic preset {preset!r}; known: {', '.join(PRESETS)}")
    path = cache_dir() / cached_model_name(preset, seed)
    if not path.exists():
        write_synthetic(path, preset, seed)
    return path
