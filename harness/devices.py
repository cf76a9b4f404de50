"""The device matrix here: which of the contract's cells this machine can run.

A wgpu cell is present when an adapter matches its selector; an engine cell (external,
llama-cpp) when its command or library is here (the identity the engine reports is matched
against its selector when it starts); the CPU reference always is. Absent cells' jobs become
NOT_RUN with the reason, never a pass. Adapters come from the backend registry
(backends.list_adapters / match_selector).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import backends
from backends import ENGINE_BACKENDS
from harness.contract.model import DeviceCell

GPU_BACKEND = "wgpu"


@dataclass
class CellStatus:
    """Whether a cell can run here, why not, and the identity of what runs it."""

    id: str
    backend: str
    present: bool
    reason: str = ""
    identity: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"present": self.present, "reason": self.reason, "identity": self.identity}


def describe_adapter(info: dict) -> str:
    return (
        f"{info.get('name')} (vendor 0x{int(info.get('vendor_id', 0)):x}, "
        f"{info.get('backend_type')}, {info.get('adapter_type')})"
    )


def resolve_cell(cell: DeviceCell, adapters: list[dict]) -> CellStatus:
    """Match one cell against the adapters present."""
    if cell.backend in ENGINE_BACKENDS:
        why = backends.engine_missing(cell.backend, cell.engine)
        return CellStatus(cell.id, cell.backend, not why, why, {"backend": cell.backend})
    if cell.backend != GPU_BACKEND:
        return CellStatus(cell.id, cell.backend, True, "", {"backend": cell.backend})
    hits = [a for a in adapters if backends.match_selector(GPU_BACKEND, a, cell.selector)]
    if hits:
        return CellStatus(cell.id, cell.backend, True, "", dict(hits[0]))
    seen = "; ".join(describe_adapter(a) for a in adapters) or "none"
    return CellStatus(
        cell.id, cell.backend, False, f"no wgpu adapter matches selector {_show(cell.selector)}; present: {seen}"
    )


def resolve_cells(cells, adapters: list[dict] | None = None) -> dict[str, CellStatus]:
    """{cell id: CellStatus} for the contract's cells; adapters default to the ones wgpu sees."""
    cells = list(cells)
    if adapters is None:
        adapters = list_adapters() if any(c.backend == GPU_BACKEND for c in cells) else []
    return {c.id: resolve_cell(c, adapters) for c in cells}


def list_adapters() -> list[dict]:
    """The adapters the GPU backend sees here ([] without a driver)."""
    return backends.list_adapters(GPU_BACKEND)


def _show(selector: dict) -> str:
    parts = []
    for k, v in sorted(selector.items()):
        parts.append(f"{k}=0x{v:x}" if k == "vendor_id" and isinstance(v, int) else f"{k}={v}")
    return "{" + ", ".join(parts) + "}"
