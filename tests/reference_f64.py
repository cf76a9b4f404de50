"""An independent float64 Qwen3-MoE forward, for tests only (REFERENCE.md §1).

Written apart from backends/cpu: it reads the file with gguf-py's own GGUFReader and
dequantizer (no backends.gguf_model, no backends.quants), runs the whole sequence at once
without a KV cache, and re-implements llama.cpp's activation quantisation from ggml-quants.c
(`quantize_row_q8_K_ref`, `quantize_row_q8_0_ref`) for the "q8k" path. Activations are rounded
in float32 exactly where llama.cpp rounds them; everything else is float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import gguf
import numpy as np

ARCH = "qwen3moe"



class RefModel:
    """Metadata and lazily dequantized float64 weights of a qwen3moe GGUF file."""

    def __init__(self, path):
        reader = gguf.GGUFReader(str(path))
        self.meta = {name: f.contents() for name, f in reader.fields.items()}
        self._tensors = {t.name: t for t in reader.tensors}
        self.types = {t.name: t.tensor_type.name for t in reader.tensors}
        self._whole = lru_cache(maxsize=None)(self._dequantize)

    def hp(self, key: str):
        return self.meta[f"{ARCH}.{key}"]

    def weight(self, name: str, expert: int | None = None) -> np.ndarray:
        """float64 weights; expert slices are decoded on each use (caching all would be GBs)."""
        return self._whole(name) if expert is None else self._dequantize(name, expert)

    def _dequantize(self, name: str, expert: int | None = None) -> np.ndarray:
        t = self._tensors[name]
        data = t.data if expert is None else t.data[expert]
        return gguf.quants.dequantize(np.asarray(data), t.tensor_type).astype(np.float64)

    def has(self, name: str) -> bool:
        return name in self._tensors


def _q8_K(x32: np.ndarray, lock: Lockstep | None = None) -> np.ndarray:
    """quantize_row_q8_K_ref + dequantize: per 256 block, max = signed value of largest |x| (first
    on ties), iscale = -127/max, q = min(127, nearest_int(iscale·x)), value = (1/iscale)·q, f32."""
    rows = x32.reshape(-1, x32.shape[-1])
    b = rows.reshape(-1, 256)
    mx = b[np.arange(b.shape[0]), np.argmax(np.abs(b), axis=1)]
    nz = mx != 0
    iscale = (np.float32(-127.0) / np.where(nz, mx, np.float32(1.0)))[:, None]
    scaled = iscale * b
    q = np.minimum(np.rint(scaled), np.float32(127.0))   # rint: half to even, as the
    if lock is not None:                                  # 12582912 magic-number trick
        q = lock.reconcile(rows, q.reshape(rows.shape), scaled.reshape(rows.shape),
                           np.repeat(iscale, 256, axis=1).reshape(rows.shape)).reshape(b.shape)
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
            self._rows[n] = (np.concatenate([old[0], x.reshape(-1, n)]),
                             np.concatenate([old[1], y.reshape(-1, n)]))

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
        return (f"Lockstep(adopted={self.adopted}, refused={self.refused}, "
                f"unmatched={self.unmatched})")


def _bf16(x32: np.ndarray) -> np.ndarray:
    bits = x32.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def act_round(x: np.ndarray, wtype: str, act: str, lock: Lockstep | None = None) -> np.ndarray:
    """The activation a llama.cpp dot product against a `wtype` weight sees (act="q8k")."""
    if act == "fp32" or wtype == "F32":
        return x
    x32 = x.astype(np.float32)
    if wtype == "F16":
        return x32.astype(np.float16).astype(np.float64)
    if wtype == "BF16":
        return _bf16(x32).astype(np.float64)
    if wtype == "Q8_0":
        q = gguf.quants.quantize(x32, gguf.GGMLQuantizationType.Q8_0)
        return gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).astype(np.float64)
    return _q8_K(x32, lock).astype(np.float64)    # K-quants use Q8_K activations


@dataclass(frozen=True)
class Act:
    mode: str                      # "fp32" or "q8k"
    lock: Lockstep | None = None


def _lin(m: RefModel, name: str, x: np.ndarray, act: Act, expert: int | None = None):
    return act_round(x, m.types[name], act.mode, act.lock) @ m.weight(name, expert).T


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x, theta):
    T, _, hd = x.shape
    half = hd // 2
    ang = np.arange(T)[:, None] * theta ** (-np.arange(half) * 2.0 / hd)
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    return np.concatenate([x[..., :half] * c - x[..., half:] * s,
                           x[..., half:] * c + x[..., :half] * s], axis=-1)


def _attention(m: RefModel, l: int, x: np.ndarray, act: Act) -> np.ndarray:
    p, eps = f"blk.{l}.", m.hp("attention.layer_norm_rms_epsilon")
    nh, nkv = m.hp("attention.head_count"), m.hp("attention.head_count_kv")
    hd, vd = m.hp("attention.key_length"), m.hp("attention.value_length")
    T = x.shape[0]
    h = _rms(x, m.weight(p + "attn_norm.weight"), eps)
    q = _lin(m, p + "attn_q.weight", h, act).reshape(T, nh, hd)
    k = _lin(m, p + "attn_k.weight", h, act).reshape(T, nkv, hd)
    v = _lin(m, p + "attn_v.weight", h, act).reshape(T, nkv, vd)
    theta = m.hp("rope.freq_base")
    q = _rope(_rms(q, m.weight(p + "attn_q_norm.weight"), eps), theta)
    k = _rope(_rms(k, m.weight(p + "attn_k_norm.weight"), eps), theta)
    out = np.empty((T, nh, vd))
    for j in range(nh):
        g = j // (nh // nkv)
        s = q[:, j] @ k[:, g].T / np.sqrt(hd)
        s[np.triu_indices(T, 1)] = -np.inf
        e = np.exp(s - s.max(axis=1, keepdims=True))
        out[:, j] = (e / e.sum(axis=1, keepdims=True)) @ v[:, g]
    return _lin(m, p + "attn_output.weight", out.reshape(T, -1), act)


def _moe(m: RefModel, l: int, x: np.ndarray, act: Act, rec: dict) -> np.ndarray:
    p = f"blk.{l}."
    h = _rms(x, m.weight(p + "ffn_norm.weight"), m.hp("attention.layer_norm_rms_epsilon"))
    logits = _lin(m, p + "ffn_gate_inp.weight", h, act)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    k = m.hp("expert_used_count")
    out = np.zeros_like(x)
    ids_all, w_all = [], []
    for t in range(x.shape[0]):
        ids = sorted(range(probs.shape[1]), key=lambda e: (-probs[t, e], e))[:k]
        w = probs[t, ids] / probs[t, ids].sum()
        for e, we in zip(ids, w):
            g = _lin(m, p + "ffn_gate_exps.weight", h[t], act, e)
            u = _lin(m, p + "ffn_up_exps.weight", h[t], act, e)
            a = g / (1.0 + np.exp(-g)) * u
            out[t] += we * _lin(m, p + "ffn_down_exps.weight", a, act, e)
        ids_all.append(ids)
        w_all.append(w)
    rec["router_ids"].append(np.array(ids_all))
    rec["router_weights"].append(np.array(w_all))
    rec["router_probs"].append(probs)
    return out


def forward_f64(m: RefModel, tokens, act: str = "fp32", lock: Lockstep | None = None) -> dict:
    """Full-sequence forward; returns logits (T, V) and per-layer states, all float64.
    lock (q8k only): keep ambiguous Q8_K roundings in step with an engine's (see Lockstep)."""
    act = Act(act, lock)
    rec = {key: [] for key in ("hidden_attn", "hidden", "router_ids", "router_weights",
                               "router_probs")}
    x = m.weight("token_embd.weight")[np.asarray(tokens)]
    for l in range(m.hp("block_count")):
        x = x + _attention(m, l, x, act)
        rec["hidden_attn"].append(x)
        x = x + _moe(m, l, x, act, rec)
        rec["hidden"].append(x)
    h = _rms(x, m.weight("output_norm.weight"), m.hp("attention.layer_norm_rms_epsilon"))
    head = "output.weight" if m.has("output.weight") else "token_embd.weight"
    rec = {key: np.stack(v) for key, v in rec.items()}
    rec["logits"] = _lin(m, head, h, act)
    return rec
