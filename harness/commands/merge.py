"""`harness merge A B ... --out M --pubkey P.pem [--key K.pem]`: one matrix from partial reports.

Every input's signature is verified first. Exit 5 when an input is refused or the inputs
disagree; otherwise the merged report is written (signed by the merging key) and the exit code
is the merged decision's (0 ok, 1 falsified, 3 inconclusive, 4 error), like `harness verify`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.commands._output import add_format, fail, note, print_json

from harness.contract import ContractError
from harness.trust.errors import KeyFileError, TrustError
from harness.trust.keys import load_signer, load_verifiers
from harness.workflow.merge import merge
from harness.trust.report_file import open_report, write_report

NAME = "merge"
HELP = "Merge signed partial reports (one per device cell) into one signed report."

EXIT_USAGE, EXIT_AUDIT = 2, 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="input reports (DSSE envelopes)")
    parser.add_argument("--out", required=True, type=Path, metavar="M", help="merged report to write")
    parser.add_argument("--pubkey", action="append", required=True, metavar="P.pem",
                        help="public key trusted for the inputs (repeatable)")
    parser.add_argument("--key", metavar="K.pem",
                        help="signing key for the merged report (else $HARNESS_SIGNING_KEY[_FILE])")
    add_format(parser)


def _open(path: str, verifiers):
    try:
        return open_report(path, verifiers)
    except TrustError as exc:
        raise type(exc)(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    try:
        verifiers = load_verifiers(args.pubkey)
        signer = load_signer(args.key)
    except KeyFileError as exc:
        return fail(args, NAME, str(exc), EXIT_USAGE)
    try:
        reports = [_open(path, verifiers) for path in args.reports]
        statement = merge(reports, signed=signer is not None)
    except (TrustError, ContractError) as exc:
        return fail(args, NAME, f"refused: {exc}", EXIT_AUDIT)
    digest = write_report(args.out, statement, signer)
    predicate = statement["predicate"]
    if signer is None:
        note(args, "harness merge: no signing key: the merged report is UNSIGNED and is not evidence")
    if args.format == "json":
        print_json({"out": str(args.out), "sha256": digest, "inputs": len(reports),
                    "signed": signer is not None, "earned": predicate["levels"]["earned"],
                    "decision": predicate["decision"]})
    else:
        print(f"harness merge: {len(reports)} report(s) -> {args.out} (sha256 {digest[:16]}); "
              f"{predicate['decision']['summary']}")
    return int(predicate["decision"]["exit_code"])
