"""The op type of the wgpu forward: one kernel, built at load, that knows its own dispatches.

Encoding an op (trace steps, the profiler, one-shot helpers), planning a step (StepPlan) and
counting a step's dispatches all ask the op the same question, `dispatches(n_tok)`, so they
cannot disagree. Public API:

    Op(name, pipeline, launches, by_position=False)
        launches: (bind group, grid) per dispatch (a matvec: one per weight piece); grid(n_tok)
        -> (x, y, z), or grid(n_tok, pos0) when by_position (attention's splits grow with the
        position): a position-dependent grid is declared, never guessed.
    ByTokens(choices): the op a step runs depends on its token count; choices ((min_tokens, op
        or None), ...) in increasing min_tokens, the last one <= n_tok wins (None: nothing).
        one_or_many(one, many): decode (1 token) vs prefill; see ByTokens.
    op.dispatches(n_tok) -> [(pipeline, bind-group handle, grid)]  Batch.record's entries, grid
        a tuple or a callable pos0 -> (x, y, z)
    op.encode(batch, n_tok, pos0)     record them into a runtime.Batch
    op.label(n_tok) -> str            the kernel's name (profiling)
    StepPlan(ops, n_tok): every op's entries, resolved once per token count (encode is
        Python-bound, docs/perf.md step 8); StepPlan.encode(batch, pos0).
    build_op(k, name, shader, layout, buffers, grid, constants, entry="main", by_position=False)
        the one-launch Op every kernel family builder makes (pipeline from the cache, one bind
        group); STEP_BYTES / step_bytes(pos0, n_tok, token_slot): the per-step uniform that the
        forward rewrites with queue.write_buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from backends.wgpu.runtime import COMMANDS, Pipeline

STEP_BYTES = 16  # struct Step { pos0, n_tok, token_slot, pad } (all u32; common.wgsl)


def step_bytes(pos0: int, n_tok: int, token_slot: int = 0) -> np.ndarray:
    """The Step uniform's contents."""
    return np.array([pos0, n_tok, token_slot, 0], dtype=np.uint32)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Op:
    """One kernel: a pipeline and its launches (see module docstring)."""

    name: str
    pipeline: Pipeline
    launches: tuple  # ((bind_group, grid), ...)
    by_position: bool = False

    def dispatches(self, n_tok: int) -> list[tuple]:
        handle = COMMANDS[0]
        if self.by_position:
            return [(self.pipeline, handle(bg), lambda p, g=grid: tuple(g(n_tok, p))) for bg, grid in self.launches]
        return [(self.pipeline, handle(bg), tuple(grid(n_tok))) for bg, grid in self.launches]

    def grid(self, n_tok: int, pos0: int = 0, launch: int = 0) -> tuple:
        """The grid of one launch for a step of n_tok tokens at pos0."""
        g = self.launches[launch][1]
        return tuple(g(n_tok, pos0) if self.by_position else g(n_tok))

    def encode(self, batch, n_tok: int, pos0: int) -> None:
        batch.record(self.dispatches(n_tok), pos0)

    def label(self, n_tok: int) -> str:
        return self.name


def op(name: str, pipeline: Pipeline, bind_group, grid: Callable, by_position: bool = False) -> Op:
    """An Op of a single launch."""
    return Op(name, pipeline, ((bind_group, grid),), by_position)


def build_op(k, name, shader, layout, buffers, grid, constants, entry="main", by_position: bool = False) -> Op:
    """An Op of one launch of shaders/<shader>.wgsl composed after common.wgsl (struct Step,
    helpers), bound to fixed buffers: encoding it creates nothing (docs/reference.md §5 item 4)."""
    pipe = k.pipeline(("common", shader), entry=entry, constants=constants, layout=layout)
    return op(name, pipe, k.bind_group(pipe, buffers), grid, by_position)


@dataclass(frozen=True)
class ByTokens:
    """The op of a step chosen by its token count (see module docstring)."""

    choices: tuple  # ((min_tokens, op or None), ...), min_tokens increasing, the first 1

    def pick(self, n_tok: int):
        chosen = None
        for min_tokens, candidate in self.choices:
            if n_tok >= min_tokens:
                chosen = candidate
        return chosen

    def dispatches(self, n_tok: int) -> list[tuple]:
        chosen = self.pick(n_tok)
        return [] if chosen is None else chosen.dispatches(n_tok)

    def encode(self, batch, n_tok: int, pos0: int) -> None:
        batch.record(self.dispatches(n_tok), pos0)

    def label(self, n_tok: int) -> str:
        chosen = self.pick(n_tok)
        return "" if chosen is None else chosen.label(n_tok)


def one_or_many(one, many) -> ByTokens:
    """`one` for single-token (decode) steps, `many` otherwise (None: no dispatch)."""
    return ByTokens(((1, one), (2, many)))


class StepPlan:
    """The dispatches of one step of n_tok tokens, resolved once (see module docstring)."""

    def __init__(self, ops, n_tok: int):
        self.n_tok = n_tok
        self.entries = [e for o in ops for e in o.dispatches(n_tok)]

    def encode(self, batch, pos0: int) -> None:
        batch.record(self.entries, pos0)
