"""Every launch shape, split and threshold of the wgpu forward, with the measurement behind it.

The kernels' correctness does not depend on any value here (the op tests sweep them); their
speed does. Each value names the docs/perf.md step that chose it (H100, Vulkan, unless said).
Kernel limits (workgroup array sizes fixed in a shader) are not tuning: they stay beside the
builder that checks them. Pure functions of the device facts (DeviceInfo) only.
"""

from __future__ import annotations

# -- the step ---------------------------------------------------------------------------------
# Tokens per prefill submission: sizes the activation scratch (the forward's default chunk).
# 512: the prefill GEMMs' tiles fill (issue 14); bounded by the device's binding limit.
DEFAULT_PREFILL_CHUNK = 512

# -- prefill GEMM (shaders/mul_mat_q.wgsl, backends.wgpu.gemm) ----------------------------------
# TX x TY threads, each TM = 4 rows x TN slots (4 or 8), KC 16-value chunks per K step: tiles of
# BM = TY*TM rows x BN = TX*TN slots. To be tuned on the H200: first guesses, not measured.
GEMM_SHAPE = {"TX": 16, "TY": 16, "TM": 4, "TN": 4, "KC": 2}  # 64 rows x 64 tokens
# Grouped experts: a 512-token prefill of the 30B gives each of 128 experts ~32 of its 4096
# (token, slot) pairs, so 32-slot tiles (64 would run half empty). To be tuned on the H200 too.
GEMM_GROUPED_SHAPE = {"TX": 8, "TY": 16, "TM": 4, "TN": 4, "KC": 2}  # 64 rows x 32 pairs
# The head for the last token only (last_only): one tile of 4 slots (1 used).
GEMM_LAST_SHAPE = {"TX": 1, "TY": 64, "TM": 4, "TN": 4, "KC": 1}

# -- matvec (shaders/mul_mat_vec*.wgsl) ---------------------------------------------------------
# Slots an expert matvec usually runs (K = 8 in the 30B model): rows of work = rows x this
# (step 5: "rows x 8 for expert launches").
EXPERT_SLOTS_GUESS = 8


def matvec_launch_shape(info, cols: int, work_rows: int = 0) -> tuple[int, int]:
    """(threads per workgroup, rows per workgroup) for rows of `cols` values on this device;
    work_rows: rows times the slots a launch usually runs (0 = unknown: many).

    CPU adapters (lavapipe runs a workgroup as SIMD lanes on one core, and barriers are costly
    there): 32 threads x 4 rows (2048x2048 Q4_K ~2.5x faster than 128x2). GPUs: 32x4 where there
    are >= 8192 rows of work (step 4: Q4_K 12288x2048 36 us vs 55 us at 128x2; the Q6_K head
    338 vs 581 us), 64x2 from 4096 (step 25: Q4_K 5120x2048 12.7 us vs 14.5 at 32x4, 16.5 at
    128x2); with fewer rows 32-thread workgroups leave the GPU idle (step 5: attn_output
    2048x4096 51 us at 32x4, 25 us at 128x2), so 16 threads per 256-value block up to 128
    (fewer when the row has fewer 16-value chunks) and 2 rows, or 1 row and up to 256 threads
    below 1024 rows (the 128-row router)."""
    if info.identity.get("is_cpu"):
        return 32, 4
    if work_rows == 0 or work_rows >= 8192:
        return 32, 4
    if work_rows >= 4096:
        return 64, 2
    chunks = -(-cols // 16)
    cap = 128 if work_rows >= 1024 else 256
    wg = 32
    while wg < cap and wg < chunks:
        wg *= 2
    return wg, 2 if work_rows >= 1024 else 1


def matvec_task_shape(work_rows: int) -> tuple[int, int]:
    """(rows per 32-lane group R, groups per workgroup G) of the task driver
    (mul_mat_vec_tasks.wgsl: single-vector Q4_K / Q5_K / Q6_K) by rows of work. H200
    in-stream, weights cycled past the L2 (docs/perf.md session 3 step 26): R=4 G=2 from 8192
    rows (gate/up x8 13.9 us, the Q6_K head 106.7), R=2 G=4 from 4096 (q|k|v 8.7 us), R=1 G=4
    below (attn_output 2048x4096 7.6 us; R=4 there: 11.5)."""
    if work_rows == 0 or work_rows >= 8192:
        return 4, 2
    if work_rows >= 4096:
        return 2, 4
    return 1, 4


# -- attention (shaders/attention.wgsl, attention_decode.wgsl) --------------------------------
# Positions per workgroup: prefill steps use long splits (small scratch for TMAX tokens; 128 is
# attention.wgsl's SPLIT_MAX); decode steps short ones, so that even a short context spreads
# over several workgroups (step 17: 17.6 us/layer at 8 vs 23.3 at 16, 37.5 at 32; 640
# positions, 48 KV caches cycled).
ATTN_SPLIT, ATTN_SPLIT_DECODE = 128, 8
# Decode: at most this many splits per head; longer contexts give each split several blocks of
# ATTN_SPLIT_DECODE positions, so the merge stays short (step 16).
ATTN_DECODE_SPLITS_MAX = 128
# Most query heads per decode workgroup (a 32-thread team each; heads of one kv group share
# their K/V rows through L1) and threads per K row (step 16; heads per workgroup 1 or 8 within
# 1 us, step 17).
ATTN_DECODE_HEADS_PER_WG, ATTN_DECODE_KT = 8, 8


# -- one-workgroup-per-row kernels (norms, argmax, router top-k) ------------------------------
def wide_wg(info, gpu: int = 512) -> int:
    """Threads of a one-workgroup-per-row kernel (norms, argmax): wide on GPUs, where the row's
    chain of loads per thread is the cost (step 5: 512 threads), within the device's workgroup
    limits; 256 on CPU adapters, where barriers are costly."""
    if info.identity.get("is_cpu"):
        return 256
    cap = min(
        int(info.limits.get("max-compute-invocations-per-workgroup", 256)),
        int(info.limits.get("max-compute-workgroup-size-x", 256)),
    )
    return max(256, min(gpu, 1 << (cap.bit_length() - 1)))


def residual_norm_threads(n: int) -> int:
    """residual_rms_norm's wanted threads for rows of n floats: one vec4 per thread (step 22),
    256..1024 (step 18: 1024 beats 512 with 8 weighted sources); wide_wg caps it."""
    return min(1024, max(256, n // 4))


def argmax_shape(info) -> tuple[int, int]:
    """(threads, logits per thread) of argmax's block pass: 8 independent loads per thread in
    flight on GPUs (step 4); smaller blocks on CPU adapters."""
    return (64, 16) if info.identity.get("is_cpu") else (256, 8)


def router_topk_threads(n_expert: int) -> int:
    """router_topk (softmax + top-k over precomputed logits, step 1): a workgroup no wider than
    the experts (fewer tree levels), 32..256 threads."""
    return min(256, max(32, 1 << (n_expert - 1).bit_length()))


# -- small fixed shapes --------------------------------------------------------------------------
SWIGLU_WG = 256  # moe_expert_swiglu.wgsl's workgroup size (values per workgroup)
EMBEDDING_WG = 64  # embedding.wgsl's workgroup size (16-value chunks per workgroup)
