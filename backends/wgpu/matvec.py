"""Host side of the quantized matvec kernels (shaders/mul_mat_vec*.wgsl).

y = W·x with f32 activations and f32 accumulation, for W of type Q4_K, Q5_K, Q6_K, Q8_0, F16,
BF16 or F32 uploaded by backends.wgpu.weights. Three shapes, one kernel (grid.y = slot):

    single     x (cols,)              -> y (rows,)
    batch      x (T, cols)            -> y (T, rows)             x_stride = cols, n_slots = T
    experts    ids (k,) on the GPU, W stacked (E, rows, cols)     n_slots = k, y (k, rows)
               shared input x (cols,) (x_stride = 0: gate/up) or one per slot (k, cols)
               (x_stride = cols: down). The CPU never sees the ids.

Public API (stable):

    build_matvec(k, tensor, x, y, ids=None, x_stride=0, y_stride=None, faults=(), subgroup=None,
                 vectors_per_wg=1, x_group=1, swiglu=False, wg=None,
                 rows_per_wg=None, slots_per_token=1) -> Op   (backends.wgpu.op)
        Builds the pipeline and one bind group per weight piece at load: one launch per piece,
        grid.y = ceil(n_tok * slots_per_token / vectors_per_wg) (K expert slots per token). x, y, ids: GPU buffers
        (or (buffer, offset, size)). y_stride defaults to tensor.rows. vectors_per_wg (batch only, <= 4): each
        workgroup decodes its weights once for that many consecutive slots; the slots from
        n_slots up to the next multiple (and within y's capacity) then hold scratch values.
        x_group: consecutive slots sharing one input row (e.g. K expert slots per token in a
        prefill: slot s reads x row s // K; x_stride = cols), so x needs no K copies.
        swiglu: tensor from weights.upload_gate_up (rows interleave gate/up); y (slots,
        rows/2) = silu(gate·x) ⊙ (up·x) in one dispatch (y_stride defaults to rows/2).
        wg / rows_per_wg: launch shape override (default backends.wgpu.tuning.matvec_launch_shape).
    op.encode(batch, n_tok, pos0)         records one dispatch per piece into a runtime.Batch
    matvec(k, tensor, x, ids=None, ...) -> np.ndarray   one-shot upload + run + readback (tests,
        op parity); x (cols,) or (n, cols); with ids, x is shared when 1-D.
    FAMILY (qtype -> shader name, derived in backends.wgpu.weights), MATVEC_LAYOUT (binding
        kinds): for kernels that reuse a family's chunk()/chunk_dot() decoder (embedding.wgsl).

faults: "reduction_drops_last" selects the planted-bug variant of the reduction.
subgroup: None = use subgroupAdd when the device has the feature; False forces the
workgroup-memory reduction (True without the feature fails to compile).
"""

from __future__ import annotations

import numpy as np

from backends.wgpu import tuning
from backends.wgpu.runtime import Kernels, Pipeline
from backends.wgpu.op import Op
from backends.wgpu.weights import FAMILY_FILES, TASK_FAMILY, GpuTensor

MATVEC_LAYOUT = ("read", "read", "rw", "read", "uniform")
MAX_GROUPS_X = 65535  # WebGPU default max workgroups per dimension
# Single-vector matvecs of the TASK_FAMILY types run the task driver (mul_mat_vec_tasks.wgsl);
# families sharing a task input layout compose it from its own file.
TASK_INPUTS = {"Q4_K": ("mul_mat_vec_tasks_nibble_x",), "Q5_K": ("mul_mat_vec_tasks_nibble_x",)}


def subgroup_is_32(info) -> bool:
    """subgroupAdd reduces one 32-lane group only where every subgroup has exactly 32 lanes."""
    return info.has_subgroup and info.subgroup_sizes == (32, 32)


def task_pipeline(
    k: Kernels,
    qtype: str,
    *,
    rows: int,
    groups: int,
    subgroup: bool | None,
    drop_last: bool = False,
    swiglu: bool = False,
) -> Pipeline:
    use_sg = subgroup is not False and subgroup_is_32(k.info)  # never on other sizes
    reduce = "mul_mat_vec_tasks_reduce_sg" if use_sg else "mul_mat_vec_tasks_reduce_wg"
    files = (
        "common",
        "mul_mat_vec_params",
        "mul_mat_vec_tasks",
        reduce,
        *TASK_INPUTS.get(qtype, ()),
        TASK_FAMILY[qtype],
    )
    consts = {"R": rows, "GROUPS": groups, "DROP_LAST": int(drop_last), "SWIGLU": int(swiglu)}
    return k.pipeline(files, constants=consts, layout=MATVEC_LAYOUT)


