"""F64Backend: the float64 reference forward behind backends.api.Backend.

It keeps the token ids it was given instead of a KV cache and recomputes the whole causal
sequence on every call (a reference needs to be obviously right, not fast); prefill and decode
return the rows of the new positions. It implements no planted faults: it is what the others
are judged against.
"""

from __future__ import annotations

import platform
from typing import Sequence

import numpy as np

from backends.api import Trace, greedy_host_loop
from backends.f64.activations import ACTS
from backends.f64.forward import TRACE_KEYS, forward
from backends.f64.weights import F64Weights

_COUNTERS = ("submits", "dispatches", "pipelines_created", "bind_groups_created")


class F64Backend:
    """The float64 reference. model: an opened GGUF model (only its .path is used: the file is
    re-read with gguf-py) or a path. device is ignored (one CPU). act: "fp32" or "q8k"."""

    name = "f64"

    def __init__(self, model, *, device: dict | None = None, act: str = "fp32", faults: frozenset[str] = frozenset()):
        if faults:
            raise NotImplementedError(
                f"the f64 reference implements no planted faults; asked for {', '.join(sorted(faults))}"
            )
        if act not in ACTS:
            raise ValueError(f"unknown activation path {act!r}; known: {', '.join(ACTS)}")
        self.act = act
        self.weights = F64Weights(getattr(model, "path", model))
        self.context_length = int(self.weights.hp("context_length"))
        self.vocab_size = self.weights.n_rows("token_embd.weight")
        self.margins: list[float] = []  # Q8_K rounding margins of the last pass (act="q8k")
        self._tokens: list[int] = []

    def identity(self) -> dict:
        return {
            "backend": "f64",  # spelled out here: this oracle shares no code with backends.cpu
            "adapter": f"numpy float64 on {platform.machine() or 'cpu'}",
            "vendor_id": None,
            "device_id": None,
            "backend_type": "numpy",
            "adapter_type": "CPU",
            "driver": f"numpy {np.__version__}",
            "is_cpu": True,
            "fallback": False,
            "act": self.act,
            "faults": [],
        }

    def reset(self) -> None:
        self._tokens = []

    def _run(self, tokens: list[int]) -> dict:
        self._check(tokens)
        self.margins = []
        return forward(self.weights, tokens, self.act, self.margins)

    def _check(self, tokens: list[int]) -> None:
        if len(tokens) > self.context_length:
            raise ValueError(
                f"{len(tokens)} tokens exceed the model's context length {self.context_length} ({self.weights.path})"
            )
        bad = [t for t in tokens if not 0 <= t < self.vocab_size]
        if bad:
            raise ValueError(
                f"token id {bad[0]} is outside the vocabulary 0..{self.vocab_size - 1} ({self.weights.path})"
            )

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        """Append tokens; their logits (T, V) float64."""
        new = [int(t) for t in tokens]
        if not new:
            raise ValueError("prefill needs at least one token")
        self._check(self._tokens + new)  # a refused call leaves the sequence as it was
        self._tokens += new
        return self._run(self._tokens)["logits"][-len(new) :]

    def decode(self, token: int) -> np.ndarray:
        return self.prefill([token])[0]

    def trace(self, tokens: Sequence[int], prefill_len: int | None = None) -> Trace:
        """Per-layer states of every position (float64). prefill_len is checked and recorded
        only: without a cache, prefilled and decoded positions are computed alike."""
        tokens = [int(t) for t in tokens]
        n_pre = len(tokens) if prefill_len is None else int(prefill_len)
        if not 1 <= n_pre <= len(tokens):
            raise ValueError(f"prefill_len {prefill_len} is not in 1..{len(tokens)}")
        rec = self._run(tokens)
        self._tokens = list(tokens)
        rec["router_ids"] = rec["router_ids"].astype(np.int32)
        return Trace(
            logits=rec["logits"],
            **{key: rec[key] for key in TRACE_KEYS},
            meta={"act": self.act, "prefill_len": n_pre, "backend": "f64", "dtype": "float64", "faults": []},
        )

    def generate(self, tokens: Sequence[int], n: int, timings: dict | None = None) -> list[int]:
        """Greedy from an empty cache (argmax on the host, backends.api.greedy_host_loop)."""
        return greedy_host_loop(self, tokens, n, timings)

    def memory_bytes(self) -> int:
        """float64 tensors kept decoded (experts are decoded per use and not kept)."""
        return self.weights.cached_bytes()

    def counters(self) -> dict:
        return dict.fromkeys(_COUNTERS, 0)

    def close(self) -> None:
        self.reset()
