"""Generate a synthetic model once per (preset, seed, generator) into the cache dir.

The bytes of a synthetic file depend on this package, on the quantizers in backends.model.quants,
on the pre-tokenizer in backends/model/tokenizer.py, on numpy's random streams and on the BPE
trainer of `tokenizers`, so the cache key holds GENERATOR_VERSION plus a fingerprint of those
sources and both library versions: a quantizer fix can never be served a stale cached file.
Each cached file has a `.sha256` sidecar written after it; a file whose bytes no longer match
(a disk fault, an edit, an interrupted copy) is regenerated on use, with a logged warning, so
its corruption is never blamed on whatever the model is compared with.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import tokenizers

from backends.model import quants, tokenizer
from backends.model.synth.presets import PRESETS
from backends.model.synth.writer import write_synthetic

# Bump whenever the bytes written for a given (preset, seed) change on purpose.
# 3: the vocabulary is a BPE trained by `tokenizers` (was a fixed enumeration of byte pairs).
GENERATOR_VERSION = 3

_BYTE_SOURCES = (Path(__file__).parent, Path(quants.__file__).parent)
_BYTE_FILES = (Path(tokenizer.__file__),)
_LOG = logging.getLogger(__name__)


@functools.cache
def code_fingerprint() -> str:
    """12 hex digits over the generator, quantizer and pre-tokenizer sources and the numpy and
    tokenizers versions."""
    digest = hashlib.sha256(f"{np.__version__}\0{tokenizers.__version__}".encode())
    sources = [s for folder in _BYTE_SOURCES for s in sorted(folder.glob("*.py"))]
    for source in sources + list(_BYTE_FILES):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:12]


def cached_model_name(preset: str, seed: int) -> str:
    return f"synth-{preset}-seed{seed}-gen{GENERATOR_VERSION}-{code_fingerprint()}.gguf"


def cached_model(preset: str, seed: int, cache_dir: Path) -> Path:
    """Path of the synthetic model (preset, seed) in `cache_dir`, generating it on first use.
    Concurrent callers are safe: each writes a private temp file and renames it into place."""
    if preset not in PRESETS:
        raise KeyError(f"unknown synthetic preset {preset!r}; known: {', '.join(PRESETS)}")
    path = Path(cache_dir) / cached_model_name(preset, seed)
    if path.exists():
        if _intact(path):
            return path
        _LOG.warning(
            "cached synthetic model %s does not match its recorded sha256 (corrupt or edited); regenerating it", path
        )
    write_synthetic(path, preset, seed)
    _record(path)
    return path


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _intact(path: Path) -> bool:
    try:
        recorded = sidecar(path).read_text().strip()
    except OSError:
        return False  # no record (or a writer has not finished): regenerate, same bytes
    return recorded == file_sha256(path)


def _record(path: Path) -> None:
    tmp = sidecar(path).with_name(f".{sidecar(path).name}.{os.getpid()}.tmp")
    tmp.write_text(file_sha256(path) + "\n")
    os.replace(tmp, sidecar(path))
