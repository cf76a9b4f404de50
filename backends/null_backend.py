"""A null backend: accepts any model, computes nothing real, answers instantly and
deterministically. It lets engine, judge and report tests run without numerics (the idea of
tinygrad's ops_null.py).

Outputs at position t depend only on the tokens up to t (a rolling hash seeds them), so prefill,
decode and trace agree with each other, two runs agree bit for bit, and two null backends on the
same model agree exactly. Router outputs keep every invariant (distinct in-range ids, weights
that sum to 1). Shapes come from model.config (n_layer, n_embd, n_expert, n_expert_used,
vocab_size). Each prefill/decode counts as one submission, so it is never taken for a fallback.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from backends.api import Trace, greedy_host_loop

_MIX = 1_000_003  # rolling-hash multiplier (a prime); any odd constant would do


class NullBackend:
    name = "null"

    def __init__(self, model, *, device=None, act: str = "fp32", faults=frozenset()):
        if faults:
            raise NotImplementedError(f"null backend implements no faults, asked for {sorted(faults)}")
        self.model, self.act, self.device = model, act, device
        self.cfg = model.config
        self._state, self._pos = 0, 0
        self._counters = {"submits": 0, "dispatches": 0, "pipelines_created": 0, "bind_groups_created": 0}

    def identity(self) -> dict:
        # A test double claims nothing about an adapter: the cell's recorded identity stays the
        # (made-up) adapter its selector matched, so audit's identity check sees what it would.
        return {"backend": "null", "driver": "none", "fallback": False}

    def counters(self) -> dict:
        return dict(self._counters)

    def memory_bytes(self) -> int:
        return int(sum(int(t.nbytes) for t in getattr(self.model, "tensors", {}).values()))

    def reset(self) -> None:
        self._state, self._pos = 0, 0

    def _step(self, token: int) -> np.random.Generator:
        self._state = (self._state * _MIX + int(token) + 1) % (1 << 63)
        self._pos += 1
        return np.random.default_rng(self._state)

    def _position(self, token: int) -> dict:
        c = self.cfg
        rng = self._step(token)
        logits = rng.standard_normal(c.vocab_size).astype(np.float32)
        hidden = rng.standard_normal((2, c.n_layer, c.n_embd)).astype(np.float32)
        probs = rng.random((c.n_layer, c.n_expert)).astype(np.float64) + 1e-3
        probs = (probs / probs.sum(axis=-1, keepdims=True)).astype(np.float32)
        ids = np.argsort(-probs, axis=-1, kind="stable")[:, : c.n_expert_used].astype(np.int32)
        w = np.take_along_axis(probs, ids, axis=-1)
        return {
            "logits": logits,
            "hidden_attn": hidden[0],
            "hidden": hidden[1],
            "ids": ids,
            "weights": (w / w.sum(axis=-1, keepdims=True)).astype(np.float32),
            "probs": probs,
        }

    def prefill(self, tokens) -> np.ndarray:
        self._counters["submits"] += 1
        return np.stack([self._position(t)["logits"] for t in tokens])

    def decode(self, token: int) -> np.ndarray:
        self._counters["submits"] += 1
        return self._position(token)["logits"]

    def trace(self, tokens, prefill_len=None) -> Trace:
        self.reset()
        self._counters["submits"] += 1
        steps = [self._position(t) for t in tokens]
        stack = lambda key: np.stack([s[key] for s in steps], axis=1)  # noqa: E731  (L, T, ...)
        return Trace(
            logits=np.stack([s["logits"] for s in steps]),
            hidden_attn=stack("hidden_attn"),
            hidden=stack("hidden"),
            router_ids=stack("ids"),
            router_weights=stack("weights"),
            router_probs=stack("probs"),
            meta={"act": self.act, "prefill_len": len(tokens) if prefill_len is None else prefill_len},
        )

    def generate(self, tokens: Sequence[int], n: int, timings: dict | None = None) -> list[int]:
        """Greedy from an empty cache (argmax on the host, backends.api.greedy_host_loop)."""
        return greedy_host_loop(self, tokens, n, timings)

    def close(self) -> None:
        pass
