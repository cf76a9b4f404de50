"""The CPU reference beside llama.cpp's CPU backend: same GGUF file, same prompt ids, same threads.

    NUMBA_NUM_THREADS=16 taskset -c 0-15 .venv/bin/python tools/bench_cpu_vs_llama.py \
        --preset small --threads 16 --prompt-tokens 64 --decode-tokens 32 --runs 5

Prints one JSON object on stdout: tok/s (median, min, max over the runs, each run from an empty
cache after one untimed warm-up) of prefill and decode for `harness bench`'s cpu backend and for
llama-cpp-python, and the ratios cpu / llama.cpp (issue 15 asks for >= 0.25 in both). The peer
is optional: without llama_cpp installed its entry says so and no ratio is printed.
NUMBA_NUM_THREADS must be set before start (numba sizes its pool once); --threads must match it.
--parallel-min-macs overrides backends.cpu.compiled.PARALLEL_MIN_MACS (the size from which a
kernel call goes to the thread pool) for this run, to measure the trade-off it names.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

from backends import open_backend
from backends.cpu import compiled
from backends.model.gguf_model import open_model
from harness.commands.bench import bench, prompt_ids
from harness.model_store import synthetic_model


def llama_cpp_figures(path: Path, prompt: list[int], n_decode: int, runs: int, threads: int) -> dict:
    """Prefill = one eval of the prompt; decode = n_decode single-token evals (teacher-forced:
    the cost of a step does not depend on which id it is). F32 KV, no flash attention, as
    tests/test_llama_cpp_crosscheck.py."""
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(path),
        n_ctx=len(prompt) + n_decode + 8,
        n_batch=len(prompt),
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
        type_k=0,
        type_v=0,
        flash_attn=False,
    )
    follow = [prompt[i % len(prompt)] for i in range(n_decode)]

    def one_run() -> tuple[float, float]:
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(prompt)
        t1 = time.perf_counter()
        for tok in follow:
            llm.eval([tok])
        return len(prompt) / (t1 - t0), n_decode / (time.perf_counter() - t1)

    one_run()  # warm-up, not counted
    figures = [one_run() for _ in range(runs)]
    return {"prefill_tok_s": _stats([f[0] for f in figures]), "decode_tok_s": _stats([f[1] for f in figures])}


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--model", type=Path, help="a GGUF file instead of the synthetic preset")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--parallel-min-macs", type=int, default=None, metavar="N")
    args = ap.parse_args()
    if args.parallel_min_macs is not None:
        if args.parallel_min_macs < 0:
            print("error: --parallel-min-macs must be >= 0", file=sys.stderr)
            return 2
        compiled.PARALLEL_MIN_MACS = args.parallel_min_macs
    if int(os.environ.get("NUMBA_NUM_THREADS", "0")) != args.threads:
        print(f"error: set NUMBA_NUM_THREADS={args.threads} to match --threads", file=sys.stderr)
        return 2
    path = args.model or synthetic_model(args.preset, args.seed)
    model = open_model(path)
    cpu = bench(model, open_backend("cpu", model), args.prompt_tokens, args.decode_tokens, args.runs)
    out = {
        "model": str(path),
        "threads": args.threads,
        "host": cpu["host"],
        "parallel_min_macs": compiled.PARALLEL_MIN_MACS,
        "cpu": {k: cpu[k] for k in ("prefill_tok_s", "decode_tok_s", "threads", "identity")},
    }
    if importlib.util.find_spec("llama_cpp") is None:
        out["llama_cpp"] = "not run: llama-cpp-python is not installed"
    else:
        prompt = prompt_ids(args.prompt_tokens, model.config.vocab_size)
        peer = llama_cpp_figures(path, prompt, args.decode_tokens, args.runs, args.threads)
        out["llama_cpp"] = peer
        out["ratio_cpu_over_llama_cpp"] = {
            phase: cpu[phase]["median"] / peer[phase]["median"] for phase in ("prefill_tok_s", "decode_tok_s")
        }
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
