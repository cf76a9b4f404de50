"""`harness verify CONTRACT`: run the contract's falsifiers on the device cells present here.

Exit codes (harness.exit_codes, decided by harness.levels.decide): 0 the evidence supports the
declared status, 1 falsified (a counted FAIL, or earned below declared), 2 usage, contract or
input error (found before any job runs: harness.preflight, harness.output_paths), 3 inconclusive
(required cells or jobs not run here), 4 a job errored or an output could not be written.
"""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.progress import Progress

from harness import exit_codes, settings
from harness.commands._output import fail, print_json, stderr_console, stdout_console
from harness.contract.errors import ContractError
from harness.contract.loader import load_contract
from harness.falsifiers import UnknownKind
from harness.mutants.command import run_mutants
from harness.output_paths import OutputPathError, check_outputs
from harness.pipeline import conclude, runner_for
from harness.plan import Filters, PlanError
from harness.preflight import PreflightError, preflight
from harness.report.junit import junit_xml
from harness.report.sarif import verify_log
from harness.report.table import print_report
from harness.runner import Runner
from harness.trust.errors import TrustError
from harness.trust.fileio import write_atomic
from harness.trust.keys import load_signer
from harness.trust.report_file import write_report

NAME = "verify"
HELP = "run a contract's falsifiers on the devices present; write the report and JUnit XML"
EXIT_USAGE, EXIT_INTERNAL = exit_codes.USAGE, exit_codes.INTERNAL
FORMATS = ("text", "json", "sarif", "table")  # table: the old name of text, still accepted


def add_arguments(parser) -> None:
    parser.add_argument("contract", metavar="CONTRACT", help="contract YAML file")
    parser.add_argument("--model", metavar="PATH", help="verify this GGUF instead of the contract's models")
    parser.add_argument(
        "--device", action="append", default=[], metavar="CELL", help="run only this device cell (repeatable)"
    )
    parser.add_argument(
        "--falsifier", action="append", default=[], metavar="ID", help="run only this falsifier (repeatable)"
    )
    parser.add_argument("--heavy", action="store_true", help="also run falsifiers tagged heavy")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: the verdict table on stdout (default); json: only the report "
        "statement on stdout; sarif: only a SARIF 2.1.0 log of the FAIL/ERROR "
        "jobs on stdout",
    )
    parser.add_argument("--report", metavar="FILE", help="write the report (DSSE envelope) here")
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    parser.add_argument(
        "--sarif", metavar="FILE", help="write a SARIF 2.1.0 log here (each FAIL/ERROR at its contract line)"
    )
    parser.add_argument("--key", metavar="K.pem", help="sign the report with this Ed25519 key")
    parser.add_argument(
        "--mutants",
        action="store_true",
        help="run the planted-bug mutation suite instead (docs/mutants.md); exit 0 only when every mutant is caught",
    )


def run(args, runner_options: dict | None = None) -> int:
    """The command; `runner_options` lets tests hand the Runner a null backend or adapters."""
    err = stderr_console(args)
    if args.format == "table":
        args.format = "text"

    try:
        contract = load_contract(args.contract)
        signer = load_signer(args.key)
        filters = Filters(tuple(args.device), tuple(args.falsifier), bool(args.heavy), args.model)
        check_outputs(
            {"--report": args.report, "--junit": args.junit, "--sarif": getattr(args, "sarif", None)},
            _inputs(args, contract),
        )
        runner = runner_for(contract, filters, runner_options)
        preflight(runner)
    except (ContractError, PlanError, UnknownKind, TrustError, OutputPathError, PreflightError, OSError) as exc:
        return fail(args, NAME, str(exc), EXIT_USAGE)
    if getattr(args, "mutants", False):
        if args.report or args.junit or args.key or getattr(args, "sarif", None) or args.format == "sarif":
            return fail(args, NAME, "--mutants writes no report: drop --report/--junit/--sarif/--key", EXIT_USAGE)
        return run_mutants(contract, filters, args.format, err, runner_options, stdout_console())
    evidence = conclude(contract, filters, _run_with_progress(runner, err), signed=signer is not None)
    predicate, statement = evidence.predicate, evidence.statement
    # the verdicts first: an output that cannot be written must not hide the finished work
    if args.format == "json":
        print_json(statement, allow_nan=False)
    elif args.format == "sarif":
        sys.stdout.write(_sarif_text(predicate, contract.raw))
    else:
        print_report(predicate, stdout_console())
    outputs = (
        ("--report", args.report, lambda p: write_report(p, statement, signer)),
        ("--junit", args.junit, lambda p: write_atomic(p, junit_xml(predicate))),
        (
            "--sarif",
            getattr(args, "sarif", None),
            lambda p: write_atomic(p, _sarif_text(predicate, contract.raw).encode("utf-8")),
        ),
    )
    for flag, path, write in outputs:
        if not path:
            continue
        try:
            write(path)
        except OSError as exc:
            return fail(
                args,
                NAME,
                f"cannot write {flag} {path}: {exc.strerror or exc}; the verdicts printed were not saved",
                EXIT_INTERNAL,
            )
    return evidence.assessment.exit_code


def _sarif_text(predicate: dict, raw: bytes) -> str:
    return json.dumps(verify_log(predicate, raw), indent=2, allow_nan=False) + "\n"


def _inputs(args, contract) -> dict:
    """Every file this run reads, by label: no output may be one of them."""
    found = {
        "contract": args.contract,
        "--model": args.model,
        "--key": args.key,
        "$HARNESS_SIGNING_KEY_FILE": settings.signing_key_path(),
    }
    for spec in contract.models.values():
        if spec.path:
            found[f"model {spec.id}"] = contract.path.parent / spec.path
    for f in contract.falsifiers:
        if f.params.get("fixture"):
            found[f"fixture of {f.id}"] = contract.path.parent / str(f.params["fixture"])
    return found


def _run_with_progress(runner: Runner, console: Console):
    if not console.is_terminal or console.quiet:
        return _run_with_lines(runner, console)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("verify", total=len(runner.jobs))

        def show(i: int, n: int, job) -> None:
            progress.update(task, completed=i - 1, description=f"job {i}/{n} {job.falsifier.id} on {job.cell.id}")

        runner.progress = show
        result = runner.run()
        progress.update(task, completed=len(runner.jobs))
    return result


def _run_with_lines(runner: Runner, console: Console):
    """Progress for a CI log (no terminal): one plain line per job, nothing transient."""

    def show(i: int, n: int, job) -> None:
        console.print(
            f"verify: job {i}/{n} {job.falsifier.id} on {job.cell.id}", markup=False, highlight=False, soft_wrap=True
        )

    runner.progress = show
    return runner.run()
