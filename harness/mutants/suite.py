"""The planted-bug mutation suite: each fault of backends.faults planted in one cell at a time,
the contract's falsifiers run against it by verify's own pipeline (harness.pipeline), and the
FAILs recorded.

How a mutant is planted (docs/mutants.md):
- one fault, one cell: `Runner(faults={cell: {fault}})` opens that cell's backend with the fault;
  every other backend the jobs touch, including a cell named as a parity reference, stays clean,
  so a wgpu mutant is compared against a correct CPU reference;
- jobs run only on the planted cell; heavy falsifiers and the kinds in FAULT_BLIND_KINDS are
  left out (they cannot see a fault planted in the backend);
- a backend that raises NotImplementedError for the fault makes the cell "not applicable";
- a falsifier catches the mutant on a cell when it PASSed there unmutated and FAILs mutated.
  ERROR never counts as caught: a crash is evidence of nothing (the runner's own rule).

A mutant is caught when some cell caught it. The suite passes when the unmutated run passed
every job it ran and every mutant was caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import backends
from backends.faults import FAULTS
from harness import judge as J
from harness.contract.model import Contract
from harness.pipeline import runner_for, shared_options
from harness.plan import HEAVY_TAG, Filters
from harness.runner import RunResult

# op_parity runs the wgpu/CPU ops on fresh random inputs through their public helpers, never
# through the backend instance a fault is planted in, so a planted fault cannot reach it.
FAULT_BLIND_KINDS = ("op_parity",)

CAUGHT, MISSED, NOT_APPLICABLE, ERRORED = "caught", "missed", "not applicable", "error"
BASELINE_OK = (J.PASS, J.WAIVED, J.NOT_RUN)


@dataclass
class CellOutcome:
    """One fault planted in one cell: what happened and which falsifiers FAILed."""

    cell: str
    status: str  # CAUGHT, MISSED, NOT_APPLICABLE or ERRORED
    caught_by: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict:
        return {"cell": self.cell, "status": self.status, "caught_by": self.caught_by, "reason": self.reason}


@dataclass
class MutantOutcome:
    """One fault across every cell it was planted in."""

    fault: str
    description: str
    cells: list[CellOutcome]

    @property
    def caught(self) -> bool:
        return any(c.status == CAUGHT for c in self.cells)

    def to_dict(self) -> dict:
        return {
            "fault": self.fault,
            "description": self.description,
            "status": "caught" if self.caught else "NOT CAUGHT",
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass
class SuiteResult:
    """The unmutated run's problems (empty when it passed) and every mutant's outcome."""

    contract: str
    falsifiers: list[str]  # the fault-sensitive falsifiers run against each mutant
    cells: list[str]  # the cells mutants were planted in
    baseline_problems: list[str]
    mutants: list[MutantOutcome]

    @property
    def baseline_ok(self) -> bool:
        return not self.baseline_problems

    @property
    def ok(self) -> bool:
        return self.baseline_ok and bool(self.mutants) and all(m.caught for m in self.mutants)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict:
        return {
            "contract": self.contract,
            "falsifiers": self.falsifiers,
            "cells": self.cells,
            "baseline": {"passed": self.baseline_ok, "problems": self.baseline_problems},
            "mutants": [m.to_dict() for m in self.mutants],
            "caught": sum(m.caught for m in self.mutants),
            "total": len(self.mutants),
            "exit_code": self.exit_code,
        }


class _Opener:
    """Wraps the runner's open_backend hook to learn that a backend refused a planted fault."""

    def __init__(self, open_backend: Callable):
        self._open, self.refused = open_backend, []

    def __call__(self, name, model, **kwargs):
        try:
            return self._open(name, model, **kwargs)
        except NotImplementedError as exc:
            if kwargs.get("faults"):
                self.refused.append(str(exc))
            raise


