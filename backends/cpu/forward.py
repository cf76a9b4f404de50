"""The Qwen3-MoE forward on the CPU (docs/reference.md §1), one block of T new tokens at a time.

Weights are read through the lazy matvec; only the 1-D norm vectors (a few KB per layer) are
decoded up front. Each call appends T tokens to the KV cache and returns their logits plus,
when asked, the per-layer states of a Trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backends.cpu.knobs import Knobs
from backends.cpu.kvcache import KVCache
from backends.cpu.matvec import embed_rows, matvec, matvecs, vector
from backends.cpu.ops import attention, moe_tokens, rms_norm, rope_apply, rope_tables, route


@dataclass
class States:
    """Per-layer captures for T positions, lists indexed by layer."""

    hidden_attn: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    router_ids: list = field(default_factory=list)
    router_weights: list = field(default_factory=list)
    router_probs: list = field(default_factory=list)


def load_norms(model) -> dict[str, np.ndarray]:
    """All 1-D tensors (norm weights) as float32."""
    return {name: vector(model, name) for name, info in model.tensors.items() if len(info.shape) == 1}


class Forward:
    """Runs tokens through the model with a given activation path and knobs."""

    def __init__(self, model, knobs: Knobs, act: str, impl: str = "compiled"):
        self.model, self.cfg, self.knobs, self.act, self.impl = model, model.config, knobs, act, impl
        self.norms = load_norms(model)
        self.kv_map = np.asarray(knobs.kv_map, dtype=np.int64)

    def __call__(self, cache: KVCache, tokens, states: States | None = None) -> np.ndarray:
        """Append `tokens` to `cache`; return their logits (T, V) float32."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        if tokens.size == 0:
            raise ValueError("no tokens to run")
        cache.check_room(tokens.size)
        pos = cache.length + np.arange(tokens.size)
        x = embed_rows(self.model, "token_embd.weight", tokens, self.impl)
        if self.cfg.head_dim % 2:
            raise ValueError(f"head_dim {self.cfg.head_dim} is odd; NEOX RoPE pairs i with i + hd/2")
        rope = rope_tables(pos, self.cfg.head_dim, self.knobs.rope_theta, self.knobs.attn_dim)
        for layer in range(self.cfg.n_layer):
            x = x + self._attention(cache, layer, x, rope)
            if states is not None:
                states.hidden_attn.append(x)
            x = x + self._moe(layer, x, states)
            if states is not None:
                states.hidden.append(x)
        cache.advance(tokens.size)
        h = rms_norm(x, self.norms["output_norm.weight"], self.cfg.rms_eps, self.impl)
        return matvec(
            self.model, self.knobs.output_name, h, act=self.act, decode_as=self.knobs.output_decode_as, impl=self.impl
        )

    def _attention(self, cache: KVCache, layer: int, x: np.ndarray, rope: tuple) -> np.ndarray:
        cfg, kn, p = self.cfg, self.knobs, f"blk.{layer}."
        T = x.shape[0]
        h = rms_norm(x, self.norms[p + "attn_norm.weight"], cfg.rms_eps, self.impl)
        q, k, v = matvecs(
            self.model, [p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"], h, act=self.act, impl=self.impl
        )
        q = q.reshape(T, cfg.n_head, cfg.head_dim)
        k = k.reshape(T, cfg.n_head_kv, cfg.head_dim)
        v = v.reshape(T, cfg.n_head_kv, cfg.value_dim)
        if kn.qk_norm:  # per-head RMSNorm over head_dim, BEFORE RoPE
            q = rms_norm(q, self.norms[p + "attn_q_norm.weight"], cfg.rms_eps, self.impl)
            k = rms_norm(k, self.norms[p + "attn_k_norm.weight"], cfg.rms_eps, self.impl)
        q, k = rope_apply(q, *rope, self.impl), rope_apply(k, *rope, self.impl)
        keys, values = cache.store(layer, k, v)
        a = attention(
            q,
            keys,
            values,
            cfg.n_head_kv,
            offset=cache.length,
            kv_map=self.kv_map,
            scale_dim=kn.attn_dim,
            impl=self.impl,
        )
        return self._mv(p + "attn_output.weight", a.reshape(T, -1))

    def _moe(self, layer: int, x: np.ndarray, states: States | None) -> np.ndarray:
        cfg, kn, p = self.cfg, self.knobs, f"blk.{layer}."
        h = rms_norm(x, self.norms[p + "ffn_norm.weight"], cfg.rms_eps, self.impl)
        logits = self._mv(p + "ffn_gate_inp.weight", h)
        ids, weights, probs = route(
            logits, cfg.n_expert_used, renormalise=kn.renormalise, softmax_first=kn.softmax_first, impl=self.impl
        )
        if states is not None:
            states.router_ids.append(ids)
            states.router_weights.append(weights)
            states.router_probs.append(probs)
        return moe_tokens(
            self.model, layer, h, ids, weights, act=self.act, expert_shift=kn.expert_shift, impl=self.impl
        )[1]

    def _mv(self, name: str, x: np.ndarray) -> np.ndarray:
        return matvec(self.model, name, x, act=self.act, impl=self.impl)
