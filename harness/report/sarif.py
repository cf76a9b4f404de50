"""SARIF 2.1.0 logs, so GitHub code scanning (and any SARIF viewer) shows contract problems and
falsified claims inline on the contract's own lines.

`validate_log(files)`: one result per lint/schema issue of `harness validate`.
`verify_log(predicate, raw)`: one result per FAIL or ERROR job of a report, located at the failed
threshold (else the falsifier) in the contract; its rule is the falsifier, described by its claim.
NOT_RUN, PASS and WAIVED jobs give no result: SARIF lists problems, and absence is not a pass
(the report and JUnit XML say what did not run).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from harness import __version__
from harness.contract.errors import ERROR
from harness.report.junit import threshold_lines
from harness.report.locations import job_line, line_map

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
CONTRACT_RULES = {
    "contract-error": "The contract file breaks the schema or the semantic lint.",
    "contract-warning": "The contract file is valid, but something in it is likely a mistake.",
}
_PROBLEMS = ("FAIL", "ERROR")


def artifact_uri(path: str) -> str:
    """A relative POSIX path stays relative (to the repository root); an absolute one is a file URI."""
    if Path(path).is_absolute():
        return Path(path).as_uri()
    return str(PurePosixPath(*Path(path).parts))


def _location(path: str, line: int | None) -> dict:
    physical: dict = {"artifactLocation": {"uri": artifact_uri(path)}}
    if line:
        physical["region"] = {"startLine": int(line)}
    return {"physicalLocation": physical}


def _log(rules: list[dict], results: list[dict]) -> dict:
    driver = {"name": "harness", "version": __version__, "rules": rules}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results}]}


def validate_log(files: list[tuple[str, list]]) -> dict:
    """`files`: (path as reported, [ContractIssue]) for each file checked."""
    rules = [{"id": rid, "shortDescription": {"text": text}} for rid, text in CONTRACT_RULES.items()]
    results = []
    for path, issues in files:
        for issue in issues:
            error = issue.severity == ERROR
            results.append(
                {
                    "ruleId": "contract-error" if error else "contract-warning",
                    "ruleIndex": 0 if error else 1,
                    "level": "error" if error else "warning",
                    "message": {"text": f"{issue.path}: {issue.message}"},
                    "locations": [_location(path, issue.line)],
                    "properties": {"jsonPath": issue.path},
                }
            )
    return _log(rules, results)


def _rule(falsifier: dict) -> dict:
    rule = {"id": falsifier["id"], "shortDescription": {"text": str(falsifier.get("claim") or falsifier["id"])}}
    if falsifier.get("if_fails"):
        rule["help"] = {"text": f"If it fails: {falsifier['if_fails']}"}
    rule["properties"] = {"kind": falsifier.get("kind")}
    return rule


def _message(job: dict) -> str:
    text = f"{job['verdict']} on {job['cell']}: {job.get('reason') or job['verdict'].lower()}"
    detail = (
        threshold_lines(job)
        if job.get("thresholds") and all("measured" in t and "ok" in t for t in job["thresholds"])
        else ""
    )
    return text + (f"\n{detail}" if detail else "")


def verify_log(predicate: dict, raw: bytes | None) -> dict:
    """SARIF for a report predicate; `raw` are the contract file's bytes (for line numbers)."""
    contract = predicate["contract"]
    document = contract["document"]
    lines = line_map(raw, contract["path"])
    falsifiers = [f for f in document.get("falsifiers") or [] if isinstance(f, dict) and "id" in f]
    index = {f["id"]: i for i, f in enumerate(falsifiers)}
    results = []
    for job in predicate["jobs"]:
        if job["verdict"] not in _PROBLEMS:
            continue
        result = {
            "ruleId": job["falsifier"],
            "level": "error",
            "message": {"text": _message(job)},
            "locations": [_location(contract["path"], job_line(document, lines, job))],
            "properties": {"cell": job["cell"], "verdict": job["verdict"], "counted": bool(job.get("counted", True))},
        }
        if job["falsifier"] in index:
            result["ruleIndex"] = index[job["falsifier"]]
        results.append(result)
    log = _log([_rule(f) for f in falsifiers], results)
    log["runs"][0]["properties"] = {
        "earnedLevel": predicate["levels"]["earned"],
        "declaredLevel": predicate["levels"]["declared"],
        "exitCode": predicate["decision"]["exit_code"],
    }
    return log
