"""The lazy fused matvec: y = W·x with W left in its on-disk quantized blocks.

Rows of W are decoded a bounded chunk at a time (CHUNK_BYTES of float32) and multiplied at once,
so no whole tensor, and no whole expert of a 3-D tensor, is ever held in float32.

Activation path (act):
- "fp32": the input vector stays float32 (weights are exactly dequantized).
- "q8k": emulates llama.cpp's CPU mat-mul, which converts the activation row to the weight type's
  `vec_dot_type` (ggml-cpu `type_traits_cpu`) before the dot product: Q8_K blocks of 256 for the
  K-quants, Q8_0 blocks of 32 for Q8_0, F16 for F16 and BF16 for BF16 weights; F32 weights take
  the f32 vector unchanged. The product of the rounded vector with the dequantized rows equals
  llama.cpp's integer dot up to float summation order.

impl: "compiled" (default) runs the numba kernels of backends.cpu.compiled (rows decoded into a
per-thread buffer, fused with the dot product, parallel over rows); "numpy" runs the chunked
numpy loop below, the readable specification the compiled kernels are tested against.
"""

from __future__ import annotations

import numpy as np

from backends.cpu import compiled
from backends.model import quants
from backends.model.errors import UnsupportedQuantType

ACTS = ("fp32", "q8k")
IMPLS = ("compiled", "numpy")

# float32 bytes of decoded rows held at once. Decoding a chunk takes ~4x its size in codec
# temporaries, so 64 KB keeps a forward's peak (~0.4-0.7 MB measured on `small`) under one
# expert's float32 rows even for small models (512 x 512 x 4 B = 1 MiB; real experts are 6 MiB).
# Measured decode on `tiny`: 32 KB 39 ms/token (per-call codec overhead), 64 KB 23, 128 KB 26.
CHUNK_BYTES = 1 << 16

# weight qtype -> the activation type llama.cpp's CPU dot product uses (None: float32 as is).
VEC_DOT_TYPE = {
    "F32": None,
    "F16": "F16",
    "BF16": "BF16",
    "Q8_0": "Q8_0",
    "Q4_K": "Q8_K",
    "Q5_K": "Q8_K",
    "Q6_K": "Q8_K",
}


def activation_roundtrip(x: np.ndarray, qtype: str, act: str) -> np.ndarray:
    """The activation as the dot product against a `qtype` weight sees it under path `act`."""
    if act not in ACTS:
        raise ValueError(f"unknown activation path {act!r}; known: {', '.join(ACTS)}")
    if qtype not in VEC_DOT_TYPE:
        raise UnsupportedQuantType(f"no activation path for weight type {qtype!r}")
    vtype = VEC_DOT_TYPE[qtype]
    if act == "fp32" or vtype is None:
        return x
    if vtype == "Q8_K":
        return quants.q8_K_roundtrip(x)
    if vtype == "Q8_0":
        return quants.q8_0_roundtrip(x)
    return quants.dequantize(vtype, quants.quantize(vtype, x))


def decode_rows(raw: np.ndarray, qtype: str, n: int, decode_as: str | None = None) -> np.ndarray:
    """Decode whole rows (r, row_bytes) of `qtype` to float32 (r, n).

    decode_as (planted fault q6k_as_q4k only): read each row's bytes as blocks of another type.
    A Q6_K row of nb blocks is 210·nb bytes; read as Q4_K that is ⌊210·nb/144⌋ blocks of 256 values
    (≥ n). The trailing bytes that do not fill a block are ignored and the surplus values dropped,
    so the row keeps its length n: the bug reads the wrong bit layout, not the wrong tensor size.
    """
    if decode_as is None:
        return quants.dequantize(qtype, raw)
    tsize = quants.type_size(decode_as)
    whole = raw.shape[-1] // tsize * tsize
    return quants.dequantize(decode_as, np.ascontiguousarray(raw[:, :whole]))[:, :n]


