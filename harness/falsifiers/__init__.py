"""Falsifier kinds: the closed, registered vocabulary (see registry.py). Importing this package
registers every kind; `get_kind(name)` returns one, an unknown name raises UnknownKind."""

from harness.falsifiers.registry import (  # noqa: F401
    KINDS,
    Context,
    JobError,
    JobFailed,
    JobNotRun,
    Outcome,
    UnknownKind,
    get_kind,
    register,
)
from harness.falsifiers import (  # noqa: F401,E402  (importing registers each kind)
    determinism,
    invariant,
    memory,
    op_parity,
    oracle,
    parity,
    throughput,
)
