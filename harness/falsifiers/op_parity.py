"""`op_parity`: one op of the job's cell against a reference implementation, on fresh seeded
random inputs.

The cell decides the implementation under test: a wgpu cell runs the kernels its backend hands
out (backend.op_kernels(), on the process's one device), a cpu cell runs backends.cpu.
params: op (router | expert_swiglu | moe_ffn | matvec), reference ("cpu" — the default on wgpu
cells — or "f64", the float64 equations in op_impls), samples, optional seed; model ops take
layers ("all" or indices) and run on the job's model; matvec takes qtype and shape [rows, cols]
and quantizes a Gaussian weight of that shape with the project's codecs.
Metric: nmse_max (worst Σ(test-ref)²/Σref² over cases); diagnostics name the worst case and,
for matvec, its worst row.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from backends.model import quants
from harness.falsifiers.metrics import nmse
from harness.falsifiers.op_impls import Case, cpu_route, implementation
from harness.falsifiers.registry import JobError, Outcome, param, register

REFERENCES = ("cpu", "f64")


@register("op_parity")
class OpParity:
    def run(self, ctx) -> Outcome:
        op = str(param(ctx.falsifier, "op"))
        impl, ref = _sides(ctx)
        backend = ctx.backend if impl == "wgpu" else None
        test_fn, ref_fn = implementation(op, impl, backend), implementation(op, ref)
        rng = np.random.default_rng(int(ctx.params.get("seed", 0)))
        rows = []
        for label, case in _cases(ctx, op, rng):
            got = np.asarray(test_fn(case), dtype=np.float64)
            want = np.asarray(ref_fn(case), dtype=np.float64)
            if got.shape != want.shape:
                raise JobError(f"op {op} {label}: {impl} gave shape {got.shape}, {ref} {want.shape}")
            rows.append(
                {**label, "nmse": nmse(got, want), "worst_index": int(np.argmax(np.abs(got - want).reshape(-1)))}
            )
        worst = max(rows, key=lambda r: np.nan_to_num(r["nmse"], nan=np.inf))
        return Outcome(
            {"nmse_max": worst["nmse"]},
            {"op": op, "implementation": impl, "reference": ref, "worst": worst, "cases": rows},
        )


def _sides(ctx) -> tuple[str, str]:
    impl = "wgpu" if ctx.cell.backend == "wgpu" else "cpu"
    ref = str(ctx.params.get("reference", "cpu"))
    if ref not in REFERENCES:
        raise JobError(f"{ctx.falsifier.id}: op_parity reference {ref!r} not in {REFERENCES}")
    if ref == impl:
        raise JobError(
            f"{ctx.falsifier.id}: on cell {ctx.cell.id} the {impl} op would be compared "
            f"with itself; set params.reference: f64"
        )
    return impl, ref


def _cases(ctx, op: str, rng):
    n = int(param(ctx.falsifier, "samples"))
    if op == "matvec":
        rows_cols = param(ctx.falsifier, "shape")
        qtype = str(param(ctx.falsifier, "qtype"))
        for s in range(n):
            yield {"sample": s}, _matvec_case(qtype, int(rows_cols[0]), int(rows_cols[1]), rng)
        return
    cfg = ctx.model.config
    for layer in _layers(ctx.params.get("layers", "all"), cfg.n_layer, ctx.falsifier.id):
        for s in range(n):
            h = rng.standard_normal(cfg.n_embd).astype(np.float32)
            ids = cpu_route(ctx.model, layer, h)[0] if op == "expert_swiglu" else None
            yield {"layer": layer, "sample": s}, Case(ctx.model, layer, h, ids)


def _matvec_case(qtype: str, rows: int, cols: int, rng) -> Case:
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    raw = quants.quantize(qtype, w)
    weight = SimpleNamespace(name=f"synthetic.{qtype}", qtype=qtype, raw=raw, rows=rows, cols=cols)
    return Case(h=rng.standard_normal(cols).astype(np.float32), weight=weight)


def _layers(spec, n_layer: int, fid: str) -> list[int]:
    if spec == "all":
        return list(range(n_layer))
    layers = [int(x) for x in spec]
    bad = [x for x in layers if not 0 <= x < n_layer]
    if bad:
        raise JobError(f"{fid}: params.layers {bad} out of range 0..{n_layer - 1}")
    return layers
