"""The planted-bug mutation suite (`harness verify CONTRACT --mutants`): see suite.py for how a
mutant is planted and judged, table.py for the views, docs/mutants.md for a real run."""

from harness.mutants.suite import (  # noqa: F401
    CAUGHT,
    ERRORED,
    FAULT_BLIND_KINDS,
    MISSED,
    NOT_APPLICABLE,
    CellOutcome,
    MutantOutcome,
    SuiteResult,
    plant,
    run_suite,
    sensitive_falsifiers,
)
