"""llama.cpp as an engine of the protocol (docs/engine-protocol.md), through llama-cpp-python.

    python -m backends.llamacpp.engine [--options JSON]

Options (the cell's engine.options): n_gpu_layers (0: CPU; -1: every layer), main_gpu,
split_mode, tensor_split, n_threads, n_ctx (default 2048), flash_attn (default false). The KV
cache is kept in F32 (type_k = type_v = 0) so it is compared like for like with the reference.
Capabilities: generate (the greedy loop runs inside this process, so no logits cross the pipe).
llama.cpp exposes no per-layer hidden states or router ids, so the harness gets teacher-forced
logits only (layer parity and invariants are NOT_RUN); it reports no resident-memory figure
(memory is NOT_RUN).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from backends.api import greedy_host_loop
from backends.external.serve import serve

GPU_BUILDS = ("CUDA", "Metal", "Vulkan", "HIP", "SYCL", "MUSA", "CANN", "OpenCL")
LLAMA_KEYS = ("n_gpu_layers", "main_gpu", "split_mode", "tensor_split", "n_threads", "n_ctx", "flash_attn")


def identity(llama_cpp, options: dict) -> dict:
    """What runs: the build's GPU backend when layers are offloaded, else the CPU. Asking for
    GPU layers from a build that cannot offload is reported as a fallback."""
    info = llama_cpp.llama_print_system_info()
    info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    builds = [
        b for b in GPU_BUILDS if f"{b.lower()} :" in info.lower() or f"{b.lower()}=" in info.lower().replace(" ", "")
    ]
    wants_gpu = int(options.get("n_gpu_layers", 0)) != 0
    offload = bool(llama_cpp.llama_supports_gpu_offload())
    on_gpu = wants_gpu and offload and bool(builds)
    kind = builds[0] if on_gpu else "CPU"
    return {
        "name": "llama.cpp",
        "version": f"llama-cpp-python {llama_cpp.__version__}",
        "adapter": f"llama.cpp {kind} (n_gpu_layers={options.get('n_gpu_layers', 0)})",
        "vendor_id": None,
        "device_id": None,
        "backend_type": kind,
        "adapter_type": "GPU" if on_gpu else "CPU",
        "driver": " ".join(info.split())[:300],
        "is_cpu": not on_gpu,
        "fallback": wants_gpu and not on_gpu,
    }


class LlamaCppEngine:
    """backends.api.Backend's core (reset, prefill, decode) on one llama.cpp context."""

    def __init__(self, path: str, act: str, faults: frozenset, options: dict):
        if faults:
            raise NotImplementedError(f"the llama.cpp engine implements no planted faults (asked for {sorted(faults)})")
        unknown = sorted(set(options) - set(LLAMA_KEYS))
        if unknown:
            raise ValueError(f"unknown llama-cpp option(s) {unknown}; known: {list(LLAMA_KEYS)}")
        from llama_cpp import Llama

        self.llm = Llama(
            model_path=path,
            logits_all=True,
            verbose=False,
            type_k=0,
            type_v=0,
            **{"n_ctx": 2048, "flash_attn": False, **options},
        )

    def reset(self) -> None:
        self.llm.reset()

    def prefill(self, tokens) -> np.ndarray:
        start = self.llm.n_tokens
        self.llm.eval(list(tokens))
        return np.array(self.llm.scores[start : self.llm.n_tokens], dtype=np.float32)

    def decode(self, token: int) -> np.ndarray:
        return self.prefill([int(token)])[0]

    def generate(self, tokens, n: int, timings: dict | None = None) -> list[int]:
        """Greedy from an empty cache, argmax (lowest id on a tie) in this process."""
        return greedy_host_loop(self, tokens, n, timings)

    def close(self) -> None:
        self.llm.close() if hasattr(self.llm, "close") else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", default="{}", help="the cell's engine.options as JSON")
    options = json.loads(parser.parse_args(argv).options)
    import llama_cpp

    ident = identity(llama_cpp, options)

    def open_fn(path, act, faults, load_options):
        return LlamaCppEngine(path, act, faults, {**options, **load_options})

    return serve(open_fn, ident, capabilities=("generate",))


if __name__ == "__main__":
    raise SystemExit(main())
