"""Float32 KV cache per layer, grown by doubling (a 40k context is never preallocated)."""

from __future__ import annotations

import numpy as np


class KVCache:
    """Keys (S, n_kv, hd) and values (S, n_kv, hd_v) of every layer for positions 0..length-1.

    round_dtype: values are rounded through this dtype on store (float16 only for the kv_f16
    fault); storage stays float32.
    """

    def __init__(self, n_layer: int, n_kv: int, hd: int, hd_v: int, context_length: int, round_dtype=np.float32):
        self.n_layer, self.context_length = n_layer, context_length
        self._shapes = ((n_kv, hd), (n_kv, hd_v))
        self._round = round_dtype
        self.length = 0
        self._k: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self.reset()

    def reset(self) -> None:
        self.length = 0
        self._k = [np.empty((0, *self._shapes[0]), np.float32) for _ in range(self.n_layer)]
        self._v = [np.empty((0, *self._shapes[1]), np.float32) for _ in range(self.n_layer)]

    def check_room(self, n_new: int) -> None:
        if self.length + n_new > self.context_length:
            raise ValueError(
                f"{self.length} cached + {n_new} new tokens exceed the model's context_length {self.context_length}"
            )

    def store(self, layer: int, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Write k, v (T, …) at positions length..length+T-1; return all keys/values so far."""
        end = self.length + k.shape[0]
        if end > self._k[layer].shape[0]:
            cap = max(end, 2 * self._k[layer].shape[0], 16)
            self._k[layer] = _grown(self._k[layer], cap, self.length)
            self._v[layer] = _grown(self._v[layer], cap, self.length)
        self._k[layer][self.length : end] = k.astype(self._round)
        self._v[layer][self.length : end] = v.astype(self._round)
        return self._k[layer][:end], self._v[layer][:end]

    def advance(self, n: int) -> None:
        """Every layer has stored n more positions."""
        self.length += n

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self._k + self._v)


def _grown(a: np.ndarray, cap: int, used: int) -> np.ndarray:
    out = np.empty((cap, *a.shape[1:]), dtype=a.dtype)
    out[:used] = a[:used]
    return out
