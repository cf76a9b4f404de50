"""`harness audit REPORT --pubkey P.pem`: check a signed report before anyone relies on it.

Exit 0 when every check holds, 5 naming the first mismatch (every check is listed on stdout,
the verdict on the last line), 2 for usage errors (unreadable key, missing file). With --gate,
a genuine report whose recorded decision is not 0 exits with that decision (1 falsified,
3 inconclusive, 4 errored), so the audit step itself can be the CI gate.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from harness import exit_codes
from harness.commands._output import add_format, fail, note, print_json
from harness.output_paths import OutputPathError, check_outputs
from harness.report.revision import contract_name
from harness.workflow import ci_summary
from harness.trust.audit import AuditOptions, AuditResult, audit
from harness.trust.errors import KeyFileError
from harness.trust.keys import load_verifiers

NAME = "audit"
HELP = "Verify a report's signature, digests and levels (exit 5 on the first mismatch)."

EXIT_OK, EXIT_USAGE, EXIT_AUDIT = exit_codes.OK, exit_codes.USAGE, exit_codes.AUDIT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", metavar="REPORT", help="report file (DSSE envelope)")
    parser.add_argument(
        "--pubkey", action="append", required=True, metavar="P.pem", help="trusted public key (repeatable)"
    )
    parser.add_argument(
        "--contract", type=Path, metavar="FILE", help="the contract file the report must be about (sha256 of its bytes)"
    )
    parser.add_argument("--rev", metavar="COMMIT", help="the git commit the report must be about")
    parser.add_argument(
        "--allow-dirty", action="store_true", help="with --rev, accept a report made from a working tree with changes"
    )
    parser.add_argument(
        "--require-cell",
        action="append",
        default=[],
        metavar="CELL",
        help="the cell must have run, with no in-scope job NOT_RUN (repeatable)",
    )
    add_format(parser)
    parser.add_argument(
        "--summary-md", type=Path, metavar="FILE", help="append a Markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY)"
    )
    parser.add_argument(
        "--annotations",
        action="store_true",
        help="print GitHub ::error annotations (at most 10) on stdout, each job's at its contract line (file=, line=)",
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="when the audit holds, exit with the report's decision (1 falsified, "
        "3 inconclusive, 4 errored) instead of 0",
    )


def print_checks(result: AuditResult) -> None:
    for check in result.checks:
        mark = "ok    " if check.ok else "FAILED"
        print(f"  {mark} {check.name}: {check.detail}")


def as_json(result: AuditResult, gate: bool = False) -> dict:
    first = result.first_failure
    return {
        "ok": result.ok,
        "exit_code": exit_code(result, gate),
        "first_failure": None if first is None else {"check": first.name, "detail": first.detail},
        "earned": result.earned,
        "declared": result.report.predicate["levels"]["declared"] if result.report else None,
        "decision": result.report.predicate["decision"] if result.report else None,
        "report_sha256": result.report.sha256 if result.report else None,
        "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in result.checks],
    }


def _append_summary(path: Path, text: str) -> None:
    # $GITHUB_STEP_SUMMARY is shared by every command of a step: append, never replace.
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def _contract_source(result: AuditResult, given: Path | None) -> tuple[bytes | None, str | None]:
    """The contract bytes the report is about (for line numbers) and their repository path:
    the --contract file, else the recorded path; only bytes whose sha256 the report pins."""
    if result.report is None:
        return None, None
    recorded = result.report.predicate["contract"]
    for path in (given, Path(recorded["path"])):
        try:
            raw = path.read_bytes() if path is not None else None
        except OSError:
            continue
        if raw is not None and hashlib.sha256(raw).hexdigest() == recorded["sha256"]:
            return raw, contract_name(path)
    return None, None


def exit_code(result: AuditResult, gate: bool) -> int:
    if not result.ok:
        return EXIT_AUDIT
    return int(result.report.predicate["decision"]["exit_code"]) if gate else EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        # --summary-md appends: never to the report, a key or the contract (harness.output_paths)
        inputs = {"the report": args.report, "--contract": args.contract}
        inputs.update({f"--pubkey {p}": p for p in args.pubkey})
        check_outputs({"--summary-md": args.summary_md}, inputs)
        verifiers = load_verifiers(args.pubkey)
    except (KeyFileError, OutputPathError) as exc:
        return fail(args, NAME, str(exc), EXIT_USAGE)
    options = AuditOptions(
        contract=args.contract, rev=args.rev, allow_dirty=args.allow_dirty, require_cells=tuple(args.require_cell)
    )
    result = audit(args.report, verifiers, options)
    gate = getattr(args, "gate", False)
    code = exit_code(result, gate)
    first = result.first_failure
    if first is None:
        verdict = f"harness audit: {args.report}: all {len(result.checks)} checks hold"
    else:
        verdict = f"harness audit: {args.report}: {first.name} failed: {first.detail}"
    if result.ok and code != EXIT_OK:
        verdict += (
            f"; --gate: the report's decision is exit {code}: {result.report.predicate['decision'].get('summary', '')}"
        )
    if args.summary_md is not None:
        _append_summary(args.summary_md, ci_summary.summary_markdown(result))
    if args.format == "json":
        print_json(as_json(result, gate))
        note(args, verdict)
    else:
        print_checks(result)
        print(verdict)
    if args.annotations and args.format != "json":
        raw, file = _contract_source(result, args.contract)
        print("\n".join(ci_summary.annotations(result, contract_raw=raw, contract_file=file)))
    return code
