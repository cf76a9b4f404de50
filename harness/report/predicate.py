"""The report's predicate (docs/reference.md §7) from a run, wrapped as an in-toto Statement v1.

Everything is made JSON-safe here: numpy scalars become Python numbers and a non-finite float
becomes null (the job that measured it already FAILed with the reason).
"""

from __future__ import annotations

import datetime
import hashlib
import math
import platform
import socket
import sys

import numpy as np

from harness import __version__
from harness.report.revision import contract_name
from harness.trust.statement import build_statement

try:  # the report names the wgpu version when it is installed; its absence is not an error
    import wgpu

    WGPU_VERSION = getattr(wgpu, "__version__", "unknown")
except Exception:  # pragma: no cover - depends on the machine
    WGPU_VERSION = None


def json_safe(obj):
    """A copy of obj with only JSON types: finite floats, ints, str, bool, None, lists, dicts."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)  # dates and paths: their ISO / textual form


def host_info() -> dict:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "wgpu": WGPU_VERSION,
    }


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def contract_section(contract) -> dict:
    return {
        "name": contract.name,
        "version": contract.version,
        "status": contract.status,
        "path": contract_name(contract.path),
        "sha256": hashlib.sha256(contract.raw).hexdigest(),
        "document": contract.data,
    }


def build_predicate(
    contract, filters, run, levels: dict, decision: dict, *, revision: dict, signed: bool, inputs: list | None = None
) -> dict:
    """The predicate of a verification report. `run` is a runner.RunResult; `levels` is
    {declared, earned, holds}; `decision` is {exit_code, summary}."""
    return json_safe(
        {
            "harness_version": __version__,
            "created": utc_now(),
            "host": host_info(),
            "signed": bool(signed),
            "contract": contract_section(contract),
            "revision": revision,
            "filters": filters.to_dict(),
            "cells": {cid: c.to_dict() for cid, c in run.cells.items()},
            "models": run.models,
            "prompts": contract.data["prompts"],  # ids, or {text}: its ids per model under models
            "jobs": run.jobs,
            "levels": levels,
            "decision": decision,
            "inputs": inputs or [],
        }
    )


def statement_for(predicate: dict) -> dict:
    """The in-toto Statement v1 (subjects: contract file, revision, each model) of a predicate."""
    return build_statement(predicate)
