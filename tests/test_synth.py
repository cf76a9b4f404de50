"""backends.model.synth: presets, type mix, determinism, file validity, weight health; `harness model`.

Expected values here are facts stated independently of the generator (docs/reference.md §1 shape,
llama.cpp's use_more_bits layer list, the Q4_K_M recipe), not numbers the generator printed.
"""

from __future__ import annotations

import dataclasses
import json
import os

import gguf
import numpy as np
import pytest

from backends.model.config import ModelConfig
from backends.model.synth import GENERATOR_VERSION, PRESETS, cache, tensor_plan, write_synthetic
from backends.model.synth.presets import q4_k_m_type, use_more_bits
from harness.model_store import synthetic_model
from backends.model.synth.tokenizer import synthetic_vocab
from backends.model.synth.weights import random_q4_k, random_q6_k, tensor_rng
from harness.cli import main as harness_main
from tests.conftest import MODEL_SEED

MINI = dataclasses.replace(PRESETS["tiny"], name="mini", n_layer=1, weights="random_blocks")


def test_presets_keep_the_real_model_traps():
    for p in PRESETS.values():
        assert p.head_dim != p.n_embd // p.n_head, p.name  # head_dim is not hidden / heads
        assert p.n_expert != 8, p.name  # 8 experts changes llama.cpp's mix
        assert p.n_expert_used < p.n_expert and p.n_head % p.n_head_kv == 0, p.name
        assert p.rope_theta == 1e6 and p.rms_eps == 1e-6, p.name
        assert p.n_embd % 256 == 0 and p.n_ff_exp % 256 == 0, p.name  # K-quant rows


def test_preset_qwen3_30b_a3b_matches_reference_shape():
    p = PRESETS["qwen3-30b-a3b"]
    assert (p.n_layer, p.n_embd, p.n_head, p.n_head_kv, p.head_dim) == (48, 2048, 32, 4, 128)
    assert (p.n_expert, p.n_expert_used, p.n_ff_exp, p.vocab_size) == (128, 8, 768, 151936)
    assert p.weights == "random_blocks"


def test_use_more_bits_matches_llama_cpp_for_48_layers():
    # first 1/8 (0-5), last 1/8 (42-47), and every third layer between starting at 8
    expected = [0, 1, 2, 3, 4, 5, 8, 11, 14, 17, 20, 23, 26, 29, 32, 35, 38, 41, 42, 43, 44, 45, 46, 47]
    assert [i for i in range(48) if use_more_bits(i, 48)] == expected
    assert q4_k_m_type("blk.8.attn_v.weight", 48) == q4_k_m_type("blk.8.ffn_down_exps.weight", 48) == "Q6_K"
    assert q4_k_m_type("blk.7.attn_v.weight", 48) == q4_k_m_type("blk.7.ffn_down_exps.weight", 48) == "Q4_K"
    assert q4_k_m_type("blk.8.attn_k.weight", 48) == "Q4_K"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_tensor_plan_matches_config_expected_shapes(name):
    p = PRESETS[name]
    cfg = ModelConfig(
        arch="qwen3moe",
        n_layer=p.n_layer,
        n_embd=p.n_embd,
        n_head=p.n_head,
        n_head_kv=p.n_head_kv,
        head_dim=p.head_dim,
        value_dim=p.head_dim,
        n_expert=p.n_expert,
        n_expert_used=p.n_expert_used,
        n_ff_exp=p.n_ff_exp,
        vocab_size=p.vocab_size,
        context_length=p.context_length,
        rms_eps=p.rms_eps,
        rope_theta=p.rope_theta,
        tied_output=False,
    )
    assert {n: s for n, s, _ in tensor_plan(p)} == cfg.expected_shapes()


def test_tiny_file_has_q4_k_m_type_mix(tiny_model_path):
    types = {t.name: t.tensor_type.name for t in gguf.GGUFReader(tiny_model_path).tensors}
    # 2 layers: use_more_bits is false for layer 0 and true for layer 1 (i >= 7·2//8 = 1)
    assert types["blk.0.attn_v.weight"] == "Q4_K" and types["blk.1.attn_v.weight"] == "Q6_K"
    assert types["blk.0.ffn_down_exps.weight"] == "Q4_K"
    assert types["blk.1.ffn_down_exps.weight"] == "Q6_K"
    assert types["output.weight"] == "Q6_K" and types["token_embd.weight"] == "Q4_K"
    for name, qtype in types.items():
        if name.endswith("norm.weight") or "ffn_gate_inp" in name:
            assert qtype == "F32", name
        elif not any(k in name for k in ("attn_v", "ffn_down_exps", "output.weight")):
            assert qtype == "Q4_K", name


