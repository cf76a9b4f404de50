"""WgpuBackend: backends.api.Backend on a wgpu device (backends.wgpu.forward does the work).

Activations are f32 (act="fp32" only). A decode step is one submission; generate keeps the token
ids on the GPU (argmax writes the next step's input) and reads the ids back once at the end.
The planted fault `wgpu_cpu_fallback` is a wrapper around this backend's identity and counters
(backends.faults.silent_cpu_fallback), not a mode of it.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from backends.api import Trace
from backends.wgpu import helpers
from backends.wgpu.device import GpuDevice, get_device
from backends.wgpu.forward import GPU_FAULTS, Qwen3MoeGraph, forward_qwen3_moe_wgpu
from backends.wgpu.matvec import matvec
from backends.wgpu.runtime import kernels_for
from backends.wgpu.weights import upload_raw

ACT_PATH = "fp32_act: float32 activations, weights decoded from their blocks inside each kernel"
_TRACE_KEYS = ("hidden_attn", "hidden", "router_ids", "router_weights", "router_probs")


def check_act(act: str) -> None:
    if act != "fp32":
        raise ValueError(
            f"wgpu backend: activation path {act!r} unsupported; the GPU path is f32 activations (act='fp32')"
        )


def wgpu_op_kernels(k) -> dict:
    """The one-shot GPU ops that op parity (harness.falsifiers.op_impls) compares, on the device
    of `k` (a runtime Kernels): router(model, layer, h) -> (ids, weights, probs);
    expert_swiglu(model, layer, h, ids) -> (k, I); moe_ffn(model, layer, h) -> (H,), routed on
    the GPU; matvec(name, qtype, raw, cols, x) -> (rows,) for one raw quantized weight."""

    def one_matvec(name: str, qtype: str, raw: np.ndarray, cols: int, x: np.ndarray):
        return matvec(k, upload_raw(k, name, qtype, raw, cols), x)

    return {
        "router": helpers.router_wgpu,
        "expert_swiglu": helpers.expert_swiglu_wgpu,
        "moe_ffn": helpers.moe_ffn_forward_layer_wgpu,
        "matvec": one_matvec,
    }


def wgpu_identity(gpu: GpuDevice, act: str, faults) -> dict:
    """What a wgpu backend on `gpu` says it is."""
    return {**gpu.info.identity, "fallback": False, "act": act, "act_path": ACT_PATH, "faults": sorted(faults)}


class WgpuBackend:
    """The GPU backend. device: a device-matrix selector dict (backends.wgpu.device);
    faults: planted bugs (mutation runner only); max_context caps the KV cache (default: the
    file's context_length); prefill_chunk: tokens per prefill submission."""

    name = "wgpu"

    def __init__(self, model, *, device=None, act="fp32", faults=frozenset(), max_context=None, prefill_chunk=None):
        check_act(act)
        faults = frozenset(faults)
        missing = sorted(faults - GPU_FAULTS)
        if missing:
            raise NotImplementedError(f"wgpu backend does not implement fault(s) {missing}")
        self.model, self.act, self.faults = model, act, faults
        self.gpu = get_device(device)
        self.k = kernels_for(self.gpu)
        self.graph = Qwen3MoeGraph(
            model,
            self.k,
            faults=faults,
            max_context=max_context,
            **({"prefill_chunk": prefill_chunk} if prefill_chunk else {}),
        )
        self.pos = 0

    def identity(self) -> dict:
        return wgpu_identity(self.gpu, self.act, self.faults)

    def reset(self) -> None:
        self.pos = 0

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        tokens = [int(t) for t in tokens]
        out = []
        for i in range(0, len(tokens), self.graph.tmax):
            chunk = tokens[i : i + self.graph.tmax]
            out.append(self._logits(self.graph.step(self.pos, len(chunk), chunk), len(chunk)))
            self.pos += len(chunk)
        return np.concatenate(out)

    def decode(self, token: int) -> np.ndarray:
        raw = self.graph.step(self.pos, 1, [int(token)])
        self.pos += 1
        return self._logits(raw, 1)[0]

    def _logits(self, raw: dict, n: int) -> np.ndarray:
        return raw["logits"].view(np.float32).reshape(n, self.model.config.vocab_size).copy()

    def trace(self, tokens: Sequence[int], prefill_len: int | None = None) -> Trace:
        tokens = [int(t) for t in tokens]
        n_pre = len(tokens) if prefill_len is None else int(prefill_len)
        if not 1 <= n_pre <= len(tokens):
            raise ValueError(f"prefill_len {prefill_len} is not in 1..{len(tokens)}")
        self.reset()
        self.graph.enable_trace()
        step = self.graph.tmax
        chunks = [tokens[i : min(i + step, n_pre)] for i in range(0, n_pre, step)]
        chunks += [[t] for t in tokens[n_pre:]]
        logits, states = [], []
        for chunk in chunks:
            raw = self.graph.step(self.pos, len(chunk), chunk, trace=True)
            self.pos += len(chunk)
            logits.append(self._logits(raw, len(chunk)))
            states.append(self.graph.unpack_trace(raw, len(chunk)))
        return Trace(
            logits=np.concatenate(logits),
            **{key: np.concatenate([s[key] for s in states], axis=1) for key in _TRACE_KEYS},
            meta={
                "act": self.act,
                "act_path": ACT_PATH,
                "prefill_len": n_pre,
                "backend": "wgpu",
                "faults": sorted(self.faults),
            },
        )

    def generate(self, tokens: Sequence[int], n: int, timings: dict | None = None) -> list[int]:
        """Greedy: prefill, then n-1 decode steps that read their input id from the GPU (argmax
        of the previous step); the n ids are read back once, at the end. timings: see
        backends.api.Backend.generate (the prefill is waited for only when timings is given)."""
        self.reset()
        if n <= 0:
            return []
        tokens = [int(t) for t in tokens]
        t0 = time.perf_counter()
        for i in range(0, len(tokens), self.graph.tmax):
            chunk = tokens[i : i + self.graph.tmax]
            self.graph.step(self.pos, len(chunk), chunk, slot=0, logits=False)
            self.pos += len(chunk)
        if timings is not None:
            self.k.finish()
        t1 = time.perf_counter()
        for j in range(1, n):
            self.graph.step(self.pos, 1, None, slot=j, logits=False)
            self.pos += 1
        (hist,) = self.k.read((self.graph.buf["hist"], 4 * n))
        if timings is not None:
            timings.update(prefill_s=t1 - t0, decode_s=time.perf_counter() - t1)
        return [int(t) for t in hist.view(np.uint32)]

    def memory_bytes(self) -> int:
        """Device bytes this backend allocated: weights, KV cache, scratch."""
        return self.graph.nbytes if self.graph else 0

    def weight_bytes(self) -> int:
        """Device bytes of the uploaded weights alone (the memory falsifier's expansion ratio)."""
        return self.graph.weight_nbytes if self.graph else 0

    def counters(self) -> dict:
        return self.k.counters.as_dict()

    def op_kernels(self) -> dict:
        return wgpu_op_kernels(self.k)

    def close(self) -> None:
        self.graph = None


__all__ = ["WgpuBackend", "forward_qwen3_moe_wgpu"]
