"""A step's dispatches flattened once per token count, so encoding a step is one tight loop.

Encoding is Python-bound (docs/reference.md §5: ~450-580 dispatches per decode token on the 30B
shape): walking the op objects (OneOrMany -> Op -> grid lambda, MatvecStep -> MatvecOp ->
launches) costs more than the wgpu-native calls themselves. A StepPlan resolves that walk at
the first step of a given n_tok; later steps only evaluate the grids that depend on the
position (attention) and call Batch.record. Public API:

    StepPlan(ops, n_tok)       ops: Qwen3MoeGraph.ops() (no trace markers)
    StepPlan.encode(batch, pos0)
    flatten(op, n_tok) -> list of (pipeline, bind-group handle, grid) entries (Batch.record's),
        grid a tuple or a callable pos0 -> (x, y, z).
"""

from __future__ import annotations

from backends.wgpu import kernel_ops as ko
from backends.wgpu.kernels import COMMANDS
from backends.wgpu.matvec import MatvecOp
from backends.wgpu.ops import MatvecStep
from backends.wgpu.tuning import WIDE_VECTORS

# Two probe positions: a grid that differs between them depends on the position.
_PROBES = (0, 4099)


def flatten(op, n_tok: int) -> list[tuple]:
    """The dispatches op.encode(batch, n_tok, pos0) records, as plan entries."""
    if isinstance(op, ko.OneOrMany):
        side = op.pick(n_tok)
        return [] if side is None else flatten(side, n_tok)
    if isinstance(op, MatvecStep):
        mv = op.wide if op.wide is not None and n_tok >= WIDE_VECTORS else op.op
        return _matvec(mv, n_tok * op.per_token)
    if isinstance(op, ko.Op):
        grids = [tuple(op.grid(n_tok, p)) for p in _PROBES]
        bg = COMMANDS[0](op.bind_group)
        if grids[0] == grids[1]:
            return [(op.pipeline, bg, grids[0])]
        return [(op.pipeline, bg, lambda p, g=op.grid: tuple(g(n_tok, p)))]
    raise TypeError(f"step plan: op type {type(op).__name__} unknown")


def _matvec(mv: MatvecOp, n_slots: int) -> list[tuple]:
    y = -(-n_slots // mv.nv)
    return [(mv.pipeline, COMMANDS[0](bg), (gx, y, gz)) for bg, gx, gz in mv.launches]


class StepPlan:
    """The flattened dispatches of one step of n_tok tokens (see module docstring)."""

    def __init__(self, ops, n_tok: int):
        self.n_tok = n_tok
        self.entries = [e for op in ops for e in flatten(op, n_tok)]

    def encode(self, batch, pos0: int) -> None:
        batch.record(self.entries, pos0)
