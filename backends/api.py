"""The API every backend implements, and the trace it returns."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (no adapter matches, driver missing). Engine: NOT_RUN."""


class NonFiniteOutput(RuntimeError):
    """An engine answered with NaN/inf where every output of the model is finite: that answer
    refutes whatever the job claims, so the job FAILs with this reason (a planted bug inside an
    external engine is caught as it is in our own backends, whose NaNs the metrics FAIL)."""


class CapabilityMissing(BackendUnavailable):
    """The backend runs, but cannot serve this request (an external engine that reports no
    memory figure, llama.cpp's missing per-layer states): that job is NOT_RUN with the reason."""


@dataclass
class Trace:
    """What one teacher-forced pass over a token sequence produced, position by position.

    T positions, L layers, H hidden, k experts used, E experts, V vocab. A backend that cannot
    see inside its layers (an external engine without the trace op) gives the logits alone: the
    five per-layer arrays are None and meta["layers"] says why (has_layers is False).
    """

    logits: np.ndarray  # (T, V) float32
    hidden_attn: np.ndarray | None  # (L, T, H) float32: residual stream after layer l's attention
    hidden: np.ndarray | None  # (L, T, H) float32: residual stream after layer l's MoE block
    router_ids: np.ndarray | None  # (L, T, k) int32: selected experts, descending weight order
    router_weights: np.ndarray | None  # (L, T, k) float32: renormalised routing weights
    router_probs: np.ndarray | None  # (L, T, E) float32: softmax over all experts (near-tie margins)
    meta: dict = field(default_factory=dict)  # e.g. {"act": "fp32", "prefill_len": 3}

    @property
    def has_layers(self) -> bool:
        return self.hidden is not None


def greedy_host_loop(backend, tokens: Sequence[int], n: int, timings: dict | None = None) -> list[int]:
    """Backend.generate for backends whose steps return logits to the host: argmax on the host
    after each step (np.argmax: lowest id on a tie)."""
    backend.reset()
    if n <= 0:
        return []
    t0 = time.perf_counter()
    out = [int(np.argmax(backend.prefill(tokens)[-1]))]
    t1 = time.perf_counter()
    while len(out) < n:
        out.append(int(np.argmax(backend.decode(out[-1]))))
    if timings is not None:
        timings.update(prefill_s=t1 - t0, decode_s=time.perf_counter() - t1)
    return out


class Backend(Protocol):
    name: str  # "cpu" or "wgpu"
    act: str  # activation path: "fp32" or "q8k"

    def identity(self) -> dict:
        """Who ran: {"backend", "adapter", "vendor_id", "device_id", "backend_type",
        "adapter_type", "driver", "is_cpu" (bool: ran on a CPU, incl. lavapipe),
        "fallback" (bool: wgpu was asked but the work ran elsewhere)}."""

    def reset(self) -> None:
        """Empty the KV cache."""

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        """Append tokens to the cache; return logits for each of them, (T, V) float32."""

    def decode(self, token: int) -> np.ndarray:
        """Append one token; return its logits, (V,) float32."""

    def trace(self, tokens: Sequence[int], prefill_len: int | None = None) -> Trace:
        """From an empty cache: prefill tokens[:prefill_len] (default all), then decode the rest one
        at a time (teacher-forced), capturing per-layer states at every position."""

    def generate(self, tokens: Sequence[int], n: int, timings: dict | None = None) -> list[int]:
        """Greedy from an empty cache: prefill tokens, then n new tokens by argmax (lowest id on
        a tie); returns the new ids. timings (optional): filled with "prefill_s" (until the
        first new id exists) and "decode_s" (the n - 1 decode steps, ids in host memory)."""

    def memory_bytes(self) -> int:
        """Bytes this backend holds for weights + KV cache + scratch (device bytes for wgpu)."""

    def close(self) -> None: ...
