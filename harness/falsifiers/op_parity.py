"""`op_parity`: one wgpu kernel family against its CPU op, on the model's own weights and fresh
random inputs (seeded), layer by layer.

params: op ("expert_swiglu" | "moe_ffn"), layers ("all" or a list of layer indices), samples
(random inputs per layer), optional seed. The wgpu ops run on the process's one device, which
the runner opened for the job's cell; moe_ffn routes on the GPU, so routing is compared too. Metric: nmse_max (worst Σ(gpu-cpu)²/Σcpu² over layers
and samples); diagnostics name the worst layer and sample.
"""

from __future__ import annotations

import importlib

import numpy as np

from backends.cpu import ops as cpu_ops
from harness.falsifiers.metrics import nmse
from harness.falsifiers.registry import JobError, Outcome, param, register

WGPU_OPS_MODULE = "backends.wgpu.ops"


def _router(model, layer: int, h: np.ndarray):
    logits = cpu_ops.matvec(model, f"blk.{layer}.ffn_gate_inp.weight", h[None])[0]
    return cpu_ops.route(logits, model.config.n_expert_used)


def _swiglu(model, layer, h, wgpu_ops):
    ids, _, _ = _router(model, layer, h)
    want = cpu_ops.expert_swiglu(model, layer, h, ids)
    got = wgpu_ops.expert_swiglu_wgpu(model, layer, h, ids)
    return got, want


def _moe_ffn(model, layer, h, wgpu_ops):
    ids, weights, _ = _router(model, layer, h)
    want = cpu_ops.moe_ffn(model, layer, h, ids, weights)
    got = wgpu_ops.moe_ffn_forward_layer_wgpu(model, layer, h)     # routes on the GPU itself
    return got, want


OPS = {"expert_swiglu": _swiglu, "moe_ffn": _moe_ffn}


@register("op_parity")
class OpParity:
    def run(self, ctx) -> Outcome:
        op = str(param(ctx.falsifier, "op"))
        if op not in OPS:
            raise JobError(f"{ctx.falsifier.id}: params.op {op!r} not in {sorted(OPS)}")
        if ctx.cell.backend != "wgpu":
            raise JobError(f"{ctx.falsifier.id}: op_parity compares a wgpu kernel with its CPU op; "
                           f"cell {ctx.cell.id} has backend {ctx.cell.backend}")
        wgpu_ops = _wgpu_ops()
        cfg = ctx.model.config
        layers = _layers(param(ctx.falsifier, "layers"), cfg.n_layer, ctx.falsifier.id)
        rng = np.random.default_rng(int(ctx.params.get("seed", 0)))
        rows = []
        for layer in layers:
            for sample in range(int(param(ctx.falsifier, "samples"))):
                h = rng.standard_normal(cfg.n_embd).astype(np.float32)
                got, want = OPS[op](ctx.model, layer, h, wgpu_ops)
                rows.append({"layer": layer, "sample": sample, "nmse": nmse(got, want)})
        worst = max(rows, key=lambda r: (np.nan_to_num(r["nmse"], nan=np.inf)))
        return Outcome({"nmse_max": worst["nmse"]}, {"op": op, "worst": worst, "cases": rows})


def _wgpu_ops():
    try:
        return importlib.import_module(WGPU_OPS_MODULE)
    except ImportError as exc:
        raise JobError(f"wgpu ops not available ({WGPU_OPS_MODULE}: {exc})") from None


def _layers(spec, n_layer: int, fid: str) -> list[int]:
    if spec == "all":
        return list(range(n_layer))
    layers = [int(x) for x in spec]
    bad = [x for x in layers if not 0 <= x < n_layer]
    if bad:
        raise JobError(f"{fid}: params.layers {bad} out of range 0..{n_layer - 1}")
    return layers
