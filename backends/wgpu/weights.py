"""Weight upload: raw quantized blocks, repacked to 4-byte alignment, split to fit bindings.

Weights go to the GPU once, as their on-disk blocks (never expanded to float). Repacking
(`repack`, pure) makes every block field word-aligned so kernels use aligned u32 loads:

    Q4_K 144 B, Q5_K 176 B, F32  as stored (already multiples of 4 bytes)
    Q6_K 210 B -> 212 B          two zero bytes appended to each block
    Q8_0 34 B  -> 36 B           [32 int8 q][f16 d][2 zero bytes] (d moved behind the values)
    F16, BF16 rows -> even length    one zero value appended to rows of odd length

A tensor larger than the device's max storage-binding size is split into pieces by whole rows
(2-D) or whole experts (3-D), each its own buffer (`split_ranges`, pure); the matvec wrapper
dispatches once per piece. Public API:

    upload_tensor(k, model, name, max_binding=None) -> GpuTensor    (model: GGUFModel)
    upload_raw(k, name, qtype, raw, cols, max_binding=None) -> GpuTensor
        raw: uint8 (rows, row_bytes) or (E, rows, row_bytes) as GGUFModel.raw returns
    upload_gate_up(k, model, gate_name, up_name, max_binding=None) -> GpuTensor
    upload_gate_up_raw(k, name, qtype, gate_raw, up_raw, cols, max_binding=None)
        gate and up interleaved by rows into one tensor for the fused SwiGLU matvec
    GpuTensor: name, qtype, rows, cols, n_expert (0 for 2-D), row_words, pieces, nbytes,
        interleaved
    Piece: buffer, e0, e1, row0, rows, nbytes
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.model import quants
from backends.model.errors import UnsupportedQuantType
from backends.wgpu.runtime import Kernels
from shaders import SHADER_DIR


# Block facts come from the one table, quants.BLOCK_TABLE (values, bytes per block); a type has
# a wgpu matvec kernel when its family file shaders/<driver>_<qtype>.wgsl exists.
def _families(driver: str) -> dict[str, str]:
    return {
        q: f"{driver}_{q.lower()}" for q in quants.BLOCK_TABLE if (SHADER_DIR / f"{driver}_{q.lower()}.wgsl").is_file()
    }


FAMILY = _families("mul_mat_vec")  # the chunk driver: every matvec type
TASK_FAMILY = _families("mul_mat_vec_tasks")  # the task driver: single vectors of these types
GPU_QTYPES = tuple(FAMILY)
# The shader files that make up a family: its own file and the layout it shares (composed by the
# matvec, the GEMM and the embedding, which all reuse the family's chunk() decoder).
_SHARED = {"F16": ("mul_mat_vec_halves",), "BF16": ("mul_mat_vec_halves",)}
FAMILY_FILES = {q: (*_SHARED.get(q, ()), f) for q, f in FAMILY.items()}


def _words(nbytes: int) -> int:
    return -(-nbytes // 4)


def packed_block_bytes(qtype: str) -> int:
    """Bytes of one repacked block: the on-disk block rounded up to whole words."""
    return 4 * _words(quants.type_size(qtype))


@dataclass(frozen=True)
class Piece:
    """One buffer of a tensor: experts [e0, e1) (0, 1 for 2-D) x rows [row0, row0 + rows)."""

    buffer: object
    e0: int
    e1: int
    row0: int
    rows: int
    nbytes: int


@dataclass(frozen=True)
class GpuTensor:
    name: str
    qtype: str
    rows: int  # rows per expert (2-D: rows)
    cols: int
    n_expert: int  # 0 for a 2-D tensor
    row_words: int  # u32 words per repacked row
    pieces: tuple
    interleaved: bool = False  # rows 2i, 2i+1 = gate row i, up row i (upload_gate_up)

    @property
    def nbytes(self) -> int:
        """Bytes resident on the device."""
        return sum(p.nbytes for p in self.pieces)


def _check_qtype(name: str, qtype: str) -> None:
    if qtype not in GPU_QTYPES:
        raise UnsupportedQuantType(
            f"{name}: type {qtype} has no wgpu matvec kernel; supported: {', '.join(GPU_QTYPES)}"
        )


def row_words(qtype: str, cols: int) -> int:
    """u32 words of one repacked row of `cols` values: float rows are padded as a whole, block
    rows block by block."""
    values, nbytes = quants.BLOCK_TABLE[qtype]
    if values == 1:
        return _words(cols * nbytes)
    return cols // values * packed_block_bytes(qtype) // 4


def repack(qtype: str, raw: np.ndarray, cols: int) -> np.ndarray:
    """raw (..., row_bytes) uint8 -> (..., row_words * 4) uint8, word-aligned (see module doc)."""
    lead = raw.shape[:-1]
    if qtype in ("F32", "Q4_K", "Q5_K"):
        return np.ascontiguousarray(raw)
    if qtype in ("F16", "BF16"):
        out = np.zeros(lead + (row_words(qtype, cols) * 4,), np.uint8)
        out[..., : raw.shape[-1]] = raw
        return out
    disk, packed = quants.type_size(qtype), packed_block_bytes(qtype)
    nb = raw.shape[-1] // disk
    blocks = raw.reshape(lead + (nb, disk))
    out = np.zeros(lead + (nb, packed), np.uint8)
    if qtype == "Q8_0":
        out[..., :32] = blocks[..., 2:]
        out[..., 32:34] = blocks[..., :2]
    else:  # Q6_K: every field is already word-aligned inside a 212 B block
        out[..., :disk] = blocks
    return out.reshape(lead + (nb * packed,))


def split_ranges(n_expert: int, rows: int, row_bytes: int, limit: int) -> list[tuple]:
    """(e0, e1, r0, r1) pieces, each at most `limit` bytes: whole experts for 3-D tensors
    (n_expert > 0), whole rows for 2-D. Raises when one expert (or one row) alone is larger."""
    if n_expert:
        per = rows * row_bytes
        if per > limit:
            raise ValueError(f"one expert is {per} bytes, more than the binding limit {limit}")
        step = limit // per
        return [(e, min(e + step, n_expert), 0, rows) for e in range(0, n_expert, step)]
    if row_bytes > limit:
        raise ValueError(f"one row is {row_bytes} bytes, more than the binding limit {limit}")
    step = limit // row_bytes
    return [(0, 1, r, min(r + step, rows)) for r in range(0, rows, step)]


def _upload_pieces(
    k: Kernels,
    name: str,
    qtype: str,
    n_expert: int,
    rows: int,
    cols: int,
    part,
    max_binding: int | None,
    row_unit: int = 1,
) -> tuple:
    """Upload part(e0, e1, r0, r1) (raw blocks) piece by piece: only one piece is repacked in
    host memory at a time. row_unit: 2-D pieces start on multiples of it (gate/up pairs)."""
    words = row_words(qtype, cols)
    limit = min(max_binding or k.info.max_binding, k.info.max_binding)
    try:
        ranges = split_ranges(n_expert, rows // row_unit, words * 4 * row_unit, limit)
    except ValueError as exc:
        raise ValueError(f"{name} ({qtype}): {exc}") from exc
    pieces = []
    for e0, e1, r0, r1 in ranges:
        r0, r1 = (r0 * row_unit, r1 * row_unit) if not n_expert else (r0, rows)
        data = repack(qtype, np.asarray(part(e0, e1, r0, r1)), cols)
        buf = k.upload(data, label=f"{name}[{e0}:{e1},{r0}:{r1}]", weight=True)
        pieces.append(Piece(buffer=buf, e0=e0, e1=e1, row0=r0, rows=r1 - r0, nbytes=data.nbytes))
    return tuple(pieces)


def upload_raw(
    k: Kernels, name: str, qtype: str, raw: np.ndarray, cols: int, max_binding: int | None = None
) -> GpuTensor:
    """Upload one tensor's raw blocks (see module doc); max_binding overrides the device limit
    (tests use a small one to force a split)."""
    _check_qtype(name, qtype)
    if raw.ndim not in (2, 3):
        raise ValueError(f"{name}: raw blocks must be 2-D or 3-D, got shape {raw.shape}")
    n_expert = raw.shape[0] if raw.ndim == 3 else 0
    rows = raw.shape[-2]
    part = (lambda e0, e1, r0, r1: raw[e0:e1, r0:r1]) if n_expert else (lambda e0, e1, r0, r1: raw[r0:r1])
    pieces = _upload_pieces(k, name, qtype, n_expert, rows, cols, part, max_binding)
    return GpuTensor(
        name=name, qtype=qtype, rows=rows, cols=cols, n_expert=n_expert, row_words=row_words(qtype, cols), pieces=pieces
    )


def upload_gate_up_raw(
    k: Kernels, name: str, qtype: str, gate: np.ndarray, up: np.ndarray, cols: int, max_binding: int | None = None
) -> GpuTensor:
    """gate and up (same type and shape, 2-D or 3-D raw blocks) as ONE tensor whose rows
    interleave them (2i = gate row i, 2i+1 = up row i), for the fused SwiGLU matvec
    (build_matvec(..., swiglu=True)): one dispatch instead of gate, up and swiglu."""
    _check_qtype(name, qtype)
    if gate.shape != up.shape or gate.ndim not in (2, 3):
        raise ValueError(f"{name}: gate {gate.shape} and up {up.shape} must be equal 2-D/3-D")
    n_expert = gate.shape[0] if gate.ndim == 3 else 0
    rows = 2 * gate.shape[-2]

    def part(e0, e1, r0, r1):
        g, u = (gate[e0:e1], up[e0:e1]) if n_expert else (gate[r0 // 2 : r1 // 2], up[r0 // 2 : r1 // 2])
        pair = np.stack([np.asarray(g), np.asarray(u)], axis=-2)  # (..., rows/2, 2, bytes)
        return pair.reshape(pair.shape[:-3] + (-1, pair.shape[-1]))

    pieces = _upload_pieces(k, name, qtype, n_expert, rows, cols, part, max_binding, row_unit=2)
    return GpuTensor(
        name=name,
        qtype=qtype,
        rows=rows,
        cols=cols,
        n_expert=n_expert,
        row_words=row_words(qtype, cols),
        pieces=pieces,
        interleaved=True,
    )


def upload_gate_up(k: Kernels, model, gate_name: str, up_name: str, max_binding: int | None = None) -> GpuTensor:
    """upload_gate_up_raw for two tensors of an opened GGUFModel (e.g. blk.N.ffn_gate_exps /
    ffn_up_exps); raises when their types or shapes differ (then use two matvecs)."""
    g, u = model.tensors[gate_name], model.tensors[up_name]
    if (g.qtype, g.shape) != (u.qtype, u.shape):
        raise ValueError(
            f"{gate_name} ({g.qtype} {g.shape}) and {up_name} ({u.qtype} {u.shape}) differ: no fused gate/up"
        )
    return upload_gate_up_raw(
        k, f"{gate_name}+up", g.qtype, model.raw(gate_name), model.raw(up_name), g.n_cols, max_binding
    )


def upload_tensor(k: Kernels, model, name: str, max_binding: int | None = None) -> GpuTensor:
    """Upload tensor `name` of an opened GGUFModel (backends.model.gguf_model)."""
    info = model.tensors[name]
    return upload_raw(k, name, info.qtype, model.raw(name), info.n_cols, max_binding)
