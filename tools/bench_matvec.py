"""Matvec micro-benchmark: time one quantized matvec per launch shape on this machine's device.

    python tools/bench_matvec.py --qtype Q4_K --rows 2048 --cols 2048 \
        [--shapes 32x4,64x2,128x2,128x4] [--task-shapes 4x2,2x4,1x4] [--slots 1] [--seconds 1]
        [--copies N]

Prints one JSON object per launch shape: the chunk driver's (threads x rows per workgroup) and,
for single vectors of Q4_K / Q5_K / Q6_K, the task driver's (R rows per 32-lane group x G
groups), each with subgroup and workgroup reductions: milliseconds per matvec from wall time
(many dependent dispatches in one pass) and, where the device has timestamp queries, from GPU
timestamps; GB/s of weight bytes read. The weights are uploaded `--copies` times and the
dispatches cycle through them (default: enough copies for 128 MiB, past the L2 of current GPUs,
as in the model, where each layer's weights are read once per token). Use it to pick
backends.wgpu.tuning's launch shapes for a device; it asserts nothing (benchmarks are not
tests). Not part of the installed package (the repository's tools/ folder).
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


def _time_op(k: Kernels, ops: list, slots: int, probe, seconds: float) -> tuple[float, float | None]:
    """(wall seconds, GPU seconds or None) per matvec, best batch of a warm run; the batch
    cycles through `ops` (one per weight copy)."""
    per_batch, best_wall, best_gpu = 64, float("inf"), None
    end = time.perf_counter() + seconds
    while True:
        batch = k.batch(timed=k.info.has_timestamps)
        for i in range(per_batch):
            ops[i % len(ops)].encode(batch, slots, 0)
        t0 = time.perf_counter()
        batch.submit(readback=[probe])
        best_wall = min(best_wall, (time.perf_counter() - t0) / per_batch)
        if batch.gpu_seconds is not None:
            gpu = batch.gpu_seconds / per_batch
            best_gpu = gpu if best_gpu is None else min(best_gpu, gpu)
        if time.perf_counter() > end:
            return best_wall, best_gpu


def run(
    qtype: str,
    rows: int,
    cols: int,
    shapes: list[tuple[int, int]],
    slots: int,
    seconds: float,
    random_blocks: bool = False,
    task_shapes=(),
    copies: int = 0,
) -> list[dict]:
    k = kernels_for()
    rng = np.random.default_rng(0)
    if random_blocks:  # timing only: random bytes (NaN scales cost the same as real ones)
        raw = rng.integers(0, 256, (rows, quants.row_bytes(qtype, cols)), dtype=np.uint8)
    else:
        raw = quants.quantize(qtype, rng.standard_normal((rows, cols), dtype=np.float32))
    copies = copies or max(1, min(16, -(-(128 << 20) // raw.nbytes)))
    ts = [upload_raw(k, f"bench{i}", qtype, raw, cols) for i in range(copies)]
    x = k.upload(rng.standard_normal((slots, cols), dtype=np.float32))
    y = k.buffer(4 * rows * slots)
    launches = [("chunks", {"wg": wg, "rows_per_wg": rpw}, f"{wg}x{rpw}") for wg, rpw in shapes]
    launches += [("tasks", {"task_shape": s}, f"{s[0]}x{s[1]}") for s in task_shapes]
    results = []
    for driver, shape, label in launches:
        sgs = [True, False] if k.info.has_subgroup else [False]
        if driver == "tasks" and not mv.subgroup_is_32(k.info):
            sgs = [False]  # the task driver's subgroupAdd runs only on 32-lane subgroups
        for sg in sgs:
            ops = [mv.build_matvec(k, t, x, y, x_stride=cols if slots > 1 else 0, subgroup=sg, **shape) for t in ts]
            wall, gpu = _time_op(k, ops, slots, (y, 4), seconds)
            best = gpu if gpu is not None else wall
            results.append(
                {
                    "adapter": k.info.identity["adapter"],
                    "qtype": qtype,
                    "rows": rows,
                    "cols": cols,
                    "slots": slots,
                    "driver": driver,
                    "shape": label,
                    "subgroup": sg,
                    "copies": copies,
                    "ms_wall": wall * 1e3,
                    "ms_gpu": None if gpu is None else gpu * 1e3,
                    "gb_per_s": ts[0].nbytes * slots / best / 1e9,
                }
            )
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qtype", default="Q4_K", choices=sorted(mv.FAMILY))
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--cols", type=int, default=2048)
    ap.add_argument("--slots", type=int, default=1, help="input vectors (batch) per matvec")
    ap.add_argument(
        "--shapes",
        default="32x4,64x2,128x2,128x4,256x2",
        help="chunk driver: threads x rows per workgroup ('' for none)",
    )
    ap.add_argument(
        "--task-shapes", default="", help="task driver (single Q4_K/Q5_K/Q6_K vectors): R x G, e.g. 4x2,2x4,1x4"
    )
    ap.add_argument("--copies", type=int, default=0, help="weight copies cycled (0: 128 MiB)")
    ap.add_argument("--seconds", type=float, default=1.0, help="time per shape")
    ap.add_argument("--random-blocks", action="store_true", help="random bytes, no quantizer")
    args = ap.parse_args(argv)

    def parse(text):
        return [tuple(int(v) for v in s.split("x")) for s in text.split(",") if s]

    for row in run(
        args.qtype,
        args.rows,
        args.cols,
        parse(args.shapes),
        args.slots,
        args.seconds,
        args.random_blocks,
        parse(args.task_shapes),
        args.copies,
    ):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
