"""Builders of the step's two ends: the embedding lookup (embedding.wgsl, decoding with a
matvec family's chunk decoder) and the device argmax (argmax.wgsl)."""

from __future__ import annotations

import numpy as np

from backends.wgpu import tuning
from backends.wgpu.op import Op, build_op, ceil_div


def argmax_ops(k, logits, tok, hist, step, V: int, name="argmax", shape=None) -> list[Op]:
    """tok[0] = hist[token_slot] = argmax of the step's last logits row (argmax.wgsl): block
    maxima over many workgroups, then one workgroup picks among them (two dispatches).
    shape: (threads, logits per thread) of the block pass; default tuning.argmax_shape."""
    wg, per = shape or tuning.argmax_shape(k.info)
    blocks = ceil_div(V, wg * per)
    part = k.buffer(8 * blocks, label="argmax-part")
    layout = ("read", "rw", "rw", "uniform", "rw")
    consts = {"V": V, "WG": wg, "PER": per}
    binds = (logits, tok, hist, step, part)
    return [
        build_op(k, name, "argmax", layout, binds, lambda t: (blocks, 1, 1), consts, entry="partial"),
        build_op(k, name, "argmax", layout, binds, lambda t: (1, 1, 1), consts, entry="pick"),
    ]


def embedding_ops(k, t, tok, x, family) -> list[Op]:
    """x[t] = row tok[t] of the uploaded tensor t (any matvec qtype): one Op, one launch per
    weight piece.

    family: (the matvec family's shader files, matvec binding layout) from backends.wgpu.matvec. The params
    uniform follows mul_mat_vec.wgsl's MatvecParams: rows, cols, row_words, ..., y_offset = row0.
    """
    shader, layout = family
    pipe = k.pipeline(
        ("common", "mul_mat_vec_params", "mul_mat_vec", *shader, "embedding"),
        entry="embed",
        constants={"EMBED_WG": tuning.EMBEDDING_WG},
        layout=layout,
    )
    launches, unused_x = [], k.buffer(16, label="embedding-unused-x")  # X may not alias Y (rw)
    groups = ceil_div(ceil_div(t.cols, 16), tuning.EMBEDDING_WG)
    for piece in t.pieces:
        params = np.zeros(12, np.uint32)
        params[[0, 1, 2, 6, 8]] = piece.rows, t.cols, t.row_words, piece.row0, 1
        bg = k.bind_group(pipe, [piece.buffer, unused_x, x, tok, k.upload(params, uniform=True)])
        launches.append((bg, lambda n: (groups, n, 1)))
    return [Op("embedding", pipe, tuple(launches))]
