"""Helpers for the engine tests: contracts written as JSON (valid YAML 1.2) and loaded by the
real loader, a light stand-in model for the null backend, and made-up adapters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from harness.contract.loader import load_contract
from harness.model_store import ModelStore

LAVAPIPE = {
    "name": "llvmpipe (LLVM 15.0.6, 256 bits)",
    "vendor_id": 0x10005,
    "device_id": 0,
    "backend_type": "Vulkan",
    "adapter_type": "CPU",
    "driver": "Mesa",
    "description": "Mesa",
}
NULL_NAMES = {"cpu": "null", "wgpu": "null"}

CELLS = [
    {"id": "cpu-reference", "backend": "cpu", "hardware": False},
    {
        "id": "lavapipe",
        "backend": "wgpu",
        "hardware": False,
        "selector": {"vendor_id": 0x10005, "backend_type": "Vulkan", "adapter_type": "CPU"},
    },
    {
        "id": "nvidia-vulkan",
        "backend": "wgpu",
        "hardware": True,
        "selector": {"vendor_id": 0x10DE, "backend_type": "Vulkan"},
    },
]


def falsifier(fid: str, kind: str, params: dict, thresholds: list, devices: list, **extra) -> dict:
    return {
        "id": fid,
        "claim": f"{fid} holds",
        "kind": kind,
        "params": params,
        "thresholds": [{"metric": m, "comparator": c, "value": v} for m, c, v in thresholds],
        "devices": devices,
        **extra,
    }


def parity(fid: str, devices: list, threshold: float = 0.99, **params) -> dict:
    p = {"reference": "cpu-reference", "prompts": ["a", "b"], "prefill_fraction": 0.5, "compare": "logits", **params}
    return falsifier(fid, "parity", p, [("cosine_min", ">=", threshold)], devices)


def determinism(fid: str, devices: list) -> dict:
    return falsifier(fid, "determinism", {"prompts": ["a"], "runs": 2}, [("max_abs_diff", "<=", 0.0)], devices)


def document(falsifiers: list, levels: dict | None = None, status: str = "DRAFT", waivers: list | None = None) -> dict:
    return {
        "schema_version": 1,
        "name": "engine-test",
        "version": "1.0.0",
        "status": status,
        "metadata": {
            "title": "engine test contract",
            "owner": "tests",
            "description": "tests",
            "amendment_history": [{"version": "1.0.0", "date": "2026-11-26", "author": "tests", "change": "first"}],
        },
        "models": {"default": "tiny", "specs": {"tiny": {"synthetic": {"preset": "tiny", "seed": 1}}}},
        "prompts": {"a": [1, 2, 3, 4], "b": [5]},
        "devices": CELLS,
        "falsifiers": falsifiers,
        "levels": levels or {},
        "waivers": waivers or [],
    }


def write_contract(tmp_path: Path, doc: dict, name: str = "c.yaml"):
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=1))
    return load_contract(path)


@dataclass
class FakeTensor:
    nbytes: int


@dataclass
class FakeModel:
    """Just enough of GGUFModel for the null backend and the report."""

    path: Path
    config: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(n_layer=2, n_embd=8, n_expert=6, n_expert_used=2, vocab_size=32)
    )
    tensors: dict = field(default_factory=lambda: {"w": FakeTensor(1000)})

    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def inventory(self) -> list:
        return [{"name": "w", "qtype": "F32", "shape": [1000 // 4], "nbytes": 1000}]


def fake_store(contract, tmp_path: Path) -> ModelStore:
    """A ModelStore whose synthetic models are small files opened as FakeModel."""

    def synth(preset, seed):
        p = tmp_path / f"{preset}-{seed}.gguf"
        p.write_bytes(f"{preset}{seed}".encode())
        return p

    return ModelStore(contract, opener=FakeModel, synth=synth)


def null_options(contract, tmp_path: Path, adapters=(LAVAPIPE,), **extra) -> dict:
    """Runner keyword arguments: null backend for every cell, the given adapters."""
    return {"adapters": list(adapters), "backend_names": NULL_NAMES, "models": fake_store(contract, tmp_path), **extra}
