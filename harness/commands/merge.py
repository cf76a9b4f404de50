"""`harness merge A B ... --out M --pubkey P.pem [--key K.pem]`: one matrix from partial reports.

Every input is audited first (signature, re-judged verdicts, waivers, cell identities against the
contract's selectors, levels; harness.trust.audit). Exit 5 when an input is refused, given
twice, or the inputs disagree; otherwise the merged report is written (signed by the merging
key) and the exit code is the merged decision's (0 ok, 1 falsified, 3 inconclusive, 4 error), like `harness verify`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import exit_codes, settings
from harness.commands._output import add_format, fail, note, print_json
from harness.contract import ContractError
from harness.output_paths import OutputPathError, check_outputs
from harness.trust.audit import AuditOptions, audit
from harness.trust.errors import KeyFileError, MergeError, TrustError
from harness.trust.keys import load_signer, load_verifiers
from harness.trust.report_file import write_report
from harness.workflow.merge import merge

NAME = "merge"
HELP = "Merge signed partial reports (one per device cell) into one signed report."

EXIT_USAGE, EXIT_AUDIT, EXIT_INTERNAL = exit_codes.USAGE, exit_codes.AUDIT, exit_codes.INTERNAL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="+", metavar="REPORT", help="input reports (DSSE envelopes)")
    parser.add_argument("--out", required=True, type=Path, metavar="M", help="merged report to write")
    parser.add_argument(
        "--pubkey",
        action="append",
        required=True,
        metavar="P.pem",
        help="public key trusted for the inputs (repeatable)",
    )
    parser.add_argument(
        "--key", metavar="K.pem", help="signing key for the merged report (else $HARNESS_SIGNING_KEY[_FILE])"
    )
    add_format(parser)


def _open(path: str, verifiers):
    """The audited input; a partial report may earn less than it declares (check_declared off)."""
    result = audit(path, verifiers, AuditOptions(check_declared=False))
    if not result.ok:
        first = result.first_failure
        raise MergeError(f"{path}: {first.name}: {first.detail}")
    return result.report


def run(args: argparse.Namespace) -> int:
    try:
        inputs = {f"input report {p}": p for p in args.reports}
        inputs.update({f"--pubkey {p}": p for p in args.pubkey})
        inputs.update({"--key": args.key, "$HARNESS_SIGNING_KEY_FILE": settings.signing_key_path()})
        check_outputs({"--out": args.out}, inputs)
        verifiers = load_verifiers(args.pubkey)
        signer = load_signer(args.key)
    except (KeyFileError, OutputPathError) as exc:
        return fail(args, NAME, str(exc), EXIT_USAGE)
    try:
        reports = [_open(path, verifiers) for path in args.reports]
        statement = merge(reports, signed=signer is not None)
    except (TrustError, ContractError) as exc:
        return fail(args, NAME, f"refused: {exc}", EXIT_AUDIT)
    predicate = statement["predicate"]
    try:
        digest = write_report(args.out, statement, signer)
    except OSError as exc:
        return fail(
            args,
            NAME,
            f"cannot write --out {args.out}: {exc.strerror or exc}; the merged "
            f"decision was: {predicate['decision']['summary']}",
            EXIT_INTERNAL,
        )
    if signer is None:
        note(args, "harness merge: no signing key: the merged report is UNSIGNED and is not evidence")
    if args.format == "json":
        print_json(
            {
                "out": str(args.out),
                "sha256": digest,
                "inputs": len(reports),
                "signed": signer is not None,
                "earned": predicate["levels"]["earned"],
                "decision": predicate["decision"],
            }
        )
    else:
        print(
            f"harness merge: {len(reports)} report(s) -> {args.out} (sha256 {digest[:16]}); "
            f"{predicate['decision']['summary']}"
        )
    return int(predicate["decision"]["exit_code"])
