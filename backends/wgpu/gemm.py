"""Host side of the tiled dequant-GEMM (shaders/mul_mat_q.wgsl) and the expert grouping that
feeds it (shaders/moe_group.wgsl): the prefill path, where a weight block decoded once serves
a whole tile of tokens instead of one.

    Y(T, rows) = X(T, cols) · W(rows, cols)^T, f32 activations and accumulation, for W of type
    Q4_K, Q5_K, Q6_K, Q8_0, F16, BF16 or F32 as uploaded by backends.wgpu.weights.

Public API:

    GEMM_SHAPE, GEMM_GROUPED_SHAPE, GEMM_LAST_SHAPE    the launch-shape constants (one place)
    build_gemm(k, t, x, y, step, *, x_stride, y_stride=None, swiglu=False, group=None,
               faults=()) -> Op
        dense (group=None): n_tok rows of x (n_tok from the step uniform) -> n_tok rows of y;
        last_only: row n_tok - 1 alone (the head of a generate prefill; GEMM_LAST_SHAPE).
        grouped (group=GroupInput): a stacked expert tensor over the sorted (token, slot) pairs
        of an ExpertGroups map; group.x_group = K reads token rows (gate/up), 0 reads sorted
        rows; group.scatter writes rows back in pair order (down).
        swiglu: t from weights.upload_gate_up; y = silu(gate·x) ⊙ (up·x) (rows / 2 wide).
        an op.Op (dispatches / encode / label "gemm <tensor> <qtype>") of one launch per piece
    ExpertGroups(k, eids, step, E, K, tmax): the map buffer and its moe_group Op
    gemm(k, t, x, **options) -> np.ndarray    one-shot dense run (tests, tools)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.wgpu.op import Op, build_op, step_bytes
from backends.wgpu.runtime import Kernels
from backends.wgpu.tuning import GEMM_GROUPED_SHAPE, GEMM_LAST_SHAPE, GEMM_SHAPE
from backends.wgpu.matvec import piece_words
from backends.wgpu.weights import FAMILY_FILES, GpuTensor

GEMM_LAYOUT = ("read", "read", "rw", "read", "uniform", "uniform")
GROUP_LAYOUT = ("read", "rw", "uniform")
# launch shapes: backends.wgpu.tuning (GEMM_SHAPE, GEMM_GROUPED_SHAPE, GEMM_LAST_SHAPE)
MAX_GROUP_EXPERTS = 512  # MAX_E in moe_group.wgsl


def tile_slots(shape: dict | None = None) -> int:
    """BN: slots per tile."""
    s = shape or GEMM_SHAPE
    return s["TX"] * s["TN"]


def gemm_pipeline(k: Kernels, qtype: str, *, swiglu: bool = False, drop_last: bool = False, shape: dict | None = None):
    s = shape or GEMM_SHAPE
    threads = s["TX"] * s["TY"]
    wg_bytes = 4 * 16 * s["KC"] * (s["TY"] * s["TM"] + s["TX"] * s["TN"]) + 16
    limit = int(k.info.limits.get("max-compute-workgroup-storage-size", 16384))
    if (
        s["TM"] != 4
        or s["TN"] not in (4, 8)
        or threads > int(k.info.limits.get("max-compute-invocations-per-workgroup", 256))
        or wg_bytes > limit
    ):
        raise ValueError(
            f"gemm launch shape {s}: needs TM = 4 (a vec4 of rows), TN 4 or 8, "
            f"{threads} threads and {wg_bytes} B of workgroup memory "
            f"within the device's limits ({limit} B)"
        )
    consts = {**{n: v for n, v in s.items() if n != "TM"}, "SWIGLU": int(swiglu), "DROP_LAST": int(drop_last)}
    return k.pipeline(("common", "mul_mat_q", *FAMILY_FILES[qtype]), constants=consts, layout=GEMM_LAYOUT)


@dataclass(frozen=True)
class GroupInput:
    """How a grouped GEMM reads the expert groups: map (ExpertGroups), x_group (K: input row =
    pair // K, the token; 0: the sorted row), scatter (write outputs in pair order)."""

    map: "ExpertGroups"
    x_group: int
    scatter: bool


def _dummy_map(k: Kernels):
    if not hasattr(k, "_gemm_dummy_map"):
        k._gemm_dummy_map = k.upload(np.zeros(4, np.uint32), label="gemm-no-map")
    return k._gemm_dummy_map


def build_gemm(
    k: Kernels,
    t: GpuTensor,
    x,
    y,
    step,
    *,
    x_stride: int,
    y_stride: int | None = None,
    swiglu: bool = False,
    group: GroupInput | None = None,
    faults=frozenset(),
    shape: dict | None = None,
    last_only: bool = False,
) -> Op:
    shape = shape or (GEMM_LAST_SHAPE if last_only else GEMM_GROUPED_SHAPE if group is not None else GEMM_SHAPE)
    if bool(t.n_expert) != (group is not None) or (last_only and group is not None):
        raise ValueError(
            f"{t.name}: a stacked expert tensor needs expert groups, a 2-D one none (and last_only is dense only)"
        )
    if swiglu and not t.interleaved:
        raise ValueError(f"{t.name}: swiglu needs a gate/up tensor from weights.upload_gate_up")
    pipe = gemm_pipeline(k, t.qtype, swiglu=swiglu, shape=shape, drop_last="reduction_drops_last" in faults)
    s = shape
    bm, bn = s["TY"] * s["TM"], tile_slots(s)
    if group is not None and bn != group.map.bn:
        raise ValueError(
            f"{t.name}: the GEMM's {bn} slots per tile differ from the expert groups' tiles of {group.map.bn}"
        )
    out_rows = t.rows // 2 if swiglu else t.rows
    y_stride = out_rows if y_stride is None else y_stride
    launches = []
    for piece in t.pieces:
        g = (
            [0, 0, 0, 0, 0]
            if group is None
            else [1, group.x_group, int(group.scatter), group.map.tiles_at, group.map.gather_at]
        )
        params = np.array([*piece_words(t, piece, x_stride, y_stride), *g, int(last_only), 0], np.uint32)
        bind = k.bind_group(
            pipe,
            [
                piece.buffer,
                x,
                y,
                _dummy_map(k) if group is None else group.map.buffer,
                k.upload(params, label=f"{t.name}-gemm", uniform=True),
                step,
            ],
        )
        launches.append((bind, -(-piece.rows // bm)))
    tiles = (lambda n: -(-n // bn)) if group is None else group.map.max_tiles
    if last_only:
        tiles = lambda n: 1
    return Op(
        f"gemm {t.name} {t.qtype}", pipe, tuple((bind, lambda n, gx=gx: (gx, tiles(n), 1)) for bind, gx in launches)
    )


class ExpertGroups:
    """The (token, slot) pairs of a step grouped by expert (shaders/moe_group.wgsl): one map
    buffer of tmax * K pairs, written by `op` each step after the router."""

    def __init__(self, k: Kernels, eids, step, E: int, K: int, tmax: int, shape=None):
        if E > MAX_GROUP_EXPERTS:
            raise ValueError(f"expert grouping: {E} experts exceed {MAX_GROUP_EXPERTS}")
        self.E, self.K, self.bn = E, K, tile_slots(shape or GEMM_GROUPED_SHAPE)
        self.tiles_at = 1
        self.gather_at = self.tiles_at + 3 * self.max_tiles(tmax)
        self.buffer = k.buffer(4 * (self.gather_at + tmax * K), label="moe-groups")
        consts = {"E": E, "K": K, "BN": self.bn, "TILES": self.tiles_at, "GATHER": self.gather_at}
        self.op = build_op(
            k, "moe_group", "moe_group", GROUP_LAYOUT, (eids, self.buffer, step), lambda n: (1, 1, 1), consts
        )

    def max_tiles(self, n_tok: int) -> int:
        """Tiles of n_tok tokens' pairs at most: full tiles plus one ragged tile per expert."""
        pairs = n_tok * self.K
        return -(-pairs // self.bn) + min(self.E, pairs)


def gemm(k: Kernels, t: GpuTensor, x: np.ndarray, **options) -> np.ndarray:
    """One-shot dense Y = X · W^T on the GPU: x (T, cols) -> (T, rows) (or rows / 2, swiglu)."""
    x = np.ascontiguousarray(np.atleast_2d(x), np.float32)
    n = x.shape[0]
    out_rows = t.rows // 2 if options.get("swiglu") else t.rows
    xb = k.upload(x, label="gemm-x")
    yb = k.buffer(4 * n * out_rows, label="gemm-y")
    step = k.upload(step_bytes(0, n), label="gemm-step", uniform=True)
    op = build_gemm(k, t, xb, yb, step, x_stride=t.cols, **options)
    batch = k.batch()
    op.encode(batch, n, 0)
    (out,) = batch.submit(readback=[(yb, 4 * n * out_rows)])
    return out.view(np.float32).reshape(n, out_rows).copy()
