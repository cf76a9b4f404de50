"""Cross-checks against llama.cpp, an implementation nobody here wrote (optional: needs
llama-cpp-python; build it with CMAKE_ARGS="-DGGML_NATIVE=OFF" on machines whose CPU advertises
AMX the VM does not allow).

1. llama.cpp loads the synthetic `tiny` file and its logits match the CPU reference's q8k path
   (llama.cpp quantizes activations; docs/reference.md §4 expects ~1e-6 relative once emulated).
2. llama.cpp's Q4_K_M quantization of an F32 copy picks the same type per tensor as the
   synthetic generator, and its blocks equal backends.model.quants.quantize's byte for byte.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType, GGUFWriter

from backends import open_backend

from backends.model import quants

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python (optional cross-check)"
)

PROMPTS = ([1, 17, 42, 5, 300, 7, 99, 211], [13, 13, 13, 13, 260, 261, 13, 13, 13, 13], [404])
LLAMA_FTYPE_MOSTLY_Q4_K_M = 15


def _llama_logits(path, tokens):
    from llama_cpp import Llama

    llm = Llama(
        model_path=str(path),
        logits_all=True,
        n_ctx=64,
        n_threads=2,
        verbose=False,
        type_k=0,
        type_v=0,
        flash_attn=False,
    )  # F32 KV, no flash attention
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)], dtype=np.float32)


def test_llama_cpp_logits_match_cpu_reference_q8k(tiny_model_path, tiny_model):
    cpu = open_backend("cpu", tiny_model, act="q8k")
    for tokens in PROMPTS:
        want = _llama_logits(tiny_model_path, tokens)
        cpu.reset()
        got = cpu.prefill(tokens)
        rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
        assert rel.max() <= 1e-5, f"prompt {tokens}: rel L2 {rel.max():.2e} vs llama.cpp"
        assert (got.argmax(1) == want.argmax(1)).all()


def _f32_copy(src_path, out_path, seed=7):
    """The same metadata, with Gaussian F32 weights in place of the quantized tensors."""
    src, rng = GGUFReader(src_path), np.random.default_rng(seed)
    w = GGUFWriter(str(out_path), "qwen3moe")
    for name, f in src.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        if f.types[0] == GGUFValueType.ARRAY:
            w.add_array(name, f.contents())
        else:
            w.add_key_value(name, f.contents(), f.types[0])
    floats = {}
    for t in src.tensors:
        shape = tuple(int(x) for x in reversed(t.shape))
        arr = (
            np.array(t.data, np.float32).reshape(shape)
            if t.tensor_type.name == "F32"
            else (rng.standard_normal(shape) * 0.05).astype(np.float32)
        )
        floats[t.name] = arr
        w.add_tensor(t.name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return floats


def test_llama_cpp_quantizer_and_type_mix_match_ours(tiny_model_path, tmp_path):
    import llama_cpp

    floats = _f32_copy(tiny_model_path, tmp_path / "f32.gguf")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype, params.nthread = LLAMA_FTYPE_MOSTLY_Q4_K_M, 2
    assert (
        llama_cpp.llama_model_quantize(str(tmp_path / "f32.gguf").encode(), str(tmp_path / "q.gguf").encode(), params)
        == 0
    )
    ours_types = {t.name: t.tensor_type.name for t in GGUFReader(tiny_model_path).tensors}
    for t in GGUFReader(tmp_path / "q.gguf").tensors:
        qtype = t.tensor_type.name
        assert qtype == ours_types[t.name], f"{t.name}: llama.cpp chose {qtype}"
        if qtype == "F32":
            continue
        src = floats[t.name]
        ours = quants.quantize(qtype, src.reshape(-1, src.shape[-1])).reshape(-1)
        theirs = np.array(t.data, np.uint8).reshape(-1)
        bs = quants.type_size(qtype)
        bad = np.flatnonzero((ours.reshape(-1, bs) != theirs.reshape(-1, bs)).any(1))
        assert bad.size == 0, f"{t.name} {qtype}: {bad.size} blocks differ, first {bad[0]}"
