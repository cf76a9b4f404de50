"""Where a step's time goes: per-kernel GPU time, CPU encode time, device copy bandwidth.

Measurement helpers for `harness bench --profile` and docs/perf.md; they change nothing in the
forward. Public API:

    op_label(op, n_tok) -> str           the kernel family of one op of Qwen3MoeGraph.ops()
    profile_step(graph, pos0, n_tok, tokens) -> dict
        One step with every op in its own timestamped compute pass: GPU ms per family (count
        of ops, total ms, share), the total, and the step's wall time. Needs timestamp-query.
    encode_seconds(graph, pos0, n_tok, repeats=5) -> dict
        Median CPU seconds to encode one step's ops into a batch (Python + wgpu encode), and
        the median wall seconds of encode + submit + wait (no readback).
    copy_bandwidth(k, nbytes=None, repeats=8) -> dict
        A device-to-device buffer copy, timed by wall clock around several copies in one
        submission: GB/s counting bytes read plus bytes written (and read-only bytes/s).
"""

from __future__ import annotations

import re
import statistics
import time

from backends.wgpu.op import StepPlan, step_bytes

_LAYER = re.compile(r"blk\.\d+\.")


def op_label(op, n_tok: int) -> str:
    """Kernel family of an op: 'matvec <tensor role> <qtype>' for matvecs (layer index dropped),
    else the kernel name."""
    return _LAYER.sub("", op.label(n_tok)).replace(".weight", "")


def _prepare(graph, pos0: int, n_tok: int, tokens) -> None:
    import numpy as np

    toks = tokens if tokens is not None else [1] * n_tok
    graph.k.write(graph.buf["tok"], np.asarray(toks, np.uint32))
    graph.k.write(graph.buf["step"], step_bytes(pos0, n_tok, 0))


def profile_step(graph, pos0: int, n_tok: int, tokens=None) -> dict:
    """GPU time per kernel family of one step (see module docstring)."""
    k = graph.k
    ops = graph.ops()
    _prepare(graph, pos0, n_tok, tokens)
    batch = k.batch(timed=True, max_passes=min(2048, len(ops) + 8))
    for op in ops:
        if not op.dispatches(n_tok):
            continue  # nothing dispatched for this step kind: no empty pass
        batch.new_pass(op_label(op, n_tok))
        op.encode(batch, n_tok, pos0)
    t0 = time.perf_counter()
    batch.submit(readback=[(graph.buf["tok"], 4)])
    wall = time.perf_counter() - t0
    fam: dict[str, dict] = {}
    for label, sec in batch.pass_seconds:
        f = fam.setdefault(label, {"count": 0, "gpu_ms": 0.0})
        f["count"] += 1
        f["gpu_ms"] += sec * 1e3
    total = sum(f["gpu_ms"] for f in fam.values())
    for f in fam.values():
        f["share"] = f["gpu_ms"] / total if total else 0.0
    ordered = dict(sorted(fam.items(), key=lambda kv: -kv[1]["gpu_ms"]))
    return {
        "pos0": pos0,
        "n_tok": n_tok,
        "passes": len(batch.pass_seconds),
        "gpu_ms_total": total,
        "submit_wait_ms": wall * 1e3,
        "families": ordered,
    }


def encode_seconds(graph, pos0: int, n_tok: int, repeats: int = 5) -> dict:
    """Median encode seconds and encode+submit+wait seconds of one step (no readback), through
    the step plan the forward uses (backends.wgpu.op.StepPlan)."""
    ops = graph.ops()
    plan = StepPlan(ops, n_tok)
    _prepare(graph, pos0, n_tok, None)
    enc, full = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        batch = graph.k.batch()
        plan.encode(batch, pos0)
        t1 = time.perf_counter()
        batch.submit()
        graph.k.finish()
        t2 = time.perf_counter()
        enc.append(t1 - t0)
        full.append(t2 - t0)
    return {
        "dispatches_per_step": len(plan.entries),
        "encode_s_median": statistics.median(enc),
        "encode_submit_wait_s_median": statistics.median(full),
    }


def copy_bandwidth(k, nbytes: int | None = None, repeats: int = 8) -> dict:
    """Device copy bandwidth (see module docstring). nbytes default: 1 GiB on a GPU, 64 MiB on
    a CPU adapter, never more than a quarter of the device's largest buffer."""
    if nbytes is None:
        nbytes = (64 << 20) if k.info.identity.get("is_cpu") else (1 << 30)
    nbytes = min(nbytes, k.info.max_buffer // 4) // 256 * 256
    src, dst = k.buffer(nbytes, label="copy-src"), k.buffer(nbytes, label="copy-dst")
    best = float("inf")
    for _ in range(3):  # first round warms up; best of the rest
        batch = k.batch()
        for _ in range(repeats):
            batch.copy(src, dst, nbytes)
        t0 = time.perf_counter()
        batch.submit()
        k.finish()
        best = min(best, (time.perf_counter() - t0) / repeats)
    src.destroy()
    dst.destroy()
    return {
        "bytes": nbytes,
        "seconds": best,
        "gb_s_read_plus_write": 2 * nbytes / best / 1e9,
        "gb_s_read": nbytes / best / 1e9,
    }
