"""Views of a mutation suite result: one plain line per mutant (never wrapped, so a grep for
"NOT CAUGHT" finds the whole line) and the same content as JSON."""

from __future__ import annotations

import json
import os

from rich.console import Console

from harness.mutants.suite import CAUGHT, SuiteResult

REASON_WIDTH = 160  # characters of a reason shown on a mutant's line (the JSON keeps it whole)


def one_line(reason: str) -> str:
    """A reason on one line (a shader error spans several), cut to REASON_WIDTH."""
    text = " ".join(reason.split())
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"


def common_prefix(fids: list[str]) -> str:
    """The prefix up to a '-' that all falsifier ids share (e.g. 'FALSIFY-QW3-MOE-GPU-'), dropped
    on the mutant lines to keep them readable; '' for fewer than two ids."""
    if len(fids) < 2:
        return ""
    prefix = os.path.commonprefix(fids)
    return prefix[: prefix.rfind("-") + 1]


def cell_text(c, prefix: str = "") -> str:
    """'lavapipe: F1, F2' when caught there, else 'lavapipe: missed (why)'."""
    if c.status == CAUGHT:
        return f"{c.cell}: {', '.join(f.removeprefix(prefix) for f in c.caught_by)}"
    return f"{c.cell}: {c.status}" + (f" ({one_line(c.reason)})" if c.reason else "")


def mutant_lines(result: SuiteResult) -> list[str]:
    """'mutant <fault> <caught|NOT CAUGHT> <cell: falsifiers | status> ; ...' per mutant."""
    width = max((len(m.fault) for m in result.mutants), default=0)
    prefix = common_prefix(result.falsifiers)
    lines = []
    for m in result.mutants:
        verdict = "caught" if m.caught else "NOT CAUGHT"
        where = " ; ".join(cell_text(c, prefix) for c in m.cells) or "planted in no cell"
        lines.append(f"mutant {m.fault:<{width}}  {verdict:<10}  {where}")
    return lines


def summary_lines(result: SuiteResult) -> tuple[list[str], list[str]]:
    """The header (unmutated run, cells, falsifiers) and the closing count."""
    head = [
        f"mutation suite: {result.contract}; planted in: {', '.join(result.cells) or 'no cell'}",
        f"falsifiers run against each mutant: {', '.join(result.falsifiers) or 'none'}",
    ]
    if common_prefix(result.falsifiers):
        head.append(f"(falsifier ids below without their common prefix {common_prefix(result.falsifiers)})")
    if result.baseline_ok:
        head.append("unmutated run: PASS")
    else:
        head += ["unmutated run: FAIL"] + [f"  {one_line(p)}" for p in result.baseline_problems]
    caught = sum(m.caught for m in result.mutants)
    tail = [f"{caught}/{len(result.mutants)} mutants caught; exit {result.exit_code}"]
    return head, tail


def print_suite(result: SuiteResult, console: Console) -> None:
    head, tail = summary_lines(result)
    for line in head + mutant_lines(result) + tail:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def suite_json(result: SuiteResult) -> str:
    return json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
