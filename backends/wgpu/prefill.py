"""The prefill side of the forward's op list: steps of more than one token run the tiled
GEMM (backends.wgpu.gemm) where decode runs matvecs, so a weight block decoded once serves a
tile of tokens.

    projection(k, t, x, y, step, *, x_stride, one) -> ByTokens
        the decode matvec `one` for one-token steps, a dense GEMM over the step's tokens else.
    flash_attention_fits(k, n_head, n_kv, hd, vd) -> bool
    flash_attention_op(k, bufs, dims, faults) -> Op
        causal GQA attention of a prefill step over the KV cache, flash style (online softmax,
        shaders/attention_prefill.wgsl): no T x T scores and no split partials in memory, so the
        step's scratch does not grow with the context. Where the head dims do not fit its
        workgroup arrays, the forward keeps the split-partials kernels (attention.wgsl).
    grouped_expert_ops(k, uploaded, bufs, groups, *, H, n_ff, faults) -> list of ops
        the MoE of a prefill step, as llama.cpp's mul_mat_id: the router's expert ids grouped
        on the GPU (groups.op: counts, offsets, gather and tile lists), ONE grouped GEMM for
        gate/up over all experts (+SwiGLU; two GEMMs and moe_expert_swiglu when their types
        differ), ONE for down whose epilogue writes each row back to its (token, slot) place
        in bufs["d"]. The residual_rms_norm after it then adds Σ_s w[t,s]·d[t,s] in slot
        order per token: the same deterministic sum as decode, no atomics.
        uploaded: the tensors ops.expert_ops uploaded (the same buffers, no second copy).
"""

from __future__ import annotations

import numpy as np

from backends.wgpu import moe_kernels as moek
from backends.wgpu.gemm import ExpertGroups, GroupInput, build_gemm
from backends.wgpu.op import ByTokens, Op, build_op, one_or_many

__all__ = ["ExpertGroups", "projection", "grouped_expert_ops", "flash_attention_fits", "flash_attention_op"]
# attention_prefill.wgsl: query rows per workgroup (RQ), cache rows per block (BK), the most
# value dims a thread's accumulators hold (4 * 16 * VQ_MAX)
FLASH_ROWS, FLASH_BLOCK, FLASH_MAX_VD = 16, 16, 512


def projection(k, t, x, y, step, *, x_stride: int, one, faults=frozenset()) -> ByTokens:
    return one_or_many(one, build_gemm(k, t, x, y, step, x_stride=x_stride, faults=faults))


def grouped_expert_ops(
    k, uploaded: dict, bufs: dict, groups: ExpertGroups, *, H: int, n_ff: int, faults=frozenset()
) -> list:
    K, h, step = groups.K, bufs["h"], bufs["step"]
    tokens = GroupInput(groups, K, False)  # sorted slot j reads h row pair // K (its token)
    if "gate_up" in uploaded:
        ops = [
            build_gemm(k, uploaded["gate_up"], h, bufs["a"], step, x_stride=H, swiglu=True, group=tokens, faults=faults)
        ]
    else:
        ops = [
            build_gemm(k, uploaded[n], h, uploaded[n[0]], step, x_stride=H, group=tokens, faults=faults)
            for n in ("gate", "up")
        ]
        ops.append(moek.swiglu_op(k, uploaded["g"], uploaded["u"], bufs["a"], step, K * n_ff))
    # down reads a's sorted rows and writes each output row back to its (token, slot) place
    ops.append(
        build_gemm(
            k,
            uploaded["down"],
            bufs["a"],
            bufs["d"],
            step,
            x_stride=n_ff,
            group=GroupInput(groups, 0, True),
            faults=faults,
        )
    )
    return [groups.op, *ops]


def _flash_bytes(hd: int, vd: int) -> int:
    return 4 * (FLASH_ROWS * hd + FLASH_BLOCK * (hd + vd) + FLASH_ROWS * FLASH_BLOCK + 3 * FLASH_ROWS)


def flash_attention_fits(k, n_head: int, n_kv: int, hd: int, vd: int) -> bool:
    group = n_head // n_kv if n_kv and n_head % n_kv == 0 else 0
    limit = int(k.info.limits.get("max-compute-workgroup-storage-size", 16384))
    return (
        0 < group <= FLASH_ROWS and hd % 4 == 0 and vd % 4 == 0 and vd <= FLASH_MAX_VD and _flash_bytes(hd, vd) <= limit
    )


def flash_attention_op(k, bufs: dict, dims: dict, faults=frozenset()) -> Op:
    """bufs: q, k_cache, v_cache, out, step; dims: n_head, n_kv, hd, vd."""
    nh, nkv, hd, vd = dims["n_head"], dims["n_kv"], dims["hd"], dims["vd"]
    if not flash_attention_fits(k, nh, nkv, hd, vd):
        raise ValueError(
            f"flash attention: {nh} heads / {nkv} kv heads, head dims {hd}/{vd} "
            f"do not fit attention_prefill.wgsl's workgroup arrays"
        )
    bq = FLASH_ROWS // (nh // nkv)
    consts = {
        "NH": nh,
        "NKV": nkv,
        "HD": hd,
        "VD": vd,
        "BQ": bq,
        "SCALE": float(np.float32(1.0 / np.sqrt(hd))),
        "GQA_SHIFT": "gqa_off_by_one" in faults,
    }
    layout = ("read", "read", "read", "rw", "uniform")
    return build_op(
        k,
        "attn_prefill",
        "attention_prefill",
        layout,
        [bufs[n] for n in ("q", "k_cache", "v_cache", "out", "step")],
        lambda t: (nkv, -(-t // bq), 1),
        consts,
        entry="attn_prefill",
    )
