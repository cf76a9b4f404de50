"""`parity`: the job's backend against a reference backend, teacher-forced over named prompts.

params: reference (a cell id, a registered backend name such as "f64" or "cpu", or
"self-prefill": the same backend prefilling every position at once, which checks the KV-cache
decode path against a full causal prefill), prompts (names),
prefill_fraction (prefill that share, decode the rest one token at a time), compare ("logits" or
"layers"). Metrics are minima (agreement) / maxima (error) over prompts and positions:
cosine_min, argmax_agreement, logits_rel_l2_max, max_abs; with compare: layers also
layer_cosine_min (both stages of every layer) and router_id_agreement.
"""

from __future__ import annotations

import numpy as np

from harness.falsifiers import parity_diag as diag
from harness.falsifiers.metrics import argmax_agreement, cosine_rows, max_abs, rel_l2_rows
from harness.falsifiers.registry import JobNotRun, Outcome, param, prefill_len, register

COMPARES = ("logits", "layers")
SELF_PREFILL = "self-prefill"


@register("parity")
class Parity:
    def run(self, ctx) -> Outcome:
        compare = ctx.params.get("compare", "logits")
        if compare not in COMPARES:
            raise ValueError(f"{ctx.falsifier.id}: params.compare {compare!r} not in {COMPARES}")
        ref_name = str(param(ctx.falsifier, "reference"))
        self_prefill = ref_name == SELF_PREFILL
        reference = ctx.backend if self_prefill else ctx.reference(ref_name)
        per_prompt, layers, mismatches = [], [], []
        for name in param(ctx.falsifier, "prompts"):
            tokens = ctx.prompt(name)
            n = prefill_len(len(tokens), ctx.params.get("prefill_fraction"))
            test = ctx.backend.trace(tokens, n)
            ref = reference.trace(tokens, None if self_prefill else n)
            per_prompt.append(_logit_metrics(name, test, ref))
            if not (test.has_layers and ref.has_layers):  # an engine that gives logits alone
                if compare == "layers":
                    raise JobNotRun(f"compare: layers needs per-layer states: {_no_layers(test, ref)}")
                continue
            layers.append(diag.layer_cosines(test, ref))
            per_prompt[-1]["router_id_agreement"] = diag.router_agreement(test, ref)
            mismatches += diag.router_mismatches(test, ref, name)
        measurements = _combine(per_prompt, layers, compare)
        return Outcome(measurements, _diagnostics(ctx, per_prompt, layers, mismatches))


def _logit_metrics(name: str, test, ref) -> dict:
    cos = cosine_rows(test.logits, ref.logits)
    worst = int(np.argmin(np.nan_to_num(cos, nan=-2.0)))
    return {
        "prompt": name,
        "positions": int(ref.logits.shape[0]),
        "cosine_min": float(np.min(cos)),
        "worst_position": worst,
        "argmax_agreement": argmax_agreement(test.logits, ref.logits),
        "logits_rel_l2_max": float(np.max(rel_l2_rows(test.logits, ref.logits))),
        "max_abs": max_abs(test.logits, ref.logits),
    }


def _combine(per_prompt: list[dict], layers: list[np.ndarray], compare: str) -> dict:
    m = {
        "cosine_min": min(p["cosine_min"] for p in per_prompt),
        "argmax_agreement": min(p["argmax_agreement"] for p in per_prompt),
        "logits_rel_l2_max": max(p["logits_rel_l2_max"] for p in per_prompt),
        "max_abs": max(p["max_abs"] for p in per_prompt),
    }
    if compare == "layers":
        m["layer_cosine_min"] = min(float(np.min(c)) for c in layers)
        m["router_id_agreement"] = min(p["router_id_agreement"] for p in per_prompt)
    return m


def _no_layers(*traces) -> str:
    return "; ".join(str(t.meta.get("layers", "no per-layer states")) for t in traces if not t.has_layers)


def _diagnostics(ctx, per_prompt, layers, mismatches) -> dict:
    if not layers:
        return {
            "per_prompt": per_prompt,
            "per_layer": [],
            "first_divergence": None,
            "router_mismatch_count": None,
            "router_mismatches": [],
        }
    per_layer = np.min(np.stack(layers), axis=0)
    floor = ctx.threshold("layer_cosine_min")
    if floor is None:
        floor = ctx.threshold("cosine_min")
    return {
        "per_prompt": per_prompt,
        "per_layer": [
            {"layer": i, "attn_cosine_min": float(row[0]), "moe_cosine_min": float(row[1])}
            for i, row in enumerate(per_layer)
        ],
        "first_divergence": diag.first_divergence(per_layer, floor),
        "router_mismatch_count": len(mismatches),
        "router_mismatches": mismatches[: diag.MAX_LISTED],
    }
