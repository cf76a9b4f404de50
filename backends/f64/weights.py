"""Weights and hyperparameters of a qwen3moe GGUF file, read with gguf-py only, as float64."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

from backends.model.errors import ModelFormatError

ARCH_KEY = "general.architecture"
ARCH = "qwen3moe"


class F64Weights:
    """Metadata and lazily dequantized float64 weights of a GGUF file.

    Whole 2-D tensors are decoded once and kept (they are small next to the experts); expert
    slices of the 3-D tensors are decoded on each use so at most one expert's float64 rows exist
    per call (caching every expert of a large model would take gigabytes).
    """

    def __init__(self, path):
        self.path = Path(path)
        reader = gguf.GGUFReader(str(self.path))
        self.meta = {name: field.contents() for name, field in reader.fields.items()}
        self._tensors = {t.name: t for t in reader.tensors}
        self.types = {t.name: t.tensor_type.name for t in reader.tensors}
        if ARCH_KEY not in self.meta:
            raise ModelFormatError(f"{self.path}: missing required metadata key {ARCH_KEY}")
        self.arch = str(self.meta[ARCH_KEY])
        if self.arch != ARCH:
            raise ModelFormatError(f"{self.path}: architecture {self.arch!r} is not {ARCH!r}")
        self._cache: dict[str, np.ndarray] = {}

    def hp(self, key: str):
        """Hyperparameter `<arch>.<key>` from the file; a missing key names the file and key."""
        full = f"{self.arch}.{key}"
        if full not in self.meta:
            raise ModelFormatError(f"{self.path}: missing required metadata key {full}")
        return self.meta[full]

    def has(self, name: str) -> bool:
        return name in self._tensors

    def weight(self, name: str) -> np.ndarray:
        """A whole tensor as float64, shape (rows, cols) in numpy order (1-D for norms)."""
        if name not in self._cache:
            self._cache[name] = self._decode(name)
        return self._cache[name]

    def expert(self, name: str, e: int) -> np.ndarray:
        """Expert e's (rows, cols) slice of a 3-D expert tensor, float64 (not cached)."""
        return self._decode(name, e)

    def rows(self, name: str, ids) -> np.ndarray:
        """Only the listed rows of a 2-D tensor (token embedding lookups), float64."""
        t = self._tensor(name)
        return gguf.quants.dequantize(np.asarray(t.data[np.asarray(ids)]), t.tensor_type).astype(np.float64)

    def n_rows(self, name: str) -> int:
        """Rows of a 2-D tensor (the vocabulary size for token_embd.weight)."""
        return int(self._tensor(name).data.shape[0])

    def cached_bytes(self) -> int:
        """Bytes of the float64 tensors decoded whole and kept."""
        return sum(a.nbytes for a in self._cache.values())

    def _decode(self, name: str, expert: int | None = None) -> np.ndarray:
        t = self._tensor(name)
        data = t.data if expert is None else t.data[expert]
        return gguf.quants.dequantize(np.asarray(data), t.tensor_type).astype(np.float64)

    def _tensor(self, name: str):
        if name not in self._tensors:
            raise ModelFormatError(f"{self.path}: tensor {name} is missing")
        return self._tensors[name]
