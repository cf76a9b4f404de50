#!/usr/bin/env python3
"""Compute the HF transformers oracle fixture for FALSIFY-QW3-MOE-GPU-PARITY-002.

An implementation nobody on this team wrote: HF transformers' Qwen3MoeForCausalLM (eager
attention, norm_topk_prob=True, explicit head_dim, θ from the file), with weights read from the
GGUF by gguf-py's own reader and dequantizer — neither this project's model layer nor its codecs.

Needs the optional extra:  pip install -e ".[hf]"   (CPU torch 2.13.0 + transformers)

    python scripts/make_hf_fixture.py contracts/qwen3-moe-forward-gpu-v1.yaml \
        --falsifier FALSIFY-QW3-MOE-GPU-PARITY-002 [--write-digest]

Writes the fixture (a zip of .npy arrays with fixed timestamps, so a rerun gives the same bytes:
"<prompt>/tokens", "<prompt>/logits", "meta/*") next to the contract and prints its sha256;
--write-digest records it in the contract's params.sha256 (comments preserved).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from gguf import GGUFReader
from gguf.quants import dequantize
from ruamel.yaml import YAML
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.model_store import synthetic_model  # noqa: E402  (only to locate/generate the input file)


def _field(reader: GGUFReader, key: str):
    f = reader.fields[key]
    value = f.contents()
    return value


def hf_config(reader: GGUFReader) -> Qwen3MoeConfig:
    a = "qwen3moe"
    g = lambda k: _field(reader, f"{a}.{k}")  # noqa: E731
    names = {t.name for t in reader.tensors}
    embd = next(t for t in reader.tensors if t.name == "token_embd.weight")
    cfg = Qwen3MoeConfig(
        vocab_size=int(embd.shape[1]),
        hidden_size=int(g("embedding_length")),
        intermediate_size=int(g("feed_forward_length")),
        num_hidden_layers=int(g("block_count")),
        num_attention_heads=int(g("attention.head_count")),
        num_key_value_heads=int(g("attention.head_count_kv")),
        max_position_embeddings=int(g("context_length")),
        rms_norm_eps=float(g("attention.layer_norm_rms_epsilon")),
        rope_parameters={"rope_type": "default", "rope_theta": float(g("rope.freq_base"))},
        moe_intermediate_size=int(g("expert_feed_forward_length")),
        num_experts=int(g("expert_count")),
        num_experts_per_tok=int(g("expert_used_count")),
        norm_topk_prob=True,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        tie_word_embeddings="output.weight" not in names,
        attention_bias=False,
    )
    cfg.head_dim = int(g("attention.key_length"))  # head_dim != hidden / heads in Qwen3-MoE
    cfg._attn_implementation = "eager"
    return cfg


def hf_state_dict(reader: GGUFReader, n_layer: int) -> dict[str, torch.Tensor]:
    w = {t.name: torch.from_numpy(np.ascontiguousarray(dequantize(t.data, t.tensor_type))) for t in reader.tensors}
    sd = {
        "model.embed_tokens.weight": w["token_embd.weight"],
        "model.norm.weight": w["output_norm.weight"],
        "lm_head.weight": w.get("output.weight", w["token_embd.weight"]),
    }
    attn = {
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "attn_q_norm": "self_attn.q_norm",
        "attn_k_norm": "self_attn.k_norm",
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
        "ffn_gate_inp": "mlp.gate",
    }
    for i in range(n_layer):
        for src, dst in attn.items():
            sd[f"model.layers.{i}.{dst}.weight"] = w[f"blk.{i}.{src}.weight"]
        gate, up = w[f"blk.{i}.ffn_gate_exps.weight"], w[f"blk.{i}.ffn_up_exps.weight"]
        sd[f"model.layers.{i}.mlp.experts.gate_up_proj"] = torch.cat([gate, up], dim=1)
        sd[f"model.layers.{i}.mlp.experts.down_proj"] = w[f"blk.{i}.ffn_down_exps.weight"]
    return sd


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def write_fixture(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """A .npz np.load reads, with fixed entry timestamps so identical arrays give identical bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name in sorted(arrays):
            z.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), _npy(arrays[name]))
    data = buf.getvalue()
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def write_digest(contract: Path, fixture: str, digest: str) -> None:
    """Set the sha256 line that follows `fixture: <fixture>`; the rest of the file is untouched."""
    lines = contract.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if re.match(rf"\s*fixture:\s*{re.escape(fixture)}\s*(#.*)?$", ln))
    i = next(i for i in range(start, start + 8) if re.match(r"\s*sha256:", lines[i]))
    lines[i] = re.sub(r"(sha256:\s*)(\S+)", lambda m: m.group(1) + digest, lines[i], count=1)
    tmp = contract.with_suffix(".yaml.tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(contract)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("contract", type=Path)
    ap.add_argument("--falsifier", default="FALSIFY-QW3-MOE-GPU-PARITY-002")
    ap.add_argument("--write-digest", action="store_true")
    args = ap.parse_args(argv)

    yaml = YAML()
    yaml.preserve_quotes = True
    doc = yaml.load(args.contract.read_text(encoding="utf-8"))
    fal = next(f for f in doc["falsifiers"] if f["id"] == args.falsifier)
    params = fal["params"]
    spec = doc["models"]["specs"][params.get("model", doc["models"]["default"])]["synthetic"]
    model_path = synthetic_model(spec["preset"], int(spec["seed"]))
    model_sha = hashlib.sha256(model_path.read_bytes()).hexdigest()

    torch.manual_seed(0)
    reader = GGUFReader(model_path)
    cfg = hf_config(reader)
    model = Qwen3MoeForCausalLM(cfg).eval()
    missing, unexpected = model.load_state_dict(hf_state_dict(reader, cfg.num_hidden_layers), strict=False)
    if unexpected or [m for m in missing if "rotary" not in m]:
        raise SystemExit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")

    arrays = {
        "meta/model_sha256": np.array(model_sha),
        "meta/transformers": np.array(__import__("transformers").__version__),
        "meta/torch": np.array(torch.__version__),
    }
    with torch.no_grad():
        for name in params["prompts"]:
            tokens = [int(t) for t in doc["prompts"][name]]
            logits = model(torch.tensor([tokens])).logits[0].float().numpy()
            arrays[f"{name}/tokens"] = np.array(tokens, dtype=np.int64)
            arrays[f"{name}/logits"] = logits.astype(np.float32)
    out = args.contract.parent / params["fixture"]
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = write_fixture(out, arrays)
    print(f"{out}  sha256 {digest}  (model {model_path.name} sha256 {model_sha})")
    if args.write_digest:
        write_digest(args.contract, params["fixture"], digest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
