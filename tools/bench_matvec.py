"""Matvec micro-benchmark: time one quantized matvec per launch shape on this machine's device.

    python tools/bench_matvec.py --qtype Q4_K --rows 2048 --cols 2048 \
        [--shapes 32x4,64x2,128x2,128x4] [--slots 1] [--seconds 1]

Prints one JSON object per launch shape (threads x rows per workgroup, subgroup or workgroup
reduction): milliseconds per matvec from wall time (many dispatches in one submission) and,
where the device has timestamp queries, from GPU timestamps; GB/s of weight bytes read. Use it
to pick backends.wgpu.tuning.matvec_launch_shape for a device; it asserts nothing (benchmarks
are not tests). Not part of the installed package (the repository's tools/ folder).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from backends.model import quants
from backends.wgpu import matvec as mv
from backends.wgpu.runtime import Kernels, kernels_for
from backends.wgpu.weights import upload_raw


def _time_op(k: Kernels, op, slots: int, probe, seconds: float) -> tuple[float, float | None]:
    """(wall seconds, GPU seconds or None) per matvec, best batch of a warm run."""
    per_batch, best_wall, best_gpu = 16, float("inf"), None
    end = time.perf_counter() + seconds
    while True:
        batch = k.batch(timed=k.info.has_timestamps)
        for _ in range(per_batch):
            op.encode(batch, slots, 0)
        t0 = time.perf_counter()
        batch.submit(readback=[probe])
        best_wall = min(best_wall, (time.perf_counter() - t0) / per_batch)
        if batch.gpu_seconds is not None:
            gpu = batch.gpu_seconds / per_batch
            best_gpu = gpu if best_gpu is None else min(best_gpu, gpu)
        if time.perf_counter() > end:
            return best_wall, best_gpu


def run(qtype: str, rows: int, cols: int, shapes: list[tuple[int, int]], slots: int,
        seconds: float, random_blocks: bool = False) -> list[dict]:
    k = kernels_for()
    rng = np.random.default_rng(0)
    if random_blocks:   # timing only: random bytes (NaN scales cost the same as real ones)
        raw = rng.integers(0, 256, (rows, quants.row_bytes(qtype, cols)), dtype=np.uint8)
    else:
        raw = quants.quantize(qtype, rng.standard_normal((rows, cols), dtype=np.float32))
    t = upload_raw(k, "bench", qtype, raw, cols)
    x = k.upload(rng.standard_normal((slots, cols), dtype=np.float32))
    y = k.buffer(4 * rows * slots)
    results = []
    for wg, rpw in shapes:
        for sg in [True, False] if k.info.has_subgroup else [False]:
            op = mv.build_matvec(k, t, x, y, x_stride=cols if slots > 1 else 0, subgroup=sg,
                                 wg=wg, rows_per_wg=rpw)
            wall, gpu = _time_op(k, op, slots, (y, 4), seconds)
            best = gpu if gpu is not None else wall
            results.append({"adapter": k.info.identity["adapter"], "qtype": qtype, "rows": rows,
                            "cols": cols, "slots": slots, "wg": wg, "rows_per_wg": rpw,
                            "subgroup": sg, "ms_wall": wall * 1e3,
                            "ms_gpu": None if gpu is None else gpu * 1e3,
                            "gb_per_s": t.nbytes * slots / best / 1e9})
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qtype", default="Q4_K", choices=sorted(mv.FAMILY))
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--cols", type=int, default=2048)
    ap.add_argument("--slots", type=int, default=1, help="input vectors (batch) per matvec")
    ap.add_argument("--shapes", default="32x4,64x2,128x2,128x4,256x2")
    ap.add_argument("--seconds", type=float, default=1.0, help="time per shape")
    ap.add_argument("--random-blocks", action="store_true", help="random bytes, no quantizer")
    args = ap.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    for row in run(args.qtype, args.rows, args.cols, shapes, args.slots, args.seconds,
                   args.random_blocks):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
