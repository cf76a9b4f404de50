"""`harness bench`: prefill and decode throughput of one backend on one model.

    harness bench --preset tiny --backend cpu --prompt-tokens 8 --decode-tokens 8 --runs 3
    harness bench --model m.gguf --backend wgpu --device vendor_id=0x10de --format json

Each run starts from an empty cache: prefill the prompt (timed), then decode greedily (timed)
twice: the host loop (logits back to the host every token, argmax there: decode_tok_s) and the
device loop (backend.generate, ids read back once: decode_device_greedy_tok_s; the same as the
host loop on CPU backends).
One untimed warm-up run first (pipelines, page cache). Reports tok/s median, min and max over the
runs, the weight bytes a decode step reads and the GB/s that implies, peak RSS, the backend's own
memory figure and counters, its identity, the host and a UTC timestamp. JSON on stdout with
--format json, a short table on stdout otherwise. Numbers only: no pass/fail here (that is a
contract's throughput falsifier).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import sys

from rich.console import Console
from rich.table import Table

from harness.commands._backend_args import EXIT_USAGE, add_backend_arguments, execute
from harness.commands._output import fail, quiet
from backends.wgpu import profile as gpu_profile
from harness.falsifiers.throughput import timed_run

NAME = "bench"
HELP = "Benchmark prefill and decode tok/s of one backend (median/min/max over runs)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backend_arguments(parser)
    parser.add_argument("--prompt-tokens", type=int, default=8, metavar="N")
    parser.add_argument("--decode-tokens", type=int, default=8, metavar="M")
    parser.add_argument("--runs", type=int, default=3, metavar="R")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="wgpu: also per-kernel GPU time of one decode and one prefill step "
        "(timestamp queries, one compute pass per kernel)",
    )


def run(args: argparse.Namespace) -> int:
    if min(args.prompt_tokens, args.decode_tokens, args.runs) < 1:
        return fail(args, NAME, "error: --prompt-tokens, --decode-tokens and --runs must be >= 1", EXIT_USAGE)
    return execute(
        args,
        lambda model, backend: bench(
            model, backend, args.prompt_tokens, args.decode_tokens, args.runs, profile=args.profile, quiet=quiet(args)
        ),
        _print_table,
    )


def prompt_ids(n: int, vocab_size: int) -> list[int]:
    """A fixed, spread-out prompt (multiples of a prime mod vocab) so runs are comparable."""
    return [(1 + 7919 * i) % vocab_size for i in range(n)]


def decode_bytes_per_token(model) -> int:
    """Weight bytes one decode step reads: every tensor but the embedding (one row of it), and
    of each 3-D expert tensor only the k selected experts (k/E of its bytes)."""
    cfg = model.config
    total = 0
    for name, info in model.tensors.items():
        if name == "token_embd.weight":
            total += info.nbytes // info.shape[0]
            if cfg.tied_output:
                total += info.nbytes  # also the output head
        elif len(info.shape) == 3:
            total += info.nbytes * cfg.n_expert_used // cfg.n_expert
        else:
            total += info.nbytes
    return total


def bench(model, backend, n_prompt: int, n_decode: int, runs: int, profile: bool = False, quiet: bool = False) -> dict:
    Console(stderr=True, quiet=quiet).print(f"adapter: {_adapter_line(backend.identity())}", highlight=False)
    prompt = prompt_ids(n_prompt, model.config.vocab_size)
    timed_run(backend, prompt, n_decode, "device_greedy")  # warm-up, not counted
    times = [timed_run(backend, prompt, n_decode, "device_greedy") for _ in range(runs)]
    prefill = [n_prompt / t["prefill_s"] for t in times]
    decode = [n_decode / t["host_decode_s"] for t in times]
    greedy = [n_decode / t["decode_s"] for t in times]
    per_token = decode_bytes_per_token(model)
    gpu = gpu_figures(backend, n_prompt + n_decode, per_token * statistics.median(decode), profile)
    return {
        "model": {"path": str(model.path), "size_bytes": os.path.getsize(model.path), "config": model.config.to_dict()},
        "identity": backend.identity(),
        "act": backend.act,
        "prompt_tokens": n_prompt,
        "decode_tokens": n_decode,
        "runs": runs,
        "prefill_tok_s": _stats(prefill),
        "decode_tok_s": _stats(decode),
        "decode_device_greedy_tok_s": _stats(greedy),
        "decode_weight_bytes_per_token": per_token,
        "decode_weight_gb_s_median": per_token * statistics.median(decode) / 1e9,
        "peak_rss_bytes": peak_rss_bytes(),
        "backend_memory_bytes": backend.memory_bytes(),
        "counters": backend.counters(),
        "host": host_info(),
        **gpu,
        # compute threads of a CPU backend (NUMBA_NUM_THREADS sets them), None for a GPU one
        "threads": backend.threads() if hasattr(backend, "threads") else None,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _adapter_line(ident: dict) -> str:
    return (
        f"{ident.get('backend')} / {ident.get('adapter')} ({ident.get('backend_type', '-')}, "
        f"{ident.get('adapter_type', '-')}, driver {ident.get('driver', '-')})"
    )


def gpu_figures(backend, pos: int, decode_bytes_s: float, profile: bool) -> dict:
    """wgpu only ({} otherwise): device copy bandwidth and the decode's share of it, CPU encode
    time of a decode step, bytes resident, and with `profile` the per-kernel GPU time of one
    decode step at position `pos` and of one full prefill chunk."""
    graph = getattr(backend, "graph", None)
    if graph is None:
        return {}
    pos = min(pos, graph.ctx - graph.tmax)
    copy = gpu_profile.copy_bandwidth(graph.k)
    out = {
        "device_copy": copy,
        "decode_share_of_copy_bw": decode_bytes_s / 1e9 / copy["gb_s_read_plus_write"],
        "decode_encode": gpu_profile.encode_seconds(graph, pos, 1),
        "device_bytes_resident": graph.nbytes,
    }
    if profile and graph.k.info.has_timestamps:
        out["profile_decode"] = gpu_profile.profile_step(graph, pos, 1)
        out["profile_prefill"] = gpu_profile.profile_step(graph, 0, graph.tmax)
    return out


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def peak_rss_bytes() -> int:
    """Peak resident set of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def host_info() -> dict:
    return {
        "node": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def _print_table(err: Console, r: dict) -> None:
    ident = r["identity"]
    err.print(
        f"{r['model']['path']} on {ident.get('backend')} / {ident.get('adapter')}, act {r['act']}, {r['runs']} runs",
        highlight=False,
    )
    table = Table("phase", "tokens", "median tok/s", "min", "max")
    for phase, key, n in (
        ("prefill", "prefill_tok_s", r["prompt_tokens"]),
        ("decode (host loop)", "decode_tok_s", r["decode_tokens"]),
        ("decode (device greedy)", "decode_device_greedy_tok_s", r["decode_tokens"]),
    ):
        s = r[key]
        table.add_row(phase, str(n), f"{s['median']:.2f}", f"{s['min']:.2f}", f"{s['max']:.2f}")
    err.print(table)
    err.print(
        f"decode reads {r['decode_weight_bytes_per_token'] / 1e6:.2f} MB of weights per "
        f"token: {r['decode_weight_gb_s_median']:.3f} GB/s; peak RSS "
        f"{r['peak_rss_bytes'] / 2**20:.0f} MiB",
        highlight=False,
    )
    if "device_copy" in r:
        enc = r["decode_encode"]
        err.print(
            f"device copy {r['device_copy']['gb_s_read_plus_write']:.1f} GB/s (read+write); "
            f"decode at {100 * r['decode_share_of_copy_bw']:.1f}% of it; encode "
            f"{enc['encode_s_median'] * 1e3:.2f} ms/step ({enc['dispatches_per_step']} "
            f"dispatches); {r['device_bytes_resident'] / 2**30:.2f} GiB resident",
            highlight=False,
        )
    for phase in ("decode", "prefill"):
        prof = r.get(f"profile_{phase}")
        if prof:
            t = Table(f"{phase} kernel (n_tok {prof['n_tok']})", "count", "GPU ms", "share")
            for name, f in prof["families"].items():
                t.add_row(name, str(f["count"]), f"{f['gpu_ms']:.3f}", f"{100 * f['share']:.1f}%")
            err.print(t)
