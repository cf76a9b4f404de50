"""Write a synthetic qwen3moe GGUF file, streaming tensor by tensor.

All tensor infos are declared first (gguf-py's GGUFWriter.add_tensor_info), then each tensor's
bytes are made and written one at a time (write_tensor_data), so peak memory is one tensor
(~260 MB for the 30B output head) whatever the model size. The file appears atomically: it is
written under a temporary name beside the target and renamed when complete.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType

from backends.model import quants
from backends.model.synth.presets import PRESETS, Preset, q4_k_m_type
from backends.model.synth.tokenizer import synthetic_vocab
from backends.model.synth.weights import tensor_data

ARCH = "qwen3moe"
ALIGNMENT = 32

Progress = Callable[[str, int, int], None]  # (tensor name, bytes written so far, total bytes)


def tensor_plan(p: Preset) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, numpy shape, qtype) of every tensor, in file order."""
    H, E, I, hd = p.n_embd, p.n_expert, p.n_ff_exp, p.head_dim
    shapes = [("token_embd.weight", (p.vocab_size, H))]
    for i in range(p.n_layer):
        b = f"blk.{i}."
        shapes += [
            (b + "attn_norm.weight", (H,)),
            (b + "attn_q.weight", (p.n_head * hd, H)),
            (b + "attn_k.weight", (p.n_head_kv * hd, H)),
            (b + "attn_v.weight", (p.n_head_kv * hd, H)),
            (b + "attn_output.weight", (H, p.n_head * hd)),
            (b + "attn_q_norm.weight", (hd,)),
            (b + "attn_k_norm.weight", (hd,)),
            (b + "ffn_norm.weight", (H,)),
            (b + "ffn_gate_inp.weight", (E, H)),
            (b + "ffn_gate_exps.weight", (E, I, H)),
            (b + "ffn_up_exps.weight", (E, I, H)),
            (b + "ffn_down_exps.weight", (E, H, I)),
        ]
    shapes += [("output_norm.weight", (H,)), ("output.weight", (p.vocab_size, H))]
    return [(name, shape, q4_k_m_type(name, p.n_layer)) for name, shape in shapes]


def stored_shape(shape: tuple[int, ...], qtype: str) -> tuple[int, ...]:
    """Shape of the stored array: floats as is, quantized rows as bytes."""
    if qtype == "F32":
        return shape
    return (*shape[:-1], quants.row_bytes(qtype, shape[-1]))


def write_synthetic(
    path: str | Path, preset: str | Preset, seed: int, progress: Progress | None = None, workers: int = 1
) -> Path:
    """Write the synthetic model `preset` made from `seed` to `path` (same bytes for the same
    preset, seed and GENERATOR_VERSION, whatever `workers`). Returns the path.

    workers > 1 makes tensors ahead in that many processes (each tensor depends only on the
    seed and its name); the main process still writes them in order."""
    p = PRESETS[preset] if isinstance(preset, str) else preset
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write(tmp, p, seed, progress, workers)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write(path: Path, p: Preset, seed: int, progress: Progress | None, workers: int) -> None:
    plan = tensor_plan(p)
    writer = GGUFWriter(path, ARCH)
    add_metadata(writer, p, seed)
    total = 0
    for name, shape, qtype in plan:
        nbytes = int(np.prod(stored_shape(shape, qtype), dtype=np.int64)) * (4 if qtype == "F32" else 1)
        dtype = np.float32 if qtype == "F32" else np.uint8
        raw = None if qtype == "F32" else GGMLQuantizationType[qtype]
        writer.add_tensor_info(name, stored_shape(shape, qtype), np.dtype(dtype), nbytes, raw_dtype=raw)
        total += nbytes
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    done = 0
    for (name, _, _), data in zip(plan, _tensor_stream(plan, p, seed, workers)):
        writer.write_tensor_data(data)
        done += data.nbytes
        if progress:
            progress(name, done, total)
    writer.close()


def _tensor_stream(plan, p: Preset, seed: int, workers: int):
    """Tensor arrays in plan order. With workers > 1 they are made in a process pool with at
    most 2·workers in flight, so memory stays bounded however slow the disk is."""
    if workers <= 1:
        for name, shape, qtype in plan:
            yield tensor_data(name, shape, qtype, p, seed)
        return
    with ProcessPoolExecutor(workers) as pool:
        pending: deque = deque()
        for name, shape, qtype in plan:
            pending.append(pool.submit(tensor_data, name, shape, qtype, p, seed))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def add_metadata(w: GGUFWriter, p: Preset, seed: int) -> None:
    """All metadata keys of a synthetic file (general.*, qwen3moe.*, tokenizer.*)."""
    w.add_name(f"synthetic-{p.name}-seed{seed}")
    w.add_custom_alignment(ALIGNMENT)
    w.add_file_type(LlamaFileType.MOSTLY_Q4_K_M)
    w.add_quantization_version(2)
    a = ARCH + "."
    for key, value in (
        ("context_length", p.context_length),
        ("embedding_length", p.n_embd),
        ("block_count", p.n_layer),
        ("feed_forward_length", p.n_ff),
        ("expert_feed_forward_length", p.n_ff_exp),
        ("expert_count", p.n_expert),
        ("expert_used_count", p.n_expert_used),
        ("attention.head_count", p.n_head),
        ("attention.head_count_kv", p.n_head_kv),
        ("attention.key_length", p.head_dim),
        ("attention.value_length", p.head_dim),
        ("vocab_size", p.vocab_size),
    ):
        w.add_uint32(a + key, value)
    w.add_float32(a + "rope.freq_base", p.rope_theta)
    w.add_float32(a + "attention.layer_norm_rms_epsilon", p.rms_eps)
    _add_tokenizer(w, p.vocab_size, seed)


def _add_tokenizer(w: GGUFWriter, vocab_size: int, seed: int) -> None:
    v = synthetic_vocab(vocab_size, seed)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(v.tokens)
    w.add_token_types(v.token_types)
    w.add_token_merges(v.merges)
    w.add_bos_token_id(v.bos_id)
    w.add_eos_token_id(v.eos_id)
    w.add_pad_token_id(v.pad_id)
    w.add_add_bos_token(False)
