"""Dispatch-floor micro-benchmark: GPU time per dispatch of trivial kernels in one compute pass.

    python tools/dispatch_floor.py [--n 400]

Prints one JSON line per case: microseconds per dispatch (GPU timestamps around one pass of N
dispatches), so the fixed cost of a dependent dispatch on this stack can be told apart from the
kernels' own work. Asserts nothing.
"""

import argparse
import json

import numpy as np

from backends.wgpu.runtime import kernels_for

SRC = """
@group(0) @binding(0) var<storage, read_write> Y: array<f32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
override WG: u32 = 64u;
var<workgroup> red: array<f32, WG>;
@compute @workgroup_size(WG)
fn bump(@builtin(global_invocation_id) g: vec3<u32>) { Y[g.x] = Y[g.x] + 1.0; }
@compute @workgroup_size(WG)
fn norm(@builtin(local_invocation_index) l: u32) {
    var s = 0.0;
    for (var i = l; i < 2048u; i += WG) { s += X[i] * X[i]; }
    red[l] = s;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h /= 2u) {
        if (l < h) { red[l] += red[l + h]; }
        workgroupBarrier();
    }
    let r = inverseSqrt(red[0] / 2048.0 + 1e-6);
    for (var i = l; i < 2048u; i += WG) { Y[i] = X[i] * r; }
}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    a = ap.parse_args()
    k = kernels_for()
    import pathlib

    import shaders

    # register the source as a shader file the cache can load
    path = pathlib.Path(shaders.__file__).parent / "_dispatch_floor.wgsl"
    path.write_text(SRC)
    try:
        ybuf = k.buffer(4 * 1 << 20)
        x = k.upload(np.ones(1 << 20, np.float32))
        x2 = k.upload(np.ones(1 << 20, np.float32))
        cases = [
            ("bump 1x64", "bump", 64, 1),
            ("bump 132x256", "bump", 256, 132),
            ("bump 1024x256", "bump", 256, 1024),
            ("norm 1x512", "norm", 512, 1),
            ("norm 1x1024", "norm", 1024, 1),
        ]
        for label, entry, wg, groups in cases:
            p = k.pipeline("_dispatch_floor", entry=entry, constants={"WG": wg}, layout=("rw", "read"))
            bg = k.bind_group(p, [ybuf, x])
            bg2 = k.bind_group(p, [x2, x])
            for mode in ("same", "alternating"):
                best = None
                for _ in range(5):
                    b = k.batch(timed=True)
                    for i in range(a.n):
                        b.dispatch(p, bg if (mode == "same" or i % 2 == 0) else bg2, groups)
                    b.submit(readback=[(ybuf, 4)])
                    best = b.gpu_seconds if best is None else min(best, b.gpu_seconds)
                print(
                    json.dumps({"case": label, "mode": mode, "n": a.n, "us_per_dispatch": best / a.n * 1e6}), flush=True
                )
            # one pass per dispatch (the profile's way)
            best = None
            for _ in range(3):
                b = k.batch(timed=True, max_passes=64)
                for _ in range(64):
                    b.new_pass("x")
                    b.dispatch(p, bg, groups)
                b.submit(readback=[(ybuf, 4)])
                best = b.gpu_seconds if best is None else min(best, b.gpu_seconds)
            print(
                json.dumps({"case": label, "mode": "pass-per-dispatch", "n": 64, "us_per_dispatch": best / 64 * 1e6}),
                flush=True,
            )
        # pipeline switches: alternate two (or several) pipelines of trivial work
        pipes = [
            k.pipeline("_dispatch_floor", entry="bump", constants={"WG": wg}, layout=("rw", "read"))
            for wg in (32, 64, 128, 256)
        ]
        bgs = [k.bind_group(p, [ybuf, x]) for p in pipes]
        for n_pipes in (1, 2, 4):
            best = None
            for _ in range(5):
                b = k.batch(timed=True)
                for i in range(a.n):
                    j = i % n_pipes
                    b.dispatch(pipes[j], bgs[j], 132)
                b.submit(readback=[(ybuf, 4)])
                best = b.gpu_seconds if best is None else min(best, b.gpu_seconds)
            print(
                json.dumps(
                    {
                        "case": "bump 132 wgs",
                        "mode": f"{n_pipes} pipelines alternating",
                        "n": a.n,
                        "us_per_dispatch": best / a.n * 1e6,
                    }
                ),
                flush=True,
            )
    finally:
        path.unlink()


if __name__ == "__main__":
    main()
