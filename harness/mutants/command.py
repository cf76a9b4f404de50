"""The `--mutants` flow of `harness verify`: run the suite with a progress bar (on `console`),
print the table (on `out`, stdout in the CLI) or the JSON (stdout), return the exit code (0 every
mutant caught and the unmutated run passed, 1 otherwise)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import Progress

from harness.contract.model import Contract
from harness.mutants.suite import run_suite
from harness.mutants.table import print_suite, suite_json
from harness.plan import Filters


def run_mutants(
    contract: Contract,
    filters: Filters,
    fmt: str,
    console: Console,
    runner_options: dict | None = None,
    out: Console | None = None,
) -> int:
    """Run every mutant of `contract` on the cells present; print; return the exit code."""
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("mutants", total=None)

        def show(fault: str, cell: str) -> None:
            bar.update(task, description=f"mutant {fault} on {cell}")

        result = run_suite(contract, filters, runner_options=runner_options, progress=show)
    if fmt == "json":
        sys.stdout.write(suite_json(result))
    else:
        print_suite(result, out or console)
    return result.exit_code
