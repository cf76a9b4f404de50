"""The one pipeline `harness verify` and the mutation suite (harness.mutants) share:
contract -> plan -> run -> judged jobs -> levels -> report predicate.

`runner_for` builds the Runner (the plan is made and checked there: a plan or kind error is
raised before anything runs); `conclude` computes the levels once and builds the predicate and
the statement from them. The mutation suite runs the same Runner with faults planted and reads
the judged jobs; it writes no report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.contract.model import Contract
from harness.devices import GPU_BACKEND, list_adapters
from harness.levels import Assessment, assess
from harness.model_store import ModelStore
from harness.plan import Filters
from harness.report.predicate import build_predicate, statement_for
from harness.report.revision import contract_revision
from harness.runner import RunResult, Runner


@dataclass(frozen=True)
class Evidence:
    """A finished verify run: the judged run, its assessment, the predicate and its statement."""

    result: RunResult
    assessment: Assessment
    predicate: dict
    statement: dict


def shared_options(contract: Contract, runner_options: dict | None) -> dict:
    """Runner options several runs share: one model store (each model opened once) and the
    adapter list read once. Tests pass a null backend or made-up adapters here."""
    opts = dict(runner_options or {})
    opts.setdefault("models", ModelStore(contract))
    if "adapters" not in opts:
        wants_gpu = any(c.backend == GPU_BACKEND for c in contract.devices)
        opts["adapters"] = list_adapters() if wants_gpu else []
    return opts


def runner_for(
    contract: Contract,
    filters: Filters,
    runner_options: dict | None = None,
    *,
    faults: dict[str, frozenset[str]] | None = None,
    progress: Callable | None = None,
) -> Runner:
    """The Runner of the contract's plan under `filters` (faults: the mutation suite only)."""
    return Runner(contract, filters, **(runner_options or {}), faults=faults, progress=progress)


def conclude(
    contract: Contract, filters: Filters, result: RunResult, *, signed: bool, revision: dict | None = None
) -> Evidence:
    """Levels and the exit decision (once), then the report predicate and statement."""
    assessment = assess(result.jobs, contract.levels, contract.status)
    predicate = build_predicate(
        contract,
        filters,
        result,
        assessment.levels(),
        assessment.decision(),
        revision=revision if revision is not None else contract_revision(contract.path),
        signed=signed,
    )
    return Evidence(result, assessment, predicate, statement_for(predicate))
