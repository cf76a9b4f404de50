"""The exit codes of every `harness` command, defined once (README.md's table is checked
against TABLE by tests/test_exit_codes.py).

A falsified claim is 1 and nothing else is; bad input of any kind (arguments, contract, model
file, token ids) is 2; a crash of the harness or a backend is 4; Ctrl-C is 130 as in the shell.
"""

from __future__ import annotations

OK = 0
FALSIFIED = 1
USAGE = 2
INCONCLUSIVE = 3
INTERNAL = 4
AUDIT = 5
INTERRUPTED = 130

TABLE: tuple[tuple[int, str], ...] = (
    (OK, "nothing falsified and the evidence supports the declared status"),
    (FALSIFIED, "a falsifier FAILED (or the evidence refutes the declared status)"),
    (
        USAGE,
        "usage, contract or input error (bad argument, contract, model file, token ids, "
        "output path); nothing was run or written",
    ),
    (INCONCLUSIVE, "inconclusive: cells required here were not run (or a backend is unavailable)"),
    (
        INTERNAL,
        "internal error: a job or the harness crashed, or an output could not be written "
        "(after the verdicts were printed)",
    ),
    (AUDIT, "`audit`, `merge`, `promote`: a signature, digest, identity or freshness check failed"),
    (INTERRUPTED, "interrupted (Ctrl-C)"),
)


def markdown_table() -> str:
    """The README's table, generated from TABLE."""
    rows = ["| code | meaning |", "| --- | --- |"]
    rows += [f"| {code} | {meaning} |" for code, meaning in TABLE]
    return "\n".join(rows) + "\n"
