"""The buffers of one Qwen3-MoE graph (backends.wgpu.forward): activation scratch sized for
`tmax` tokens per step, the step uniform, the RoPE table and the per-layer KV caches (f32)."""

from __future__ import annotations

from backends.wgpu import attention as attn
from backends.wgpu.op import STEP_BYTES


def tokens_fitting(k, cfg, ctx: int, flash: bool) -> int:
    """The most tokens per step whose largest per-step buffer (attention partials, logits)
    still fits one storage binding of this device."""
    split = 0 if flash else attn.attention_scratch_floats(cfg.n_head, 1, ctx, cfg.value_dim)
    per_token = 4 * max(split, cfg.vocab_size)
    fits = k.info.max_binding // per_token
    if fits < 1:
        raise ValueError(
            f"context {ctx}: one token's attention scratch ({per_token} B) "
            f"exceeds the device's binding limit {k.info.max_binding} B"
        )
    return fits


def allocate(k, cfg, ctx: int, tmax: int, flash: bool, faults) -> tuple[dict, list]:
    """(named buffers, [(k_cache, v_cache)] per layer)."""
    c, T = cfg, tmax
    K, qd, kvd = c.n_expert_used, c.n_head * c.head_dim, c.n_head_kv * c.head_dim
    sizes = {
        "x": T * c.n_embd,
        "h": T * c.n_embd,
        "q": T * qd,
        "qkv": T * (qd + kvd + c.n_head_kv * c.value_dim),
        "attn": T * c.n_head * c.value_dim,
        "o": T * c.n_embd,
        "a": T * K * c.n_ff_exp,
        "d": T * K * c.n_embd,
        "weights": T * K,
        "probs": T * c.n_expert,
        "rlog": T * c.n_expert,
        "logits": T * c.vocab_size,
        "ids": T * K,
        "eids": T * K,
        "tok": T,
        "hist": ctx,
        "part": 1 if flash else attn.attention_scratch_floats(c.n_head, T, ctx, c.value_dim),
        "part1": attn.decode_attention_scratch_floats(c.n_head, ctx, c.value_dim),
    }
    buf = {n: k.buffer(4 * s, label=n) for n, s in sizes.items()}
    buf["step"] = k.buffer(STEP_BYTES, label="step", uniform=True)
    theta = 10000.0 if "rope_theta_10k" in faults else c.rope_theta
    buf["rope"] = k.upload(attn.rope_table(ctx, c.head_dim, theta), label="rope")
    kv = (ctx * c.n_head_kv * c.head_dim, ctx * c.n_head_kv * c.value_dim)
    caches = [
        (k.buffer(4 * kv[0], label=f"k_cache{i}"), k.buffer(4 * kv[1], label=f"v_cache{i}")) for i in range(c.n_layer)
    ]
    return buf, caches
