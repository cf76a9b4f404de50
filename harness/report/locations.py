"""Where in the contract file a job's verdict points: the line of the first threshold that
failed, else the falsifier's own line. Used by SARIF results and CI annotations, so a failure is
shown on the contract line that made the claim.

Lines come from re-reading the contract's bytes with the loader's line-tracking YAML reader
(harness.contract.yaml_lines); bytes that no longer parse give no lines, never a wrong one.
"""

from __future__ import annotations

from harness.contract.errors import ContractError
from harness.contract.yaml_lines import LineMap, load_yaml


def line_map(raw: bytes | None, file: str) -> LineMap:
    """The LineMap of contract bytes; an empty one when they are missing or do not parse."""
    if not raw:
        return LineMap()
    try:
        _, lines = load_yaml(raw.decode("utf-8"), file)
    except (ContractError, UnicodeDecodeError):
        return LineMap()
    return lines


def _falsifier_index(document: dict, falsifier_id: str) -> int | None:
    for i, f in enumerate(document.get("falsifiers") or []):
        if isinstance(f, dict) and f.get("id") == falsifier_id:
            return i
    return None


def failed_threshold(job: dict) -> int | None:
    """Index of the first threshold the job's measurements broke (None: none recorded)."""
    for i, t in enumerate(job.get("thresholds") or []):
        if isinstance(t, dict) and t.get("ok") is False:
            return i
    return None


def job_line(document: dict, lines: LineMap, job: dict) -> int | None:
    """1-based line of the failed threshold, else of the falsifier; None when unknown."""
    fi = _falsifier_index(document, job.get("falsifier"))
    if fi is None:
        return None
    ti = failed_threshold(job)
    if ti is not None:
        exact = lines.exact(("falsifiers", fi, "thresholds", ti))
        if exact is not None:
            return exact.line
    exact = lines.exact(("falsifiers", fi))
    return exact.line if exact is not None else None
