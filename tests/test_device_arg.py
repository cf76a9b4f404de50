"""`--device` in run/bench: a contract cell id means that cell's selector (as in verify), any
other bare word an adapter name pattern, KEY=VALUE a selector key; each reading is reported."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.commands._backend_args import parse_selector
from harness.commands._device_arg import expand_cells
from tests.conftest import HAS_LAVAPIPE
from tests.contract_text import GPU_CONTRACT, gpu_text, write


def test_cell_id_is_read_as_the_contract_cells_selector():
    items, notes = expand_cells(["lavapipe"], None)
    # the shipped GPU contract's lavapipe cell:
    # {vendor_id: 0x10005, backend_type: Vulkan, adapter_type: CPU}
    assert parse_selector(items) == {"vendor_id": 0x10005, "backend_type": "Vulkan", "adapter_type": "CPU"}
    assert len(notes) == 1 and "contract cell lavapipe" in notes[0]


def test_other_bare_words_and_selector_keys_are_adapter_selectors():
    items, notes = expand_cells(["llvmpipe", "backend_type=Vulkan"], None)
    assert parse_selector(items) == {"name_pattern": "llvmpipe", "backend_type": "Vulkan"}
    assert "adapter name pattern" in notes[0] and "selector key" in notes[1]


def test_contract_option_names_where_cells_come_from(tmp_path):
    text = gpu_text().replace("  - id: intel-arc\n", "  - id: my-arc\n", 1).replace("intel-arc", "my-arc")
    path = write(tmp_path, text)
    items, notes = expand_cells(["my-arc"], str(path))
    assert parse_selector(items) == {"vendor_id": 0x8086, "name_pattern": "(?i)arc"}
    assert str(path) in notes[0]
    items, _ = expand_cells(["my-arc"], str(GPU_CONTRACT))  # not a cell there: a pattern
    assert parse_selector(items) == {"name_pattern": "my-arc"}


def test_bad_contract_option_is_a_usage_error(tmp_path, capsys):
    code = main(
        [
            "run",
            "--preset",
            "tiny",
            "--backend",
            "cpu",
            "--tokens",
            "1",
            "--device",
            "lavapipe",
            "--contract",
            str(tmp_path / "none.yaml"),
        ]
    )
    assert code == 2 and "none.yaml" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_LAVAPIPE, reason="no lavapipe adapter here (another wgpu adapter is)")
def test_run_device_lavapipe_reaches_the_llvmpipe_adapter(capsys):
    code = main(
        ["run", "--preset", "tiny", "--backend", "wgpu", "--device", "lavapipe", "--tokens", "1,2", "--format", "json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "llvmpipe" in json.loads(captured.out)["identity"]["adapter"].lower()
    assert "--device lavapipe: contract cell lavapipe" in captured.err