def matvec(
    model,
    name: str,
    x: np.ndarray,
    expert: int | None = None,
    *,
    act: str = "fp32",
    decode_as: str | None = None,
    impl: str = "compiled",
) -> np.ndarray:
    """y = W·x for tensor `name` (expert `expert` of a 3-D tensor), decoding rows chunk by chunk.

    x: (n,) or a batch (T, n) of input vectors (prefill); returns (rows,) or (T, rows) float32.
    """
    info = model.tensors[name]
    xs = np.asarray(x, dtype=np.float32)
    batch = np.atleast_2d(xs)
    n = info.n_cols
    if batch.shape[-1] != n:
        raise ValueError(f"{name}: input length {batch.shape[-1]} != row length {n}")
    batch = activation_roundtrip(batch, info.qtype, act)
    if impl == "compiled":
        out = compiled.model_matmul(model, name, batch, expert, decode_as)
    elif impl == "numpy":
        raw = model.raw(name)
        if expert is not None:
            if raw.ndim != 3 or not 0 <= expert < raw.shape[0]:
                raise ValueError(f"{name}: expert {expert} out of range for raw shape {raw.shape}")
            raw = raw[expert]  # a memmap view: nothing is read yet
        out = _numpy_matmul(raw, info.qtype, n, batch, decode_as)
    else:
        raise ValueError(f"unknown matvec impl {impl!r}; known: {', '.join(IMPLS)}")
    return out[0] if xs.ndim == 1 else out


def matvecs(model, names: list[str], x: np.ndarray, *, act: str = "fp32", impl: str = "compiled") -> list[np.ndarray]:
    """[matvec(model, name, x) for name in names], bit for bit; the compiled impl runs the
    tensors in one parallel region (q, k and v share their input)."""
    if impl != "compiled":
        return [matvec(model, name, x, act=act, impl=impl) for name in names]
    xs = np.asarray(x, dtype=np.float32)
    batch = np.atleast_2d(xs)
    for name in names:
        if batch.shape[-1] != model.tensors[name].n_cols:
            raise ValueError(f"{name}: input length {batch.shape[-1]} != row length {model.tensors[name].n_cols}")
    outs = compiled.model_matmuls(
        model, names, [activation_roundtrip(batch, model.tensors[name].qtype, act) for name in names]
    )
    return [out[0] for out in outs] if xs.ndim == 1 else outs


def expert_matvecs(
    model,
    name: str,
    experts: np.ndarray,
    starts: np.ndarray,
    xs: np.ndarray,
    *,
    act: str = "fp32",
    impl: str = "compiled",
) -> np.ndarray:
    """out[i] = W_e · xs[i] with e = experts[g] for i in starts[g]..starts[g+1]-1: the inputs
    grouped by expert, so each selected expert's rows are decoded once per call. Each row of
    out equals matvec(model, name, xs[i], e, act=act, impl=impl) bit for bit."""
    info = model.tensors[name]
    xs = activation_roundtrip(np.asarray(xs, dtype=np.float32), info.qtype, act)
    if impl == "compiled":
        return compiled.expert_matmul(model, name, experts, starts, xs)
    out = np.empty((xs.shape[0], info.shape[1]), dtype=np.float32)
    for g, e in enumerate(experts):
        out[starts[g] : starts[g + 1]] = matvec(model, name, xs[starts[g] : starts[g + 1]], int(e), impl=impl)
    return out


def _numpy_matmul(raw: np.ndarray, qtype: str, n: int, batch: np.ndarray, decode_as: str | None) -> np.ndarray:
    """The specification: decode CHUNK_BYTES of rows at a time, one gemv per input vector."""
    rows = raw.shape[0]
    step = max(1, CHUNK_BYTES // (4 * n))
    out = np.empty((batch.shape[0], rows), dtype=np.float32)
    for r0 in range(0, rows, step):
        w = decode_rows(raw[r0 : r0 + step], qtype, n, decode_as)
        # One gemv per input vector, never a gemm over the batch: gemm blocks its sums
        # differently, and the same token must give the same bits whether it arrives in a
        # prefill batch or alone in a decode step (q8k activations turn 1-ulp differences into
        # whole quantisation steps).
        for i, vec in enumerate(batch):
            out[i, r0 : r0 + step] = w @ vec
    return out


def embed_rows(model, name: str, ids, impl: str = "numpy") -> np.ndarray:
    """Rows `ids` of a 2-D tensor (the token embedding lookup), decoding only those rows
    (impl "compiled": through the compiled decoders, the codecs' bits)."""
    info = model.tensors[name]
    raw = model.raw(name)
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= raw.shape[0]):
        bad = ids[(ids < 0) | (ids >= raw.shape[0])][0]
        raise ValueError(f"{name}: token id {int(bad)} out of range 0..{raw.shape[0] - 1}")
    if impl == "compiled" and info.qtype in compiled.QCODES:
        return compiled.embed_rows(model, name, ids)
    return quants.dequantize(info.qtype, np.asarray(raw[ids]))


def vector(model, name: str) -> np.ndarray:
    """A 1-D tensor (norm weights) as float32 (n,)."""
    info = model.tensors[name]
    return quants.dequantize(info.qtype, np.asarray(model.raw(name))).reshape(-1)[: info.n_cols]
