"""CpuBackend: the numpy reference behind backends.api.Backend (lazy fused matvecs, below).

Weights stay in their memory-mapped quantized blocks and are decoded a chunk of rows at a time
inside each matvec; the KV cache is float32. The activation path is named in identity() and in
every Trace.meta: "fp32" (f32 activations, exactly dequantized weights) or "q8k" (llama.cpp's
activation quantisation emulated, backends.cpu.matvec).
"""

from __future__ import annotations

import platform
from typing import Sequence

import numpy as np

from backends.api import Trace, greedy_host_loop
from backends.cpu.forward import Forward, States
from backends.cpu.knobs import knobs_for
from backends.cpu.kvcache import KVCache
from backends.cpu import compiled
from backends.cpu.matvec import ACTS, CHUNK_BYTES, IMPLS

ACT_PATHS = {
    "fp32": "fp32_act: float32 activations, weights dequantized exactly",
    "q8k": "q8k_act: activations rounded to the weight's llama.cpp vec_dot_type "
    "(Q8_K for K-quants, Q8_0, F16, BF16; F32 unchanged)",
}
_COUNTERS = ("submits", "dispatches", "pipelines_created", "bind_groups_created")


def host_identity(driver: str, adapter: str = "numpy") -> dict:
    """The identity fields of a backend computing on this host's CPU with numpy (the CPU
    reference, the f64 backend, the reference engine behind the external protocol)."""
    return {
        "adapter": f"{adapter} on {platform.machine() or 'cpu'}",
        "vendor_id": None,
        "device_id": None,
        "backend_type": "numpy",
        "adapter_type": "CPU",
        "driver": driver,
        "is_cpu": True,
    }


def driver_line(impl: str) -> str:
    """What computes the matvecs: numpy alone, or numba's compiled kernels beside it."""
    if impl == "numpy":
        return f"numpy {np.__version__}"
    return f"numpy {np.__version__}, numba {compiled.numba_version()}"


class CpuBackend:
    """The CPU reference backend. device is accepted for a uniform factory signature and ignored:
    there is one CPU. faults: planted bugs from backends.faults (mutation runner only).
    impl: "compiled" (numba kernels) or "numpy" (the readable specification; backends.cpu.matvec).
    The default is "compiled" for fp32 and "numpy" for q8k: q8k's activation rounding turns
    1-ulp summation-order differences into whole Q8_K steps, and llama.cpp's logits are matched
    end to end (tests/test_llama_cpp_crosscheck.py, the llama.cpp engine's parity) by the
    numpy path's order, not by the compiled kernels' (2026-12-04: rel L2 1.2e-2 on tiny)."""

    name = "cpu"

    def __init__(self, model, *, device=None, act="fp32", faults=frozenset(), impl=None):
        if act not in ACTS:
            raise ValueError(f"unknown activation path {act!r}; known: {', '.join(ACTS)}")
        impl = impl or ("compiled" if act == "fp32" else "numpy")
        if impl not in IMPLS:
            raise ValueError(f"unknown matvec impl {impl!r}; known: {', '.join(IMPLS)}")
        self.model, self.act, self.faults, self.impl = model, act, frozenset(faults), impl
        self.knobs = knobs_for(model, self.faults)
        cfg = model.config
        self._forward = Forward(model, self.knobs, act, impl)
        self._cache = KVCache(
            cfg.n_layer, cfg.n_head_kv, cfg.head_dim, cfg.value_dim, cfg.context_length, round_dtype=self.knobs.kv_dtype
        )

    def identity(self) -> dict:
        return {
            "backend": "cpu",
            **host_identity(driver_line(self.impl)),
            "fallback": False,
            "act": self.act,
            "act_path": ACT_PATHS[self.act],
            "impl": self.impl,
            "faults": sorted(self.faults),
        }

    def reset(self) -> None:
        self._cache.reset()

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        return self._forward(self._cache, tokens)

    def decode(self, token: int) -> np.ndarray:
        return self._forward(self._cache, [int(token)])[0]

    def trace(self, tokens: Sequence[int], prefill_len: int | None = None) -> Trace:
        tokens = [int(t) for t in tokens]
        n_pre = len(tokens) if prefill_len is None else int(prefill_len)
        if not 1 <= n_pre <= len(tokens):
            raise ValueError(f"prefill_len {prefill_len} is not in 1..{len(tokens)}")
        self.reset()
        parts = [self._captured(tokens[:n_pre])]
        parts += [self._captured(tokens[t : t + 1]) for t in range(n_pre, len(tokens))]
        return Trace(
            logits=np.concatenate([p[0] for p in parts]),
            **{
                key: np.concatenate([np.stack(getattr(p[1], key)) for p in parts], axis=1)
                for key in ("hidden_attn", "hidden", "router_ids", "router_weights", "router_probs")
            },
            meta={
                "act": self.act,
                "act_path": ACT_PATHS[self.act],
                "prefill_len": n_pre,
                "backend": "cpu",
                "faults": sorted(self.faults),
            },
        )

    def _captured(self, tokens: list[int]) -> tuple[np.ndarray, States]:
        states = States()
        return self._forward(self._cache, tokens, states), states

    def generate(self, tokens: Sequence[int], n: int, timings: dict | None = None) -> list[int]:
        """Greedy from an empty cache (argmax on the host, backends.api.greedy_host_loop)."""
        return greedy_host_loop(self, tokens, n, timings)

    def memory_bytes(self) -> int:
        """Quantized weight bytes (memory-mapped) + KV cache + norm vectors + one decode chunk."""
        weights = sum(t.nbytes for t in self.model.tensors.values())
        norms = sum(v.nbytes for v in self._forward.norms.values())
        return weights + self._cache.nbytes() + norms + CHUNK_BYTES

    def threads(self) -> int:
        """Threads the matvecs run on (1 for the numpy specification's own loops)."""
        return compiled.threads() if self.impl == "compiled" else 1

    def counters(self) -> dict:
        return dict.fromkeys(_COUNTERS, 0)

    def close(self) -> None:
        self._cache.reset()
