"""`throughput`: prefill and decode speed, tok/s, median over timed runs after warm-up runs.

params: prompt_tokens, decode_tokens, runs, warmup_runs, optional seed (prompt ids are drawn
from the vocabulary with it). Each run starts from an empty cache, prefills the prompt, then
decodes greedily. Metrics: prefill_tok_s_median, decode_tok_s_median, decode_tok_s_min.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from harness.falsifiers.registry import Outcome, param, register


@register("throughput")
class Throughput:
    def run(self, ctx) -> Outcome:
        n_prompt = int(param(ctx.falsifier, "prompt_tokens"))
        n_decode = int(param(ctx.falsifier, "decode_tokens"))
        runs = int(param(ctx.falsifier, "runs"))
        warmup = int(ctx.params.get("warmup_runs", 0))
        rng = np.random.default_rng(int(ctx.params.get("seed", 0)))
        prompt = rng.integers(0, ctx.model.config.vocab_size, size=n_prompt).tolist()
        timings = [one_run(ctx.backend, prompt, n_decode) for _ in range(warmup + runs)][warmup:]
        prefill = [n_prompt / t for t, _ in timings]
        decode = [n_decode / t for _, t in timings]
        return Outcome({"prefill_tok_s_median": statistics.median(prefill),
                        "decode_tok_s_median": statistics.median(decode),
                        "decode_tok_s_min": min(decode)},
                       {"prefill_tok_s": prefill, "decode_tok_s": decode,
                        "prompt_tokens": n_prompt, "decode_tokens": n_decode})


def one_run(backend, prompt: list[int], n_decode: int) -> tuple[float, float]:
    """(prefill seconds, decode seconds) of one greedy run from an empty cache."""
    backend.reset()
    t0 = time.perf_counter()
    token = int(np.argmax(backend.prefill(prompt)[-1]))
    t1 = time.perf_counter()
    for _ in range(n_decode):
        token = int(np.argmax(backend.decode(token)))
    t2 = time.perf_counter()
    return max(t1 - t0, 1e-12), max(t2 - t1, 1e-12)