def matvec_pipeline(
    k: Kernels,
    qtype: str,
    *,
    wg: int,
    rows_per_wg: int,
    nv: int = 1,
    subgroup: bool | None = None,
    drop_last: bool = False,
    swiglu: bool = False,
) -> Pipeline:
    """The (cached) pipeline for one weight type and launch shape."""
    use_sg = k.info.has_subgroup if subgroup is None else subgroup
    reduce = "mul_mat_vec_reduce_sg" if use_sg else "mul_mat_vec_reduce_wg"
    if wg & (wg - 1) or not 8 <= wg <= 256:
        raise ValueError(f"matvec workgroup size {wg} must be a power of two in [8, 256]")
    # Reduction scratch is rows * vectors * threads floats: <= 8 KiB fits any WebGPU device.
    if not 1 <= rows_per_wg <= 4 or not 1 <= nv <= 4 or rows_per_wg * nv * wg > 2048:
        raise ValueError(
            f"matvec launch: rows per workgroup {rows_per_wg} and vectors {nv} "
            f"must be in [1, 4] with rows * vectors * threads ({wg}) <= 2048"
        )
    files = ("common", "mul_mat_vec_params", "mul_mat_vec", reduce, *FAMILY_FILES[qtype])
    consts = {"WG": wg, "ROWS": rows_per_wg, "NV": nv, "DROP_LAST": int(drop_last), "SWIGLU": int(swiglu)}
    return k.pipeline(files, constants=consts, layout=MATVEC_LAYOUT)


def piece_words(t: GpuTensor, piece, x_stride: int, y_stride: int) -> list[int]:
    """The first nine words of a matvec / GEMM params uniform for one weight piece, in the order
    of MatvecParams (shaders/mul_mat_vec_params.wgsl): rows .. e1."""
    expert_words = piece.rows * t.row_words if t.n_expert else 0
    return [piece.rows, t.cols, t.row_words, expert_words, x_stride, y_stride, piece.row0, piece.e0, piece.e1]


def _params(
    t: GpuTensor, piece, *, x_stride: int, y_stride: int, use_ids: bool, max_slots: int, x_group: int
) -> np.ndarray:
    return np.array([*piece_words(t, piece, x_stride, y_stride), int(use_ids), max_slots, x_group], np.uint32)


def _y_params(y, *, x_stride: int, y_stride: int | None, x_group: int, out_rows: int) -> dict:
    """The slot-layout part of the params: y_stride defaults to one output row per slot."""
    y_stride = out_rows if y_stride is None else y_stride
    return {
        "x_stride": x_stride,
        "y_stride": y_stride,
        "x_group": x_group,
        "max_slots": _slot_capacity(y, y_stride, out_rows),
    }


def _check_swiglu(t: GpuTensor, rows: int, nv: int) -> None:
    if not t.interleaved:
        raise ValueError(f"{t.name}: swiglu needs a gate/up tensor from weights.upload_gate_up")
    if rows % 2 or nv != 1:
        raise ValueError(f"{t.name}: swiglu needs an even rows_per_wg ({rows}) and one vector")


