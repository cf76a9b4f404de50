"""`harness list CONTRACT`: the falsifier x device-cell matrix and which cells can run here.

A cpu cell always runs; a wgpu cell runs when an adapter present matches its selector, and
otherwise the reason names the selector and the adapters that are present.
"""

from __future__ import annotations

from rich.table import Table

from harness import exit_codes
from harness.commands._output import add_format, fail, print_json, stdout_console
from harness.contract.errors import ContractError
from harness.contract.loader import load_contract
from harness.devices import resolve_cells

NAME = "list"
HELP = "show the falsifier x device-cell table and which cells can run on this machine"


def add_arguments(parser) -> None:
    parser.add_argument("contract", metavar="CONTRACT", help="contract YAML file")
    add_format(parser)


def listing(contract, statuses: dict) -> dict:
    """The matrix as plain data: cells (with runnable + reason) and falsifiers (with cells)."""
    cells = [
        {
            "id": c.id,
            "backend": c.backend,
            "hardware": c.hardware,
            "runnable": statuses[c.id].present,
            "reason": statuses[c.id].reason,
            "adapter": statuses[c.id].identity.get("name", ""),
        }
        for c in contract.devices
    ]
    falsifiers = [
        {"id": f.id, "kind": f.kind, "tags": list(f.tags), "devices": list(f.devices)} for f in contract.falsifiers
    ]
    return {
        "contract": contract.name,
        "version": contract.version,
        "status": contract.status,
        "cells": cells,
        "falsifiers": falsifiers,
    }


def _matrix_table(data: dict) -> Table:
    table = Table(title=f"{data['contract']} {data['version']} ({data['status']})")
    table.add_column("falsifier", no_wrap=True)
    table.add_column("kind")
    for cell in data["cells"]:
        table.add_column(cell["id"] + ("" if cell["runnable"] else " (absent)"), justify="center")
    for f in data["falsifiers"]:
        marks = [_mark(f, cell) for cell in data["cells"]]
        kind = f["kind"] + (f" [{', '.join(f['tags'])}]" if f["tags"] else "")
        table.add_row(f["id"], kind, *marks)
    return table


def _mark(falsifier: dict, cell: dict) -> str:
    if cell["id"] not in falsifier["devices"]:
        return ""
    return "run" if cell["runnable"] else "not here"


def _print_text(data: dict) -> None:
    console = stdout_console()
    console.width = max(console.width, 200)
    console.print(_matrix_table(data))
    for cell in data["cells"]:
        kind = "hardware" if cell["hardware"] else "software"
        if cell["runnable"]:
            where = f" on {cell['adapter']}" if cell["adapter"] else ""
            line = f"{cell['id']}: runnable here ({cell['backend']}, {kind}{where})"
        else:
            line = f"{cell['id']}: absent ({cell['backend']}, {kind}): {cell['reason']}"
        console.print(line, soft_wrap=True, highlight=False, markup=False)


def run(args) -> int:
    try:
        contract = load_contract(args.contract)
    except ContractError as exc:
        return fail(args, NAME, "\n".join(str(i) for i in exc.issues), exit_codes.USAGE)
    data = listing(contract, resolve_cells(contract.devices))
    if args.format == "json":
        print_json(data)
    else:
        _print_text(data)
    return exit_codes.OK
