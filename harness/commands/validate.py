"""`harness validate PATH...`: strict load, JSON Schema and semantic lint of contract files.

Exit 0 when every file is valid (warnings allowed), 2 when any has an error. Each error is
printed as `file:line: $.json.path: what was found; what was expected`. `--format sarif` prints
a SARIF 2.1.0 log instead (for code scanning), with each file named by its repository path.
"""

from __future__ import annotations

import json
import sys

from harness.contract.errors import ERROR
from harness.contract.loader import check_file
from harness.report.revision import contract_name
from harness.report.sarif import validate_log

NAME = "validate"
HELP = "check contract files (strict YAML, JSON Schema, semantic lint); exit 2 on any error"


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="contract YAML files")
    parser.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                        help="json: one JSON object with every issue on stdout; "
                             "sarif: a SARIF 2.1.0 log on stdout")


def _file_result(path: str) -> dict:
    contract, issues = check_file(path)
    return {"path": path, "valid": contract is not None,
            "falsifiers": len(contract.falsifiers) if contract else None,
            "cells": len(contract.devices) if contract else None,
            "issues": issues}


def _print_text(result: dict) -> None:
    for issue in result["issues"]:
        print(str(issue), file=sys.stderr)
    errors = sum(1 for i in result["issues"] if i.severity == ERROR)
    if result["valid"]:
        print(f"ok {result['path']} ({result['falsifiers']} falsifiers, "
              f"{result['cells']} device cells)", file=sys.stderr)
    else:
        print(f"INVALID {result['path']}: {errors} error(s)", file=sys.stderr)


def _as_json(result: dict) -> dict:
    issues = [{"file": i.file, "line": i.line, "path": i.path, "message": i.message,
               "severity": i.severity} for i in result["issues"]]
    return {**result, "issues": issues}


def run(args) -> int:
    results = [_file_result(p) for p in args.paths]
    if args.format == "sarif":
        log = validate_log([(contract_name(r["path"]), r["issues"]) for r in results])
        print(json.dumps(log, indent=2))
    elif args.format == "json":
        print(json.dumps({"valid": all(r["valid"] for r in results),
                          "files": [_as_json(r) for r in results]}, indent=2))
    else:
        for result in results:
            _print_text(result)
    return 0 if all(r["valid"] for r in results) else 2
