"""An independent float64 Qwen3-MoE forward, for tests only (REFERENCE.md §1).

Written apart from backends/cpu: it reads the file with gguf-py's own GGUFReader and
dequantizer (no backends.gguf_model, no backends.quants), runs the whole sequence at once
without a KV cache, and re-implements llama.cpp's activation quantisation from ggml-quants.c
(`quantize_row_q8_K_ref`, `quantize_row_q8_0_ref`) for the "q8k" path. Activations are rounded
in float32 exactly where llama.cpp rounds them; everything else is float64.
"""

from __future__ import annotations

from functools import lru_cache

import gguf
import numpy as np

ARCH = "qwen3moe"

# Distance of each Q8_K-quantised activation batch's closest value to a rounding boundary, in
# quantisation steps. A float32 engine and this float64 one differ by ~1e-5 steps, so an
# activation closer than that to x.5 may round the other way in one of them: a legitimate
# one-step difference that no emulation can avoid. Tests print the minimum when they fail.
MARGINS: list[float] = []


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


def _q8_K(x32: np.ndarray) -> np.ndarray:
    """quantize_row_q8_K_ref + dequantize: per 256 block, max = signed value of largest |x| (first
    on ties), iscale = -127/max, q = min(127, nearest_int(iscale·x)), value = (1/iscale)·q, f32."""
    b = x32.reshape(-1, 256)
    amax_at = np.argmax(np.abs(b), axis=1)
    mx = b[np.arange(b.shape[0]), amax_at]
    out = np.zeros_like(b)
    nz = mx != 0
    iscale = (np.float32(-127.0) / mx[nz])[:, None]
    scaled = iscale * b[nz]
    MARGINS.append(float(np.min(np.abs(np.abs(scaled - np.floor(scaled)) - 0.5), initial=0.5)))
    q = np.minimum(np.rint(scaled), np.float32(127.0))   # rint: half to even, as the
    out[nz] = (np.float32(1.0) / iscale) * q             # 12582912 magic-number trick
    return out.reshape(x32.shape)


def _bf16(x32: np.ndarray) -> np.ndarray:
    bits = x32.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


def act_round(x: np.ndarray, wtype: str, act: str) -> np.ndarray:
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
    return _q8_K(x32).astype(np.float64)          # K-quants use Q8_K activations


def _lin(m: RefModel, name: str, x: np.ndarray, act: str, expert: int | None = None):
    return act_round(x, m.types[name], act) @ m.weight(name, expert).T


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x, theta):
    T, _, hd = x.shape
    half = hd // 2
    ang = np.arange(T)[:, None] * theta ** (-np.arange(half) * 2.0 / hd)
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    return np.concatenate([x[..., :half] * c - x[..., half:] * s,
                           x[..., half:] * c + x[..., :half] * s], axis=-1)


def _attention(m: RefModel, l: int, x: np.ndarray, act: str) -> np.ndarray:
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


def _moe(m: RefModel, l: int, x: np.ndarray, act: str, rec: dict) -> np.ndarray:
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


def forward_f64(m: RefModel, tokens, act: str = "fp32") -> dict:
    """Full-sequence forward; returns logits (T, V) and per-layer states, all float64."""
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
