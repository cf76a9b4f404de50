"""`harness promote CONTRACT --report M --pubkey P.pem`: move `status` to what the evidence shows.

The report is audited against the contract file first (exit 5 when it is not valid evidence).
A higher earned level raises `status`; failures that refute the claimed level demote it; both
bump `version` and append an amendment entry citing the report's sha256. Otherwise nothing
changes (exit 0). The file is rewritten atomically, only on those lines.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timezone
from pathlib import Path

from harness import exit_codes
from harness.commands._output import add_format, fail, print_json
from harness.contract import ContractError, load_contract
from harness.contract.errors import errors_only
from harness.contract.loader import check_document
from harness.contract.yaml_lines import load_yaml
from harness.workflow import promote, yaml_edit
from harness.trust.audit import AuditOptions, audit
from harness.trust.errors import KeyFileError, TrustError
from harness.trust.fileio import write_atomic
from harness.trust.keys import load_verifiers

NAME = "promote"
HELP = "Raise (or demote) a contract's status from an audited report, with an amendment entry."

EXIT_OK, EXIT_USAGE, EXIT_AUDIT = exit_codes.OK, exit_codes.USAGE, exit_codes.AUDIT
AUTHOR = "harness promote"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("contract", type=Path, metavar="CONTRACT", help="contract YAML to edit")
    parser.add_argument("--report", required=True, type=Path, metavar="M", help="signed report")
    parser.add_argument(
        "--pubkey", action="append", required=True, metavar="P.pem", help="trusted public key (repeatable)"
    )
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="amendment date (default: today, UTC)")
    parser.add_argument("--rev", metavar="COMMIT", help="also require the report to be about COMMIT")
    parser.add_argument(
        "--allow-dirty", action="store_true", help="accept a report made from a working tree with uncommitted changes"
    )
    add_format(parser)


def _today(text: str | None) -> date:
    if text is None:
        return datetime.now(timezone.utc).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--date {text!r} is not an ISO date YYYY-MM-DD") from None


def _done(args, change, contract, version: str | None) -> int:
    """The outcome on stdout: a line, or {"contract", "action", "old", "new", ...} as JSON."""
    if args.format == "json":
        print_json(
            {
                "contract": str(args.contract),
                "action": change.action,
                "old": change.old,
                "new": change.new,
                "reason": change.reason,
                "version_old": contract.version,
                "version_new": version or contract.version,
            }
        )
    elif version is None:
        print(f"harness promote: no change to {args.contract} (status {change.old}): {change.reason}")
    else:
        print(
            f"harness promote: {args.contract}: {change.action} {change.old} -> {change.new}, "
            f"version {contract.version} -> {version}"
        )
    return EXIT_OK


def _validate(text: str, path: Path) -> None:
    """The amended contract must still pass the schema and the lint (e.g. amendment date order)."""
    try:
        data, lines = load_yaml(text, str(path))
        issues = errors_only(check_document(data, str(path), lines))
    except ContractError as exc:
        issues = exc.issues
    if issues:
        raise yaml_edit.ContractEditError(f"the amended contract would not validate: {issues[0]}")


def _evidence(args: argparse.Namespace, verifiers):
    """The audited report, or a refusal message when it is not evidence about this contract."""
    result = audit(
        args.report,
        verifiers,
        AuditOptions(contract=args.contract, rev=args.rev, allow_dirty=args.allow_dirty, check_declared=False),
    )
    if not result.ok:
        first = result.first_failure
        return None, (f"{args.report} is not valid evidence for {args.contract}: {first.name}: {first.detail}")
    revision = result.report.predicate["revision"]
    if revision["dirty"] and not args.allow_dirty:
        return None, (
            f"{args.report} was made from a dirty working tree; it is not evidence "
            f"about commit {revision['commit']} (--allow-dirty to accept)"
        )
    return result.report, ""


def run(args: argparse.Namespace) -> int:
    try:
        today = _today(args.date)
        verifiers = load_verifiers(args.pubkey)
        contract = load_contract(args.contract)
    except (ValueError, KeyFileError, ContractError) as exc:
        return fail(args, NAME, str(exc), EXIT_USAGE)
    report, refusal = _evidence(args, verifiers)
    if report is None:
        return fail(args, NAME, refusal, EXIT_AUDIT)
    try:
        change = promote.plan(contract, report.predicate, today)
        if change.action == promote.KEEP:
            return _done(args, change, contract, None)
        entry = {
            "version": yaml_edit.bump_minor(contract.version),
            "date": today.isoformat(),
            "author": AUTHOR,
            "change": change.reason,
            "report_digest": report.sha256,
        }
        text = yaml_edit.amend(contract.raw.decode("utf-8"), change.new, entry)
        _validate(text, args.contract)
    except TrustError as exc:
        return fail(args, NAME, f"refused: {exc}", EXIT_AUDIT)
    write_atomic(args.contract, text.encode("utf-8"), mode=args.contract.stat().st_mode & 0o777)
    return _done(args, change, contract, entry["version"])
