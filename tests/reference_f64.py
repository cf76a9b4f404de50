"""The float64 reference forward for tests: backends/f64 (the registered "f64" backend) under the
names the tests use, plus Lockstep for the q8k comparison.

backends/f64 is written apart from backends/cpu: it reads the file with gguf-py's own
GGUFReader and dequantizer (no backends.model.gguf_model, no backends.model.quants), runs the whole sequence
at once without a KV cache, and re-implements llama.cpp's activation quantisation from
ggml-quants.c for the "q8k" path. Activations are rounded in float32 exactly where llama.cpp
rounds them; everything else is float64. This module adds only what is test-specific: a Q8_K
rounding that can be kept in step with an engine's recorded choices (Lockstep).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from backends.f64.activations import act_round  # noqa: F401  (re-exported for tests)
from backends.f64.forward import forward
from backends.f64.weights import F64Weights


class RefModel(F64Weights):
    """Metadata and lazily dequantized float64 weights of a qwen3moe GGUF file."""

    def weight(self, name: str, expert: int | None = None) -> np.ndarray:
        """float64 weights; expert slices are decoded on each use (caching all would be GBs)."""
        return super().weight(name) if expert is None else self.expert(name, expert)


def _q8_K(x32: np.ndarray, lock: Lockstep | None = None) -> np.ndarray:
    """quantize_row_q8_K_ref + dequantize: per 256 block, max = signed value of largest |x| (first
    on ties), iscale = -127/max, q = min(127, nearest_int(iscale·x)), value = (1/iscale)·q, f32."""
    rows = x32.reshape(-1, x32.shape[-1])
    b = rows.reshape(-1, 256)
    mx = b[np.arange(b.shape[0]), np.argmax(np.abs(b), axis=1)]
    nz = mx != 0
    iscale = (np.float32(-127.0) / np.where(nz, mx, np.float32(1.0)))[:, None]
    scaled = iscale * b
    q = np.minimum(np.rint(scaled), np.float32(127.0))  # rint: half to even, as the
    if lock is not None:  # 12582912 magic-number trick
        q = lock.reconcile(
            rows, q.reshape(rows.shape), scaled.reshape(rows.shape), np.repeat(iscale, 256, axis=1).reshape(rows.shape)
        ).reshape(b.shape)
    out = np.where(nz[:, None], (np.float32(1.0) / iscale) * q, np.float32(0.0))
    return out.reshape(x32.shape)


class Lockstep:
    """Keeps this reference's Q8_K rounding in step with a float32 engine's, where (and only where)
    the rounding is ambiguous.

    Two correct implementations differ by ~1e-5 quantisation steps before rounding (float32 vs
    float64 sums), so an activation closer than that to x.5 may round up in one and down in the
    other: a legitimate one-step difference that a synthetic model can amplify to 1e-2 in the
    logits. Given the engine's recorded (input, output) rows, reconcile() adopts the engine's
    choice for an element only when the two differ by exactly one step and this reference's
    value lies within `mu` steps of the boundary; every other difference stays and shows up in
    the comparison. adopted/refused/unmatched count what happened.
    """

    def __init__(self, inputs: list[np.ndarray], outputs: list[np.ndarray], mu: float):
        self.mu, self.adopted, self.refused, self.unmatched = mu, 0, 0, 0
        self._rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for x, y in zip(inputs, outputs):
            n = x.shape[-1]
            old = self._rows.get(n, (np.empty((0, n), np.float32),) * 2)
            self._rows[n] = (np.concatenate([old[0], x.reshape(-1, n)]), np.concatenate([old[1], y.reshape(-1, n)]))

    def reconcile(self, rows, q, scaled, iscale) -> np.ndarray:
        q = q.copy()
        for i, x in enumerate(rows):
            theirs = self._nearest(x)
            if theirs is None:
                self.unmatched += 1
                continue
            q_theirs = np.rint(theirs * iscale[i])
            diff = q_theirs != q[i]
            margin = np.abs(np.abs(scaled[i] - np.floor(scaled[i])) - 0.5)
            ok = diff & (np.abs(q_theirs - q[i]) == 1) & (margin < self.mu)
            q[i][ok] = q_theirs[ok]
            self.adopted += int(ok.sum())
            self.refused += int((diff & ~ok).sum())
        return q

    def _nearest(self, x: np.ndarray) -> np.ndarray | None:
        if x.shape[-1] not in self._rows:
            return None
        inputs, outputs = self._rows[x.shape[-1]]
        dist = np.max(np.abs(inputs - x), axis=1)
        j = int(np.argmin(dist))
        return outputs[j] if dist[j] <= 1e-4 * np.max(np.abs(x)) else None

    def __repr__(self) -> str:
        return f"Lockstep(adopted={self.adopted}, refused={self.refused}, unmatched={self.unmatched})"


def forward_f64(m: RefModel, tokens, act: str = "fp32", lock: Lockstep | None = None) -> dict:
    """Full-sequence forward; returns logits (T, V) and per-layer states, all float64.
    lock (q8k only): keep ambiguous Q8_K roundings in step with an engine's (see Lockstep)."""
    return forward(m, tokens, act, q8k=None if lock is None else partial(_q8_K, lock=lock))