def sensitive_falsifiers(contract: Contract, filters: Filters) -> list[str]:
    """The falsifiers a mutant runs against: selected, not heavy, of a kind a fault can reach."""
    return [
        f.id
        for f in contract.falsifiers
        if f.kind not in FAULT_BLIND_KINDS
        and HEAVY_TAG not in f.tags
        and (not filters.falsifiers or f.id in filters.falsifiers)
    ]


def run_suite(
    contract: Contract,
    filters: Filters = Filters(),
    *,
    faults=None,
    runner_options: dict | None = None,
    progress: Callable[[str, str], None] | None = None,
) -> SuiteResult:
    """Run the contract unmutated, then each fault (default: all of backends.faults) planted in
    each present cell the sensitive falsifiers name. `runner_options` are handed to every
    Runner (tests pass a null backend or made-up adapters); progress(fault, cell) is called
    before each planted run."""
    opts = shared_options(contract, runner_options)
    light = Filters(filters.devices, filters.falsifiers, False, filters.model_override)
    baseline = runner_for(contract, light, opts).run()
    problems, passed = _baseline(baseline)
    fids = sensitive_falsifiers(contract, filters)
    cells = _cells_to_plant(contract, baseline, fids, filters)
    mutants = []
    for fault in FAULTS if faults is None else faults:
        outcomes = []
        for cell in cells:
            (progress or (lambda f, c: None))(fault, cell)
            outcomes.append(plant(contract, fault, cell, fids, light, opts, passed))
        mutants.append(MutantOutcome(fault, FAULTS.get(fault, ""), outcomes))
    return SuiteResult(contract.name, fids, cells, problems, mutants)


def plant(
    contract: Contract, fault: str, cell: str, fids: list[str], filters: Filters, opts: dict, passed: set
) -> CellOutcome:
    """Run `fids` on `cell` with `fault` planted there; `passed`: the (falsifier, cell) pairs
    that PASSed unmutated (only those can catch)."""
    opener = _Opener(opts.get("open_backend", backends.open_backend))
    only_here = Filters((cell,), tuple(fids), False, filters.model_override)
    runner = runner_for(contract, only_here, {**opts, "open_backend": opener}, faults={cell: frozenset({fault})})
    with np.errstate(all="ignore"):  # a planted bug may well compute NaN: that is the point
        jobs = [j for j in runner.run().jobs if j["cell"] == cell and j["counted"]]
    if opener.refused:
        return CellOutcome(cell, NOT_APPLICABLE, reason=opener.refused[0])
    caught = [j["falsifier"] for j in jobs if j["verdict"] == J.FAIL and (j["falsifier"], cell) in passed]
    if caught:
        return CellOutcome(cell, CAUGHT, caught)
    errors = [f"{j['falsifier']}: {j['reason']}" for j in jobs if j["verdict"] == J.ERROR]
    if errors:
        return CellOutcome(cell, ERRORED, reason=errors[0])
    return CellOutcome(cell, MISSED, reason=f"{len(jobs)} falsifier(s) ran; none that passed unmutated FAILed")


def _baseline(result: RunResult) -> tuple[list[str], set]:
    """(problems of the unmutated run, the (falsifier, cell) pairs that PASSed)."""
    problems, passed = [], set()
    for j in result.jobs:
        if not j["counted"]:
            continue
        if j["verdict"] == J.PASS:
            passed.add((j["falsifier"], j["cell"]))
        elif j["verdict"] not in BASELINE_OK:
            problems.append(f"{j['falsifier']} on {j['cell']}: {j['verdict']} {j['reason']}".strip())
    return problems, passed


def _cells_to_plant(contract: Contract, baseline: RunResult, fids: list[str], filters: Filters) -> list[str]:
    """Present cells (within --device) that at least one sensitive falsifier runs on."""
    named = {cell for f in contract.falsifiers if f.id in fids for cell in f.devices}
    return [
        c.id
        for c in contract.devices
        if c.id in named and baseline.cells[c.id].present and (not filters.devices or c.id in filters.devices)
    ]
