"""GEMM micro-benchmark: the prefill's tiled GEMMs (backends.wgpu.gemm) alone, on the 30B shapes.

    PYTHONPATH=. python3 tools/bench_gemm.py [--tokens 512] [--seconds 1] [--only head,moe]
        [--shape TXxTYxTMxTNxKC]

One JSON line per case: the q|k|v (5120x2048 Q4_K), o (2048x4096 Q4_K), router (128x2048
F32) and head (151936x2048 Q6_K) as dense GEMMs over --tokens rows, and the MoE as the forward
runs it (128 experts, top-8 of random routing): the grouping kernel, gate/up (2x768x2048 per
expert, Q4_K, +SwiGLU) and down (2048x768 per expert, Q6_K) as grouped GEMMs. Milliseconds
per run from GPU timestamps where the device has them (else wall time of many runs in one
submission), TFLOP/s of the multiply-adds done and GB/s of weight bytes. Random blocks (the
timing does not depend on the values). It asserts nothing: benchmarks are not tests.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from backends.model import quants
from backends.wgpu import gemm as gm
from backends.wgpu.op import step_bytes
from backends.wgpu.runtime import kernels_for
from backends.wgpu.weights import upload_gate_up_raw, upload_raw

H, I, E, K = 2048, 768, 128, 8
DENSE = {"qkv": ("Q4_K", 5120, H), "o": ("Q4_K", H, 4096), "router": ("F32", E, H), "head": ("Q6_K", 151936, H)}


def _raw(rng, qtype, shape):
    return rng.integers(0, 256, shape[:-1] + (quants.row_bytes(qtype, shape[-1]),), np.uint8)


def _time(k, ops, n_tok, seconds: float) -> float:
    """Best seconds per run of `ops` (all encoded in order), GPU timestamps when available."""
    per, best, end = 8, float("inf"), time.perf_counter() + seconds
    while True:
        batch = k.batch(timed=k.info.has_timestamps)
        for _ in range(per):
            for op in ops:
                op.encode(batch, n_tok, 0)
        t0 = time.perf_counter()
        batch.submit()
        k.finish()
        wall = (time.perf_counter() - t0) / per
        best = min(best, batch.gpu_seconds / per if batch.gpu_seconds is not None else wall)
        if time.perf_counter() > end:
            return best


def _line(name, seconds, flops, wbytes, n_tok, shape):
    return {
        "case": name,
        "tokens": n_tok,
        "ms": seconds * 1e3,
        "tflop_s": flops / seconds / 1e12,
        "weight_gb_s": wbytes / seconds / 1e9,
        "shape": shape,
    }


def run(n_tok: int, seconds: float, only=None, shape=None) -> list[dict]:
    k, rng, out = kernels_for(), np.random.default_rng(0), []
    step = k.upload(step_bytes(0, n_tok), uniform=True)
    x = k.upload(rng.standard_normal((n_tok, 4096), dtype=np.float32))
    y = k.buffer(4 * n_tok * 151936)
    for name, (qtype, rows, cols) in DENSE.items():
        if only and name not in only:
            continue
        t = upload_raw(k, name, qtype, _raw(rng, qtype, (rows, cols)), cols)
        op = gm.build_gemm(k, t, x, y, step, x_stride=cols, shape=shape)
        sec = _time(k, [op], n_tok, seconds)
        out.append(_line(name, sec, 2 * rows * cols * n_tok, t.nbytes, n_tok, shape))
        if name == "head":
            last = gm.build_gemm(k, t, x, y, step, x_stride=cols, last_only=True)
            sec = _time(k, [last], n_tok, seconds)
            out.append(_line("head_last_only", sec, 2 * rows * cols, t.nbytes, n_tok, None))
    if only and not {"moe", "gate_up", "down"} & set(only):
        return out
    ids = np.stack([rng.choice(E, K, replace=False) for _ in range(n_tok)]).astype(np.uint32)
    groups = gm.ExpertGroups(k, k.upload(ids.reshape(-1)), step, E, K, n_tok, shape=shape)
    gu = upload_gate_up_raw(k, "gate_up", "Q4_K", _raw(rng, "Q4_K", (E, I, H)), _raw(rng, "Q4_K", (E, I, H)), H)
    dn = upload_raw(k, "down", "Q6_K", _raw(rng, "Q6_K", (E, H, I)), I)
    a = k.buffer(4 * n_tok * K * I)
    d = k.buffer(4 * n_tok * K * H)
    up_op = gm.build_gemm(
        k, gu, x, a, step, x_stride=H, swiglu=True, shape=shape, group=gm.GroupInput(groups, K, False)
    )
    dn_op = gm.build_gemm(k, dn, a, d, step, x_stride=I, shape=shape, group=gm.GroupInput(groups, 0, True))
    pairs = n_tok * K
    out.append(_line("moe_group", _time(k, [groups.op], n_tok, seconds), 0, 0, n_tok, None))
    sec = _time(k, [groups.op, up_op], n_tok, seconds)
    out.append(_line("gate_up_swiglu(+group)", sec, 2 * 2 * I * H * pairs, gu.nbytes, n_tok, shape))
    sec = _time(k, [groups.op, dn_op], n_tok, seconds)
    out.append(_line("down(+group)", sec, 2 * H * I * pairs, dn.nbytes, n_tok, shape))
    return out


def _shape(text: str | None):
    if not text:
        return None
    vals = [int(v) for v in text.lower().split("x")]
    return dict(zip(("TX", "TY", "TM", "TN", "KC"), vals))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--only", default="", help="comma list of: " + ",".join([*DENSE, "moe"]))
    p.add_argument(
        "--shape",
        default="",
        help=f"GEMM launch shape TXxTYxTMxTNxKC (default {'x'.join(str(v) for v in gm.GEMM_SHAPE.values())})",
    )
    a = p.parse_args(argv)
    for line in run(a.tokens, a.seconds, [s for s in a.only.split(",") if s] or None, _shape(a.shape)):
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
