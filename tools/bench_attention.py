"""Decode-attention micro-benchmark: GPU time of one layer's attention (split kernel + merge).

    PYTHONPATH=. python3 tools/bench_attention.py [--positions 128,640,2048,8192]
        [--splits 32,64] [--splits-max 128] [--heads-per-wg 1,8] [--layers 4] [--reps 12]
        [--no-prefill-kernel]

Builds backends.wgpu.attention.attention_ops for the Qwen3-30B-A3B attention shape (32 query
heads, 4 kv heads, head_dim 128, value_dim 128, context 40960 unless overridden) over random
q / K / V, for a decode step at each position. Prints one JSON line per (kernel, split,
heads per workgroup, position):
  us_per_layer   both dispatches, many layer-equivalents back to back in ONE compute pass (the
                 forward's way: each dispatch depends on the one before), GPU timestamps when
                 the device has timestamp-query, else wall time of the submission;
  us_attn / us_merge   each dispatch in its own timed pass (the profiler's way; null untimed).
`--layers` KV caches are cycled so that consecutive dispatches do not all hit one warm cache.
The "prefill-kernel" rows run attn_partial (the GQA-aware prefill kernel) for the one token, for
comparison. Asserts nothing (a benchmark, not a test).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from backends.wgpu import attention as attn
from backends.wgpu import tuning
from backends.wgpu.runtime import kernels_for
from backends.wgpu.op import STEP_BYTES, step_bytes

SHAPE = {"n_head": 32, "n_kv": 4, "hd": 128, "vd": 128, "ctx": 40960}  # Qwen3-30B-A3B


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", default="128,640,2048,8192")
    ap.add_argument(
        "--splits",
        default=f"16,{tuning.ATTN_SPLIT_DECODE},64",
        help="decode block sizes (the forward uses ATTN_SPLIT_DECODE)",
    )
    ap.add_argument("--splits-max", type=int, default=tuning.ATTN_DECODE_SPLITS_MAX)
    ap.add_argument(
        "--heads-per-wg",
        default="1,8",
        help="decode query heads per workgroup (divisors of the group of 8; the "
        f"default build takes up to {tuning.ATTN_DECODE_HEADS_PER_WG})",
    )
    ap.add_argument("--ctx", type=int, default=SHAPE["ctx"])
    ap.add_argument("--layers", type=int, default=4, help="KV caches cycled through")
    ap.add_argument("--reps", type=int, default=12, help="passes over the layers per batch")
    ap.add_argument("--trials", type=int, default=3, help="batches; the best is reported")
    ap.add_argument("--no-prefill-kernel", action="store_true")
    return ap.parse_args(argv)


def _buffers(k, a, rows: int, rng) -> dict:
    """Per-layer K/V caches of `rows` positions; q, partials, out and step shared."""
    s = SHAPE
    kv = [
        (
            k.upload(rng.standard_normal((rows, s["n_kv"], s["hd"]), dtype=np.float32)),
            k.upload(rng.standard_normal((rows, s["n_kv"], s["vd"]), dtype=np.float32)),
        )
        for _ in range(a.layers)
    ]
    part = max(
        attn.attention_scratch_floats(s["n_head"], 2, a.ctx, s["vd"]),  # prefill kernel
        s["n_head"] * a.splits_max * (s["vd"] + 2),
    )  # decode (capped)
    return {
        "kv": kv,
        "q": k.upload(rng.standard_normal((2, s["n_head"], s["hd"]), dtype=np.float32)),
        "part": k.buffer(4 * part),
        "out": k.buffer(4 * 2 * s["n_head"] * s["vd"]),
        "step": k.buffer(STEP_BYTES, uniform=True),
    }


def _layer_ops(k, b, a, tmax: int, split: int, hpw: int) -> list[list]:
    dims = {**SHAPE, "ctx": a.ctx, "tmax": tmax, "splits_max": a.splits_max, "heads_per_wg": hpw}
    return [
        attn.attention_ops(
            k,
            {"q": b["q"], "k_cache": kc, "v_cache": vc, "part": b["part"], "out": b["out"], "step": b["step"]},
            dims,
            split=split,
        )
        for kc, vc in b["kv"]
    ]


def _time(k, layers, probe, pos0: int, a, per_pass: bool):
    """(best seconds per layer over the trials, {op name: seconds per layer} when per_pass and
    timed, else None)."""
    timed = k.info.has_timestamps
    best, parts = float("inf"), None
    for trial in range(a.trials + 1):  # trial 0 warms up (first-dispatch compiles), untimed
        b = k.batch(timed=timed, max_passes=2 * len(layers) if per_pass else 1)
        n = 0
        for _ in range(1 if per_pass else a.reps):
            for ops in layers:
                for op in ops:
                    if per_pass:
                        b.new_pass(op.name)
                    op.encode(b, 1, pos0)
                n += 1
        t0 = time.perf_counter()
        b.submit(readback=[(probe, 16)])  # waits for the GPU (wall time when untimed)
        wall = time.perf_counter() - t0
        sec = (b.gpu_seconds if timed else wall) / n
        if trial and sec < best:
            best = sec
            if per_pass and timed:
                names = [p[0] for p in b.pass_seconds]
                parts = {nm: sum(t for m, t in b.pass_seconds if m == nm) / n for nm in names}
    return best, parts


def main(argv=None) -> int:
    a = _args(argv)
    k = kernels_for()
    positions = [int(p) for p in a.positions.split(",")]
    rng = np.random.default_rng(0)
    b = _buffers(k, a, max(positions) + 1, rng)
    kinds = [
        ("decode", 1, int(s), int(h)) for s in a.splits.split(",") for h in dict.fromkeys(a.heads_per_wg.split(","))
    ]
    if not a.no_prefill_kernel:
        kinds.append(("prefill-kernel", 2, tuning.ATTN_SPLIT, None))
    for kind, tmax, split, hpw in kinds:
        layers = _layer_ops(k, b, a, tmax, split, hpw)
        for pos0 in positions:
            k.write(b["step"], step_bytes(pos0, 1))
            per_layer, _ = _time(k, layers, b["out"], pos0, a, per_pass=False)
            _, parts = _time(k, layers, b["out"], pos0, a, per_pass=True)
            grid = layers[0][0].grid(1, pos0)
            row = {
                "adapter": k.info.identity["adapter"],
                "kernel": kind,
                "split": split,
                "splits_max": a.splits_max if tmax == 1 else None,
                "heads_per_wg": hpw,
                "pos": pos0,
                "workgroups": grid[0] * grid[1] * grid[2],
                "timer": "gpu" if k.info.has_timestamps else "wall",
                "us_per_layer": round(per_layer * 1e6, 2),
            }
            for key, name in (("us_attn", "attn_partial"), ("us_merge", "attn_reduce")):
                row[key] = None if parts is None else round(parts[name] * 1e6, 2)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
