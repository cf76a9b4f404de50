"""`invariant`: properties every forward pass must keep, whatever the numbers.

params: prompts, optional prefill_fraction. Metrics (1 = holds, 0 = broken, except the first):
router_weight_sum_max_dev (max |Σ weights - 1| over layers and positions), expert_ids_in_range,
expert_ids_distinct, all_finite (logits, hidden states, router weights), shape_ok,
router_probs_positive_fraction (share of the router's probabilities above 0: a softmax over all
experts gives 1; a softmax over only the top-k logits leaves the other experts at exactly 0).
"""

from __future__ import annotations

import numpy as np

from harness.falsifiers.metrics import all_finite, first_non_finite
from harness.falsifiers.registry import JobNotRun, Outcome, param, prefill_len, register


@register("invariant")
class Invariant:
    def run(self, ctx) -> Outcome:
        cfg = ctx.model.config
        rows, broken, non_finite = [], [], {}
        for name in param(ctx.falsifier, "prompts"):
            tokens = ctx.prompt(name)
            tr = ctx.backend.trace(tokens, prefill_len(len(tokens), ctx.params.get("prefill_fraction")))
            if not tr.has_layers:  # the router's invariants need the router's outputs
                raise JobNotRun(f"invariants need per-layer states: {tr.meta.get('layers', 'none given')}")
            row = _check(tr, cfg, len(tokens))
            rows.append(row)
            broken += [f"{name}: {k}" for k, v in row.items() if k != "router_weight_sum_max_dev" and v != 1]
            where = first_non_finite(tr)
            if where is not None:  # the cause; the router ids it leaves behind are noise
                non_finite[name] = where
                broken.append(
                    f"{name}: NaN/Inf first in {where['array']} at layer {where['layer']}, position {where['position']}"
                )
        m = {"router_weight_sum_max_dev": max(r["router_weight_sum_max_dev"] for r in rows)}
        for key in (
            "expert_ids_in_range",
            "expert_ids_distinct",
            "all_finite",
            "shape_ok",
            "router_probs_positive_fraction",
        ):
            m[key] = float(min(r[key] for r in rows))
        return Outcome(m, {"broken": broken, "non_finite": non_finite})


def _check(tr, cfg, T: int) -> dict:
    L, H, E, k, V = cfg.n_layer, cfg.n_embd, cfg.n_expert, cfg.n_expert_used, cfg.vocab_size
    shape_ok = (
        tr.logits.shape == (T, V)
        and tr.hidden.shape == (L, T, H)
        and tr.hidden_attn.shape == (L, T, H)
        and tr.router_ids.shape == (L, T, k)
        and tr.router_weights.shape == (L, T, k)
        and tr.router_probs.shape == (L, T, E)
    )
    ids = np.asarray(tr.router_ids)
    sums = np.sum(np.asarray(tr.router_weights, dtype=np.float64), axis=-1)
    distinct = all(len(set(r.tolist())) == len(r) for r in ids.reshape(-1, ids.shape[-1])) if ids.size else False
    return {
        "router_weight_sum_max_dev": float(np.max(np.abs(sums - 1.0), initial=0.0)),
        "expert_ids_in_range": float(ids.size > 0 and ids.min() >= 0 and ids.max() < E),
        "expert_ids_distinct": float(distinct),
        "all_finite": float(all_finite(tr.logits, tr.hidden, tr.hidden_attn, tr.router_weights)),
        "shape_ok": float(shape_ok),
        "router_probs_positive_fraction": float(np.mean(np.asarray(tr.router_probs) > 0))
        if np.size(tr.router_probs)
        else 0.0,
    }