def test_stock_gguf_reader_rereads_tiny(tiny_model_path):
    r = gguf.GGUFReader(tiny_model_path)
    p = PRESETS["tiny"]
    assert [(t.name, tuple(int(d) for d in reversed(t.shape.tolist()))) for t in r.tensors] == [
        (n, s) for n, s, _ in tensor_plan(p)
    ]
    f = {k: v.contents() for k, v in r.fields.items()}
    assert f["general.architecture"] == "qwen3moe" and f["general.alignment"] == 32
    assert f["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q4_K_M
    assert f["qwen3moe.expert_feed_forward_length"] == p.n_ff_exp
    assert f["tokenizer.ggml.model"] == "gpt2" and len(f["tokenizer.ggml.tokens"]) == p.vocab_size
    assert len(f["tokenizer.ggml.merges"]) > 0
    assert len(f["tokenizer.ggml.token_type"]) == p.vocab_size
    assert 0 <= f["tokenizer.ggml.bos_token_id"] < p.vocab_size
    assert 0 <= f["tokenizer.ggml.eos_token_id"] < p.vocab_size


def test_write_synthetic_deterministic_across_workers(tmp_path):
    a = write_synthetic(tmp_path / "a.gguf", MINI, 7)
    b = write_synthetic(tmp_path / "b.gguf", MINI, 7, workers=2)
    c = write_synthetic(tmp_path / "c.gguf", MINI, 8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # temp files renamed


def test_cli_model_synth_reproduces_cached_tiny(tmp_path, tiny_model, capsys):
    out = tmp_path / "tiny.gguf"
    rc = harness_main(
        ["model", "synth", "--preset", "tiny", "--seed", str(MODEL_SEED), "--out", str(out), "--format", "json"]
    )
    result = json.loads(capsys.readouterr().out)
    assert rc == 0 and result["path"] == str(out) and result["size_bytes"] == out.stat().st_size
    assert result["sha256"] == tiny_model.sha256()  # same preset + seed -> same bytes


def test_cli_model_info_json_and_bad_file(tmp_path, tiny_model_path, capsys):
    assert harness_main(["model", "info", str(tiny_model_path), "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["n_expert"] == PRESETS["tiny"].n_expert
    assert len(info["tensors"]) == len(tensor_plan(PRESETS["tiny"]))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all")
    assert harness_main(["model", "info", str(bad)]) == 2
    assert "bad.gguf" in capsys.readouterr().err


def test_cached_model_reuses_file_and_keys_by_version(tiny_model_path):
    before = tiny_model_path.stat().st_mtime_ns
    again = synthetic_model("tiny", MODEL_SEED)
    assert again == tiny_model_path and again.stat().st_mtime_ns == before
    assert f"gen{GENERATOR_VERSION}-{cache.code_fingerprint()}" in again.name
    assert f"seed{MODEL_SEED}" in again.name
    with pytest.raises(KeyError, match="unknown synthetic preset 'huge'"):
        synthetic_model("huge", 0)


def test_code_fingerprint_follows_byte_sources(tmp_path, monkeypatch):
    # A quantizer or generator edit must change the cache key (a stale file is never reused).
    source = tmp_path / "codec.py"
    source.write_text("SCALE = 1\n")
    monkeypatch.setattr(cache, "_BYTE_SOURCES", (tmp_path,))
    before = cache.code_fingerprint.__wrapped__()
    source.write_text("SCALE = 2\n")
    assert cache.code_fingerprint.__wrapped__() != before


@pytest.mark.parametrize("qtype,make", [("Q4_K", random_q4_k), ("Q6_K", random_q6_k)])
def test_random_blocks_are_well_formed(qtype, make):
    std = 1 / np.sqrt(2048)  # the smallest weight scale of the 30B preset
    blocks = make(tensor_rng(0, qtype), 4096, std)
    values = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType[qtype])
    assert np.isfinite(values).all()
    assert abs(values.std() / std - 1) < 0.15 and abs(values.mean()) < 0.02 * std
    d_offset = 0 if qtype == "Q4_K" else 208
    d = blocks[:, d_offset : d_offset + 2].copy().view(np.float16).astype(np.float32)
    assert (d >= np.finfo(np.float16).tiny).all()  # normal f16, not subnormal


def test_tokenizer_merges_build_known_tokens():
    v = synthetic_vocab(151936)
    index = {t: i for i, t in enumerate(v.tokens)}
    assert len(v.tokens) == len(index) == 151936  # unique
    for merge in v.merges:
        left, right = merge.split(" ")
        assert max(index[left], index[right]) < index[left + right], merge
    assert v.token_types[v.bos_id] == v.token_types[v.eos_id] == 3  # control tokens
    with pytest.raises(ValueError, match="vocab_size 259"):
        synthetic_vocab(259)


def _rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def test_tiny_weights_route_and_score_healthily(tiny_model):
    # Layer-0 router and output head on normalised embeddings: routing must have spread (not
    # one expert for every token) and logits must be O(1-10), neither ~0 nor exploding.
    m, c = tiny_model, tiny_model.config
    x = m.rows("token_embd.weight", 0, 64)
    h = _rms_norm(x, m.rows("blk.0.ffn_norm.weight", 0, 1)[0], c.rms_eps)
    router = h @ m.rows("blk.0.ffn_gate_inp.weight", 0, c.n_expert).T
    assert router.std(axis=1).mean() > 0.5
    assert len(set(router.argmax(axis=1).tolist())) >= c.n_expert // 2
    logits = _rms_norm(x, m.rows("output_norm.weight", 0, 1)[0], c.rms_eps) @ m.rows("output.weight", 0, c.vocab_size).T
    assert 0.5 < logits.std() < 10 and np.abs(logits).max() < 50
