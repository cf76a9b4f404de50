"""`harness validate PATH...`: strict load, JSON Schema and semantic lint of contract files.

Exit 0 when every file is valid (warnings allowed), 2 when any has an error. Each error is
printed on stdout as `file:line: $.json.path: what was found; what was expected`.
`--format sarif` prints a SARIF 2.1.0 log instead (for code scanning), each file named by its
repository path.
"""

from __future__ import annotations

from harness import exit_codes
from harness.commands._output import add_format, print_json, quiet
from harness.contract.errors import ERROR
from harness.contract.loader import check_file
from harness.report.revision import contract_name
from harness.report.sarif import validate_log

NAME = "validate"
HELP = "check contract files (strict YAML, JSON Schema, semantic lint); exit 2 on any error"


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="contract YAML files")
    add_format(parser, {"sarif": "a SARIF 2.1.0 log on stdout, for code scanning"})


def _file_result(path: str) -> dict:
    contract, issues = check_file(path)
    return {
        "path": path,
        "valid": contract is not None,
        "falsifiers": len(contract.falsifiers) if contract else None,
        "cells": len(contract.devices) if contract else None,
        "issues": issues,
    }


def _print_text(result: dict, brief: bool) -> None:
    for issue in result["issues"]:
        print(str(issue))
    errors = sum(1 for i in result["issues"] if i.severity == ERROR)
    if not result["valid"]:
        print(f"INVALID {result['path']}: {errors} error(s)")
    elif not brief:  # --quiet: only problems
        print(f"ok {result['path']} ({result['falsifiers']} falsifiers, {result['cells']} device cells)")


def _as_json(result: dict) -> dict:
    issues = [
        {"file": i.file, "line": i.line, "path": i.path, "message": i.message, "severity": i.severity}
        for i in result["issues"]
    ]
    return {**result, "issues": issues}


def run(args) -> int:
    results = [_file_result(p) for p in args.paths]
    if args.format == "sarif":
        print_json(validate_log([(contract_name(r["path"]), r["issues"]) for r in results]))
    elif args.format == "json":
        print_json({"valid": all(r["valid"] for r in results), "files": [_as_json(r) for r in results]})
    else:
        for result in results:
            _print_text(result, quiet(args))
    return exit_codes.OK if all(r["valid"] for r in results) else exit_codes.USAGE
