"""`--device` in `run` and `bench`: a contract cell id or an adapter selector, and which it was.

`verify --device lavapipe` names a contract cell; so does `bench --device lavapipe` now: a bare
word that is a cell id of the contract (--contract, else the shipped contracts) stands for that
cell's selector (lavapipe: vendor 0x10005, Vulkan, CPU adapter), whose adapter is named
llvmpipe. Any other bare word is an adapter name pattern; KEY=VALUE is a selector key. Every
word's reading is reported, so nobody has to guess which one matched.
"""

from __future__ import annotations

from pathlib import Path

from contracts import CONTRACT_DIR
from harness.contract.errors import ContractError
from harness.contract.loader import load_contract


def _cells(contract_path: str | None) -> list[tuple[str, object]]:
    """(contract file, DeviceCell) for every cell of the contract, or of the shipped ones."""
    paths = [Path(contract_path)] if contract_path else sorted(CONTRACT_DIR.glob("*.yaml"))
    found = []
    for path in paths:
        try:
            contract = load_contract(path)
        except (ContractError, OSError):
            if contract_path:
                raise
            continue
        found += [(str(path), cell) for cell in contract.devices]
    return found


def expand_cells(items: list[str], contract_path: str | None) -> tuple[list[str], list[str]]:
    """Replace each bare word that is a cell id by its selector's KEY=VALUE items.

    Returns (selector items, one line per word saying how it was read)."""
    out, notes = [], []
    cells = None
    for item in items:
        if "=" in item:
            out.append(item)
            notes.append(f"--device {item}: selector key")
            continue
        if cells is None:
            cells = _cells(contract_path)
        match = next(((src, c) for src, c in cells if c.id == item), None)
        if match is None:
            out.append(f"name_pattern={item}")
            notes.append(f"--device {item}: adapter name pattern (no contract cell has this id)")
            continue
        src, cell = match
        selector = dict(cell.selector or {})
        out += [f"{k}={hex(v) if k == 'vendor_id' else v}" for k, v in selector.items()]
        notes.append(f"--device {item}: contract cell {cell.id} of {src} ({cell.backend}), selector {selector or '{}'}")
    return out, notes
