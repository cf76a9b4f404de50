"""The float64 Qwen3-MoE forward (docs/reference.md §1), the whole sequence at once.

No KV cache: every call computes positions 0..T-1 of a causal pass, so a "decoded" position is
by construction the row of a full prefill. Pure functions over F64Weights; float64 throughout
except where act="q8k" rounds an activation in float32 as llama.cpp does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from backends.f64.activations import act_round
from backends.f64.weights import F64Weights

TRACE_KEYS = ("hidden_attn", "hidden", "router_ids", "router_weights", "router_probs")


@dataclass
class Pass:
    """One forward's inputs: the weights, the activation path, a collector of Q8_K margins and
    optionally a replacement Q8_K rounding."""

    w: F64Weights
    act: str
    margins: list = field(default_factory=list)
    q8k: Callable[[np.ndarray], np.ndarray] | None = None  # see activations.act_round

    def linear(self, name: str, x: np.ndarray, expert: int | None = None) -> np.ndarray:
        """x @ Wᵀ with x rounded as llama.cpp would for this weight's type (act="q8k")."""
        weight = self.w.weight(name) if expert is None else self.w.expert(name, expert)
        return act_round(x, self.w.types[name], self.act, self.margins, self.q8k) @ weight.T


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """x / sqrt(mean(x²) + eps) · weight over the last axis."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_neox(x: np.ndarray, theta: float) -> np.ndarray:
    """Rotate-half RoPE on (T, heads, hd) at positions 0..T-1: element i pairs with i + hd/2."""
    T, _, hd = x.shape
    half = hd // 2
    angle = np.arange(T)[:, None] * theta ** (-2.0 * np.arange(half) / hd)
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    lo, hi = x[..., :half], x[..., half:]
    return np.concatenate([lo * cos - hi * sin, hi * cos + lo * sin], axis=-1)


def causal_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """GQA causal attention: q (T, nh, hd), k (T, nkv, hd), v (T, nkv, vd) -> (T, nh·vd).
    Query head j reads kv head j // (nh / nkv)."""
    T, nh, hd = q.shape
    group = nh // k.shape[1]
    out = np.empty((T, nh, v.shape[2]))
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    for j in range(nh):
        scores = q[:, j] @ k[:, j // group].T / np.sqrt(hd)
        scores[future] = -np.inf
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        out[:, j] = (e / e.sum(axis=1, keepdims=True)) @ v[:, j // group]
    return out.reshape(T, -1)


def attention_block(p: Pass, layer: int, x: np.ndarray) -> np.ndarray:
    """The attention sub-block's output (to be added to the residual stream x)."""
    w, pre = p.w, f"blk.{layer}."
    eps = w.hp("attention.layer_norm_rms_epsilon")
    nh, nkv = w.hp("attention.head_count"), w.hp("attention.head_count_kv")
    hd, vd = w.hp("attention.key_length"), w.hp("attention.value_length")
    T = x.shape[0]
    h = rms_norm(x, w.weight(pre + "attn_norm.weight"), eps)
    q = p.linear(pre + "attn_q.weight", h).reshape(T, nh, hd)
    k = p.linear(pre + "attn_k.weight", h).reshape(T, nkv, hd)
    v = p.linear(pre + "attn_v.weight", h).reshape(T, nkv, vd)
    theta = w.hp("rope.freq_base")
    q = rope_neox(rms_norm(q, w.weight(pre + "attn_q_norm.weight"), eps), theta)
    k = rope_neox(rms_norm(k, w.weight(pre + "attn_k_norm.weight"), eps), theta)
    return p.linear(pre + "attn_output.weight", causal_attention(q, k, v))


def route(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Softmax over all experts, top-k by probability (lower index wins ties), renormalised.
    Returns ids (T, k), weights (T, k), probs (T, E)."""
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    ids = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(probs, ids, axis=1)
    return ids, chosen / chosen.sum(axis=1, keepdims=True), probs


def moe_block(p: Pass, layer: int, x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """The MoE sub-block's output and its routing (ids, weights, probs). Each selected expert is
    decoded once and applied to every position that chose it."""
    w, pre = p.w, f"blk.{layer}."
    h = rms_norm(x, w.weight(pre + "ffn_norm.weight"), w.hp("attention.layer_norm_rms_epsilon"))
    ids, weights, probs = route(p.linear(pre + "ffn_gate_inp.weight", h), int(w.hp("expert_used_count")))
    out = np.zeros_like(x)
    for e in np.unique(ids):
        rows, slot = np.nonzero(ids == e)
        g = p.linear(pre + "ffn_gate_exps.weight", h[rows], int(e))
        u = p.linear(pre + "ffn_up_exps.weight", h[rows], int(e))
        y = p.linear(pre + "ffn_down_exps.weight", g / (1.0 + np.exp(-g)) * u, int(e))
        out[rows] += weights[rows, slot][:, None] * y
    return out, (ids, weights, probs)


def forward(
    w: F64Weights,
    tokens,
    act: str = "fp32",
    margins: list | None = None,
    q8k: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict:
    """Logits (T, V) and per-layer states (TRACE_KEYS, stacked over layers) for positions
    0..T-1 of `tokens`, all float64 (router_ids int)."""
    p = Pass(w, act, [] if margins is None else margins, q8k)
    rec = {key: [] for key in TRACE_KEYS}
    x = w.rows("token_embd.weight", np.asarray(tokens, dtype=np.int64))
    for layer in range(int(w.hp("block_count"))):
        x = x + attention_block(p, layer, x)
        rec["hidden_attn"].append(x)
        out, routing = moe_block(p, layer, x)
        x = x + out
        rec["hidden"].append(x)
        for key, value in zip(TRACE_KEYS[2:], routing):
            rec[key].append(value)
    out = {key: np.stack(v) for key, v in rec.items()}
    h = rms_norm(x, w.weight("output_norm.weight"), w.hp("attention.layer_norm_rms_epsilon"))
    out["logits"] = p.linear("output.weight" if w.has("output.weight") else "token_embd.weight", h)
    return out
