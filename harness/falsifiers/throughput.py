"""`throughput`: prefill and decode speed, tok/s, median over timed runs after warm-up runs.

params: prompt_tokens, decode_tokens, runs, warmup_runs, optional seed (prompt ids are drawn
from the vocabulary with it), optional decode_mode. Each run starts from an empty cache,
prefills the prompt, then decodes greedily:

- host_loop (default): every decode step returns its logits and the host takes the argmax, a
  device round trip per token (what a sampler on the CPU costs);
- device_greedy: the backend's generate(prompt, n + 1, timings) keeps each argmax on the device
  (wgpu) and reads the ids back once; its timings give the n decode steps' seconds, from the
  prefill's first id to the ids in host memory. Backends without a device loop run the host
  loop inside generate, so the mode never flatters them.

Metrics: prefill_tok_s_median, decode_tok_s_median, decode_tok_s_min (in the contract's mode).
In device_greedy mode the host-loop figures are recorded in the details as well.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from harness.falsifiers.registry import Outcome, param, register

DECODE_MODES = ("host_loop", "device_greedy")


@register("throughput")
class Throughput:
    def run(self, ctx) -> Outcome:
        n_prompt = int(param(ctx.falsifier, "prompt_tokens"))
        n_decode = int(param(ctx.falsifier, "decode_tokens"))
        runs = int(param(ctx.falsifier, "runs"))
        warmup = int(ctx.params.get("warmup_runs", 0))
        mode = str(ctx.params.get("decode_mode", "host_loop"))
        rng = np.random.default_rng(int(ctx.params.get("seed", 0)))
        prompt = rng.integers(0, ctx.model.config.vocab_size, size=n_prompt).tolist()
        timings = [timed_run(ctx.backend, prompt, n_decode, mode) for _ in range(warmup + runs)][warmup:]
        prefill = [n_prompt / t["prefill_s"] for t in timings]
        decode = [n_decode / t["decode_s"] for t in timings]
        details = {
            "prefill_tok_s": prefill,
            "decode_tok_s": decode,
            "decode_mode": mode,
            "prompt_tokens": n_prompt,
            "decode_tokens": n_decode,
        }
        if mode == "device_greedy":
            details["host_loop_decode_tok_s"] = [n_decode / t["host_decode_s"] for t in timings]
        return Outcome(
            {
                "prefill_tok_s_median": statistics.median(prefill),
                "decode_tok_s_median": statistics.median(decode),
                "decode_tok_s_min": min(decode),
            },
            details,
        )


def timed_run(backend, prompt: list[int], n_decode: int, mode: str = "host_loop") -> dict:
    """Seconds of one run from an empty cache: prefill_s, decode_s (in `mode`) and, in
    device_greedy mode, host_decode_s (the host loop's decode, same prompt)."""
    if mode not in DECODE_MODES:
        raise ValueError(f"throughput: decode_mode {mode!r} unknown; known: {list(DECODE_MODES)}")
    prefill_s, host_s = one_run(backend, prompt, n_decode)
    if mode == "host_loop":
        return {"prefill_s": prefill_s, "decode_s": host_s}
    return {
        "prefill_s": prefill_s,
        "decode_s": device_greedy_seconds(backend, prompt, n_decode),
        "host_decode_s": host_s,
    }


def one_run(backend, prompt: list[int], n_decode: int) -> tuple[float, float]:
    """(prefill seconds, decode seconds) of one greedy host-loop run from an empty cache."""
    backend.reset()
    t0 = time.perf_counter()
    token = int(np.argmax(backend.prefill(prompt)[-1]))
    t1 = time.perf_counter()
    for _ in range(n_decode):
        token = int(np.argmax(backend.decode(token)))
    t2 = time.perf_counter()
    return max(t1 - t0, 1e-12), max(t2 - t1, 1e-12)


def device_greedy_seconds(backend, prompt: list[int], n_decode: int) -> float:
    """Seconds of n_decode decode steps inside backend.generate (ids read back once)."""
    timings: dict = {}
    ids = backend.generate(prompt, n_decode + 1, timings)
    if len(ids) != n_decode + 1 or "decode_s" not in timings:
        raise RuntimeError(
            f"throughput: {type(backend).__name__}.generate returned {len(ids)} "
            f"ids / timings {sorted(timings)} for {n_decode + 1} tokens"
        )
    return max(float(timings["decode_s"]), 1e-12)
