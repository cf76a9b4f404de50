"""Comparison metrics between two arrays, row by row. Pure numpy, float64 accumulation."""

from __future__ import annotations

import numpy as np


def _rows(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(1, -1)


def cosine_rows(a, b) -> np.ndarray:
    """Cosine similarity of each last-axis row of a and b; two zero rows count as 1, one as 0."""
    a, b = _rows(a), _rows(b)
    dot = np.sum(a * b, axis=1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    both_zero = (na == 0) & (nb == 0)
    one_zero = (na == 0) ^ (nb == 0)
    return np.where(both_zero, 1.0, np.where(one_zero, 0.0, cos))


def rel_l2_rows(a, b) -> np.ndarray:
    """||a - b|| / ||b|| per row (b is the reference); a zero reference row gives ||a||."""
    a, b = _rows(a), _rows(b)
    num = np.linalg.norm(a - b, axis=1)
    den = np.linalg.norm(b, axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), num)


def first_non_finite(trace) -> dict | None:
    """Where a trace first holds NaN/Inf: {"array", "layer", "position"} in forward order
    (attention output, then the MoE block, layer by layer; then the logits), else None. Weights
    that produce NaN are reported as NaN, never as the garbage router ids they cause."""
    stages = []
    for layer in range(np.shape(trace.hidden)[0]):
        stages += [("hidden_attn", layer), ("router_probs", layer), ("hidden", layer)]
    for name, layer in stages:
        bad = ~np.isfinite(np.asarray(getattr(trace, name)[layer], dtype=np.float64))
        if bad.any():
            return {"array": name, "layer": layer, "position": int(np.argwhere(bad)[0][0])}
    bad = ~np.isfinite(np.asarray(trace.logits, dtype=np.float64))
    if bad.any():
        return {"array": "logits", "layer": None, "position": int(np.argwhere(bad)[0][0])}
    return None


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)), initial=0.0))


def nmse(a, b) -> float:
    """Normalised mean squared error of a against reference b: Σ(a-b)² / Σb²."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = float(np.sum(b * b))
    num = float(np.sum((a - b) ** 2))
    return num / den if den > 0 else num


def argmax_agreement(a, b) -> float:
    """Fraction of rows whose argmax agrees."""
    a, b = _rows(a), _rows(b)
    return float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))


def all_finite(*arrays) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x, dtype=np.float64)))) for x in arrays)
