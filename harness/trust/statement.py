"""The harness in-toto Statement: shape checks, subject consistency, subjects from a predicate.

Agreed format (docs/architecture.md "Reports"): subjects name the contract file's sha256, the
git revision and each model's sha256; the predicate repeats them with context. Checks here run
only on a payload whose signature already verified (harness.trust.dsse).
"""

from __future__ import annotations

import json

import rfc8785

from harness.judge import VERDICTS
from harness.trust.errors import StatementError, SubjectMismatchError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://harness.dev/verification-report/v1"

# predicate key -> the JSON type it must have; nested keys are checked where they are used.
_PREDICATE_FIELDS = {
    "harness_version": str,
    "created": str,
    "signed": bool,
    "contract": dict,
    "revision": dict,
    "cells": dict,
    "jobs": list,
    "levels": dict,
    "decision": dict,
}
_CONTRACT_FIELDS = {"name": str, "version": str, "status": str, "path": str, "sha256": str, "document": dict}
_JOB_FIELDS = {"falsifier": str, "cell": str, "verdict": str}


def _no_duplicates(pairs: list) -> dict:
    keys = [k for k, _ in pairs]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup is not None:
        raise StatementError(f"payload: duplicate key {dup!r} (a JSON object must say it once)")
    return dict(pairs)


def _no_constant(name: str):
    raise StatementError(f"payload: {name} is not a JSON number (reports hold finite floats only)")


def parse_payload(payload: bytes) -> dict:
    """JSON-decode a verified payload strictly: no duplicate keys, no NaN / Infinity."""
    try:
        statement = json.loads(payload.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatementError(f"payload is not UTF-8 JSON ({exc})") from None
    if not isinstance(statement, dict):
        raise StatementError(f"payload: expected a JSON object, got {type(statement).__name__}")
    return statement


def canonical(statement: dict) -> bytes:
    """RFC 8785 canonical bytes: what gets signed and hashed."""
    return rfc8785.dumps(statement)


def _require(obj: dict, fields: dict, where: str) -> None:
    for key, kind in fields.items():
        if key not in obj:
            raise StatementError(f"{where}: missing field '{key}'")
        if not isinstance(obj[key], kind):
            raise StatementError(f"{where}.{key}: expected {kind.__name__}, got {type(obj[key]).__name__}")


def _check_subjects(subjects) -> None:
    if not isinstance(subjects, list) or not subjects:
        raise StatementError("subject: expected a non-empty list")
    for i, s in enumerate(subjects):
        if (
            not isinstance(s, dict)
            or not isinstance(s.get("name"), str)
            or not isinstance(s.get("digest"), dict)
            or not s["digest"]
        ):
            raise StatementError(f"subject[{i}]: expected {{name: str, digest: {{alg: hex}}}}")


def check_shape(statement: dict) -> None:
    """Raise StatementError naming the first field that breaks the agreed statement shape."""
    if statement.get("_type") != STATEMENT_TYPE:
        raise StatementError(f"_type: expected {STATEMENT_TYPE!r}, got {statement.get('_type')!r}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise StatementError(f"predicateType: expected {PREDICATE_TYPE!r}, got {statement.get('predicateType')!r}")
    _check_subjects(statement.get("subject"))
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise StatementError("predicate: expected a JSON object")
    _require(predicate, _PREDICATE_FIELDS, "predicate")
    _require(predicate["contract"], _CONTRACT_FIELDS, "predicate.contract")
    _require(predicate["revision"], {"commit": str, "dirty": bool}, "predicate.revision")
    _require(predicate["levels"], {"declared": str, "earned": str}, "predicate.levels")
    _require(predicate["decision"], {"exit_code": int}, "predicate.decision")
    for cid, cell in predicate["cells"].items():
        if not isinstance(cell, dict) or not isinstance(cell.get("identity", {}), dict):
            raise StatementError(f"predicate.cells[{cid!r}]: expected a JSON object with an identity object")
    for i, job in enumerate(predicate["jobs"]):
        if not isinstance(job, dict):
            raise StatementError(f"predicate.jobs[{i}]: expected a JSON object")
        _require(job, _JOB_FIELDS, f"predicate.jobs[{i}]")
        if job["verdict"] not in VERDICTS:
            raise StatementError(
                f"predicate.jobs[{i}].verdict: {job['verdict']!r} is not a verdict (one of {', '.join(VERDICTS)})"
            )


def model_digests(predicate: dict) -> dict[str, str]:
    """model id -> sha256 from predicate.models ({id: {sha256, ...}}); ids without a digest skipped."""
    models = predicate.get("models") or {}
    if isinstance(models, list):  # tolerate a list of {id, sha256}
        models = {m.get("id"): m for m in models if isinstance(m, dict)}
    return {mid: m["sha256"] for mid, m in models.items() if isinstance(m, dict) and isinstance(m.get("sha256"), str)}


def subjects_for(predicate: dict) -> list[dict]:
    """The subjects a predicate implies: contract file, revision, each model file."""
    contract, revision = predicate["contract"], predicate["revision"]
    subjects = [
        {"name": f"contract:{contract['path']}", "digest": {"sha256": contract["sha256"]}},
        {"name": "revision", "digest": {"gitCommit": revision["commit"]}},
    ]
    for mid, digest in sorted(model_digests(predicate).items()):
        subjects.append({"name": f"model:{mid}", "digest": {"sha256": digest}})
    return subjects


def _key(subject: dict) -> tuple:
    return subject["name"], tuple(sorted(subject["digest"].items()))


def check_subjects_match(statement: dict) -> None:
    """The subject list must say exactly what the predicate says (no more, no less)."""
    expected = {_key(s) for s in subjects_for(statement["predicate"])}
    recorded = {_key(s) for s in statement["subject"]}
    missing, extra = sorted(expected - recorded), sorted(recorded - expected)
    if missing or extra:
        parts = [f"predicate implies {n} {d} but no such subject" for n, d in missing]
        parts += [f"subject {n} {d} is not what the predicate records" for n, d in extra]
        raise SubjectMismatchError("subjects disagree with the predicate: " + "; ".join(parts))


def subject_digest(statement: dict, prefix: str, alg: str) -> str | None:
    """The `alg` digest of the first subject whose name is `prefix` or starts with `prefix:`."""
    for s in statement["subject"]:
        if s["name"] == prefix or s["name"].startswith(prefix + ":"):
            return s["digest"].get(alg)
    return None


def build_statement(predicate: dict) -> dict:
    """Wrap a predicate in an in-toto Statement v1 with the subjects it implies."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects_for(predicate),
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
