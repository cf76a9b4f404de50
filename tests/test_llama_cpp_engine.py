"""The llama.cpp adapter (backend llama-cpp). Without llama-cpp-python its cells are absent,
named with the install hint; its identity logic is checked on stand-ins for the module; with
llama-cpp-python installed, the example contract's llama-cpp-cpu cell runs for real."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from backends import engine_missing
from backends.llamacpp.backend import INSTALL_HINT
from backends.llamacpp.engine import identity
from harness import judge as J
from harness.contract.loader import load_contract
from harness.devices import resolve_cells
from harness.plan import Filters
from harness.runner import Runner
from contracts import CONTRACT_DIR

HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
EXAMPLE = CONTRACT_DIR / "examples" / "external-engine.yaml"


def fake_llama(system_info: str, offload: bool):
    return SimpleNamespace(
        __version__="0.3.16",
        llama_supports_gpu_offload=lambda: offload,
        llama_print_system_info=lambda: system_info.encode(),
    )


def test_identity_names_the_gpu_build_only_when_layers_are_offloaded():
    cuda = fake_llama("CPU : SSE3 = 1 | CUDA : ARCHS = 900 | ", offload=True)
    on_gpu = identity(cuda, {"n_gpu_layers": -1})
    assert on_gpu["backend_type"] == "CUDA" and not on_gpu["is_cpu"] and not on_gpu["fallback"]
    on_cpu = identity(cuda, {"n_gpu_layers": 0})
    assert on_cpu["backend_type"] == "CPU" and on_cpu["is_cpu"] and not on_cpu["fallback"]


def test_asking_a_cpu_only_build_for_gpu_layers_is_a_fallback():
    cpu_build = fake_llama("CPU : SSE3 = 1 | AVX2 = 1 | ", offload=False)
    ident = identity(cpu_build, {"n_gpu_layers": 99})
    assert ident["fallback"] and ident["is_cpu"] and ident["backend_type"] == "CPU"


@pytest.mark.skipif(HAVE_LLAMA, reason="llama-cpp-python is installed: its cells are present")
def test_without_llama_cpp_python_its_cells_are_absent_with_the_install_hint():
    assert engine_missing("llama-cpp", {}) == INSTALL_HINT
    cells = resolve_cells(load_contract(EXAMPLE).devices)
    for cid in ("llama-cpp-cpu", "llama-cpp-cuda"):
        assert not cells[cid].present and "pip install 'harness[llama-cpp]'" in cells[cid].reason


@pytest.mark.skipif(not HAVE_LLAMA, reason="needs llama-cpp-python (optional extra llama-cpp)")
def test_llama_cpp_cpu_cell_runs_the_example_contract(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")  # the jobs llama.cpp cannot serve, added
    for fid in ("LAYER-PARITY-001", "INVARIANTS-001", "MEMORY-001"):
        start = text.index(f"FALSIFY-QW3-MOE-EXT-{fid}\n")
        at = text.index("    devices: [", start) + len("    devices: [")
        text = text[:at] + "llama-cpp-cpu, " + text[at:]
    path = tmp_path / "examples" / "c.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    (tmp_path / "fixtures").symlink_to(CONTRACT_DIR / "fixtures", target_is_directory=True)
    result = Runner(load_contract(path), Filters(devices=("llama-cpp-cpu",))).run()
    assert result.cells["cpu-q8k"].identity["act"] == "q8k"  # the reference it was held to
    jobs = {j["falsifier"].removeprefix("FALSIFY-QW3-MOE-EXT-"): j for j in result.jobs if j["counted"]}
    parity = jobs["LLAMA-PARITY-001"]
    assert parity["verdict"] == J.PASS, parity["reason"]
    assert parity["measurements"]["logits_rel_l2_max"] <= 1e-5
    decode = jobs["LLAMA-DECODE-001"]
    assert decode["verdict"] == J.PASS, decode["reason"]
    assert decode["measurements"]["cosine_min"] >= 0.999
    assert jobs["DETERMINISM-001"]["verdict"] == J.PASS, jobs["DETERMINISM-001"]["reason"]
    for fid in ("LAYER-PARITY-001", "INVARIANTS-001", "MEMORY-001"):
        assert jobs[fid]["verdict"] == J.NOT_RUN, (fid, jobs[fid]["reason"])
    assert "trace op" in jobs["LAYER-PARITY-001"]["reason"]
    assert result.cells["llama-cpp-cpu"].identity["engine"] == "llama.cpp"
