"""Teacher-forced parity of the wgpu backend against the CPU reference on a big model (the 30B
shape takes seconds per CPU token, so a few tokens): prefill the first tokens, decode the rest.
Thresholds are FALSIFY-QW3-MOE-GPU-PARITY-001's, read from the contract. Prints JSON.

    python tools/parity_big.py MODEL.gguf [--tokens 1,17,42] [--prefill 2] [--out FILE]
"""

import argparse
import json
import sys
import time

import numpy as np
from ruamel.yaml import YAML

from backends.cpu.backend import CpuBackend
from backends.model.gguf_model import open_model
from backends.wgpu.backend import WgpuBackend

CONTRACT = "contracts/qwen3-moe-forward-gpu-v1.yaml"
FALSIFIER = "FALSIFY-QW3-MOE-GPU-PARITY-001"


def thresholds() -> dict:
    doc = YAML(typ="safe").load(open(CONTRACT))
    f = next(f for f in doc["falsifiers"] if f["id"] == FALSIFIER)
    return {t["metric"]: (t["comparator"], float(t["value"])) for t in f["thresholds"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", default="1,17,42")
    ap.add_argument("--prefill", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    tokens = [int(t) for t in a.tokens.split(",")]
    model = open_model(a.model)
    t0 = time.perf_counter()
    wb = WgpuBackend(model, max_context=64)
    adapter = wb.identity()["adapter"]
    gpu = wb.trace(tokens, a.prefill)
    t1 = time.perf_counter()
    cpu = CpuBackend(model).trace(tokens, a.prefill)
    t2 = time.perf_counter()
    g, c = gpu.logits.astype(np.float64), cpu.logits.astype(np.float64)
    cos = (g * c).sum(1) / np.linalg.norm(g, axis=1) / np.linalg.norm(c, axis=1)
    agree = float(np.mean(g.argmax(1) == c.argmax(1)))
    ids_equal = float(np.mean(np.sort(gpu.router_ids, -1) == np.sort(cpu.router_ids, -1)))
    th = thresholds()
    ok = cos.min() >= th["cosine_min"][1] and agree >= th["argmax_agreement"][1]
    r = {
        "model": a.model,
        "tokens": tokens,
        "prefill": a.prefill,
        "cosine": cos.tolist(),
        "cosine_min": float(cos.min()),
        "argmax_agreement": agree,
        "router_id_agreement": ids_equal,
        "thresholds": th,
        "verdict": "PASS" if ok else "FAIL",
        "wgpu_seconds": t1 - t0,
        "cpu_seconds": t2 - t1,
        "adapter": adapter,
    }
    text = json.dumps(r, indent=2)
    if a.out:
        open(a.out, "w").write(text)
    print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
