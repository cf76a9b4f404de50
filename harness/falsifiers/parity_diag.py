"""Where a parity failure starts: per-layer cosines, the first diverging layer and stage, router
expert-id mismatches with their top-k near-tie margins. Pure functions over two Traces."""

from __future__ import annotations

import numpy as np

from harness.falsifiers.metrics import cosine_rows

STAGES = ("attn", "moe")  # hidden_attn: after attention; hidden: after the MoE block
MAX_LISTED = 20  # mismatches listed in a report (the count is always complete)


def layer_cosines(test, ref) -> np.ndarray:
    """(L, 2) minimum cosine over positions per layer, stage order as STAGES."""
    out = []
    for layer in range(ref.hidden.shape[0]):
        out.append(
            [
                float(np.min(cosine_rows(test.hidden_attn[layer], ref.hidden_attn[layer]))),
                float(np.min(cosine_rows(test.hidden[layer], ref.hidden[layer]))),
            ]
        )
    return np.asarray(out, dtype=np.float64).reshape(-1, len(STAGES))


def first_divergence(cos: np.ndarray, floor: float | None) -> dict | None:
    """The first (layer, stage), in forward order, whose cosine is below `floor` (the contract's
    threshold); without a floor, the worst one."""
    if cos.size == 0:
        return None
    if floor is None:
        layer, s = np.unravel_index(int(np.argmin(cos)), cos.shape)
        return {"layer": int(layer), "stage": STAGES[s], "cosine": float(cos[layer, s]), "rule": "lowest"}
    for layer in range(cos.shape[0]):
        for s, stage in enumerate(STAGES):
            if not cos[layer, s] >= floor:  # NaN counts as a drop
                return {
                    "layer": layer,
                    "stage": stage,
                    "cosine": float(cos[layer, s]),
                    "rule": f"first below {floor:g}",
                }
    return None


def near_tie_margin(probs_row: np.ndarray, k: int) -> float:
    """p_(k) - p_(k+1): the gap between the last selected and the first unselected expert."""
    p = np.sort(np.asarray(probs_row, dtype=np.float64))[::-1]
    return float(p[k - 1] - p[k]) if p.size > k else float("inf")


def router_mismatches(test, ref, prompt: str) -> list[dict]:
    """Every (layer, position) whose selected expert set differs, with both sides' margins."""
    out = []
    k = ref.router_ids.shape[-1]
    for layer, pos in zip(*np.nonzero(_set_differs(test.router_ids, ref.router_ids))):
        out.append(
            {
                "prompt": prompt,
                "layer": int(layer),
                "position": int(pos),
                "ids": _ids(test, layer, pos),
                "ids_reference": _ids(ref, layer, pos),
                "margin": _finite(near_tie_margin(test.router_probs[layer, pos], k)),
                "margin_reference": _finite(near_tie_margin(ref.router_probs[layer, pos], k)),
            }
        )
    return out


def _ids(trace, layer: int, pos: int):
    """The selected expert ids, or why there are none: ids picked from NaN/Inf probabilities
    are whatever the kernel left (e.g. 2143289344, the bits of a NaN), not experts."""
    if not np.all(np.isfinite(np.asarray(trace.router_probs[layer, pos], dtype=np.float64))):
        return "NaN/Inf router probabilities"
    return [int(i) for i in trace.router_ids[layer, pos]]


def _set_differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(np.sort(a, axis=-1) != np.sort(b, axis=-1), axis=-1)


def router_agreement(test, ref) -> float:
    """Fraction of (layer, position) whose selected expert sets agree."""
    return float(1.0 - np.mean(_set_differs(test.router_ids, ref.router_ids)))


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None
