"""`harness list`: the falsifier x cell matrix and which cells run on this machine."""

from __future__ import annotations

import json

import pytest

from backends.wgpu.device import list_adapters
from harness.cli import main
from harness.commands.list import listing
from harness.contract import load_contract
from harness.devices import resolve_cells
from tests.conftest import HAS_LAVAPIPE, skip_unless
from tests.contract_text import GPU_CONTRACT, edit, gpu_text, write


NO_LAVAPIPE = "no llvmpipe adapter here (install mesa-vulkan-drivers)"
needs_lavapipe = skip_unless(HAS_LAVAPIPE, NO_LAVAPIPE)


def _require_lavapipe() -> None:
    if not any("llvmpipe" in a["name"] for a in list_adapters()):
        pytest.fail(f"CI=true but {NO_LAVAPIPE}")


@needs_lavapipe
def test_list_shows_lavapipe_runnable_and_apple_metal_absent(capsys):
    _require_lavapipe()
    assert main(["list", str(GPU_CONTRACT), "--format", "json"]) == 0
    cells = {c["id"]: c for c in json.loads(capsys.readouterr().out)["cells"]}
    assert cells["lavapipe"]["runnable"] and "llvmpipe" in cells["lavapipe"]["adapter"]
    assert cells["cpu-reference"]["runnable"]
    metal = cells["apple-metal"]
    assert not metal["runnable"]
    assert "vendor_id=0x106b" in metal["reason"] and "backend_type=Metal" in metal["reason"]
    assert "llvmpipe" in metal["reason"]


@needs_lavapipe
def test_list_text_table_names_cells_and_reasons(capsys):
    _require_lavapipe()
    assert main(["list", str(GPU_CONTRACT)]) == 0
    err = capsys.readouterr().out
    assert "FALSIFY-QW3-MOE-GPU-PARITY-001" in err
    assert "lavapipe: runnable here" in err
    assert "apple-metal: absent (wgpu, hardware): no wgpu adapter matches" in err


def test_list_without_adapters_only_cpu_runs():
    contract = load_contract(GPU_CONTRACT)
    data = listing(contract, resolve_cells(contract.devices, adapters=[]))
    runnable = {c["id"]: c["runnable"] for c in data["cells"]}
    assert runnable == {c.id: c.backend == "cpu" for c in contract.devices}
    lavapipe = next(c for c in data["cells"] if c["id"] == "lavapipe")
    assert "present: none" in lavapipe["reason"]
    throughput = next(f for f in data["falsifiers"] if f["id"].endswith("THROUGHPUT-001"))
    assert throughput["tags"] == ["heavy"] and "lavapipe" not in throughput["devices"]


def test_list_invalid_contract_exit_2(tmp_path, capsys):
    path = write(tmp_path, edit(gpu_text(), "status: DRAFT", "status: NOPE"))
    assert main(["list", str(path)]) == 2
    assert f"{path}:" in capsys.readouterr().err
