"""Per-layer captures of a traced step (the evidence behind layer parity and blame).

A traced step's op list carries (marker, layer) tuples after each layer's attention residual
("hidden_attn") and after its MoE residual ("hidden"); at each, the step's command buffer copies
the live scratch rows into packed (L, n_tok, width) buffers, read back after the submission.
"""

from __future__ import annotations

import numpy as np

# marker -> (scratch buffer, capture) pairs copied at that point of the layer
CAPTURES = {
    "hidden_attn": [("x", "hidden_attn")],
    "hidden": [("x", "hidden"), ("ids", "router_ids"), ("weights", "router_weights"), ("probs", "router_probs")],
}


class TraceCapture:
    """The capture buffers of one graph, allocated on first use (enable)."""

    def __init__(self, k, cfg, tmax: int):
        self.k, self.cfg, self.tmax = k, cfg, tmax
        K = cfg.n_expert_used
        self.width = {
            "hidden_attn": cfg.n_embd,
            "hidden": cfg.n_embd,
            "router_ids": K,
            "router_weights": K,
            "router_probs": cfg.n_expert,
        }
        self.buffers: dict = {}

    def enable(self) -> int:
        """Allocate the buffers once; returns the bytes newly allocated."""
        if self.buffers:
            return 0
        L = self.cfg.n_layer
        self.buffers = {n: self.k.buffer(4 * L * self.tmax * w, label=f"trace-{n}") for n, w in self.width.items()}
        return sum(b.size for b in self.buffers.values())

    def copy(self, batch, scratch: dict, marker: tuple, n_tok: int) -> None:
        """Record the copies of capture point `marker` = (what, layer) into `batch`."""
        what, layer = marker
        for src, dst in CAPTURES[what]:
            width = self.width[dst]
            batch.copy(scratch[src], self.buffers[dst], 4 * n_tok * width, dst_offset=4 * layer * n_tok * width)

    def readback(self, n_tok: int) -> list:
        """(name, buffer, bytes) of a traced step's captures (only the rows it wrote)."""
        L = self.cfg.n_layer
        return [(n, b, 4 * L * n_tok * self.width[n]) for n, b in self.buffers.items()]

    def unpack(self, raw: dict, n_tok: int) -> dict:
        """(L, n_tok, width) arrays from a traced step's readback."""
        out = {}
        for name in self.buffers:
            dt = np.uint32 if name == "router_ids" else np.float32
            out[name] = raw[name].view(dt).reshape(self.cfg.n_layer, n_tok, -1).copy()
        out["router_ids"] = out["router_ids"].astype(np.int32)
        return out
