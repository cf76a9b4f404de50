"""Matvec lab: candidate single-vector Q4_K / Q6_K kernels beside the product's, timed in-stream.

    python tools/matvec_lab/run.py [--check-only] [--seconds S]

For each shape of the 30B decode step, each candidate (rows per 32-lane group R, groups per
workgroup G) is first checked against numpy on a small real-quantized matrix (relative error),
then timed: N dispatches in ONE compute pass bracketed by timestamps, cycling through enough
weight copies that the set exceeds the L2 cache (as in the model, where each layer's weights are
read once per token). Prints JSON lines, then a table. A benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import wgpu

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from backends.model import quants  # noqa: E402
from backends.wgpu.weights import repack  # noqa: E402

HERE = Path(__file__).parent
L2_BYTES = 64 << 20
SHAPES = [("Q4_K", 12288, 2048, "gate/up x8"), ("Q4_K", 16384, 768, "down x8"),
          ("Q4_K", 2048, 4096, "attn_output"), ("Q4_K", 5120, 2048, "q|k|v"),
          ("Q6_K", 16384, 768, "down x8 Q6_K"), ("Q6_K", 151936, 2048, "head Q6_K")]
WORDS = {"Q4_K": 36, "Q6_K": 53}
COPIES = 0   # --copies: 0 = enough to exceed the L2


def device():
    adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    feats = [f for f in ("subgroup", "timestamp-query") if f in adapter.features]
    lim = {k: adapter.limits[k] for k in ("max-storage-buffer-binding-size", "max-buffer-size")}
    dev = adapter.request_device_sync(required_features=feats, required_limits=lim)
    return adapter, dev, set(feats)


def pipeline(dev, qtype, R, G, sg):
    src = (HERE / f"{qtype.lower()}.wgsl").read_text() + (HERE / ("reduce_sg.wgsl" if sg
                                                                 else "reduce_wg.wgsl")).read_text()
    mod = dev.create_shader_module(code=src)
    return dev.create_compute_pipeline(layout="auto", compute={
        "module": mod, "entry_point": "main", "constants": {"R": R, "GROUPS": G, "SG": int(sg)}})


def buf(dev, data=None, size=None, usage=wgpu.BufferUsage.STORAGE):
    if data is not None:
        data = np.ascontiguousarray(data)
        size = max(16, -(-data.nbytes // 16) * 16)
        b = dev.create_buffer(size=size, usage=usage | wgpu.BufferUsage.COPY_DST)
        dev.queue.write_buffer(b, 0, data.tobytes())
        return b
    return dev.create_buffer(size=max(16, -(-size // 16) * 16),
                             usage=usage | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST)


def bind(dev, pipe, w, x, y, params):
    return dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[
        {"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}}
        for i, b in enumerate((w, x, y, params))])


def grid(rows, R, G):
    n = -(-rows // (R * G))
    return (min(n, 65535), -(-n // 65535), 1)


def run_kernel(dev, pipe, bgs, g, n, timed, qs=None):
    enc = dev.create_command_encoder()
    tw = {"query_set": qs, "beginning_of_pass_write_index": 0, "end_of_pass_write_index": 1} if timed else None
    cp = enc.begin_compute_pass(timestamp_writes=tw) if timed else enc.begin_compute_pass()
    cp.set_pipeline(pipe)
    for i in range(n):
        cp.set_bind_group(0, bgs[i % len(bgs)])
        cp.dispatch_workgroups(*g)
    cp.end()
    if timed:
        rb = buf(dev, size=16, usage=wgpu.BufferUsage.QUERY_RESOLVE)
        enc.resolve_query_set(qs, 0, 2, rb, 0)
        dev.queue.submit([enc.finish()])
        t = np.frombuffer(dev.queue.read_buffer(rb), np.uint64)
        return (int(t[1]) - int(t[0])) * 1e-9
    dev.queue.submit([enc.finish()])
    return None


def check(dev, qtype, R, G, sg, rng) -> float:
    rows, cols = 37, 768
    wf = rng.standard_normal((rows, cols), dtype=np.float32)
    raw = quants.quantize(qtype, wf)
    ref = quants.dequantize(qtype, raw).reshape(rows, cols).astype(np.float64)
    x = rng.standard_normal(cols).astype(np.float32)
    words = np.ascontiguousarray(repack(qtype, raw, cols)).reshape(-1).view(np.uint32)
    pipe = pipeline(dev, qtype, R, G, sg)
    w, xb = buf(dev, words), buf(dev, x)
    y = buf(dev, size=4 * rows)
    p = buf(dev, np.array([rows, cols, words.size // rows, 0], np.uint32), usage=wgpu.BufferUsage.UNIFORM)
    run_kernel(dev, pipe, [bind(dev, pipe, w, xb, y, p)], grid(rows, R, G), 1, False)
    out = np.frombuffer(dev.queue.read_buffer(y), np.float32)[:rows]
    want = ref @ x
    return float(np.linalg.norm(out - want) / np.linalg.norm(want))


def time_shape(dev, qtype, rows, cols, cands, feats, seconds, rng):
    rw = (cols // 256) * WORDS[qtype]
    nbytes = rows * rw * 4
    copies = COPIES or max(1, min(8, -(-2 * L2_BYTES // nbytes)))
    ws = []
    for _ in range(copies):   # random words: timing only (NaN scales cost what real ones do)
        ws.append(buf(dev, rng.integers(0, 2**32, rows * rw, dtype=np.uint32)))
    x = buf(dev, rng.standard_normal(cols).astype(np.float32))
    y = buf(dev, size=4 * rows)
    p = buf(dev, np.array([rows, cols, rw, 0], np.uint32), usage=wgpu.BufferUsage.UNIFORM)
    qs = dev.create_query_set(type=wgpu.QueryType.timestamp, count=2)
    out = []
    for R, G, sg in cands:
        pipe = pipeline(dev, qtype, R, G, sg)
        bgs = [bind(dev, pipe, w, x, y, p) for w in ws]
        g = grid(rows, R, G)
        run_kernel(dev, pipe, bgs, g, 8, False)
        n = 64 if nbytes > (64 << 20) else 256
        best, end = float("inf"), time.perf_counter() + seconds
        while time.perf_counter() < end:
            best = min(best, run_kernel(dev, pipe, bgs, g, n, True, qs) / n)
        out.append({"qtype": qtype, "rows": rows, "cols": cols, "R": R, "G": G, "sg": sg,
                    "us": best * 1e6, "tb_s": nbytes / best / 1e12, "copies": copies})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check-only", action="store_true")
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--cands", default="1x1,2x1,4x1,8x1,2x2,4x2,4x4,2x4,1x4,8x2")
    ap.add_argument("--copies", type=int, default=0)
    args = ap.parse_args(argv)
    global COPIES
    COPIES = args.copies
    adapter, dev, feats = device()
    print("adapter:", adapter.info["device"], feats, flush=True)
    rng = np.random.default_rng(0)
    sgs = [True, False] if "subgroup" in feats else [False]
    cands = [tuple(int(v) for v in c.split("x")) for c in args.cands.split(",")]
    for qtype in ("Q4_K", "Q6_K"):
        for R, G in cands:
            for sg in sgs:
                try:
                    err = check(dev, qtype, R, G, sg, rng)
                except Exception as exc:  # noqa: BLE001  (report and go on: a lab)
                    err = f"{type(exc).__name__}: {exc}"[:200]
                print(json.dumps({"check": qtype, "R": R, "G": G, "sg": sg, "rel_err": err}), flush=True)
    if args.check_only or "timestamp-query" not in feats:
        return 0
    table = []
    for qtype, rows, cols, label in SHAPES:
        for row in time_shape(dev, qtype, rows, cols, [(R, G, sg) for R, G in cands for sg in sgs],
                              feats, args.seconds, rng):
            row["label"] = label
            print(json.dumps(row), flush=True)
            table.append(row)
    print(f"{'shape':16} {'best R x G sg':14} {'us':>8} {'TB/s':>6}")
    for label in dict.fromkeys(r["label"] for r in table):
        rs = sorted((r for r in table if r["label"] == label), key=lambda r: r["us"])
        for r in rs[:3]:
            print(f"{label:16} {r['R']}x{r['G']} {str(r['sg']):5}      {r['us']:8.2f} {r['tb_s']:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
