"""Small-kernel micro-benchmark: in-stream GPU time of the per-layer helper kernels at the
Qwen3-30B-A3B shape (residual_rms_norm with 1 or 8 sources, router_topk over 128 logits) for
several workgroup sizes. 400 dependent dispatches in ONE compute pass (the forward's way) and
one pass per dispatch (the profiler's way). Prints JSON lines; asserts nothing.

    PYTHONPATH=. python3 tools/bench_small_ops.py
"""

import json

import numpy as np

from backends.wgpu import moe_kernels as moek
from backends.wgpu.runtime import kernels_for
from backends.wgpu.op import build_op, step_bytes

N, E, K = 2048, 128, 8


def time_op(k, op, n=400):
    best_in, best_pass = None, None
    for _ in range(3):
        b = k.batch(timed=True)
        for _ in range(n):
            op.encode(b, 1, 0)
        b.submit()
        k.finish()
        best_in = b.gpu_seconds if best_in is None else min(best_in, b.gpu_seconds)
        b = k.batch(timed=True, max_passes=64)
        for _ in range(64):
            b.new_pass("x")
            op.encode(b, 1, 0)
        b.submit()
        k.finish()
        best_pass = b.gpu_seconds if best_pass is None else min(best_pass, b.gpu_seconds)
    return best_in / n * 1e6, best_pass / 64 * 1e6


def main():
    k = kernels_for()
    rng = np.random.default_rng(0)

    def up(a):
        return k.upload(np.asarray(a, np.float32))

    step = k.upload(step_bytes(0, 1), uniform=True)
    src8, w8 = up(rng.standard_normal(8 * N)), up(np.full(8, 0.125))
    x, nw = up(rng.standard_normal(N)), up(np.ones(N))
    y = k.buffer(4 * N)
    for nsrc in (1, 8):
        for wg in (128, 256, 512, 1024):
            consts = {"N": N, "NSRC": nsrc, "USE_W": nsrc > 1, "EPS": 1e-6, "WG": wg}
            op = build_op(
                k,
                "residual_rms_norm",
                "residual_rms_norm",
                ("read", "read", "rw", "read", "rw", "uniform"),
                (src8, w8, x, nw, y, step),
                lambda t: (t, 1, 1),
                consts,
            )
            ins, per = time_op(k, op)
            print(
                json.dumps(
                    {
                        "op": "residual_rms_norm",
                        "nsrc": nsrc,
                        "wg": wg,
                        "us_in_stream": round(ins, 2),
                        "us_pass_per_op": round(per, 2),
                    }
                ),
                flush=True,
            )
    bufs = {
        "h": k.buffer(4 * N),
        "logits": up(rng.standard_normal(E)),
        "ids": k.buffer(4 * K),
        "eids": k.buffer(4 * K),
        "weights": k.buffer(4 * K),
        "probs": k.buffer(4 * E),
        "step": step,
    }
    op = moek.router_op(k, bufs, {"H": N, "E": E, "K": K})
    ins, per = time_op(k, op)
    print(json.dumps({"op": "router_topk", "us_in_stream": round(ins, 2), "us_pass_per_op": round(per, 2)}), flush=True)


if __name__ == "__main__":
    main()
