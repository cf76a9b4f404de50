"""Synthetic model presets and the Q4_K_M-like type mix (docs/reference.md §1, §3).

Every preset keeps the traps of the real model: head_dim differs from hidden / heads, the expert
count is not 8 (llama.cpp changes the type mix at exactly 8 experts), θ is 1e6, not 1e4.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    """Shape of a synthetic qwen3moe model plus how its weights are made.

    weights: "quantized" (Gaussian floats through backends.model.quants.quantize: real quantizer
    output) or "random_blocks" (well-formed random blocks: fast enough for 17 GB).
    n_ff is the dense feed_forward_length key (unused by qwen3moe; written because real files
    carry it).
    """

    name: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_expert: int
    n_expert_used: int
    n_ff_exp: int
    vocab_size: int
    context_length: int
    n_ff: int
    rms_eps: float = 1e-6
    rope_theta: float = 1e6
    weights: str = "quantized"

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "tiny",
            n_layer=2,
            n_embd=256,
            n_head=8,
            n_head_kv=2,
            head_dim=64,
            n_expert=6,
            n_expert_used=2,
            n_ff_exp=256,
            vocab_size=512,
            context_length=256,
            n_ff=768,
        ),
        Preset(
            "small",
            n_layer=4,
            n_embd=512,
            n_head=8,
            n_head_kv=2,
            head_dim=128,
            n_expert=24,
            n_expert_used=4,
            n_ff_exp=512,
            vocab_size=2048,
            context_length=1024,
            n_ff=1536,
        ),
        Preset(
            "qwen3-30b-a3b",
            n_layer=48,
            n_embd=2048,
            n_head=32,
            n_head_kv=4,
            head_dim=128,
            n_expert=128,
            n_expert_used=8,
            n_ff_exp=768,
            vocab_size=151936,
            context_length=40960,
            n_ff=6144,
            weights="random_blocks",
        ),
    )
}


def use_more_bits(i_layer: int, n_layer: int) -> bool:
    """llama.cpp's use_more_bits (src/llama-quant.cpp): first 1/8, last 1/8, every third between."""
    return i_layer < n_layer // 8 or i_layer >= 7 * n_layer // 8 or (i_layer - n_layer // 8) % 3 == 2


def q4_k_m_type(name: str, n_layer: int) -> str:
    """The Q4_K_M type of tensor `name` in a model of n_layer layers (E != 8 assumed)."""
    if name.endswith("norm.weight") or name.endswith("ffn_gate_inp.weight"):
        return "F32"
    if name == "output.weight":
        return "Q6_K"
    if name.startswith("blk.") and (".attn_v." in name or ".ffn_down_exps." in name):
        layer = int(name.split(".")[1])
        return "Q6_K" if use_more_bits(layer, n_layer) else "Q4_K"
    return "Q4_K"