def _slot_capacity(y, y_stride: int, out_rows: int) -> int:
    """Slots whose whole output fits in the y binding (0 = no limit, for y_stride 0): the
    vectors_per_wg tail is bounded by it, so no slot past y is ever written."""
    floats = (y[2] if isinstance(y, tuple) else y.size) // 4
    if not y_stride:
        return 0
    return max(0, (floats - out_rows) // y_stride + 1) if floats >= out_rows else 0


def _launches(
    k: Kernels, t: GpuTensor, pipe: Pipeline, buffers: tuple, params: dict, rows: int, per_group: int
) -> tuple:
    """(bind group, grid) per weight piece; grid.z > 1 only past 65535 row groups; grid.y:
    the slot groups of n_tok tokens (per_group = vectors_per_wg / slots_per_token)."""
    x, y, ids = buffers
    out = []
    for piece in t.pieces:
        uniform = k.upload(_params(t, piece, use_ids=ids is not None, **params), label=f"{t.name}-params", uniform=True)
        bind = k.bind_group(
            pipe, [piece.buffer, x, y, k.shared_buffer("matvec-no-ids") if ids is None else ids, uniform]
        )
        groups = -(-piece.rows // rows)
        gz = -(-groups // MAX_GROUPS_X)
        out.append((bind, _grid(-(-groups // gz), gz, *per_group)))
    return tuple(out)


def _grid(gx: int, gz: int, per_token: int, nv: int):
    return lambda n_tok: (gx, -(-(n_tok * per_token) // nv), gz)


def build_matvec(
    k: Kernels,
    t: GpuTensor,
    x,
    y,
    *,
    ids=None,
    x_stride: int = 0,
    y_stride: int | None = None,
    faults=frozenset(),
    subgroup: bool | None = None,
    vectors_per_wg: int = 1,
    x_group: int = 1,
    swiglu: bool = False,
    wg: int | None = None,
    rows_per_wg: int | None = None,
    slots_per_token: int = 1,
    task_shape: tuple[int, int] | None = None,
) -> Op:
    """Build a matvec of tensor `t` reading x and writing y (see module docstring).
    task_shape (R, G): the task driver at that shape instead of tuning's (benchmarks, tests)."""
    if t.n_expert and ids is None:
        raise ValueError(f"{t.name}: a stacked expert tensor needs an ids buffer")
    if vectors_per_wg > 1 and (ids is not None or not x_stride):
        raise ValueError(f"{t.name}: vectors_per_wg > 1 is for batches (x_stride > 0, no ids)")
    # rows of work: expert launches run K slots, prefill batches (vectors_per_wg > 1) many slot
    # groups: 0 = many
    work = 0 if vectors_per_wg > 1 else t.rows * (tuning.EXPERT_SLOTS_GUESS if ids is not None else 1)
    if task_shape is not None and (t.qtype not in TASK_FAMILY or vectors_per_wg > 1):
        raise ValueError(
            f"{t.name}: the task driver runs single vectors of "
            f"{', '.join(TASK_FAMILY)}, not {t.qtype} x {vectors_per_wg}"
        )
    if vectors_per_wg == 1 and t.qtype in TASK_FAMILY and wg is None and rows_per_wg is None:
        return _build_task_matvec(
            k,
            t,
            (x, y, ids),
            task_shape or tuning.matvec_task_shape(work),
            x_stride=x_stride,
            y_stride=y_stride,
            x_group=x_group,
            swiglu=swiglu,
            subgroup=subgroup,
            drop_last="reduction_drops_last" in faults,
            slots_per_token=slots_per_token,
        )
    auto_wg, auto_rows = tuning.matvec_launch_shape(k.info, t.cols, work)
    rows = rows_per_wg or (max(auto_rows, 2) if swiglu else auto_rows)  # swiglu: row pairs
    if swiglu:
        _check_swiglu(t, rows, vectors_per_wg)
    pipe = matvec_pipeline(
        k,
        t.qtype,
        subgroup=subgroup,
        wg=wg or auto_wg,
        rows_per_wg=rows,
        nv=vectors_per_wg,
        drop_last="reduction_drops_last" in faults,
        swiglu=swiglu,
    )
    params = _y_params(
        y, x_stride=x_stride, y_stride=y_stride, x_group=x_group, out_rows=t.rows // 2 if swiglu else t.rows
    )
    launches = _launches(k, t, pipe, (x, y, ids), params, rows, (slots_per_token, vectors_per_wg))
    return Op(f"matvec {t.name} {t.qtype}", pipe, launches)


def _build_task_matvec(
    k: Kernels,
    t: GpuTensor,
    buffers: tuple,
    shape: tuple[int, int],
    *,
    x_stride: int,
    y_stride: int | None,
    x_group: int,
    swiglu: bool,
    subgroup: bool | None,
    drop_last: bool,
    slots_per_token: int,
) -> Op:
    rows, groups = shape
    if not (1 <= rows <= 8 and 1 <= groups <= 8):
        raise ValueError(f"{t.name}: task shape {rows}x{groups} outside [1, 8] x [1, 8]")
    if swiglu:
        rows = max(rows, 2)
        _check_swiglu(t, rows, 1)
    pipe = task_pipeline(k, t.qtype, rows=rows, groups=groups, subgroup=subgroup, drop_last=drop_last, swiglu=swiglu)
    params = _y_params(
        buffers[1], x_stride=x_stride, y_stride=y_stride, x_group=x_group, out_rows=t.rows // 2 if swiglu else t.rows
    )
    launches = _launches(k, t, pipe, buffers, params, rows * groups, (slots_per_token, 1))
    return Op(f"matvec {t.name} {t.qtype}", pipe, launches)


def matvec(k: Kernels, t: GpuTensor, x: np.ndarray, ids: np.ndarray | None = None, **options) -> np.ndarray:
    """One-shot y = W·x on the GPU (uploads x and ids, one submit, reads y back).

    2-D W: x (cols,) -> (rows,), or x (T, cols) -> (T, rows).
    3-D W with ids (k,): x (cols,) shared or (k, cols) per slot -> (k, rows)."""
    x = np.ascontiguousarray(x, np.float32)
    n_slots = len(ids) if ids is not None else (x.shape[0] if x.ndim == 2 else 1)
    x_stride = t.cols if x.ndim == 2 else 0
    nv = options.get("vectors_per_wg", 1)
    out_rows = t.rows // 2 if options.get("swiglu") else t.rows
    xb = k.upload(x, label="matvec-x")
    yb = k.buffer(4 * -(-n_slots // nv) * nv * out_rows, label="matvec-y")  # room for NV tail
    ib = k.upload(np.asarray(ids, np.uint32), label="matvec-ids") if ids is not None else None
    op = build_matvec(k, t, xb, yb, ids=ib, x_stride=x_stride, **options)
    batch = k.batch()
    op.encode(batch, n_slots, 0)
    (out,) = batch.submit(readback=[(yb, 4 * n_slots * out_rows)])
    y = out.view(np.float32)
    return y.reshape(n_slots, out_rows) if (x.ndim == 2 or ids is not None) else y
